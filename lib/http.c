/* http.c: FastCGI (fd 0 or --listen, several workers) and plain CGI behind one request API. */
#define _GNU_SOURCE /* accept4 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "http.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "fcgi.h"
#include "log.h"

extern char **environ;

static volatile sig_atomic_t http_stop;

/* Most bytes of one answer (a page of appointments is far below). */
#define HTTP_ANSWER_MAX (64 * 1024 * 1024)
/* The transaction of the current batch (http_tx) is open; a handler in it failed. */
static int http_tx_open;
static int http_tx_failed;

/* A routine request's access line is DEBUG; an error or one slower than this is INFO. */
#define HTTP_SLOW_MS 1000
/* Set while a handler runs: an http_finish then means it goes on working after answering. */
static int http_in_handler;

/* The socket a worker accepts on, for the stop signal to close. */
static volatile sig_atomic_t http_listen_fd = -1;

/* Stops the worker at its next accept: the accept fails on the closed socket (EBADF), also
 * when the signal came just before it. Not FCGX_ShutdownPending(): libfcgi's OS_Accept then
 * loops for ever on a connection it has already closed (a kept-alive nginx connection that
 * went away), burning a core in an orphaned worker. */
static void http_on_signal(int sig)
{
    int fd = http_listen_fd;

    (void)sig;
    http_stop = 1;
    if (fd >= 0) {
        http_listen_fd = -1;
        close(fd);
    }
}

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

const char *http_param(struct http_req *req, const char *name)
{
    if (req->finished)
        return NULL;
    if (req->envp != NULL)
        return FCGX_GetParam(name, req->envp);
    return getenv(name);
}

static char *http_dup_param(struct http_req *req, const char *name)
{
    const char *v = http_param(req, name);

    return strdup(v ? v : "");
}

/* Answers are held in req->out until http_finish: a batch whose transaction fails replaces
 * them. An answer that does not fit in memory becomes a 500 there. */
static void http_out(struct http_req *req, const char *data, size_t len)
{
    if (req->finished || req->out_failed)
        return;
    if (buf_add(&req->out, data, len) != CS_OK)
        req->out_failed = 1;
}

/* The event loop's side of http_read_body and http_finish (below). */
static int http_conn_body(struct http_req *req, size_t cap);
static void http_conn_answer(struct http_req *req);

int http_read_body(struct http_req *req, size_t cap)
{
    char chunk[4096];
    int n;

    if (req->content_length > (long long)cap)
        return CS_ERR_TOOBIG;
    buf_init(&req->body, cap);
    if (req->conn != NULL)
        return http_conn_body(req, cap);
    for (;;) {
        if (req->fcgi != NULL)
            n = FCGX_GetStr(chunk, sizeof chunk, ((FCGX_Request *)req->fcgi)->in);
        else
            n = (int)fread(chunk, 1, sizeof chunk, stdin);
        if (n <= 0)
            break;
        if (buf_add(&req->body, chunk, (size_t)n) != CS_OK)
            return CS_ERR_TOOBIG;
        if (req->fcgi == NULL && req->content_length >= 0 &&
            (long long)req->body.len >= req->content_length)
            break;
    }
    if (req->body.data == NULL && buf_add(&req->body, "", 0) != CS_OK)
        return CS_ERR_IO;
    return CS_OK;
}

int http_query_get(const char *query, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t seglen = end ? (size_t)(end - p) : strlen(p);
        if (seglen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t o = 0;
            for (const char *v = p + klen + 1; v < p + seglen; v++) {
                char c = *v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && v + 2 < p + seglen + 1 && cs_hex_digit(v[1]) >= 0 &&
                           cs_hex_digit(v[2]) >= 0) {
                    c = (char)(cs_hex_digit(v[1]) * 16 + cs_hex_digit(v[2]));
                    v += 2;
                }
                if (o + 1 >= outlen)
                    return CS_ERR_TOOBIG;
                out[o++] = c;
            }
            out[o] = '\0';
            if (strlen(out) != o) /* an encoded NUL */
                return CS_ERR_TOOBIG;
            return CS_OK;
        }
        p = end ? end + 1 : NULL;
    }
    return CS_ERR_NOTFOUND;
}

