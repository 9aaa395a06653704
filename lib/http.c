/* http.c: FastCGI (fd 0 or --listen, several workers) and plain CGI behind one request API. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
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
#include "log.h"

extern char **environ;

static volatile sig_atomic_t http_stop;

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
    if (req->fcgi != NULL)
        return FCGX_GetParam(name, req->envp);
    return getenv(name);
}

static char *http_dup_param(struct http_req *req, const char *name)
{
    const char *v = http_param(req, name);

    return strdup(v ? v : "");
}

static void http_out(struct http_req *req, const char *data, size_t len)
{
    if (req->finished)
        return;
    if (req->fcgi != NULL)
        FCGX_PutStr(data, (int)len, ((FCGX_Request *)req->fcgi)->out);
    else
        fwrite(data, 1, len, stdout);
}

int http_read_body(struct http_req *req, size_t cap)
{
    char chunk[4096];
    int n;

    if (req->content_length > (long long)cap)
        return CS_ERR_TOOBIG;
    buf_init(&req->body, cap);
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
    if (!req->answered)
        http_reply_error(req, 500, "no response");
    if (req->fcgi != NULL) {
        /* nginx keeps FastCGI connections open (fastcgi_keep_conn) and sends the next request
         * on one as soon as it is idle; a worker that goes on working after its answer would
         * hold that request back while other workers wait. Close this one instead. */
        if (http_in_handler)
            ((FCGX_Request *)req->fcgi)->keepConnection = 0;
        FCGX_Finish_r((FCGX_Request *)req->fcgi);
    } else {
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
}

static long long http_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copies what every route needs out of the transport, runs the handler, logs one line. */
static void http_handle(struct http_req *req, http_handler h, void *ctx)
{
    const char *v;
    char *q;
    long long t0 = http_now_ms(), ms;

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
    if (req->path == NULL || req->query == NULL || req->content_type == NULL)
        http_reply_error(req, 500, "out of memory");
    else {
        http_in_handler = 1;
        h(req, ctx);
        http_in_handler = 0;
    }
    if (!req->answered && !req->finished)
        http_reply_error(req, 500, "no response");
    ms = http_now_ms() - t0;
    /* one line per request only for errors and slow ones: routine lines cost more than the
     * request at webhook rates (CALSYNC_LOG_LEVEL=debug shows them all) */
    log_msg(req->status >= 400 || ms >= HTTP_SLOW_MS ? LOG_INFO : LOG_DEBUG,
            "%s %s -> %d (%lld ms)", req->method, req->path ? req->path : "?", req->status, ms);
    http_finish(req);
    http_req_free(req);
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
        http_handle(&req, h, ctx);
    }
    FCGX_Free(&fr, 1);
    return 0;
}

static void http_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--listen PATH|HOST:PORT] [--workers N] [--backlog N]\n"
            "  Without --listen: FastCGI on fd 0, or a single CGI request.\n"
            "  --backlog: connections the socket queues for the workers (default 1024).\n",
            prog);
}

int http_serve(int argc, char **argv, const char *route, http_handler h, void *ctx)
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
        http_handle(&req, h, ctx);
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

    /* Parent of several workers: fork them, replace any that dies, forward termination. */
    if (workers > 1) {
        pid_t kids[64];
        long n = 0;
        for (; n < workers; n++) {
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
    log_info("ready (%s)", listen_on ? "listening" : "fd 0");
    http_listen_fd = sock;
    if (http_stop) /* stopped while starting */
        rc = 0;
    else
        rc = http_loop(sock, &cfg, db, h, ctx);
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
