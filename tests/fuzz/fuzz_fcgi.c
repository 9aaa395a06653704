/* fuzz_fcgi: the FastCGI records nginx sends on a webhook connection, in pieces of any size,
 * driven as lib/http_batch.c's event loop drives them: requests answered, output written in parts.
 * Input: chunks of [length][control][length bytes]; control bits 0-3: how much of the output
 * the socket takes after each step (n/15), bits 4-6: the size of the answers, bit 7: the chunk
 * is received 256 times over (to reach the size limits). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ANSWER_MAX 140000
static const size_t answer_sizes[8] = {0, 1, 2, 100, 65527, 65528, 65529, ANSWER_MAX};
static char answer[ANSWER_MAX];

/* What the socket took so far, checked record by record: version 1, no padding, only the
 * types this side writes. */
struct outchk {
    unsigned char h[8];
    size_t hlen; /* header bytes seen of the current record */
    size_t left; /* content bytes of the current record still to come */
};

static void outchk_add(struct outchk *k, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t len;
        if (k->left > 0) {
            size_t t = n < k->left ? n : k->left;
            k->left -= t;
            p += t;
            n -= t;
            continue;
        }
        k->h[k->hlen++] = *p++;
        n--;
        if (k->hlen < 8)
            continue;
        k->hlen = 0;
        len = ((size_t)k->h[4] << 8) | k->h[5];
        if (k->h[0] != 1 || k->h[6] != 0 || k->h[7] != 0)
            abort();
        switch (k->h[1]) {
        case 3:  /* END_REQUEST */
        case 11: /* UNKNOWN_TYPE */
            if (len != 8)
                abort();
            break;
        case 6:  /* STDOUT */
        case 10: /* GET_VALUES_RESULT */
            break;
        default:
            abort();
        }
        k->left = len;
    }
}

static void invariants(const struct fcgi_conn *c)
{
    if (c->in.len > FCGI_IN_MAX || c->params.len > FCGI_PARAMS_MAX || c->body.len > FCGI_BODY_MAX)
        abort();
}

/* Reads one name-value length at *o of s; 0, or -1 past the end. */
static int ref_len(const unsigned char *s, size_t len, size_t *o, size_t *out)
{
    if (*o >= len)
        return -1;
    if (s[*o] < 0x80) {
        *out = s[(*o)++];
        return 0;
    }
    if (len - *o < 4)
        return -1;
    *out = ((size_t)(s[*o] & 0x7f) << 24) | ((size_t)s[*o + 1] << 16) | ((size_t)s[*o + 2] << 8) |
           s[*o + 3];
    *o += 4;
    return 0;
}

/* Walks the name-value stream as the specification reads it, calling back for each pair
 * when env is not NULL; 0 when the stream is well formed, -1 when not. */
static int ref_walk(const unsigned char *s, size_t len, char **env)
{
    size_t o = 0, i = 0;

    while (o < len) {
        size_t nl, vl;
        if (ref_len(s, len, &o, &nl) != 0 || ref_len(s, len, &o, &vl) != 0 || nl > len - o ||
            vl > len - o - nl)
            return -1;
        if (env != NULL) {
            /* "name=value": the '=' right after the name's bytes, even when they hold a NUL */
            if (env[i] == NULL || memcmp(env[i], s + o, nl) != 0 || env[i][nl] != '=' ||
                memcmp(env[i] + nl + 1, s + o + nl, vl) != 0 || env[i][nl + 1 + vl] != '\0')
                abort();
            if (memchr(s + o, '\0', nl) == NULL && strchr(env[i], '=') == NULL)
                abort();
        }
        o += nl + vl;
        i++;
    }
    if (env != NULL && env[i] != NULL)
        abort();
    return 0;
}

/* fcgi_params_envp as the event loop calls it, checked against the stream decoded here: one
 * string per pair, NULL at the end; CS_ERR_INVAL exactly when the stream is malformed. */