int http_cookie_get(struct http_req *req, const char *name, char *out, size_t outlen)
{
    return http_cookie_find(http_param(req, "HTTP_COOKIE"), name, out, outlen);
}

int http_cookie_find(const char *header, const char *name, char *out, size_t outlen)
{
    const char *c = header;
    size_t nlen = strlen(name);

    while (c != NULL && *c != '\0') {
        while (*c == ' ' || *c == ';')
            c++;
        if (strncmp(c, name, nlen) == 0 && c[nlen] == '=') {
            const char *v = c + nlen + 1;
            size_t vlen = strcspn(v, ";");
            if (vlen + 1 > outlen)
                return CS_ERR_NOTFOUND;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return CS_OK;
        }
        c = strchr(c, ';');
    }
    return CS_ERR_NOTFOUND;
}

int http_is_json(const struct http_req *req)
{
    const char *ct = req->content_type;
    size_t n = strlen("application/json");

    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int http_urlencode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = CS_OK;

    for (; *s && rc == CS_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_add(b, e, 3);
        }
    }
    return rc;
}

void http_reply(struct http_req *req, int status, const char *ctype, const char *extra_headers,
                const char *body, size_t len)
{
    char head[512];
    int n;

    if (req->answered || req->finished)
        return;
    n = snprintf(head, sizeof head,
                 "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
                 "Referrer-Policy: no-referrer\r\n",
                 status, http_reason(status), ctype, len);
    http_out(req, head, (size_t)n);
    if (extra_headers != NULL)
        http_out(req, extra_headers, strlen(extra_headers));
    http_out(req, "\r\n", 2);
    if (strcmp(req->method, "HEAD") != 0 && len > 0)
        http_out(req, body, len);
    req->status = status;
    req->answered = 1;
}

void http_reply_json(struct http_req *req, int status, cJSON *obj, const char *extra_headers)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;

    if (s == NULL)
        http_reply(req, obj ? 500 : status, "application/json", extra_headers,
                   obj ? "{\"error\":\"out of memory\"}" : "{}", obj ? 25 : 2);
    else
        http_reply(req, status, "application/json", extra_headers, s, strlen(s));
    free(s);
    cJSON_Delete(obj);
}

void http_reply_error(struct http_req *req, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && cJSON_AddStringToObject(o, "error", msg) == NULL) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (o == NULL) {
        http_reply(req, status, "application/json", NULL, "{\"error\":\"internal\"}", 20);
        return;
    }
    http_reply_json(req, status, o, NULL);
}

void http_redirect(struct http_req *req, const char *location, const char *extra_headers)
{
    struct buf h;

    buf_init(&h, 8192);
    if (buf_printf(&h, "Location: %s\r\n%s", location, extra_headers ? extra_headers : "") !=
        CS_OK) {
        buf_free(&h);
        http_reply_error(req, 500, "redirect too long");
        return;
    }
    http_reply(req, 302, "text/plain; charset=utf-8", h.data, "", 0);
    buf_free(&h);
}

void http_finish(struct http_req *req)
{
    if (req->finished)
        return;
    /* a request in an open transaction is answered once its batch's outcome is known */
    if (req->in_tx && http_tx_open)
        return;
    if (!req->answered)
        http_reply_error(req, 500, "no response");
    if (req->out_failed) {
        buf_reset(&req->out);
        req->out_failed = req->answered = 0;
        http_reply_error(req, 500, "answer too large");
    }
    if (req->conn != NULL) {
        http_conn_answer(req);
    } else if (req->fcgi != NULL) {
        /* nginx keeps FastCGI connections open (fastcgi_keep_conn) and sends the next request
         * on one as soon as it is idle; a worker that goes on working after its answer would
         * hold that request back while other workers wait. Close this one instead. */
        if (http_in_handler)
            ((FCGX_Request *)req->fcgi)->keepConnection = 0;
        if (req->out.len > 0)
            FCGX_PutStr(req->out.data, (int)req->out.len, ((FCGX_Request *)req->fcgi)->out);
        FCGX_Finish_r((FCGX_Request *)req->fcgi);
    } else {
        fwrite(req->out.data ? req->out.data : "", 1, req->out.len, stdout);
        fflush(stdout);
        fclose(stdout);
    }
    req->finished = 1;
}

