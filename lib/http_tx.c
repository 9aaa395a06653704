/* http_tx.c: a request's life in its batch: start, handler, transaction, answer, log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#include "http.h"
#include "http_int.h"
#include "cs.h"
#include "db.h"
#include "log.h"

/* Most bytes of one answer (a page of appointments is far below). */
#define HTTP_ANSWER_MAX (64 * 1024 * 1024)
/* The transaction of the current batch (http_tx) is open; a handler in it failed. */
static int http_tx_open;
static int http_tx_failed;

/* A routine request's access line is DEBUG; an error or one slower than this is INFO. */
#define HTTP_SLOW_MS 1000
/* Set while a handler runs: an http_finish then means it goes on working after answering. */
static int http_in_handler;

static char *http_dup_param(struct http_req *req, const char *name)
{
    const char *v = http_param(req, name);

    return strdup(v ? v : "");
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
        req->conn_io->answer(req);
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
void http_start(struct http_req *req)
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
void http_run(struct http_req *req, http_handler h, void *ctx)
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
int http_settle(struct http_req **reqs, size_t n, const struct http_batched *b)
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
void http_done(struct http_req *req)
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
int http_handle(struct http_req *req, http_handler h, void *ctx, const struct http_batched *b)
{
    int committed;

    http_start(req);
    http_run(req, h, ctx);
    committed = http_settle(&req, 1, b);
    http_done(req);
    return committed;
}