static void check_envp(const struct fcgi_conn *c)
{
    const unsigned char *s = (const unsigned char *)c->params.data;
    char **env;
    int rc = fcgi_params_envp(c->params.data, c->params.len, &env);

    if (rc == CS_ERR_NOMEM)
        return;
    if (ref_walk(s, c->params.len, NULL) != 0) {
        if (rc != CS_ERR_INVAL || env != NULL)
            abort();
        return;
    }
    if (rc != CS_OK || env == NULL)
        abort();
    ref_walk(s, c->params.len, env);
    free(env);
}

/* The socket takes part of the output (all of it past 1 MiB, to bound memory). */
static void send_part(struct fcgi_conn *c, struct outchk *k, unsigned ctl)
{
    size_t n = c->out.len * (ctl & 0x0f) / 15, before = c->out.len;

    if (c->out.len > ((size_t)1 << 20))
        n = c->out.len;
    if (n > 0)
        outchk_add(k, (const unsigned char *)c->out.data, n);
    fcgi_conn_sent(c, n);
    if (c->out.len != before - n)
        abort();
}

/* Answers the ready request; checks what fcgi_conn_answer appended and how it reset. */
static void answer_request(struct fcgi_conn *c, unsigned ctl)
{
    size_t len = answer_sizes[(ctl >> 4) & 7], before = c->out.len;
    size_t records = len / 65528 + (len % 65528 != 0);
    unsigned id = c->id;
    int keep = c->keep;
    const unsigned char *end;

    if (!c->ready || id == 0 || !c->params_done || !c->body_done || c->closing)
        abort();
    check_envp(c);
    if (fcgi_conn_answer(c, answer, len) != CS_OK)
        abort();
    if (c->out.len != before + records * 8 + len + 8 + 16)
        abort();
    end = (const unsigned char *)c->out.data + c->out.len - 16;
    if (end[1] != 3 || ((unsigned)end[2] << 8 | end[3]) != id || end[5] != 8 || end[12] != 0)
        abort();
    if (c->ready || c->id != 0 || c->params.len != 0 || c->body.len != 0 || c->too_big ||
        c->closing != !keep)
        abort();
}

/* Parses, answering each request found; 1 when the connection is over. */
static int drive(struct fcgi_conn *c, struct outchk *k, unsigned ctl)
{
    for (;;) {
        enum fcgi_status st = fcgi_conn_parse(c);
        invariants(c);
        if (st == FCGI_PROTO_ERROR)
            return 1;
        if (st == FCGI_REQUEST) {
            answer_request(c, ctl);
            send_part(c, k, ctl);
            continue;
        }
        send_part(c, k, ctl);
        if (c->closing)
            return 1;
        /* the loop reads only while there is room: a whole record must have been parsed */
        if (c->ready || c->in.len >= FCGI_IN_MAX)
            abort();
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fcgi_conn c;
    struct outchk k;
    size_t i = 0;
    int over = 0;

    if (answer[1] == 0)
        for (size_t j = 0; j < ANSWER_MAX; j++)
            answer[j] = (char)('!' + j % 90);
    memset(&k, 0, sizeof k);
    fcgi_conn_init(&c);
    while (!over && i + 2 <= size) {
        size_t n = data[i];
        unsigned ctl = data[i + 1];
        const uint8_t *chunk = data + i + 2;
        int times = ctl & 0x80 ? 256 : 1;
        i += 2;
        if (n > size - i)
            n = size - i;
        i += n;
        for (int t = 0; t < times && !over; t++) {
            size_t pos = 0;
            do { /* as much as there is room for, as the event loop reads */
                size_t room = FCGI_IN_MAX - c.in.len, m = n - pos < room ? n - pos : room;
                if (fcgi_conn_feed(&c, chunk + pos, m) != CS_OK)
                    abort();
                pos += m;
                invariants(&c);
                over = drive(&c, &k, ctl);
            } while (!over && pos < n);
        }
    }
    /* the rest of the output is written: it must end on a record boundary */
    if (c.out.len > 0)
        outchk_add(&k, (const unsigned char *)c.out.data, c.out.len);
    if (k.hlen != 0 || k.left != 0)
        abort();
    fcgi_conn_free(&c);
    return 0;
}