static void http_req_free(struct http_req *req)
{
    free(req->path);
    free(req->query);
    free(req->content_type);
    buf_free(&req->body);
    free(req->out.data); /* no secrets in answers: no need to wipe */
    req->path = req->query = req->content_type = NULL;
    req->out.data = NULL;
}

static long long http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_tx(struct http_req *req)
{
    if (req->in_tx)
        return CS_OK;
    if (!http_tx_open) {
        /* after a failed BEGIN (the lock stayed taken for the whole busy timeout) the batch's
         * other requests do not wait as long again */
        if (http_tx_failed || db_begin(req->db) != CS_OK) {
            http_tx_failed = 1;
            return CS_ERR_DB;
        }
        http_tx_open = 1;
        http_tx_failed = 0;
    }
    req->in_tx = 1;
    return CS_OK;
}

/* Copies what every route needs out of the transport. */
static void http_start(struct http_req *req)
{
    const char *v;
    char *q;

    req->t0 = http_now_ms();
    buf_init(&req->out, HTTP_ANSWER_MAX);
    v = http_param(req, "REQUEST_METHOD");
    snprintf(req->method, sizeof req->method, "%s", v ? v : "GET");
    v = http_param(req, "DOCUMENT_URI");
    if (v == NULL || *v == '\0') {
        const char *sn = http_param(req, "SCRIPT_NAME"), *pi = http_param(req, "PATH_INFO");
        struct buf b;
        buf_init(&b, 8192);
        if (buf_printf(&b, "%s%s", sn ? sn : "", pi ? pi : "") != CS_OK)
            buf_reset(&b);
        req->path = buf_steal(&b);
    } else {
        req->path = strdup(v);
    }
    if (req->path != NULL && (q = strchr(req->path, '?')) != NULL)
        *q = '\0';
    req->query = http_dup_param(req, "QUERY_STRING");
    req->content_type = http_dup_param(req, "CONTENT_TYPE");
    v = http_param(req, "CONTENT_LENGTH");
    req->content_length = -1;
    if (v != NULL && *v != '\0') {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (errno == 0 && *end == '\0' && n >= 0)
            req->content_length = n;
    }
    buf_init(&req->body, 0);
}

/* Runs the handler; a joined request whose handler failed dooms its batch. */
static void http_run(struct http_req *req, http_handler h, void *ctx)
{
    int rc;

    if (req->path == NULL || req->query == NULL || req->content_type == NULL) {
        http_reply_error(req, 500, "out of memory");
        return;
    }
    http_in_handler = 1;
    rc = h(req, ctx);
    http_in_handler = 0;
    if (req->in_tx && rc != CS_OK)
        http_tx_failed = 1;
}

/* Ends the batch's transaction, if one was opened: commit, or roll back when a handler failed
 * or the commit did; then every joined request is answered 503, since nothing of it was
 * stored. Returns 1 when a transaction committed. */
static int http_settle(struct http_req **reqs, size_t n, const struct http_batched *b)
{
    int committed = 0, ok;

    if (!http_tx_open) {
        http_tx_failed = 0;
        return 0;
    }
    http_tx_open = 0;
    ok = !http_tx_failed && reqs[0]->db != NULL;
    if (b != NULL && b->ending != NULL && b->ending(reqs[0]->db, ok, b->ctx) != CS_OK)
        ok = 0;
    if (ok && db_commit(reqs[0]->db) == CS_OK) {
        committed = 1;
    } else {
        size_t joined = 0;
        db_rollback(reqs[0]->db);
        if (b != NULL && b->ending != NULL)
            b->ending(reqs[0]->db, 0, b->ctx);
        for (size_t i = 0; i < n; i++) {
            if (!reqs[i]->in_tx || reqs[i]->finished)
                continue;
            joined++;
            buf_reset(&reqs[i]->out);
            reqs[i]->answered = reqs[i]->out_failed = 0;
            http_reply_error(reqs[i], 503, "not recorded; try again");
        }
        log_error("a transaction of %zu request(s) was rolled back: %s", joined,
                  db_errmsg(reqs[0]->db));
    }
    http_tx_failed = 0;
    return committed;
}

