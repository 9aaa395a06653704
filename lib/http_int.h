/* http_int.h: what the files of the http group share: a request's life, for the loops. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include <signal.h>
#include <stddef.h>

#include "http.h"

struct cfg;
struct db;

/* A transport chosen at run time for a request: the event loop's (http_batch.c) fills one, and
 * http_read_body and http_finish reach its connection through it (req->conn_io, with
 * req->conn), so the request API calls nothing of the loop above it. */
struct http_conn_io {
    /* copies the connection's body, refusing more than cap bytes: CS_OK, CS_ERR_TOOBIG or
     * CS_ERR_IO */
    int (*body)(struct http_req *req, size_t cap);
    /* hands req->out to the connection */
    void (*answer)(struct http_req *req);
};

/* http_tx.c: copies what every route needs out of the transport (req's cfg, db and transport
 * set); what it allocates is freed by http_done. */
void http_start(struct http_req *req);
/* Runs the handler; a joined request whose handler failed dooms its batch. */
void http_run(struct http_req *req, http_handler h, void *ctx);
/* Ends the batch's transaction, if one was opened (reqs[0..n), b may be NULL). Returns 1 when
 * a transaction committed. */
int http_settle(struct http_req **reqs, size_t n, const struct http_batched *b);
/* Answers (500 when the handler did not), logs one line, frees what http_start allocated. */
void http_done(struct http_req *req);
/* One request of a libfcgi or CGI transport, start to end: a batch of one. Returns 1 when its
 * transaction committed. */
int http_handle(struct http_req *req, http_handler h, void *ctx, const struct http_batched *b);

/* http_batch.c: serves the batched route r on the listening socket sock until *stop is set.
 * Returns the worker's exit code. */
int http_loop_batched(int sock, const struct cfg *cfg, struct db *db, const struct http_batched *r,
                      volatile sig_atomic_t *stop);

#endif
