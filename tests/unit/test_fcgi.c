/* test_fcgi: the FastCGI responder state machine, fed records built by hand byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cs.h"
#include "fcgi.h"

enum {
    T_BEGIN = 1,
    T_ABORT = 2,
    T_END = 3,
    T_PARAMS = 4,
    T_STDIN = 5,
    T_STDOUT = 6,
    T_GET_VALUES = 9,
    T_GET_VALUES_RESULT = 10,
    T_UNKNOWN_TYPE = 11
};
enum { KEEP = 1 };
#define CHUNK 65528 /* most content bytes of one STDOUT record fcgi writes */

/* Each test gets a fresh connection and an empty buffer to build its input in. */
struct fx {
    struct fcgi_conn c;
    struct buf in;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    fcgi_conn_init(&f->c);
    buf_init(&f->in, (size_t)1 << 24);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    fcgi_conn_free(&f->c);
    buf_free(&f->in);
    free(f);
    return 0;
}

/* Appends one record with any version byte: header, content, then pad bytes of 0xaa (not
 * zeros, so that padding read as content would show). */
static void rec_v(struct buf *b, int version, int type, unsigned id, const void *content,
                  size_t len, size_t pad)
{
    unsigned char h[8] = {
        (unsigned char)version,    (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
        (unsigned char)(len >> 8), (unsigned char)len,  (unsigned char)pad,       0};
    unsigned char fill[255];

    assert_true(len <= 0xffff && pad <= 255);
    memset(fill, 0xaa, sizeof fill);
    assert_int_equal(buf_add(b, h, sizeof h), CS_OK);
    assert_int_equal(buf_add(b, content, len), CS_OK);
    assert_int_equal(buf_add(b, fill, pad), CS_OK);
}

static void rec(struct buf *b, int type, unsigned id, const void *content, size_t len, size_t pad)
{
    rec_v(b, 1, type, id, content, len, pad);
}

static void begin(struct buf *b, unsigned id, unsigned role, int flags, size_t pad)
{
    unsigned char body[8] = {(unsigned char)(role >> 8),
                             (unsigned char)role,
                             (unsigned char)flags,
                             0xee,
                             0xee,
                             0xee,
                             0xee,
                             0xee}; /* reserved: not looked at */

    rec(b, T_BEGIN, id, body, sizeof body, pad);
}

/* Appends one name-value length: 1 byte up to 127, else 4 bytes big-endian with the top bit. */
static void nv_len(struct buf *b, size_t n)
{
    unsigned char l[4] = {(unsigned char)(0x80 | (n >> 24)), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};

    if (n < 0x80)
        assert_int_equal(buf_add(b, l + 3, 1), CS_OK);
    else
        assert_int_equal(buf_add(b, l, 4), CS_OK);
}

static void nv(struct buf *b, const char *name, const char *value)
{
    nv_len(b, strlen(name));
    nv_len(b, strlen(value));
    assert_int_equal(buf_adds(b, name), CS_OK);
    assert_int_equal(buf_adds(b, value), CS_OK);
}

/* One record read back from what the connection wrote. */
struct rec {
    int type;
    unsigned id;
    size_t len;
    const unsigned char *content;
};

/* Reads the record at *off of out (version 1, no padding: fcgi writes none); 0 at the end. */
static int rec_next(const struct buf *out, size_t *off, struct rec *r)
{
    const unsigned char *h;

    if (*off == out->len)
        return 0;
    assert_true(out->len - *off >= 8);
    h = (const unsigned char *)out->data + *off;
    assert_int_equal(h[0], 1);
    assert_int_equal(h[6], 0);
    assert_int_equal(h[7], 0);
    r->type = h[1];
    r->id = ((unsigned)h[2] << 8) | h[3];
    r->len = ((size_t)h[4] << 8) | h[5];
    r->content = h + 8;
    assert_true(out->len - *off - 8 >= r->len);
    *off += 8 + r->len;
    return 1;
}

/* Expects an END_REQUEST record for id with appStatus 0 and the protocol status. */
static void expect_end(const struct buf *out, size_t *off, unsigned id, int status)
{
    static const unsigned char zeros[4];
    struct rec r;

    assert_true(rec_next(out, off, &r));
    assert_int_equal(r.type, T_END);
    assert_int_equal(r.id, id);
    assert_int_equal(r.len, 8);
    assert_memory_equal(r.content, zeros, 4); /* appStatus */
    assert_int_equal(r.content[4], status);
    assert_memory_equal(r.content + 5, zeros, 3);
}

/* Expects the framing of a whole answer: STDOUT records of at most CHUNK bytes holding data,
 * an empty STDOUT, END_REQUEST (complete). */
static void expect_answer(const struct buf *out, size_t *off, unsigned id, const char *data,
                          size_t len)
{
    struct rec r;
    size_t got = 0;

    while (got < len) {
        size_t want = len - got < CHUNK ? len - got : CHUNK;
        assert_true(rec_next(out, off, &r));
        assert_int_equal(r.type, T_STDOUT);
        assert_int_equal(r.id, id);
        assert_int_equal(r.len, want);
        assert_memory_equal(r.content, data + got, want);
        got += want;
    }
    assert_true(rec_next(out, off, &r));
    assert_int_equal(r.type, T_STDOUT);
    assert_int_equal(r.id, id);
    assert_int_equal(r.len, 0);
    expect_end(out, off, id, 0);
}

/* The parameters of the usual request: short and long (> 127) names and values. */
static char long_name[131], long_value[301];

static void long_strings(void)
{
    memset(long_name, 'N', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    for (size_t i = 0; i < sizeof long_value - 1; i++)
        long_value[i] = (char)('a' + i % 26);
    long_value[sizeof long_value - 1] = '\0';
}

/* Appends a whole request: BEGIN, the parameters split over two PARAMS records (the cut falls
 * inside a pair), the empty PARAMS, the body in STDIN records of at most 7 bytes, the empty
 * STDIN. pad: padding of every record. */
static void request(struct buf *b, unsigned id, int flags, const char *body, size_t pad)
{
    struct buf p;
    size_t cut, blen = strlen(body);

    long_strings();
    buf_init(&p, 100000);
    nv(&p, "REQUEST_METHOD", "POST");
    nv(&p, "SCRIPT_NAME", "/webhook");
    nv(&p, long_name, "v");
    nv(&p, "HTTP_X_GOOG_CHANNEL_TOKEN", long_value);
    nv(&p, "EMPTY", "");
    begin(b, id, 1, flags, pad);
    cut = 30;
    rec(b, T_PARAMS, id, p.data, cut, pad);
    rec(b, T_PARAMS, id, p.data + cut, p.len - cut, pad);
    rec(b, T_PARAMS, id, NULL, 0, pad);
    for (size_t o = 0; o < blen; o += 7)
        rec(b, T_STDIN, id, body + o, blen - o < 7 ? blen - o : 7, pad);
    rec(b, T_STDIN, id, NULL, 0, pad);
    buf_free(&p);
}

/* Checks the parameters of request() through fcgi_params_envp. */
static void expect_params(const struct fcgi_conn *c)
{
    char **env, want[400];

    assert_int_equal(fcgi_params_envp(c->params.data, c->params.len, &env), CS_OK);
    assert_non_null(env);
    assert_string_equal(env[0], "REQUEST_METHOD=POST");
    assert_string_equal(env[1], "SCRIPT_NAME=/webhook");
    snprintf(want, sizeof want, "%s=v", long_name);
    assert_string_equal(env[2], want);
    snprintf(want, sizeof want, "HTTP_X_GOOG_CHANNEL_TOKEN=%s", long_value);
    assert_string_equal(env[3], want);
    assert_string_equal(env[4], "EMPTY=");
    assert_null(env[5]);
    free(env);
}

static void expect_ready(const struct fcgi_conn *c, unsigned id, int keep, const char *body)
{
    assert_int_equal(c->ready, 1);
    assert_int_equal(c->id, id);
    assert_int_equal(c->keep, keep);
    assert_int_equal(c->too_big, 0);
    assert_int_equal(c->closing, 0);
    assert_int_equal(c->body.len, strlen(body));
    if (c->body.len > 0)
        assert_memory_equal(c->body.data, body, c->body.len);
    expect_params(c);
}

static void feed_all(struct fx *f)
{
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, f->in.len), CS_OK);
}