/* Answers (500 when the handler did not), logs one line, hands the connection back. */
static void http_done(struct http_req *req)
{
    long long ms;

    if (!req->answered && !req->finished)
        http_reply_error(req, 500, "no response");
    ms = http_now_ms() - req->t0;
    /* one line per request only for errors and slow ones: routine lines cost more than the
     * request at webhook rates (CALSYNC_LOG_LEVEL=debug shows them all) */
    log_msg(req->status >= 400 || ms >= HTTP_SLOW_MS ? LOG_INFO : LOG_DEBUG,
            "%s %s -> %d (%lld ms)", req->method, req->path ? req->path : "?", req->status, ms);
    http_finish(req);
    http_req_free(req);
}

/* One request of a libfcgi or CGI transport: a batch of one. Returns 1 when its
 * transaction committed. */
static int http_handle(struct http_req *req, http_handler h, void *ctx,
                       const struct http_batched *b)
{
    int committed;

    http_start(req);
    http_run(req, h, ctx);
    committed = http_settle(&req, 1, b);
    http_done(req);
    return committed;
}

static int http_loop(int sock, const struct cfg *cfg, struct db *db, http_handler h, void *ctx)
{
    FCGX_Request fr;

    if (FCGX_InitRequest(&fr, sock, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
        return 1;
    while (!http_stop) {
        struct http_req req;
        if (FCGX_Accept_r(&fr) < 0)
            break;
        memset(&req, 0, sizeof req);
        req.cfg = cfg;
        req.db = db;
        req.fcgi = &fr;
        req.envp = fr.envp;
        http_handle(&req, h, ctx, NULL);
    }
    FCGX_Free(&fr, 1);
    return 0;
}

/* ---- the event loop of batched routes ---- */

/* A FastCGI connection of the event loop. */
struct http_conn {
    int fd;
    int want_out; /* EPOLLOUT is armed: the socket did not take the whole answer */
    int queued;   /* in the batch being built */
    int dead;     /* the peer went away while queued: closed once the batch is done */
    struct http_conn *prev, *next; /* every connection of the process, to free them at exit */
    struct fcgi_conn p;
    struct http_req req;
    char **envp;
};

/* Most connections one process holds (nginx opens one per request in flight, and keeps some),
 * and most requests one transaction covers. */
#define HTTP_CONNS_MAX 4096
/* WAL pages at which the batched loop's commits checkpoint (SQLite's default: 1000) */
#define HTTP_CKPT_PAGES 10000

static int http_epoll = -1;
static size_t http_nconns;
static struct http_conn *http_conns;

/* Closes the connection, or only marks it while its request is in the batch (the batch still
 * holds it; the fd must not be reused under it). */
static void http_conn_close(struct http_conn *c)
{
    if (c->queued) {
        if (!c->dead)
            epoll_ctl(http_epoll, EPOLL_CTL_DEL, c->fd, NULL);
        c->dead = 1;
        return;
    }
    close(c->fd); /* also leaves the epoll set */
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        http_conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    fcgi_conn_free(&c->p);
    free(c->envp);
    free(c);
    http_nconns--;
}

/* Writes what the socket takes of the connection's pending bytes. Returns 0, or -1 when the
 * connection is over (closed here). */
static int http_conn_flush(struct http_conn *c)
{
    while (c->p.out.len > 0) {
        ssize_t n = write(c->fd, c->p.out.data, c->p.out.len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(http_epoll, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = 1;
            }
            return 0;
        }
        if (n <= 0) {
            http_conn_close(c);
            return -1;
        }
        fcgi_conn_sent(&c->p, (size_t)n);
    }
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(http_epoll, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }
    if (c->p.closing) {
        http_conn_close(c);
        return -1;
    }
    return 0;
}

static void http_conn_answer(struct http_req *req)
{
    struct http_conn *c = req->conn;

    if (fcgi_conn_answer(&c->p, req->out.data ? req->out.data : "", req->out.len) != CS_OK)
        c->p.closing = 1; /* out of memory: nginx sees the connection end (502) */
}

static int http_conn_body(struct http_req *req, size_t cap)
{
    struct http_conn *c = req->conn;

    if (c->p.too_big || c->p.body.len > cap)
        return CS_ERR_TOOBIG;
    if (buf_add(&req->body, c->p.body.data ? c->p.body.data : "", c->p.body.len) != CS_OK)
        return CS_ERR_IO;
    return CS_OK;
}

/* Parses what the connection received; a complete request joins the batch. Returns -1 when
 * the connection is over (closed here). */
static int http_conn_parse(struct http_conn *c, struct http_conn **batch, size_t *nbatch)
{
    enum fcgi_status st;

    if (c->queued)
        return 0;
    st = fcgi_conn_parse(&c->p);
    if (st == FCGI_PROTO_ERROR) {
        log_warn("FastCGI protocol error from the web server; connection closed");
        http_conn_close(c);
        return -1;
    }
    if (st == FCGI_REQUEST) { /* the loop keeps room for it */
        c->queued = 1;
        batch[(*nbatch)++] = c;
    }
    /* refusals and management answers the parser wrote */
    return c->p.out.len > 0 || c->p.closing ? http_conn_flush(c) : 0;
}

/* Reads what the socket has for the connection. Returns -1 when it is over (closed here). */
static int http_conn_read(struct http_conn *c, struct http_conn **batch, size_t *nbatch)
{
    char chunk[16384];

    for (;;) {
        size_t room = FCGI_IN_MAX - c->p.in.len;
        ssize_t n;
        if (room == 0 || c->queued)
            return 0; /* the rest waits until this request is answered */
        n = read(c->fd, chunk, room < sizeof chunk ? room : sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0) {
            http_conn_close(c);
            return -1;
        }
        if (fcgi_conn_feed(&c->p, chunk, (size_t)n) != CS_OK) {
            http_conn_close(c); /* out of memory: the room above keeps it from growing */
            return -1;
        }
        if (http_conn_parse(c, batch, nbatch) != 0)
            return -1;
        if ((size_t)n < sizeof chunk)
            return 0;
    }
}

static void http_accept(int sock)
{
    for (int i = 0; i < 64; i++) {
        struct http_conn *c;
        struct epoll_event ev;
        int fd = accept4(sock, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN: another process took it, or nothing left */
        if (http_nconns >= HTTP_CONNS_MAX || (c = calloc(1, sizeof *c)) == NULL) {
            log_warn("too many FastCGI connections; one refused");
            close(fd);
            continue;
        }
        c->fd = fd;
        fcgi_conn_init(&c->p);
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(http_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            fcgi_conn_free(&c->p);
            free(c);
            continue;
        }
        c->next = http_conns;
        if (http_conns != NULL)
            http_conns->prev = c;
        http_conns = c;
        http_nconns++;
    }
}

/* Runs the handlers of every request of the batch, settles their transaction, answers. */
static void http_batch_run(struct http_conn **batch, size_t n, const struct cfg *cfg, struct db *db,
                           const struct http_batched *r)
{
    struct http_req *reqs[HTTP_BATCH_MAX];

    for (size_t i = 0; i < n; i++) {
        struct http_conn *c = batch[i];
        memset(&c->req, 0, sizeof c->req);
        c->req.cfg = cfg;
        c->req.db = db;
        c->req.conn = c;
        free(c->envp);
        c->envp = NULL;
        if (fcgi_params_envp(c->p.params.data, c->p.params.len, &c->envp) != CS_OK) {
            /* malformed or unreadable parameters: answered without running the route */
            static char *none[] = {NULL};
            c->req.envp = none;
            http_start(&c->req);
            http_reply_error(&c->req, c->p.params_big ? 431 : 400, "malformed request parameters");
        } else {
            c->req.envp = c->envp;
            http_start(&c->req);
            if (c->p.params_big) /* whatever was kept, a parameter is missing */
                http_reply_error(&c->req, 431, "request headers too large");
            else
                http_run(&c->req, r->handler, r->ctx);
        }
        reqs[i] = &c->req;
    }
    if (http_settle(reqs, n, r) && r->committed != NULL)
        r->committed(cfg, r->ctx);
    for (size_t i = 0; i < n; i++) {
        struct http_conn *c = batch[i];
        http_done(&c->req);
        c->queued = 0;
        free(c->envp);
        c->envp = NULL;
    }
    /* write the answers; a connection that is over leaves the batch (NULL) */
    for (size_t i = 0; i < n; i++) {
        if (batch[i]->dead) {
            http_conn_close(batch[i]);
            batch[i] = NULL;
        } else if (http_conn_flush(batch[i]) != 0) {
            batch[i] = NULL;
        }
    }
}

/* The quiet time after a batch that lets a batched route's idle work run. */
#define HTTP_IDLE_MS 100

static int http_loop_batched(int sock, const struct cfg *cfg, struct db *db,
                             const struct http_batched *r)
{
    struct http_conn *batch[HTTP_BATCH_MAX], *next[HTTP_BATCH_MAX];
    size_t nbatch = 0, nnext;
    int idle_due = 0;
    struct epoll_event evs[128], lev;
    int fl = fcntl(sock, F_GETFL);

    /* several processes wait on the listening socket: accept must not block */
    if (fl < 0 || fcntl(sock, F_SETFL, fl | O_NONBLOCK) != 0)
        return 1;
    http_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (http_epoll < 0)
        return 1;
    lev.events = EPOLLIN | EPOLLEXCLUSIVE;
    lev.data.ptr = NULL;
    if (epoll_ctl(http_epoll, EPOLL_CTL_ADD, sock, &lev) != 0) {
        close(http_epoll);
        return 1;
    }
    while (!http_stop) {
        /* requests found behind answered ones are run without waiting; each event adds at
         * most one request, so the batch never overflows. The route's idle work runs once
         * nothing came for HTTP_IDLE_MS after a batch. */
        size_t room = HTTP_BATCH_MAX - nbatch;
        int n = room == 0 ? 0
                          : epoll_wait(http_epoll, evs, room < 128 ? (int)room : 128,
                                       nbatch > 0 ? 0
                                       : idle_due ? HTTP_IDLE_MS
                                                  : -1);
        if (n < 0 && errno != EINTR)
            break;
        if (http_stop)
            break;
        if (n == 0 && nbatch == 0 && idle_due) {
            idle_due = 0;
            r->idle(db, r->ctx);
            continue;
        }
        for (int i = 0; i < n; i++) {
            struct http_conn *c = evs[i].data.ptr;
            if (c == NULL) {
                http_accept(sock);
                continue;
            }
            if ((evs[i].events & EPOLLOUT) && http_conn_flush(c) != 0)
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                http_conn_read(c, batch, &nbatch);
        }
        if (nbatch == 0)
            continue;
        http_batch_run(batch, nbatch, cfg, db, r);
        idle_due = r->idle != NULL;
        /* pipelined requests already received behind the answered ones */
        nnext = 0;
        for (size_t i = 0; i < nbatch; i++)
            if (batch[i] != NULL && batch[i]->p.in.len > 0 && !batch[i]->p.closing)
                next[nnext++] = batch[i];
        nbatch = 0;
        for (size_t i = 0; i < nnext; i++)
            http_conn_parse(next[i], batch, &nbatch);
    }
    /* stopping: requests not run yet are not answered (nginx answers 502, Google retries) */
    for (size_t i = 0; i < nbatch; i++)
        batch[i]->queued = 0;
    while (http_conns != NULL)
        http_conn_close(http_conns);
    close(http_epoll);
    http_epoll = -1;
    return 0;
}

static void http_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--listen PATH|HOST:PORT] [--workers N] [--backlog N]\n"
            "  Without --listen: FastCGI on fd 0, or a single CGI request.\n"
            "  --backlog: connections the socket queues for the workers (default 1024).\n"
            "  --workers: processes; the webhook runs one event loop (and a supervisor).\n",
            prog);
}

