/* http.h: the FastCGI/CGI request loop every route program runs, and response helpers. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "http_parse.h"

struct cfg;
struct db;
struct http_conn_io;

#define HTTP_BODY_MAX (64 * 1024)

struct http_req {
    char method[16];
    char *path;               /* request path without the query string */
    char *query;              /* raw query string, "" when none */
    char *content_type;       /* "" when none */
    long long content_length; /* -1 when absent */
    struct buf body;
    const struct cfg *cfg;
    struct db *db;
    int status;     /* what was answered, for the access log */
    int answered;   /* a response was written */
    int finished;   /* the connection was handed back; params are gone */
    int in_tx;      /* joined its batch's transaction (http_tx) */
    int out_failed; /* the answer did not fit in memory */
    /* transport, private */
    struct buf out; /* the answer, held until the transaction's outcome is known */
    long long t0;   /* monotonic ms when it arrived */
    void *fcgi;     /* libfcgi's request, or NULL */
    void *conn;     /* the event loop's connection, or NULL */
    const struct http_conn_io *conn_io; /* how to read its body and answer it */
    char **envp;
};

/* A route: answers req (through the http_reply_* helpers) and may do more work after
 * http_finish. The return value is ignored beyond logging. */
typedef int (*http_handler)(struct http_req *req, void *ctx);

/* Runs the request loop: FastCGI on fd 0, FastCGI on --listen PATH|HOST:PORT (with
 * --workers N forked processes), or a single plain CGI request. Loads config, opens the
 * database. Returns the process exit code. */
int http_serve(int argc, char **argv, const char *route, http_handler h, void *ctx);

/* The most requests one batch of a batched route holds. */
#define HTTP_BATCH_MAX 256

/* A route of short requests that write (webhook notifications): each process serves many
 * connections at once from one event loop, runs the handlers of every request that is
 * complete, then commits the writes of all of them in one transaction (http_tx) and only
 * then answers them; if that transaction fails, every request in it is answered 503, so
 * nothing is acknowledged that was not stored. committed (may be NULL) runs after each
 * transaction that committed. Same options and transports as http_serve. */
struct http_batched {
    const char *route;
    http_handler handler;
    void (*committed)(const struct cfg *cfg, void *ctx);
    void *ctx;
    /* (may be NULL) runs as the batch's transaction ends, before its commit (commit 1: the
     * writes the handlers left to the end of the batch, CS_OK or the batch is rolled back),
     * and (commit 0: forget the batch) when it is rolled back, also after a commit 1 */
    int (*ending)(struct db *db, int commit, void *ctx);
    /* (may be NULL) runs once nothing has come for a moment (100 ms) after a batch: deferred
     * work of its own */
    void (*idle)(struct db *db, void *ctx);
};
int http_serve_batched(int argc, char **argv, const struct http_batched *r);
/* Joins req to the transaction of its batch (opening it if need be): the handler's writes
 * that follow commit or roll back together with the batch's, after every handler of the
 * batch has run, and its answer is held until then. A handler that joined and returns
 * anything but CS_OK rolls the whole batch back. CS_OK or CS_ERR_DB. In http_serve's
 * routes a batch is one request. */
int http_tx(struct http_req *req);

/* A request variable (CGI name, e.g. "HTTP_X_GOOG_CHANNEL_ID"); NULL when absent or after
 * http_finish. */
const char *http_param(struct http_req *req, const char *name);
/* Reads the body, refusing more than cap bytes. CS_OK, CS_ERR_TOOBIG or CS_ERR_IO. */
int http_read_body(struct http_req *req, size_t cap);
/* Reads and parses a JSON object body of at most cap bytes. On failure answers 413/400 and
 * returns non-CS_OK: a body holding a NUL (raw or as \u0000) is refused, since C strings would
 * silently cut it. On CS_OK *out is owned by the caller (cJSON_Delete). */
int http_json_body(struct http_req *req, size_t cap, cJSON **out);
/* Answers 405 with an Allow header. */
void http_reply_405(struct http_req *req, const char *allow);
/* Value of a cookie of the request into out; CS_OK or CS_ERR_NOTFOUND. */
int http_cookie_get(struct http_req *req, const char *name, char *out, size_t outlen);
/* True when the content type's media type is application/json. */
int http_is_json(const struct http_req *req);

/* Writes a JSON response and frees obj (may be NULL: then "{}"). extra_headers: NULL or
 * "Name: value\r\n" lines. */
void http_reply_json(struct http_req *req, int status, cJSON *obj, const char *extra_headers);
/* {"error": msg} */
void http_reply_error(struct http_req *req, int status, const char *msg);
/* 302 to location. */
void http_redirect(struct http_req *req, const char *location, const char *extra_headers);
/* Any body. */
void http_reply(struct http_req *req, int status, const char *ctype, const char *extra_headers,
                const char *body, size_t len);
/* Ends the response so the client has it; the handler may keep working afterwards. */
void http_finish(struct http_req *req);

/* Status reason text ("Created"). */
const char *http_reason(int status);

#endif
