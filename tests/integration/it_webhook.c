/* it_webhook: the webhook's event loop: bursts, forgeries, raw FastCGI, failures, a kill. */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crypt.h"
#include "harness.h"

#define WEBHOOK_SECRET "integration-test-webhook-secret"
#define WEBHOOK_PATH "/api/google/calendar/webhook"
/* the settle window of a notification's pull: long enough that a whole burst coalesces into
 * the one job before the worker may take it */
#define SETTLE_MS 2500
#define STR_(x) #x
#define STR(x) STR_(x)

static struct stack S;

static int setup(void **state)
{
    static const char *const env[] = {"CALSYNC_WEBHOOK_SETTLE_MS=" STR(SETTLE_MS), NULL};
    static const struct stack_opts o = {.webhooks = 1, .env = env};

    (void)state;
    if (crypt_init() != 0)
        return -1;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

/* ---- the store ---- */

/* stack_db_int with values formatted in (only the test's own names and numbers) */
static long long db_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long db_int(const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return stack_db_int(&S, sql);
}

/* The user's last accepted message number; -1 when none was stored. Read after a pause: a
 * number whose batch wrote nothing else (its pull was pending already) is stored once the loop
 * has been idle for 100 ms. */
static long long msgno_of(const char *who)
{
    sleep_ms(300);
    return db_int("SELECT coalesce(channel_msgno, -1) FROM user_integrations i JOIN users u ON "
                  "u.id = i.user_id WHERE u.email = '%s@example.com'",
                  who);
}

/* Pending (or running) sync jobs of the user: one row per user, coalesced. */
static long long jobs_of(const char *who)
{
    return db_int("SELECT count(*) FROM sync_jobs j JOIN users u ON u.id = j.user_id WHERE "
                  "u.email = '%s@example.com' AND j.kind = 'sync'",
                  who);
}

/* Syncs the worker ran for the user because of a notification. */
static long long runs_of(const char *who)
{
    return db_int("SELECT count(*) FROM sync_runs r JOIN users u ON u.id = r.user_id WHERE "
                  "u.email = '%s@example.com' AND `trigger` = 'webhook'",
                  who);
}

static int no_jobs(void *arg)
{
    return jobs_of(arg) == 0;
}

/* Waits until the user has no sync job left (ran and finished); true when so. */
static int wait_no_jobs(const char *who, int ms)
{
    return wait_until(no_jobs, (void *)who, ms);
}

/* ---- users and their channels ---- */

/* Connects WHO (see stack_connect_user), waits for its initial sync to leave no job behind and
 * reads the push channel it got. */
static void connect_user(const char *who, struct stack_chan *ch)
{
    struct client c;

    assert_int_equal(stack_connect_user(&S, &c, who, NULL), 0);
    client_free(&c);
    assert_true(wait_no_jobs(who, 10000));
    assert_int_equal(stack_channel(&S, who, WEBHOOK_SECRET, ch), 0);
}

/* ---- notifications over HTTP (through nginx) ---- */

/* One request to the webhook: a NULL field leaves its header out. */
struct note {
    const char *method; /* NULL: POST */
    const char *id, *rid, *token, *state, *msgno;
    const char *body; /* NULL: none */
    int chunked;      /* the body sent with Transfer-Encoding: chunked (no Content-Length) */
    long want;        /* the status it must get */
    long got;
    struct curl_slist *h;
};

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* A POST without a body with these headers, that must be answered want. */
static struct note note_of(const char *id, const char *rid, const char *token, const char *state,
                           const char *msgno, long want)
{
    struct note n = {
        .id = id, .rid = rid, .token = token, .state = state, .msgno = msgno, .want = want};

    return n;
}

/* A valid notification of the channel ("exists") with message number msgno. */
static struct note note_valid(const struct stack_chan *ch, const char *msgno)
{
    struct note n = {.id = ch->id,
                     .rid = ch->rid,
                     .token = ch->token,
                     .state = "exists",
                     .msgno = msgno,
                     .want = 200};

    return n;
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char line[600];
    struct curl_slist *n;

    if (value == NULL)
        return h;
    snprintf(line, sizeof line, "%s: %s", name, value);
    n = curl_slist_append(h, line);
    assert_non_null(n);
    return n;
}

static CURL *note_easy(struct note *n, long timeout_s)
{
    char url[256];
    CURL *e = curl_easy_init();

    assert_non_null(e);
    n->h = add_header(NULL, "X-Goog-Channel-ID", n->id);
    n->h = add_header(n->h, "X-Goog-Resource-ID", n->rid);
    n->h = add_header(n->h, "X-Goog-Channel-Token", n->token);
    n->h = add_header(n->h, "X-Goog-Resource-State", n->state);
    n->h = add_header(n->h, "X-Goog-Message-Number", n->msgno);
    n->h = curl_slist_append(n->h, "Expect:");
    if (n->chunked)
        n->h = curl_slist_append(n->h, "Transfer-Encoding: chunked");
    snprintf(url, sizeof url, "%s%s", S.base, WEBHOOK_PATH);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, n->h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, n);
    if (n->method != NULL && strcmp(n->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, n->body ? n->body : "");
        if (!n->chunked)
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, n->body ? (long)strlen(n->body) : 0L);
    }
    n->got = 0;
    return e;
}