/* http_serve and http_serve_batched: b is NULL for the ordinary request loop. */
static int http_serve_any(int argc, char **argv, const char *route, http_handler h, void *ctx,
                          const struct http_batched *b)
{
    const char *listen_on = NULL;
    long workers = 1, backlog = 1024;
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];
    int sock = 0, rc = 0;

    log_init(route);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            listen_on = argv[++i];
        } else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            char *end;
            workers = strtol(argv[++i], &end, 10);
            if (*end != '\0' || workers < 1 || workers > 64) {
                http_usage(argv[0]);
                return 2;
            }
        } else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc) {
            char *end;
            backlog = strtol(argv[++i], &end, 10);
            if (*end != '\0' || backlog < 1 || backlog > 65535) {
                http_usage(argv[0]);
                return 2;
            }
        } else {
            http_usage(argv[0]);
            return 2;
        }
    }
    cfg_load_or_die(&cfg);
    if (crypt_init() != CS_OK || FCGX_Init() != 0) {
        log_error("initialisation failed");
        return 1;
    }
    cs_on_stop_signals(http_on_signal);
    if (listen_on != NULL) {
        mode_t old_mask;
        if (strchr(listen_on, '/') != NULL)
            unlink(listen_on);
        /* the socket alone is group-writable (srw-rw----): nginx may run as another user in
         * the owner's group; everything else stays private. A burst queues in the backlog,
         * not in nginx's 502s (listen() caps it at net.core.somaxconn) */
        old_mask = umask(0117);
        sock = FCGX_OpenSocket(listen_on, (int)backlog);
        umask(old_mask);
        if (sock < 0) {
            log_error("cannot listen on %s", listen_on);
            return 1;
        }
    } else if (FCGX_IsCGI()) {
        struct http_req req;
        if (db_open_with(cfg.db_path, cfg.db_password, 1, &db, err, sizeof err) != CS_OK) {
            printf("Status: 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n"
                   "{\"error\":\"database unavailable\"}");
            log_error("%s", err);
            cfg_free(&cfg);
            return 1;
        }
        memset(&req, 0, sizeof req);
        req.cfg = &cfg;
        req.db = db;
        if (http_handle(&req, h, ctx, b) && b != NULL && b->committed != NULL)
            b->committed(&cfg, ctx);
        if (b != NULL && b->idle != NULL) /* the process ends: nothing is left for later */
            b->idle(db, ctx);
        db_close(db);
        cfg_free(&cfg);
        return 0;
    }

    /* The schema is brought up to date once, before any worker opens the file. */
    if (db_open_with(cfg.db_path, cfg.db_password, 1, &db, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        cfg_free(&cfg);
        return 1;
    }
    db_close(db);
    db = NULL;

    /* Parent of several workers: fork them, replace any that dies, forward termination. A
     * batched route runs one event loop whatever the number asked: it serves every
     * connection, and loops of their own would only contend for the store's write lock
     * with smaller batches (measured: 1 loop 0.42 of nginx's ceiling, 2 loops 0.35, 4 loops
     * 0.24); the parent still replaces it if it dies. */
    if (workers > 1) {
        pid_t kids[64];
        long n = 0, procs = b != NULL ? 1 : workers;
        for (; n < procs; n++) {
            pid_t pid = fork();
            if (pid < 0)
                break;
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                workers = 1;
                goto worker;
            }
            kids[n] = pid;
        }
        while (!http_stop) {
            int st;
            pid_t dead = wait(&st);
            if (dead < 0) {
                if (errno == ECHILD)
                    break;
                continue;
            }
            for (long i = 0; i < n && !http_stop; i++) {
                pid_t pid;
                if (kids[i] != dead)
                    continue;
                log_error("worker %ld exited (status %d); starting another", (long)dead, st);
                sleep(1); /* a worker that keeps dying must not spin */
                pid = fork();
                if (pid == 0) {
                    prctl(PR_SET_PDEATHSIG, SIGTERM);
                    workers = 1;
                    goto worker;
                }
                kids[i] = pid > 0 ? pid : -1;
            }
        }
        for (long i = 0; i < n; i++)
            if (kids[i] > 0)
                kill(kids[i], SIGTERM);
        while (wait(NULL) > 0 || errno == EINTR)
            ;
        cfg_free(&cfg);
        return 0;
    }