static void normal_request(void **state)
{
    struct fx *f = *state;
    static const char answer[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok";
    size_t off = 0;

    request(&f->in, 1, KEEP, "{\"hello\": \"body\"}", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.in.len, 0);
    assert_int_equal(f->c.out.len, 0); /* nothing to say before the answer */
    expect_ready(&f->c, 1, 1, "{\"hello\": \"body\"}");
    /* asking again without answering changes nothing */
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);

    assert_int_equal(fcgi_conn_answer(&f->c, answer, strlen(answer)), CS_OK);
    expect_answer(&f->c.out, &off, 1, answer, strlen(answer));
    assert_int_equal(off, f->c.out.len);
    assert_int_equal(off, 8 + strlen(answer) + 8 + 16);
    /* KEEP_CONN: the connection waits for the next request */
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(f->c.ready, 0);
    assert_int_equal(f->c.id, 0);
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(f->c.body.len, 0);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
}

/* A request without parameters (none was ever appended): what the event loop hands to
 * fcgi_params_envp then. */
static void no_params(void **state)
{
    struct fx *f = *state;

    begin(&f->in, 1, 1, 0, 0);
    rec(&f->in, T_PARAMS, 1, NULL, 0, 0);
    rec(&f->in, T_STDIN, 1, NULL, 0, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(f->c.body.len, 0);
    {
        char **env;
        assert_int_equal(fcgi_params_envp(f->c.params.data, f->c.params.len, &env), CS_OK);
        assert_non_null(env);
        assert_null(env[0]);
        free(env);
    }
}

static void byte_at_a_time(void **state)
{
    struct fx *f = *state;

    request(&f->in, 0x1234, KEEP, "a body of some thirty bytes....", 0);
    for (size_t i = 0; i < f->in.len; i++) {
        assert_int_equal(fcgi_conn_feed(&f->c, f->in.data + i, 1), CS_OK);
        if (i + 1 < f->in.len) {
            if (fcgi_conn_parse(&f->c) != FCGI_NEED)
                fail_msg("ready after %zu of %zu bytes", i + 1, f->in.len);
        }
    }
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.in.len, 0);
    expect_ready(&f->c, 0x1234, 1, "a body of some thirty bytes....");
}

