/* fcgi.c: the FastCGI responder protocol (FastCGI 1.0 specification) of one connection, kept
 * apart from the sockets so that it can be tested and fuzzed byte by byte. One request at a
 * time per connection (nginx never multiplexes); a second one is refused with
 * FCGI_CANT_MPX_CONN as the specification asks. */
#include "fcgi.h"
#include "cs.h"

#include <stdlib.h>
#include <string.h>

enum {
    REC_BEGIN_REQUEST = 1,
    REC_ABORT_REQUEST = 2,
    REC_END_REQUEST = 3,
    REC_PARAMS = 4,
    REC_STDIN = 5,
    REC_STDOUT = 6,
    REC_GET_VALUES = 9,
    REC_GET_VALUES_RESULT = 10,
    REC_UNKNOWN_TYPE = 11
};
enum { ROLE_RESPONDER = 1 };
enum { FLAG_KEEP_CONN = 1 };
enum { ST_REQUEST_COMPLETE = 0, ST_CANT_MPX_CONN = 1, ST_UNKNOWN_ROLE = 3 };
/* Most content bytes of one STDOUT record this side writes (a multiple of 8: no padding). */
#define OUT_CHUNK 65528

void fcgi_conn_init(struct fcgi_conn *c)
{
    memset(c, 0, sizeof *c);
    buf_init(&c->in, FCGI_IN_MAX);
    buf_init(&c->params, FCGI_PARAMS_MAX);
    buf_init(&c->body, FCGI_BODY_MAX);
    /* answers of any size: routes bound their own bodies */
    buf_init(&c->out, (size_t)1 << 30);
}

void fcgi_conn_free(struct fcgi_conn *c)
{
    free(c->in.data);
    free(c->params.data);
    free(c->body.data);
    free(c->out.data);
    memset(c, 0, sizeof *c);
}

int fcgi_conn_feed(struct fcgi_conn *c, const void *data, size_t len)
{
    return buf_add(&c->in, data, len);
}

/* Appends one record header (and content) to out. */
static int put_record(struct buf *out, int type, unsigned id, const void *content, size_t len)
{
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          (unsigned char)(id >> 8),
                          (unsigned char)id,
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          0,
                          0};
    int rc = buf_add(out, h, sizeof h);

    if (rc == CS_OK && len > 0)
        rc = buf_add(out, content, len);
    return rc;
}

static int put_end(struct buf *out, unsigned id, int protocol_status)
{
    unsigned char body[8] = {0, 0, 0, 0, (unsigned char)protocol_status, 0, 0, 0};

    return put_record(out, REC_END_REQUEST, id, body, sizeof body);
}

/* The request under way is over: ready for the next BEGIN_REQUEST. */
static void request_reset(struct fcgi_conn *c)
{
    if (!c->keep)
        c->closing = 1;
    c->id = 0;
    c->keep = 0;
    c->params_done = c->body_done = c->too_big = c->params_big = c->ready = 0;
    buf_reset(&c->params);
    buf_reset(&c->body);
}

/* Reads one name-value length (1 byte, or 4 with the top bit set) at *p. */
static int nv_len(const unsigned char **p, const unsigned char *end, size_t *out)
{
    if (*p >= end)
        return CS_ERR_INVAL;
    if (**p < 0x80) {
        *out = **p;
        (*p)++;
        return CS_OK;
    }
    if (end - *p < 4)
        return CS_ERR_INVAL;
    *out = ((size_t)((*p)[0] & 0x7f) << 24) | ((size_t)(*p)[1] << 16) | ((size_t)(*p)[2] << 8) |
           (*p)[3];
    *p += 4;
    return CS_OK;
}