worker:
    if (db_open_with(cfg.db_path, cfg.db_password, 1, &db, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        cfg_free(&cfg);
        return 1;
    }
    /* the event loop commits a batch every few requests and every connection it serves waits
     * while one of its commits checkpoints (two fsyncs): one in ten times as often */
    if (b != NULL)
        db_checkpoint_pages(db, HTTP_CKPT_PAGES);
    log_info("ready (%s)", listen_on ? "listening" : "fd 0");
    http_listen_fd = sock;
    if (http_stop) /* stopped while starting */
        rc = 0;
    else
        rc = b != NULL ? http_loop_batched(sock, &cfg, db, b) : http_loop(sock, &cfg, db, h, ctx);
    db_close(db);
    cfg_free(&cfg);
    return rc;
}

int http_json_has_nul(const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return 1;
    /* backslashes only stand in strings of valid JSON: each starts an escape of one character,
     * or of five for \uXXXX; skipping the escaped character keeps "\\u0000" apart */
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\')
            continue;
        if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
        i++;
    }
    return 0;
}

int http_json_body(struct http_req *req, size_t cap, cJSON **out)
{
    int rc = http_read_body(req, cap);
    const char *why;

    *out = NULL;
    if (rc == CS_ERR_TOOBIG) {
        http_reply_error(req, 413, "request body too large");
        return rc;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 400, "cannot read request body");
        return rc;
    }
    rc = http_json_parse(req->body.data, req->body.len, out, &why);
    if (rc != CS_OK)
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, why);
    return rc;
}

