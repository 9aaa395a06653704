/* fcgi.h: the FastCGI responder protocol of one connection as a byte-in/byte-out state
 * machine (no I/O), for the event-driven request loop: records in, complete requests out,
 * answers framed as STDOUT + END_REQUEST records. */
#ifndef FCGI_H
#define FCGI_H

#include <stddef.h>

#include "buf.h"

/* Most bytes of parameters (names and values with their length prefixes) one request may
 * carry, and of its body; more body is read and dropped (the request is marked too big). */
#define FCGI_PARAMS_MAX (64 * 1024)
#define FCGI_BODY_MAX (64 * 1024)
/* Bytes received but not parsed yet: one whole record at most (header, content, padding). */
#define FCGI_IN_MAX (8 + 65535 + 255)

struct fcgi_conn {
    struct buf in;     /* received, not yet parsed */
    struct buf params; /* the request's raw name-value stream */
    struct buf body;   /* the request's stdin, up to FCGI_BODY_MAX */
    struct buf out;    /* framed answers not yet written to the socket */
    unsigned id;       /* request id of the request under way; 0 when none */
    int keep;          /* the web server keeps the connection after the answer */
    int params_done;   /* the empty PARAMS record came */
    int body_done;     /* the empty STDIN record came */
    int too_big;       /* more parameters or body than the limits */
    int params_big;    /* more parameters than FCGI_PARAMS_MAX (some were dropped) */
    int ready;         /* a complete request waits to be answered */
    int closing;       /* close once out is written */
};

enum fcgi_status {
    FCGI_NEED = 0,   /* nothing more to do until more bytes arrive */
    FCGI_REQUEST,    /* a complete request is ready (c->ready): answer it with fcgi_conn_answer */
    FCGI_PROTO_ERROR /* the peer broke the protocol: close the connection */
};

/* Sets up an idle connection; free with fcgi_conn_free. */
void fcgi_conn_init(struct fcgi_conn *c);
void fcgi_conn_free(struct fcgi_conn *c);
/* Appends received bytes; CS_OK or CS_ERR_TOOBIG (more than one record's worth unparsed). */
int fcgi_conn_feed(struct fcgi_conn *c, const void *data, size_t len);
/* Parses what was fed, answering management records and refusals (another role, a second
 * request at once) into c->out. Stops at the first complete request and leaves the rest of
 * the bytes for after its answer. */
enum fcgi_status fcgi_conn_parse(struct fcgi_conn *c);
/* Frames a whole CGI answer (headers and body, len bytes) for the ready request into c->out
 * as STDOUT records and END_REQUEST, and resets the request state (c->closing when the
 * server did not ask to keep the connection). CS_OK or CS_ERR_NOMEM. */
int fcgi_conn_answer(struct fcgi_conn *c, const char *data, size_t len);
/* Drops what the socket took from the front of c->out. */
void fcgi_conn_sent(struct fcgi_conn *c, size_t n);

/* Turns a raw name-value stream into "NAME=value" strings, as a NULL-terminated array in
 * one allocation (free with free()) that envp-style lookups read. CS_OK, CS_ERR_INVAL or
 * CS_ERR_NOMEM. */
int fcgi_params_envp(const char *p, size_t len, char ***out);

#endif