/* Calls fn for each name-value pair of the stream; CS_ERR_INVAL when it is malformed. */
static int nv_each(const char *s, size_t len,
                   int (*fn)(const unsigned char *n, size_t nl, const unsigned char *v, size_t vl,
                             void *arg),
                   void *arg)
{
    const unsigned char *p = (const unsigned char *)s, *end;

    if (len == 0) /* s may be NULL: no arithmetic on it */
        return CS_OK;
    end = p + len;
    while (p < end) {
        size_t nl, vl;
        int rc;
        if (nv_len(&p, end, &nl) != CS_OK || nv_len(&p, end, &vl) != CS_OK)
            return CS_ERR_INVAL;
        if (nl > (size_t)(end - p) || vl > (size_t)(end - p) - nl)
            return CS_ERR_INVAL;
        if ((rc = fn(p, nl, p + nl, vl, arg)) != CS_OK)
            return rc;
        p += nl + vl;
    }
    return CS_OK;
}

static int put_nv(struct buf *b, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value); /* both short, constant */
    unsigned char l[2] = {(unsigned char)nl, (unsigned char)vl};
    int rc = buf_add(b, l, 2);

    if (rc == CS_OK)
        rc = buf_add(b, name, nl);
    if (rc == CS_OK)
        rc = buf_add(b, value, vl);
    return rc;
}

/* FCGI_GET_VALUES: answers the variables this side knows, ignores the rest (as the
 * specification says). */
static int get_value(const unsigned char *n, size_t nl, const unsigned char *v, size_t vl,
                     void *arg)
{
    static const char *const known[][2] = {
        {"FCGI_MAX_CONNS", "1024"}, {"FCGI_MAX_REQS", "1024"}, {"FCGI_MPXS_CONNS", "0"}};

    (void)v;
    (void)vl;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (nl == strlen(known[i][0]) && memcmp(n, known[i][0], nl) == 0)
            return put_nv(arg, known[i][0], known[i][1]);
    return CS_OK;
}

static int management(struct fcgi_conn *c, int type, const char *content, size_t len)
{
    if (type == REC_GET_VALUES) {
        struct buf vals;
        int rc;
        buf_init(&vals, 65535);
        rc = nv_each(content, len, get_value, &vals);
        if (rc == CS_OK)
            rc = put_record(&c->out, REC_GET_VALUES_RESULT, 0, vals.data, vals.len);
        free(vals.data);
        return rc == CS_ERR_INVAL ? CS_OK : rc; /* a malformed query gets no answer */
    } else {
        unsigned char body[8] = {(unsigned char)type, 0, 0, 0, 0, 0, 0, 0};
        return put_record(&c->out, REC_UNKNOWN_TYPE, 0, body, sizeof body);
    }
}

/* Appends to a capped request stream; over the cap the request is marked and the bytes
 * dropped. */
static void stream_add(struct fcgi_conn *c, struct buf *b, const char *p, size_t n)
{
    if (c->too_big || buf_add(b, p, n) != CS_OK) {
        c->too_big = 1;
        if (b == &c->params)
            c->params_big = 1;
    }
}

/* A PARAMS or STDIN record of the request under way: its bytes, or (empty) the stream's end. */
static void stream_record(struct fcgi_conn *c, unsigned id, struct buf *b, int *done,
                          const char *content, size_t len)
{
    if (id != c->id || *done)
        return;
    if (len == 0)
        *done = 1;
    else
        stream_add(c, b, content, len);
}

/* Handles one whole record; CS_OK, or an error that ends the connection. */
static int record(struct fcgi_conn *c, int type, unsigned id, const char *content, size_t len)
{
    if (id == 0)
        return management(c, type, content, len);
    switch (type) {
    case REC_BEGIN_REQUEST: {
        const unsigned char *b = (const unsigned char *)content;
        int role, flags;
        if (len < 8)
            return CS_ERR_INVAL;
        role = (b[0] << 8) | b[1];
        flags = b[2];
        if (c->id != 0)
            return put_end(&c->out, id, ST_CANT_MPX_CONN);
        if (role != ROLE_RESPONDER) {
            if (!(flags & FLAG_KEEP_CONN))
                c->closing = 1;
            return put_end(&c->out, id, ST_UNKNOWN_ROLE);
        }
        c->id = id;
        c->keep = (flags & FLAG_KEEP_CONN) != 0;
        return CS_OK;
    }
    case REC_ABORT_REQUEST:
        if (id == c->id) {
            int rc = put_end(&c->out, id, ST_REQUEST_COMPLETE);
            request_reset(c);
            return rc;
        }
        return CS_OK;
    case REC_PARAMS:
        stream_record(c, id, &c->params, &c->params_done, content, len);
        return CS_OK;
    case REC_STDIN:
        stream_record(c, id, &c->body, &c->body_done, content, len);
        return CS_OK;
    default: /* FCGI_DATA (filter role only) and types of later versions: ignored */
        return CS_OK;
    }
}