static void padding(void **state)
{
    static const size_t pads[] = {1, 3, 7, 8, 255};
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof pads / sizeof pads[0]; i++) {
        size_t off = 0;
        buf_reset(&f->in);
        request(&f->in, 7, KEEP, "padded body, several records", pads[i]);
        /* the request is complete only once the last record's padding came */
        assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, f->in.len - 1), CS_OK);
        assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
        assert_int_equal(f->c.ready, 0);
        assert_int_equal(fcgi_conn_feed(&f->c, f->in.data + f->in.len - 1, 1), CS_OK);
        assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
        assert_int_equal(f->c.in.len, 0);
        expect_ready(&f->c, 7, 1, "padded body, several records");
        assert_int_equal(fcgi_conn_answer(&f->c, "x", 1), CS_OK);
        expect_answer(&f->c.out, &off, 7, "x", 1);
        fcgi_conn_sent(&f->c, f->c.out.len);
    }
}

static void answer_framing(void **state)
{
    static const size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 100};
    struct fx *f = *state;
    char *data = malloc(2 * CHUNK + 100);

    assert_non_null(data);
    for (size_t i = 0; i < 2 * CHUNK + 100; i++)
        data[i] = (char)(i * 7 + i / 251);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t off = 0, records = sizes[i] / CHUNK + (sizes[i] % CHUNK != 0);
        buf_reset(&f->in);
        request(&f->in, 300, KEEP, "b", 0);
        feed_all(f);
        assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
        assert_int_equal(fcgi_conn_answer(&f->c, data, sizes[i]), CS_OK);
        expect_answer(&f->c.out, &off, 300, data, sizes[i]);
        assert_int_equal(off, f->c.out.len);
        assert_int_equal(f->c.out.len, records * 8 + sizes[i] + 8 + 16);
        assert_int_equal(f->c.closing, 0);
        fcgi_conn_sent(&f->c, f->c.out.len);
        assert_int_equal(f->c.out.len, 0);
    }
    free(data);
}