/* Sends the requests all at once (one connection each) and records each one's status. */
static void burst(struct note *n, size_t count, long timeout_s)
{
    CURLM *m = curl_multi_init();
    CURL **e = calloc(count, sizeof *e);
    int running = 1;

    assert_non_null(m);
    assert_non_null(e);
    for (size_t i = 0; i < count; i++) {
        e[i] = note_easy(&n[i], timeout_s);
        assert_int_equal(curl_multi_add_handle(m, e[i]), CURLM_OK);
    }
    while (running) {
        assert_int_equal(curl_multi_perform(m, &running), CURLM_OK);
        if (running)
            curl_multi_wait(m, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; i < count; i++) {
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &n[i].got);
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
        curl_slist_free_all(n[i].h);
        n[i].h = NULL;
    }
    curl_multi_cleanup(m);
    free(e);
}

static long send_note(struct note *n, long timeout_s)
{
    burst(n, 1, timeout_s);
    return n->got;
}

static long send_valid(const struct stack_chan *ch, long long msgno, long timeout_s)
{
    char num[24];
    struct note n;

    snprintf(num, sizeof num, "%lld", msgno);
    n = note_valid(ch, num);
    return send_note(&n, timeout_s);
}

/* 0..n-1 in random order. */
static void shuffle(int *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* 64 valid notifications of one channel at once, numbered 1..64 in random order: each gets its
 * 200, the highest number is the one kept, one pull runs for all of them, and a replay
 * afterwards changes nothing. */
static void burst_in_random_order(void **state)
{
    enum { N = 64 };
    struct stack_chan ch;
    struct note n[N];
    char num[N][24];
    int order[N];
    long long runs0, t0;

    (void)state;
    connect_user("ada", &ch);
    runs0 = runs_of("ada");
    shuffle(order, N);
    for (int i = 0; i < N; i++) {
        snprintf(num[i], sizeof num[i], "%d", order[i] + 1);
        n[i] = note_valid(&ch, num[i]);
    }
    t0 = now_ms();
    burst(n, N, 30);
    print_message("%d notifications answered in %lld ms\n", N, now_ms() - t0);
    for (int i = 0; i < N; i++)
        if (n[i].got != 200)
            fail_msg("notification %s answered %ld, want 200", num[i], n[i].got);
    assert_int_equal(msgno_of("ada"), N);
    /* all of them coalesced into one pending pull (its settle window has not passed) */
    assert_int_equal(jobs_of("ada"), 1);
    assert_true(wait_no_jobs("ada", SETTLE_MS + 10000));
    assert_int_equal(runs_of("ada") - runs0, 1);

    /* replays (numbers not above the one stored) are acknowledged and ignored */
    assert_int_equal(send_valid(&ch, 10, 30), 200);
    assert_int_equal(send_valid(&ch, N, 30), 200);
    assert_int_equal(jobs_of("ada"), 0);
    assert_int_equal(msgno_of("ada"), N);
    sleep_ms(500);
    assert_int_equal(jobs_of("ada"), 0);
    assert_int_equal(runs_of("ada") - runs0, 1);
}

/* Forged and malformed notifications in the same burst as valid ones (so in the same batches
 * and transactions): each gets its own refusal, the valid ones their 200, and nothing forged
 * is stored or starts a sync. */
#define VICTIM "cruz@gmail.test"
static void forged_among_valid(void **state)
{
    enum { VALID = 16, KINDS = 13, ROUNDS = 2 };
    struct stack_chan a, b;
    char other_secret[CRYPT_HEXLEN], unknown_token[CRYPT_HEXLEN], longid[400];
    static const char unknown_id[] = "00000000-0000-4000-8000-0000000000aa";
    struct note n[VALID + KINDS * ROUNDS];
    char num[VALID][24];
    int order[VALID], k = 0, v = 0;
    long long b_msgno, b_runs;
    size_t mark;

    (void)state;
    connect_user("bea", &a);
    connect_user("cruz", &b);
    crypt_hmac_text("not-the-secret", b.id, other_secret);
    crypt_hmac_text(WEBHOOK_SECRET, unknown_id, unknown_token);
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    b_msgno = msgno_of("cruz");
    b_runs = runs_of("cruz");
    mark = emu_log_mark(&S);
    shuffle(order, VALID);
    for (int i = 0; i < VALID; i++)
        snprintf(num[i], sizeof num[i], "%d", order[i] + 1);
    {
        /* every forged one carries a number far above the valid ones: stored, it would show */
        const struct note forged[KINDS] = {
            /* cruz's channel with a token that is not its own: another channel's, another
             * secret's, none */
            note_of(b.id, b.rid, a.token, "exists", "1000", 403),
            note_of(b.id, b.rid, other_secret, "exists", "1001", 403),
            note_of(b.id, b.rid, NULL, "exists", "1002", 403),
            /* the right token, another resource */
            note_of(b.id, a.rid, b.token, "exists", "1003", 403),
            /* a channel nobody has (stale): acknowledged, ignored */
            note_of(unknown_id, b.rid, unknown_token, "exists", "1004", 200),
            /* headers missing or malformed */
            note_of(NULL, b.rid, b.token, "exists", "1005", 400),
            note_of(b.id, b.rid, b.token, NULL, "1006", 400),
            note_of(b.id, NULL, b.token, "exists", "1007", 400),
            note_of(b.id, b.rid, b.token, "weird", "1008", 400),
            note_of(b.id, b.rid, b.token, "exists", "10x9", 400),
            note_of(longid, b.rid, b.token, "exists", "1010", 400),
            /* a body (notifications have none), with a length or chunked */
            {.id = b.id,
             .rid = b.rid,
             .token = b.token,
             .state = "exists",
             .msgno = "1011",
             .body = "{\"x\":1}",
             .want = 413},
            {.id = b.id,
             .rid = b.rid,
             .token = b.token,
             .state = "exists",
             .msgno = "1012",
             .body = "{\"x\":2}",
             .chunked = 1,
             .want = 413},
        };
        /* interleaved: a valid one, a forged one, ... */
        for (int r = 0; r < ROUNDS; r++)
            for (int i = 0; i < KINDS; i++) {
                if (v < VALID)
                    n[k++] = note_valid(&a, num[v++]);
                n[k++] = forged[i];
            }
        while (v < VALID)
            n[k++] = note_valid(&a, num[v++]);
    }
    assert_int_equal(k, VALID + KINDS * ROUNDS);
    burst(n, (size_t)k, 30);
    for (int i = 0; i < k; i++)
        if (n[i].got != n[i].want)
            fail_msg("request %d (channel %.40s, number %s) answered %ld, want %ld", i,
                     n[i].id ? n[i].id : "-", n[i].msgno ? n[i].msgno : "-", n[i].got, n[i].want);
    /* a GET is refused too, and stores nothing */
    {
        struct note get = {.method = "GET",
                           .id = b.id,
                           .rid = b.rid,
                           .token = b.token,
                           .state = "exists",
                           .msgno = "1013",
                           .want = 405};
        assert_int_equal(send_note(&get, 30), 405);
    }
    /* the valid ones were all stored */
    assert_int_equal(msgno_of("bea"), VALID);
    assert_int_equal(jobs_of("bea"), 1);
    /* the forged ones nothing: no number, no job, no sync, no call to Google */
    assert_int_equal(msgno_of("cruz"), b_msgno);
    assert_int_equal(db_int("SELECT count(*) FROM user_integrations WHERE channel_msgno >= 1000"),
                     0);
    assert_int_equal(jobs_of("cruz"), 0);
    assert_true(wait_no_jobs("bea", SETTLE_MS + 10000));
    assert_int_equal(jobs_of("cruz"), 0);
    assert_int_equal(runs_of("cruz"), b_runs);
    assert_int_equal(emu_count_calls_for(&S, VICTIM, NULL, "/", mark), 0);
}

/* ---- FastCGI by hand on the webhook's socket ---- */

enum {
    FCGI_BEGIN_REQUEST = 1,
    FCGI_ABORT_REQUEST = 2,
    FCGI_END_REQUEST = 3,
    FCGI_PARAMS = 4,
    FCGI_STDIN = 5,
    FCGI_STDOUT = 6,
    FCGI_GET_VALUES = 9,
    FCGI_GET_VALUES_RESULT = 10,
    FCGI_UNKNOWN_TYPE = 11
};
enum { FCGI_RESPONDER = 1, FCGI_AUTHORIZER = 2 };
enum { FCGI_KEEP_CONN = 1 };
enum { FCGI_REQUEST_COMPLETE = 0, FCGI_CANT_MPX_CONN = 1, FCGI_UNKNOWN_ROLE = 3 };

/* Bytes to send (records, or a name-value stream). */
struct wire {
    unsigned char *p;
    size_t n, cap;
};

static void wire_add(struct wire *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        size_t cap = (w->n + n) * 2 + 256;
        unsigned char *p = realloc(w->p, cap);
        assert_non_null(p);
        w->p = p;
        w->cap = cap;
    }
    if (n > 0)
        memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void wire_free(struct wire *w)
{
    free(w->p);
    memset(w, 0, sizeof *w);
}

/* One record, padded to a multiple of 8 as web servers do. */
static void wire_record(struct wire *w, int type, unsigned id, const void *content, size_t len)
{
    static const unsigned char zeros[8];
    size_t pad = (8 - len % 8) % 8;
    unsigned char h[8] = {1,
                          (unsigned char)type,
                          (unsigned char)(id >> 8),
                          (unsigned char)id,
                          (unsigned char)(len >> 8),
                          (unsigned char)len,
                          (unsigned char)pad,
                          0};

    assert_true(len <= 65535);
    wire_add(w, h, sizeof h);
    wire_add(w, content, len);
    wire_add(w, zeros, pad);
}

static void wire_begin(struct wire *w, unsigned id, int role, int flags)
{
    unsigned char b[8] = {(unsigned char)(role >> 8), (unsigned char)role, (unsigned char)flags};

    wire_record(w, FCGI_BEGIN_REQUEST, id, b, sizeof b);
}

/* One name-value pair (the 4-byte length form for long ones). */
static void wire_nv(struct wire *w, const char *name, const char *value)
{
    size_t l[2] = {strlen(name), strlen(value)};

    for (int i = 0; i < 2; i++) {
        if (l[i] < 128) {
            unsigned char b = (unsigned char)l[i];
            wire_add(w, &b, 1);
        } else {
            unsigned char b[4] = {(unsigned char)(0x80 | (l[i] >> 24)), (unsigned char)(l[i] >> 16),
                                  (unsigned char)(l[i] >> 8), (unsigned char)l[i]};
            wire_add(w, b, 4);
        }
    }
    wire_add(w, name, l[0]);
    wire_add(w, value, l[1]);
}

/* The parameters nginx's webhook location sends for a notification of the channel with
 * message number num (NULL: none) and a body of content_length bytes, as name-value pairs. */
static void wire_note_params(struct wire *pv, const struct stack_chan *ch, const char *num,
                             const char *content_length)
{
    wire_nv(pv, "REQUEST_METHOD", "POST");
    wire_nv(pv, "CONTENT_LENGTH", content_length);
    wire_nv(pv, "CONTENT_TYPE", "");
    wire_nv(pv, "DOCUMENT_URI", WEBHOOK_PATH);
    wire_nv(pv, "HTTP_X_GOOG_CHANNEL_ID", ch->id);
    wire_nv(pv, "HTTP_X_GOOG_RESOURCE_ID", ch->rid);
    wire_nv(pv, "HTTP_X_GOOG_CHANNEL_TOKEN", ch->token);
    wire_nv(pv, "HTTP_X_GOOG_RESOURCE_STATE", "exists");
    if (num != NULL)
        wire_nv(pv, "HTTP_X_GOOG_MESSAGE_NUMBER", num);
}

/* A whole responder request: a notification of the channel with message number msgno, and
 * body_len bytes of body (CONTENT_LENGTH says so). */
static void wire_request(struct wire *w, unsigned id, int flags, const struct stack_chan *ch,
                         long long msgno, size_t body_len)
{
    struct wire pv = {NULL, 0, 0};
    char num[24], len[24];
    size_t off;

    snprintf(num, sizeof num, "%lld", msgno);
    snprintf(len, sizeof len, "%zu", body_len);
    wire_note_params(&pv, ch, num, len);
    wire_begin(w, id, FCGI_RESPONDER, flags);
    /* the stream split over two records, as a server may */
    off = pv.n / 2;
    wire_record(w, FCGI_PARAMS, id, pv.p, off);
    wire_record(w, FCGI_PARAMS, id, pv.p + off, pv.n - off);
    wire_record(w, FCGI_PARAMS, id, NULL, 0);
    for (off = 0; off < body_len;) {
        static const char xs[32768] = {'x'};
        size_t k = body_len - off < sizeof xs ? body_len - off : sizeof xs;
        wire_record(w, FCGI_STDIN, id, xs, k);
        off += k;
    }
    wire_record(w, FCGI_STDIN, id, NULL, 0);
    wire_free(&pv);
}

/* A connection to the webhook's socket; reads and writes time out after 10 s. */
static int raw_connect(void)
{
    struct sockaddr_un sa;
    struct timeval tv = {10, 0};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    stack_path(&S, "run/webhook.sock", sa.sun_path, sizeof sa.sun_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        fail_msg("connect %s: %s", sa.sun_path, strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

static void raw_send(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail_msg("send to the webhook: %s", strerror(errno));
        b += k;
        n -= (size_t)k;
    }
}

static void wire_send(int fd, struct wire *w)
{
    raw_send(fd, w->p, w->n);
    w->n = 0;
}

/* Reads exactly n bytes: 0, 1 when the peer closed before the first byte, -1 on an error, a
 * timeout or a close in the middle. */
static int read_full(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    size_t got = 0;

    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == ECONNRESET && got == 0)
            return 1;
        if (k == 0 && got == 0)
            return 1;
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

struct record {
    int type;
    unsigned id;
    size_t len;
    unsigned char content[65536];
};

/* Reads one record (its padding dropped): 0, 1 when the peer closed, -1 otherwise. */
static int read_record(int fd, struct record *r)
{
    unsigned char h[8], pad[255];
    int rc = read_full(fd, h, sizeof h);

    if (rc != 0)
        return rc;
    if (h[0] != 1)
        return -1;
    r->type = h[1];
    r->id = ((unsigned)h[2] << 8) | h[3];
    r->len = ((size_t)h[4] << 8) | h[5];
    if (r->len > 0 && read_full(fd, r->content, r->len) != 0)
        return -1;
    if (h[6] > 0 && read_full(fd, pad, h[6]) != 0)
        return -1;
    return 0;
}

/* The decimal number that p starts with, up to end (a space, or NUL when end is NULL);
 * -1 when there is none. */
static long number_at(const char *p, const char *end)
{
    char *e;
    long v;

    errno = 0;
    v = strtol(p, &e, 10);
    if (errno != 0 || e == p || (end == NULL ? *e != '\0' : strncmp(e, end, strlen(end)) != 0))
        return -1;
    return v;
}

/* A request's whole answer: its STDOUT stream, then END_REQUEST. */
struct answer {
    unsigned id;
    int status;       /* of the Status: line; 0 when none */
    int proto;        /* END_REQUEST's protocolStatus */
    int stdout_ended; /* the empty STDOUT record came */
    unsigned out_id;  /* request id of the STDOUT records */
    char head[4096];
    size_t head_len;
};

/* Reads records until an END_REQUEST (of any request: the caller checks a->id); records of
 * the management kind are a failure here. 0, or -1 when the connection ended first. */
static int read_answer(int fd, struct answer *a)
{
    static struct record r;

    memset(a, 0, sizeof *a);
    for (;;) {
        if (read_record(fd, &r) != 0)
            return -1;
        if (r.type == FCGI_STDOUT) {
            size_t room = sizeof a->head - 1 - a->head_len;
            size_t k = r.len < room ? r.len : room;
            if (a->head_len > 0 || a->stdout_ended)
                assert_int_equal(r.id, a->out_id);
            a->out_id = r.id;
            if (r.len == 0)
                a->stdout_ended = 1;
            memcpy(a->head + a->head_len, r.content, k);
            a->head_len += k;
            a->head[a->head_len] = '\0';
            continue;
        }
        if (r.type == FCGI_END_REQUEST) {
            assert_int_equal(r.len, 8);
            a->id = r.id;
            a->proto = r.content[4];
            if (a->head_len > 0 || a->stdout_ended)
                assert_int_equal(a->out_id, r.id);
            if (strncmp(a->head, "Status: ", 8) == 0)
                a->status = (int)number_at(a->head + 8, " ");
            return 0;
        }
        fail_msg("unexpected record type %d (request %u) in an answer", r.type, r.id);
    }
}

/* The answer of request id is a complete one with that HTTP status. */
static void expect_answer(int fd, unsigned id, int status)
{
    struct answer a;

    if (read_answer(fd, &a) != 0)
        fail_msg("request %u: no answer (connection ended)", id);
    assert_int_equal(a.id, id);
    assert_int_equal(a.proto, FCGI_REQUEST_COMPLETE);
    assert_true(a.stdout_ended);
    if (a.status != status)
        fail_msg("request %u answered %d, want %d: %.200s", id, a.status, status, a.head);
    assert_non_null(strstr(a.head, "\r\n\r\n"));
}

/* True when the peer closed the connection (within 5 s). */
static int peer_closed(int fd)
{
    char c;
    struct pollfd p = {fd, POLLIN, 0};
    ssize_t k;

    if (poll(&p, 1, 5000) != 1)
        return 0;
    k = read(fd, &c, 1);
    return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* True when the connection is still open and quiet 300 ms on. */
static int still_open(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};

    return poll(&p, 1, 300) == 0;
}

/* The channel the raw requests notify, and the next message number to use. */
static struct stack_chan raw_ch;
static long long raw_next = 1;

static const struct stack_chan *raw_chan(void)
{
    if (raw_ch.id[0] == '\0')
        connect_user("dina", &raw_ch);
    return &raw_ch;
}

/* One valid request on fd, answered 200. */
static void raw_roundtrip(int fd, unsigned id, int flags)
{
    struct wire w = {NULL, 0, 0};

    wire_request(&w, id, flags, raw_chan(), raw_next++, 0);
    wire_send(fd, &w);
    wire_free(&w);
    expect_answer(fd, id, 200);
}

/* A fresh connection is served (the loop is alive). */
static void raw_served(void)
{
    int fd = raw_connect();

    raw_roundtrip(fd, 1, 0);
    assert_true(peer_closed(fd));
    close(fd);
}

/* a. FCGI_KEEP_CONN: one request after another on one connection, which stays open. */
static void fcgi_keep_conn(void **state)
{
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    raw_roundtrip(fd, 1, FCGI_KEEP_CONN);
    assert_true(still_open(fd));
    raw_roundtrip(fd, 1, FCGI_KEEP_CONN);
    assert_true(still_open(fd));
    raw_roundtrip(fd, 7, FCGI_KEEP_CONN);
    assert_true(still_open(fd));
    close(fd);
    assert_int_equal(msgno_of("dina"), raw_next - 1);
}

/* b. Two whole requests in one write: both answered, in order. */
static void fcgi_pipelined(void **state)
{
    struct wire w = {NULL, 0, 0};
    long long first;
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    first = raw_next;
    wire_request(&w, 3, FCGI_KEEP_CONN, raw_chan(), raw_next++, 0);
    wire_request(&w, 4, FCGI_KEEP_CONN, raw_chan(), raw_next++, 0);
    wire_send(fd, &w);
    expect_answer(fd, 3, 200);
    expect_answer(fd, 4, 200);
    assert_true(still_open(fd));
    /* and three more, the last without FCGI_KEEP_CONN: answered, then the connection ends */
    wire_request(&w, 1, FCGI_KEEP_CONN, raw_chan(), raw_next++, 0);
    wire_request(&w, 2, FCGI_KEEP_CONN, raw_chan(), raw_next++, 0);
    wire_request(&w, 3, 0, raw_chan(), raw_next++, 0);
    wire_send(fd, &w);
    expect_answer(fd, 1, 200);
    expect_answer(fd, 2, 200);
    expect_answer(fd, 3, 200);
    assert_true(peer_closed(fd));
    close(fd);
    wire_free(&w);
    assert_int_equal(msgno_of("dina"), first + 4);
}

/* c. Without FCGI_KEEP_CONN the server closes the connection after the answer. */
static void fcgi_close_without_keep(void **state)
{
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    raw_roundtrip(fd, 1, 0);
    assert_true(peer_closed(fd));
    close(fd);
}

/* Finds name in a name-value stream (1-byte lengths only: short answers); its value into out,
 * 0 when found. */
static int nv_find(const unsigned char *p, size_t len, const char *name, char *out, size_t outlen)
{
    size_t i = 0;

    while (i + 2 <= len) {
        size_t nl = p[i], vl = p[i + 1];
        if (nl >= 0x80 || vl >= 0x80 || i + 2 + nl + vl > len)
            return -1;
        if (nl == strlen(name) && memcmp(p + i + 2, name, nl) == 0) {
            if (vl >= outlen)
                return -1;
            memcpy(out, p + i + 2 + nl, vl);
            out[vl] = '\0';
            return 0;
        }
        i += 2 + nl + vl;
    }
    return -1;
}

/* d. FCGI_GET_VALUES: FCGI_MPXS_CONNS is 0 (no multiplexing); unknown names are left out. */
static void fcgi_get_values(void **state)
{
    struct wire w = {NULL, 0, 0}, q = {NULL, 0, 0};
    static struct record r;
    char v[64];
    int fd;

    (void)state;
    fd = raw_connect();
    wire_nv(&q, "FCGI_MPXS_CONNS", "");
    wire_nv(&q, "FCGI_NO_SUCH_VARIABLE", "");
    wire_nv(&q, "FCGI_MAX_REQS", "");
    wire_record(&w, FCGI_GET_VALUES, 0, q.p, q.n);
    wire_send(fd, &w);
    assert_int_equal(read_record(fd, &r), 0);
    assert_int_equal(r.type, FCGI_GET_VALUES_RESULT);
    assert_int_equal(r.id, 0);
    assert_int_equal(nv_find(r.content, r.len, "FCGI_MPXS_CONNS", v, sizeof v), 0);
    assert_string_equal(v, "0");
    assert_int_equal(nv_find(r.content, r.len, "FCGI_MAX_REQS", v, sizeof v), 0);
    assert_true(number_at(v, NULL) >= 1);
    assert_int_not_equal(nv_find(r.content, r.len, "FCGI_NO_SUCH_VARIABLE", v, sizeof v), 0);
    /* the connection serves a request afterwards */
    raw_roundtrip(fd, 1, 0);
    assert_true(peer_closed(fd));
    close(fd);
    wire_free(&w);
    wire_free(&q);
}

/* e. A role other than responder is refused with FCGI_UNKNOWN_ROLE, and its stream ignored. */
static void fcgi_unknown_role(void **state)
{
    struct wire w = {NULL, 0, 0}, pv = {NULL, 0, 0};
    struct answer a;
    int fd;

    (void)state;
    raw_chan();
    wire_nv(&pv, "REQUEST_METHOD", "GET");
    wire_nv(&pv, "DOCUMENT_URI", WEBHOOK_PATH);
    /* kept connection: refused, then a responder request on it is served */
    fd = raw_connect();
    wire_begin(&w, 1, FCGI_AUTHORIZER, FCGI_KEEP_CONN);
    wire_record(&w, FCGI_PARAMS, 1, pv.p, pv.n);
    wire_record(&w, FCGI_PARAMS, 1, NULL, 0);
    wire_send(fd, &w);
    assert_int_equal(read_answer(fd, &a), 0);
    assert_int_equal(a.id, 1);
    assert_int_equal(a.proto, FCGI_UNKNOWN_ROLE);
    assert_int_equal(a.head_len, 0);
    raw_roundtrip(fd, 2, FCGI_KEEP_CONN);
    assert_true(still_open(fd));
    close(fd);
    /* not kept: refused, then closed */
    fd = raw_connect();
    wire_begin(&w, 1, FCGI_AUTHORIZER, 0);
    wire_send(fd, &w);
    assert_int_equal(read_answer(fd, &a), 0);
    assert_int_equal(a.proto, FCGI_UNKNOWN_ROLE);
    assert_true(peer_closed(fd));
    close(fd);
    wire_free(&w);
    wire_free(&pv);
}

/* f. Bytes that are not FastCGI end the connection, not the loop. */
static void fcgi_garbage(void **state)
{
    static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    unsigned char bad[16] = {2, FCGI_BEGIN_REQUEST, 0, 1, 0, 8, 0, 0, 0, 1, 1};
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    raw_send(fd, bad, sizeof bad); /* version 2 */
    assert_true(peer_closed(fd));
    close(fd);
    fd = raw_connect();
    raw_send(fd, junk, sizeof junk - 1);
    assert_true(peer_closed(fd));
    close(fd);
    /* a bad record after a good request on a kept connection */
    fd = raw_connect();
    raw_roundtrip(fd, 1, FCGI_KEEP_CONN);
    raw_send(fd, bad, sizeof bad);
    assert_true(peer_closed(fd));
    close(fd);
    raw_served();
}

/* g. A body beyond what the route takes: 413, and the loop (and connection) go on. */
static void fcgi_body_too_large(void **state)
{
    struct wire w = {NULL, 0, 0};
    long long before;
    int fd;

    (void)state;
    raw_chan();
    before = msgno_of("dina");
    fd = raw_connect();
    /* a number that would be stored if the request went through */
    wire_request(&w, 1, FCGI_KEEP_CONN, raw_chan(), raw_next + 1000, 70000);
    wire_send(fd, &w);
    expect_answer(fd, 1, 413);
    /* the same connection is served afterwards */
    raw_roundtrip(fd, 2, FCGI_KEEP_CONN);
    close(fd);
    assert_int_equal(msgno_of("dina"), raw_next - 1);
    assert_true(msgno_of("dina") > before);
    /* and a body at the limit of what the loop buffers, then more than a record's worth of
     * it, each answered 413 */
    fd = raw_connect();
    wire_request(&w, 1, FCGI_KEEP_CONN, raw_chan(), raw_next + 1000, 65536);
    wire_request(&w, 2, FCGI_KEEP_CONN, raw_chan(), raw_next + 1001, 200000);
    wire_send(fd, &w);
    expect_answer(fd, 1, 413);
    expect_answer(fd, 2, 413);
    close(fd);
    wire_free(&w);
    assert_int_equal(msgno_of("dina"), raw_next - 1);
    raw_served();
}

/* A pair HTTP_X_PAD of total bytes (value of 'p's). */
static void wire_pad(struct wire *pv, size_t total)
{
    size_t vl = total - (1 + 4 + strlen("HTTP_X_PAD"));
    char *v = malloc(vl + 1);

    assert_non_null(v);
    memset(v, 'p', vl);
    v[vl] = '\0';
    wire_nv(pv, "HTTP_X_PAD", v);
    free(v);
}

/* Parameters beyond what the loop takes (64 KiB, FCGI_PARAMS_MAX) are refused with 431, whether
 * the record that crosses the limit splits a name-value pair or holds whole pairs; the route
 * never sees a part of them, and the loop goes on. */
static void fcgi_params_too_large(void **state)
{
    enum { PARAMS_MAX = 64 * 1024 };
    struct wire w = {NULL, 0, 0}, a = {NULL, 0, 0}, pad = {NULL, 0, 0}, c = {NULL, 0, 0};
    struct answer ans;
    char num[24];
    long long jobs;
    int fd;

    (void)state;
    raw_chan();
    assert_true(wait_no_jobs("dina", SETTLE_MS + 10000));
    snprintf(num, sizeof num, "%lld", raw_next + 1000);
    fd = raw_connect();
    /* a pair of 70000 bytes over two records */
    wire_note_params(&a, raw_chan(), num, "0");
    wire_pad(&pad, 70000);
    wire_begin(&w, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    wire_record(&w, FCGI_PARAMS, 1, a.p, a.n);
    wire_record(&w, FCGI_PARAMS, 1, pad.p, 40000);
    wire_record(&w, FCGI_PARAMS, 1, pad.p + 40000, pad.n - 40000);
    wire_record(&w, FCGI_PARAMS, 1, NULL, 0);
    wire_record(&w, FCGI_STDIN, 1, NULL, 0);
    wire_send(fd, &w);
    expect_answer(fd, 1, 431);
    raw_roundtrip(fd, 2, FCGI_KEEP_CONN);
    assert_true(wait_no_jobs("dina", SETTLE_MS + 10000));
    /* whole pairs: the notification without its number, a pad that fills the stream to 10
     * bytes short of the limit, then the number in a record of its own, which crosses it */
    a.n = pad.n = 0;
    wire_note_params(&a, raw_chan(), NULL, "0");
    wire_pad(&pad, PARAMS_MAX - 10 - a.n);
    wire_nv(&c, "HTTP_X_GOOG_MESSAGE_NUMBER", num);
    assert_int_equal(a.n + pad.n, PARAMS_MAX - 10);
    wire_begin(&w, 3, FCGI_RESPONDER, FCGI_KEEP_CONN);
    wire_record(&w, FCGI_PARAMS, 3, a.p, a.n);
    wire_record(&w, FCGI_PARAMS, 3, pad.p, pad.n);
    wire_record(&w, FCGI_PARAMS, 3, c.p, c.n);
    wire_record(&w, FCGI_PARAMS, 3, NULL, 0);
    wire_record(&w, FCGI_STDIN, 3, NULL, 0);
    wire_send(fd, &w);
    assert_int_equal(read_answer(fd, &ans), 0);
    assert_int_equal(ans.id, 3);
    assert_int_equal(ans.proto, FCGI_REQUEST_COMPLETE);
    jobs = jobs_of("dina");
    /* the loop and the connection go on */
    raw_roundtrip(fd, 4, FCGI_KEEP_CONN);
    close(fd);
    wire_free(&w);
    wire_free(&a);
    wire_free(&pad);
    wire_free(&c);
    assert_int_equal(msgno_of("dina"), raw_next - 1);
    if (ans.status != 431)
        fail_msg("parameters over the limit, cut at a pair boundary, answered %d (pull jobs "
                 "after it: %lld), want 431: the route ran without the parameters dropped",
                 ans.status, jobs);
}

/* h. A management record of an unknown type gets FCGI_UNKNOWN_TYPE naming it. */
static void fcgi_unknown_type(void **state)
{
    struct wire w = {NULL, 0, 0};
    static struct record r;
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    wire_record(&w, 99, 0, "abc", 3);
    wire_send(fd, &w);
    assert_int_equal(read_record(fd, &r), 0);
    assert_int_equal(r.type, FCGI_UNKNOWN_TYPE);
    assert_int_equal(r.id, 0);
    assert_int_equal(r.len, 8);
    assert_int_equal(r.content[0], 99);
    /* an unknown type within a request is ignored; the request is served */
    wire_record(&w, 99, 1, "abc", 3);
    wire_send(fd, &w);
    raw_roundtrip(fd, 1, FCGI_KEEP_CONN);
    assert_true(still_open(fd));
    close(fd);
    wire_free(&w);
}

/* A second request on a connection while one is under way: FCGI_CANT_MPX_CONN, and the first
 * one answered. An aborted request is ended without running. */
static void fcgi_one_request_at_a_time(void **state)
{
    struct wire w = {NULL, 0, 0}, one = {NULL, 0, 0};
    struct answer a;
    long long before;
    int fd;

    (void)state;
    raw_chan();
    fd = raw_connect();
    wire_request(&one, 1, FCGI_KEEP_CONN, raw_chan(), raw_next++, 0);
    /* its BEGIN_REQUEST (16 bytes), another request's, then the rest of the first */
    wire_add(&w, one.p, 16);
    wire_begin(&w, 2, FCGI_RESPONDER, FCGI_KEEP_CONN);
    wire_add(&w, one.p + 16, one.n - 16);
    wire_send(fd, &w);
    assert_int_equal(read_answer(fd, &a), 0);
    assert_int_equal(a.id, 2);
    assert_int_equal(a.proto, FCGI_CANT_MPX_CONN);
    expect_answer(fd, 1, 200);
    /* begun, then aborted: ended at once, nothing stored */
    before = msgno_of("dina");
    one.n = 0;
    wire_request(&one, 5, FCGI_KEEP_CONN, raw_chan(), raw_next + 1000, 0);
    wire_add(&w, one.p, 16);
    wire_record(&w, FCGI_ABORT_REQUEST, 5, NULL, 0);
    wire_send(fd, &w);
    assert_int_equal(read_answer(fd, &a), 0);
    assert_int_equal(a.id, 5);
    assert_int_equal(a.proto, FCGI_REQUEST_COMPLETE);
    raw_roundtrip(fd, 6, FCGI_KEEP_CONN);
    close(fd);
    assert_int_equal(msgno_of("dina"), raw_next - 1);
    assert_true(msgno_of("dina") > before);
    wire_free(&w);
    wire_free(&one);
}

/* ---- failures ---- */

/* The batch's transaction cannot be had (another process holds SQLite's write lock past the
 * busy timeout): 503, nothing stored, so Google's retry of the same number is taken. */
static void failed_transaction_503(void **state)
{
    struct stack_chan ch;
    char path[512];
    sqlite3 *db;
    long long t0, waited;
    long st;

    (void)state;
    if (stack_mysql()) {
        print_message("SQLite's write lock only: skipped on the MySQL store\n");
        skip();
    }
    connect_user("eli", &ch);
    assert_int_equal(send_valid(&ch, 1, 30), 200);
    assert_true(wait_no_jobs("eli", SETTLE_MS + 10000));
    stack_path(&S, "calsync.db", path, sizeof path);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    /* held while the webhook waits its busy timeout (DB_BUSY_MS, 10 s) and gives up */
    t0 = now_ms();
    st = send_valid(&ch, 2, 40);
    waited = now_ms() - t0;
    assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    print_message("answered %ld after %lld ms of a held write lock\n", st, waited);
    assert_true(waited >= 9000);
    assert_true(st >= 500);
    /* nothing stored */
    assert_int_equal(msgno_of("eli"), 1);
    assert_int_equal(jobs_of("eli"), 0);
    /* the retry is not a replay: stored, with its pull */
    assert_int_equal(send_valid(&ch, 2, 30), 200);
    assert_int_equal(msgno_of("eli"), 2);
    assert_int_equal(jobs_of("eli"), 1);
    /* the documented answer for a notification that was not stored (http.h, cgi/webhook.c) */
    if (st != 503)
        fail_msg("a notification whose transaction failed was answered %ld, want 503", st);
}

/* The pid of the webhook's supervisor (the route program the harness started). */
static pid_t webhook_supervisor(void)
{
    for (int i = 0; i < S.npids; i++) {
        char path[64], cmd[512];
        FILE *f;
        size_t n;
        snprintf(path, sizeof path, "/proc/%d/cmdline", (int)S.pids[i]);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        n = fread(cmd, 1, sizeof cmd - 1, f);
        fclose(f);
        cmd[n] = '\0'; /* argv[0] */
        n = strlen(cmd);
        if (n >= 16 && strcmp(cmd + n - 16, "/calsync-webhook") == 0)
            return S.pids[i];
    }
    return -1;
}

/* kill -9 of the event loop: its supervisor starts another, which serves notifications. */
static void killed_loop_restarts(void **state)
{
    struct stack_chan ch;
    pid_t sup, old, now[4];
    long long msgno = 1, t0, stored = -1;
    long st = 0;

    (void)state;
    connect_user("fay", &ch);
    sup = webhook_supervisor();
    assert_true(sup > 0);
    assert_int_equal(stack_children(sup, now, 4), 1);
    old = now[0];
    assert_int_equal(send_valid(&ch, msgno, 30), 200);
    assert_int_equal(kill(old, SIGKILL), 0);
    t0 = now_ms();
    while (now_ms() - t0 < 8000) {
        st = send_valid(&ch, ++msgno, 3);
        if (st == 200)
            break;
        sleep_ms(100);
    }
    print_message("served again %lld ms after the kill\n", now_ms() - t0);
    assert_int_equal(st, 200);
    assert_true(now_ms() - t0 < 8000);
    assert_int_equal(stack_children(sup, now, 4), 1);
    assert_int_not_equal(now[0], old);
    stored = msgno_of("fay");
    assert_int_equal(stored, msgno);
    /* and it goes on serving, a burst included */
    {
        enum { N = 16 };
        struct note n[N];
        char num[N][24];
        for (int i = 0; i < N; i++) {
            snprintf(num[i], sizeof num[i], "%lld", msgno + 1 + i);
            n[i] = note_valid(&ch, num[i]);
        }
        burst(n, N, 30);
        for (int i = 0; i < N; i++)
            assert_int_equal(n[i].got, 200);
        assert_int_equal(msgno_of("fay"), msgno + N);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_in_random_order),   cmocka_unit_test(forged_among_valid),
        cmocka_unit_test(fcgi_keep_conn),          cmocka_unit_test(fcgi_pipelined),
        cmocka_unit_test(fcgi_close_without_keep), cmocka_unit_test(fcgi_get_values),
        cmocka_unit_test(fcgi_unknown_role),       cmocka_unit_test(fcgi_garbage),
        cmocka_unit_test(fcgi_body_too_large),     cmocka_unit_test(fcgi_params_too_large),
        cmocka_unit_test(fcgi_unknown_type),       cmocka_unit_test(fcgi_one_request_at_a_time),
        cmocka_unit_test(failed_transaction_503),  cmocka_unit_test(killed_loop_restarts),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