enum fcgi_status fcgi_conn_parse(struct fcgi_conn *c)
{
    size_t off = 0;
    enum fcgi_status st = FCGI_NEED;

    while (!c->ready && !c->closing && c->in.len - off >= 8) {
        const unsigned char *h = (const unsigned char *)c->in.data + off;
        size_t avail = c->in.len - off, clen, plen;
        if (avail < 8)
            break;
        if (h[0] != 1) {
            st = FCGI_PROTO_ERROR;
            break;
        }
        clen = ((size_t)h[4] << 8) | h[5];
        plen = h[6];
        if (avail < 8 + clen + plen)
            break;
        if (record(c, h[1], ((unsigned)h[2] << 8) | h[3], (const char *)h + 8, clen) != CS_OK) {
            st = FCGI_PROTO_ERROR;
            break;
        }
        off += 8 + clen + plen;
        if (c->id != 0 && c->params_done && c->body_done)
            c->ready = 1;
    }
    if (off > 0) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
        c->in.data[c->in.len] = '\0';
    }
    if (st == FCGI_NEED && c->ready)
        st = FCGI_REQUEST;
    return st;
}

int fcgi_conn_answer(struct fcgi_conn *c, const char *data, size_t len)
{
    int rc = CS_OK;

    while (rc == CS_OK && len > 0) {
        size_t n = len < OUT_CHUNK ? len : OUT_CHUNK;
        rc = put_record(&c->out, REC_STDOUT, c->id, data, n);
        data += n;
        len -= n;
    }
    if (rc == CS_OK)
        rc = put_record(&c->out, REC_STDOUT, c->id, NULL, 0);
    if (rc == CS_OK)
        rc = put_end(&c->out, c->id, ST_REQUEST_COMPLETE);
    request_reset(c);
    return rc;
}

void fcgi_conn_sent(struct fcgi_conn *c, size_t n)
{
    if (n >= c->out.len) {
        buf_reset(&c->out);
        return;
    }
    memmove(c->out.data, c->out.data + n, c->out.len - n);
    c->out.len -= n;
    c->out.data[c->out.len] = '\0';
}

struct envp_fill {
    char **vec;
    char *text;
    size_t i;
};

static int envp_count(const unsigned char *n, size_t nl, const unsigned char *v, size_t vl,
                      void *arg)
{
    size_t *need = arg;

    (void)n;
    (void)v;
    need[0]++;
    need[1] += nl + vl + 2;
    return CS_OK;
}

static int envp_put(const unsigned char *n, size_t nl, const unsigned char *v, size_t vl, void *arg)
{
    struct envp_fill *f = arg;

    f->vec[f->i++] = f->text;
    memcpy(f->text, n, nl);
    f->text[nl] = '=';
    memcpy(f->text + nl + 1, v, vl);
    f->text[nl + 1 + vl] = '\0';
    f->text += nl + vl + 2;
    return CS_OK;
}

int fcgi_params_envp(const char *p, size_t len, char ***out)
{
    size_t need[2] = {0, 0}; /* pairs, text bytes */
    struct envp_fill f;
    char **vec;

    *out = NULL;
    if (nv_each(p, len, envp_count, need) != CS_OK)
        return CS_ERR_INVAL;
    vec = malloc((need[0] + 1) * sizeof *vec + need[1]);
    if (vec == NULL)
        return CS_ERR_NOMEM;
    f.vec = vec;
    f.text = (char *)(vec + need[0] + 1);
    f.i = 0;
    nv_each(p, len, envp_put, &f);
    vec[need[0]] = NULL;
    *out = vec;
    return CS_OK;
}