static void answer_closes_without_keep(void **state)
{
    struct fx *f = *state;
    size_t off = 0;

    request(&f->in, 1, 0, "", 0);
    request(&f->in, 2, KEEP, "", 0); /* never read: the connection ends after the first */
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 1, 0, "");
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(fcgi_conn_answer(&f->c, "hi", 2), CS_OK);
    assert_int_equal(f->c.closing, 1);
    expect_answer(&f->c.out, &off, 1, "hi", 2);
    assert_int_equal(off, f->c.out.len);
    /* closing: nothing more is parsed */
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.ready, 0);
    assert_int_equal(f->c.out.len, off);
}

static void pipelined(void **state)
{
    struct fx *f = *state;
    size_t first, off = 0;

    request(&f->in, 1, KEEP, "one", 0);
    first = f->in.len;
    request(&f->in, 2, KEEP, "second body", 3);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 1, 1, "one");
    /* the second request waits, untouched, until the first is answered */
    assert_int_equal(f->c.in.len, f->in.len - first);
    assert_memory_equal(f->c.in.data, f->in.data + first, f->in.len - first);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.id, 1);
    assert_int_equal(f->c.in.len, f->in.len - first);

    assert_int_equal(fcgi_conn_answer(&f->c, "A1", 2), CS_OK);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 2, 1, "second body");
    assert_int_equal(f->c.in.len, 0);
    assert_int_equal(fcgi_conn_answer(&f->c, "A2", 2), CS_OK);
    expect_answer(&f->c.out, &off, 1, "A1", 2);
    expect_answer(&f->c.out, &off, 2, "A2", 2);
    assert_int_equal(off, f->c.out.len);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
}

static void second_request_refused(void **state)
{
    struct fx *f = *state;
    struct buf other;
    size_t off = 0, head = 16 + 38; /* BEGIN of request 1 and its first PARAMS record */

    request(&f->in, 1, KEEP, "body one", 0);
    /* request 2, whole, in the middle of request 1 */
    buf_init(&other, 1000);
    begin(&other, 2, 1, KEEP, 0);
    rec(&other, T_PARAMS, 2, "\1\1X2", 4, 0);
    rec(&other, T_PARAMS, 2, NULL, 0, 0);
    rec(&other, T_STDIN, 2, "two", 3, 0);
    rec(&other, T_STDIN, 2, NULL, 0, 0);
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, head), CS_OK);
    assert_int_equal(fcgi_conn_feed(&f->c, other.data, other.len), CS_OK);
    buf_free(&other);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    expect_end(&f->c.out, &off, 2, 1); /* FCGI_CANT_MPX_CONN */
    assert_int_equal(off, f->c.out.len);
    assert_int_equal(f->c.id, 1);
    assert_int_equal(f->c.keep, 1);
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(f->c.body.len, 0); /* request 2's STDIN did not go into request 1 */
    fcgi_conn_sent(&f->c, f->c.out.len);

    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data + head, f->in.len - head), CS_OK);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 1, 1, "body one");
    assert_int_equal(f->c.out.len, 0);
}