int http_json_parse(const char *body, size_t len, cJSON **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    if (http_json_has_nul(body, len)) {
        *why = "request body must not contain NUL characters";
        return CS_ERR_INVAL;
    }
    if (!cs_text_valid(body)) {
        *why = "request body is not valid UTF-8 JSON";
        return CS_ERR_INVAL;
    }
    *out = cJSON_ParseWithLength(body, len);
    if (*out == NULL) {
        *why = "malformed JSON";
        return CS_ERR_INVAL;
    }
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        *why = "body must be a JSON object";
        return CS_ERR_INVAL;
    }
    return CS_OK;
}

void http_reply_405(struct http_req *req, const char *allow)
{
    char h[128];
    cJSON *o = cJSON_CreateObject();

    snprintf(h, sizeof h, "Allow: %s\r\n", allow);
    if (o != NULL)
        cJSON_AddStringToObject(o, "error", "method not allowed");
    http_reply_json(req, 405, o, h);
}

int http_header_token(const char *v, char *out, size_t outlen)
{
    size_t n;

    if (v == NULL || *v == '\0')
        return CS_ERR_NOTFOUND;
    n = strlen(v);
    if (n >= outlen)
        return CS_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return CS_ERR_INVAL;
    memcpy(out, v, n + 1);
    return CS_OK;
}