static void unknown_role(void **state)
{
    struct fx *f = *state;
    size_t off = 0;

    /* authorizer (2) with KEEP_CONN: refused, the connection goes on */
    begin(&f->in, 5, 2, KEEP, 0);
    rec(&f->in, T_PARAMS, 5, NULL, 0, 0); /* its records are ignored */
    rec(&f->in, T_STDIN, 5, NULL, 0, 0);
    request(&f->in, 6, KEEP, "ok", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_end(&f->c.out, &off, 5, 3); /* FCGI_UNKNOWN_ROLE */
    assert_int_equal(off, f->c.out.len);
    expect_ready(&f->c, 6, 1, "ok");
    fcgi_conn_sent(&f->c, f->c.out.len);
    assert_int_equal(fcgi_conn_answer(&f->c, "", 0), CS_OK);
    fcgi_conn_sent(&f->c, f->c.out.len);

    /* filter (3) without KEEP_CONN: refused, and the connection closes */
    buf_reset(&f->in);
    off = 0;
    begin(&f->in, 8, 3, 0, 0);
    request(&f->in, 9, KEEP, "never", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    expect_end(&f->c.out, &off, 8, 3);
    assert_int_equal(off, f->c.out.len);
    assert_int_equal(f->c.closing, 1);
    assert_int_equal(f->c.id, 0);
    assert_int_equal(f->c.ready, 0);
}

static void management(void **state)
{
    struct fx *f = *state;
    struct buf q;
    struct rec r;
    size_t off = 0;
    static const char want[] = "\x0e\x04"
                               "FCGI_MAX_CONNS1024"
                               "\x0f\x01"
                               "FCGI_MPXS_CONNS0";

    buf_init(&q, 1000);
    nv(&q, "FCGI_MAX_CONNS", "");
    nv(&q, "FCGI_NO_SUCH_VALUE", "");
    nv(&q, "FCGI_MPXS_CONNS", "");
    /* in the middle of a request: answered at once, the request goes on */
    request(&f->in, 1, KEEP, "body", 0);
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, 16), CS_OK);
    buf_reset(&f->in);
    rec(&f->in, T_GET_VALUES, 0, q.data, q.len, 2);
    rec(&f->in, 200, 0, "xyz", 3, 0); /* unknown management type */
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(f->c.id, 1);

    assert_true(rec_next(&f->c.out, &off, &r));
    assert_int_equal(r.type, T_GET_VALUES_RESULT);
    assert_int_equal(r.id, 0);
    assert_int_equal(r.len, sizeof want - 1);
    assert_memory_equal(r.content, want, sizeof want - 1);
    {
        /* the same, decoded as a name-value stream */
        char **env;
        assert_int_equal(fcgi_params_envp((const char *)r.content, r.len, &env), CS_OK);
        assert_string_equal(env[0], "FCGI_MAX_CONNS=1024");
        assert_string_equal(env[1], "FCGI_MPXS_CONNS=0");
        assert_null(env[2]);
        free(env);
    }
    assert_true(rec_next(&f->c.out, &off, &r));
    assert_int_equal(r.type, T_UNKNOWN_TYPE);
    assert_int_equal(r.id, 0);
    assert_int_equal(r.len, 8);
    assert_memory_equal(r.content, "\xc8\0\0\0\0\0\0\0", 8);
    assert_int_equal(off, f->c.out.len);
    fcgi_conn_sent(&f->c, f->c.out.len);

    /* a malformed query gets no answer, and the connection goes on */
    buf_reset(&f->in);
    rec(&f->in, T_GET_VALUES, 0, q.data, q.len - 1, 1);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.out.len, 0);
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(f->c.id, 1);
    buf_free(&q);
}

static void abort_request(void **state)
{
    struct fx *f = *state;
    struct buf all;
    size_t off = 0;

    buf_init(&all, 100000);
    request(&all, 4, KEEP, "aborted", 0);
    /* BEGIN and the first PARAMS record of 4, an ABORT of another id (ignored), ABORT 4 */
    rec(&f->in, T_ABORT, 99, NULL, 0, 0);
    rec(&f->in, T_ABORT, 4, NULL, 0, 1);
    assert_int_equal(fcgi_conn_feed(&f->c, all.data, 16 + 38), CS_OK);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    expect_end(&f->c.out, &off, 4, 0);
    assert_int_equal(off, f->c.out.len);
    /* idle again: no request, nothing kept, the connection stays */
    assert_int_equal(f->c.id, 0);
    assert_int_equal(f->c.ready, 0);
    assert_int_equal(f->c.closing, 0);
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(f->c.body.len, 0);
    fcgi_conn_sent(&f->c, f->c.out.len);

    /* the aborted request's late records are ignored; the next request runs */
    assert_int_equal(fcgi_conn_feed(&f->c, all.data + 54, all.len - 54), CS_OK);
    buf_reset(&f->in);
    request(&f->in, 5, KEEP, "next", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 5, 1, "next");
    assert_int_equal(f->c.out.len, 0);
    buf_free(&all);
}

static void protocol_errors(void **state)
{
    struct fx *f = *state;
    static const int versions[] = {0, 2, 255};

    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        struct fcgi_conn c;
        fcgi_conn_init(&c);
        buf_reset(&f->in);
        begin(&f->in, 1, 1, KEEP, 0);
        rec_v(&f->in, versions[i], T_PARAMS, 1, NULL, 0, 0);
        assert_int_equal(fcgi_conn_feed(&c, f->in.data, f->in.len), CS_OK);
        assert_int_equal(fcgi_conn_parse(&c), FCGI_PROTO_ERROR);
        fcgi_conn_free(&c);
    }
    /* a BEGIN_REQUEST body shorter than 8 bytes */
    for (size_t len = 0; len < 8; len++) {
        struct fcgi_conn c;
        fcgi_conn_init(&c);
        buf_reset(&f->in);
        rec(&f->in, T_BEGIN, 1, "\0\1\1\0\0\0\0", len, 8 - len);
        assert_int_equal(fcgi_conn_feed(&c, f->in.data, f->in.len), CS_OK);
        assert_int_equal(fcgi_conn_parse(&c), FCGI_PROTO_ERROR);
        fcgi_conn_free(&c);
    }
}

static void too_big(void **state)
{
    struct fx *f = *state;
    char *big = malloc(65535);
    struct buf p;
    size_t off = 0;

    assert_non_null(big);
    memset(big, 'v', 65535);
    buf_init(&p, 200000);
    /* parameters: three records of 30000 bytes, each a whole pair (more than 64 KiB) */
    for (int i = 0; i < 3; i++) {
        buf_reset(&p);
        nv_len(&p, 4);
        nv_len(&p, 30000 - 9);
        assert_int_equal(buf_add(&p, "NAME", 4), CS_OK);
        assert_int_equal(buf_add(&p, big, 30000 - 9), CS_OK);
        assert_int_equal(p.len, 30000);
        if (i == 0)
            begin(&f->in, 1, 1, KEEP, 0);
        rec(&f->in, T_PARAMS, 1, p.data, p.len, 0);
    }
    rec(&f->in, T_PARAMS, 1, NULL, 0, 0);
    rec(&f->in, T_STDIN, 1, "body", 4, 0);
    rec(&f->in, T_STDIN, 1, NULL, 0, 0);
    /* one record at a time: no more than FCGI_IN_MAX is ever unparsed */
    for (size_t o = 0; o < f->in.len; o += 1000) {
        size_t n = f->in.len - o < 1000 ? f->in.len - o : 1000;
        assert_int_equal(fcgi_conn_feed(&f->c, f->in.data + o, n), CS_OK);
        if (o + n < f->in.len)
            assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    }
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.too_big, 1);
    assert_int_equal(f->c.id, 1);
    assert_true(f->c.params.len <= FCGI_PARAMS_MAX);
    assert_int_equal(f->c.params.len, 60000); /* the records that fitted */
    assert_true(f->c.body.len <= FCGI_BODY_MAX);
    assert_int_equal(fcgi_conn_answer(&f->c, "413", 3), CS_OK);
    expect_answer(&f->c.out, &off, 1, "413", 3);
    fcgi_conn_sent(&f->c, f->c.out.len);

    /* body: STDIN records of 65535, 65535 and 10 bytes; the next request is not marked */
    buf_reset(&f->in);
    begin(&f->in, 2, 1, KEEP, 0);
    rec(&f->in, T_PARAMS, 2, NULL, 0, 0);
    rec(&f->in, T_STDIN, 2, big, 65535, 1);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.too_big, 0);
    assert_int_equal(f->c.body.len, 65535);
    buf_reset(&f->in);
    rec(&f->in, T_STDIN, 2, big, 65535, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.too_big, 1);
    buf_reset(&f->in);
    rec(&f->in, T_STDIN, 2, big, 10, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    buf_reset(&f->in);
    rec(&f->in, T_STDIN, 2, NULL, 0, 0);
    request(&f->in, 3, KEEP, "small", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.id, 2);
    assert_int_equal(f->c.too_big, 1);
    assert_int_equal(f->c.body.len, 65535); /* the first record fitted, the others dropped */
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(fcgi_conn_answer(&f->c, "", 0), CS_OK);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    expect_ready(&f->c, 3, 1, "small");
    buf_free(&p);
    free(big);
}