const char *http_after_blank(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (p + 3 < end && memcmp(p, "\r\n\r\n", 4) == 0)
            return p + 4;
        if (p + 1 < end && memcmp(p, "\n\n", 2) == 0)
            return p + 2;
    }
    return NULL;
}

int http_idempotency_key(const char *v, char out[HTTP_IDEM_KEY_MAX + 1])
{
    size_t n;

    if (v == NULL)
        return CS_ERR_NOTFOUND;
    n = strlen(v);
    if (n == 0 || n > HTTP_IDEM_KEY_MAX)
        return CS_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return CS_ERR_INVAL;
    memcpy(out, v, n + 1);
    return CS_OK;
}

int http_message_number(const char *v, long long *out)
{
    long long n = 0;
    size_t i;

    if (v == NULL || *v == '\0')
        return CS_ERR_NOTFOUND;
    for (i = 0; v[i] != '\0'; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 18)
            return CS_ERR_INVAL;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return CS_OK;
}

int http_serve(int argc, char **argv, const char *route, http_handler h, void *ctx)
{
    return http_serve_any(argc, argv, route, h, ctx, NULL);
}

int http_serve_batched(int argc, char **argv, const struct http_batched *r)
{
    return http_serve_any(argc, argv, r->route, r->handler, r->ctx, r);
}