static void other_ids_ignored(void **state)
{
    struct fx *f = *state;

    /* idle: records of a request that never began */
    rec(&f->in, T_PARAMS, 7, "\1\1AB", 4, 0);
    rec(&f->in, T_PARAMS, 7, NULL, 0, 0);
    rec(&f->in, T_STDIN, 7, NULL, 0, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.id, 0);
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(f->c.out.len, 0);

    /* under way: records of other ids between its own */
    buf_reset(&f->in);
    begin(&f->in, 1, 1, KEEP, 0);
    rec(&f->in, T_PARAMS, 9, "\1\1XY", 4, 0);
    rec(&f->in, T_PARAMS, 9, NULL, 0, 0);
    rec(&f->in, T_STDIN, 9, "junk", 4, 0);
    rec(&f->in, T_STDIN, 9, NULL, 0, 0);
    rec(&f->in, 8, 1, "data", 4, 0);   /* FCGI_DATA: filter role only */
    rec(&f->in, 77, 1, "later", 5, 0); /* a type of a later version */
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, f->in.len), CS_OK);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.id, 1);
    assert_int_equal(f->c.params.len, 0);
    assert_int_equal(f->c.body.len, 0);
    assert_int_equal(f->c.params_done, 0);
    assert_int_equal(f->c.body_done, 0);
    buf_reset(&f->in);
    rec(&f->in, T_PARAMS, 1, "\1\2ABC", 5, 0);
    rec(&f->in, T_PARAMS, 1, NULL, 0, 0);
    rec(&f->in, T_STDIN, 1, "mine", 4, 0);
    rec(&f->in, T_STDIN, 1, NULL, 0, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(f->c.params.len, 5);
    assert_memory_equal(f->c.params.data, "\1\2ABC", 5);
    assert_int_equal(f->c.body.len, 4);
    assert_memory_equal(f->c.body.data, "mine", 4);
    assert_int_equal(f->c.out.len, 0);
}

static void envp_streams(void **state)
{
    static const struct {
        const char *p;
        size_t len;
        int rc;
        const char *first; /* the first string when CS_OK, NULL: none */
    } cases[] = {
        {"", 0, CS_OK, NULL},
        {"\0\0", 2, CS_OK, "="},
        {"\1\0A", 3, CS_OK, "A="},
        {"\x80\0\0\1\x80\0\0\2"
         "ABC",
         11, CS_OK, "A=BC"}, /* 4-byte lengths of small values */
        {"\5\1ABCDEF", 8, CS_OK, "ABCDE=F"},
        {"\5\1ABCDE", 7, CS_ERR_INVAL, NULL},      /* the value runs past the end */
        {"\6\0ABCDE", 7, CS_ERR_INVAL, NULL},      /* the name runs past the end */
        {"\1", 1, CS_ERR_INVAL, NULL},             /* no value length */
        {"\x80\0\0", 3, CS_ERR_INVAL, NULL},       /* a 4-byte length cut short */
        {"\1\x80\0\0", 4, CS_ERR_INVAL, NULL},     /* the same, for the value */
        {"\x80\0\0\3\1AB", 7, CS_ERR_INVAL, NULL}, /* long name length past the end */
        {"\1\x7f\xff\xff\xff"
         "A",
         6, CS_ERR_INVAL, NULL}, /* huge value length */
        {"\xff\xff\xff\xff\xff\xff\xff\xff", 8, CS_ERR_INVAL, NULL},
        {"\1\1AB\1", 5, CS_ERR_INVAL, NULL}, /* a good pair, then a cut one */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static char *unset[1];
        char **env = unset; /* it must be set, to NULL on failure */
        int rc = fcgi_params_envp(cases[i].p, cases[i].len, &env);
        if (rc != cases[i].rc)
            fail_msg("case %zu: %d, want %d", i, rc, cases[i].rc);
        if (rc != CS_OK) {
            assert_null(env);
            continue;
        }
        assert_non_null(env);
        if (cases[i].first == NULL) {
            assert_null(env[0]);
        } else {
            assert_string_equal(env[0], cases[i].first);
            assert_null(env[1]);
        }
        free(env);
    }
}

static void feed_limit(void **state)
{
    struct fx *f = *state;
    char *big = calloc(1, FCGI_IN_MAX + 1);

    assert_non_null(big);
    assert_int_equal(fcgi_conn_feed(&f->c, big, FCGI_IN_MAX + 1), CS_ERR_TOOBIG);
    assert_int_equal(f->c.in.len, 0);

    /* one whole record of the largest size fills the input exactly */
    begin(&f->in, 1, 1, KEEP, 0);
    rec(&f->in, T_PARAMS, 1, NULL, 0, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    buf_reset(&f->in);
    rec(&f->in, T_STDIN, 1, big, 65535, 255);
    assert_int_equal(f->in.len, FCGI_IN_MAX);
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data, 100), CS_OK);
    assert_int_equal(fcgi_conn_feed(&f->c, f->in.data + 100, f->in.len - 100), CS_OK);
    assert_int_equal(f->c.in.len, FCGI_IN_MAX);
    assert_int_equal(fcgi_conn_feed(&f->c, "\1", 1), CS_ERR_TOOBIG);
    assert_int_equal(f->c.in.len, FCGI_IN_MAX);
    /* once parsed, there is room again */
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_NEED);
    assert_int_equal(f->c.in.len, 0);
    assert_int_equal(f->c.body.len, 65535);
    buf_reset(&f->in);
    rec(&f->in, T_STDIN, 1, NULL, 0, 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    free(big);
}

static void sent_prefix(void **state)
{
    struct fx *f = *state;
    char *copy;
    size_t len;

    fcgi_conn_sent(&f->c, 0); /* nothing written yet */
    fcgi_conn_sent(&f->c, 10);
    assert_int_equal(f->c.out.len, 0);
    request(&f->in, 1, KEEP, "", 0);
    feed_all(f);
    assert_int_equal(fcgi_conn_parse(&f->c), FCGI_REQUEST);
    assert_int_equal(fcgi_conn_answer(&f->c, "some answer", 11), CS_OK);
    len = f->c.out.len;
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, f->c.out.data, len);

    fcgi_conn_sent(&f->c, 0);
    assert_int_equal(f->c.out.len, len);
    fcgi_conn_sent(&f->c, 5);
    assert_int_equal(f->c.out.len, len - 5);
    assert_memory_equal(f->c.out.data, copy + 5, len - 5);
    fcgi_conn_sent(&f->c, 8);
    assert_int_equal(f->c.out.len, len - 13);
    assert_memory_equal(f->c.out.data, copy + 13, len - 13);
    assert_int_equal(f->c.out.data[f->c.out.len], '\0');
    fcgi_conn_sent(&f->c, len - 14);
    assert_int_equal(f->c.out.len, 1);
    assert_int_equal(f->c.out.data[0], copy[len - 1]);
    fcgi_conn_sent(&f->c, 100); /* more than is left: all of it */
    assert_int_equal(f->c.out.len, 0);
    free(copy);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {T(normal_request), T(no_params),
                                       T(byte_at_a_time), T(padding),
                                       T(answer_framing), T(answer_closes_without_keep),
                                       T(pipelined),      T(second_request_refused),
                                       T(unknown_role),   T(management),
                                       T(abort_request),  T(protocol_errors),
                                       T(too_big),        T(other_ids_ignored),
                                       T(envp_streams),   T(feed_limit),
                                       T(sent_prefix)};
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
