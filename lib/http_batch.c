/* http_batch.c: the event loop of batched routes: many connections, one transaction a batch. */
#define _GNU_SOURCE /* accept4 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "http_int.h"
#include "cs.h"
#include "fcgi.h"
#include "log.h"
#include "metrics.h"

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

/* How http_read_body and http_finish reach a connection of this loop. */
static const struct http_conn_io http_batch_io = {http_conn_body, http_conn_answer};

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
        c->req.conn_io = &http_batch_io;
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

int http_loop_batched(int sock, const struct cfg *cfg, struct db *db, const struct http_batched *r,
                      volatile sig_atomic_t *stop)
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
    while (!*stop) {
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
        if (*stop)
            break;
        if (n == 0 && nbatch == 0 && idle_due) {
            idle_due = 0;
            if (r->idle != NULL)
                r->idle(db, r->ctx);
            metrics_flush(db, 1); /* the counts of the last batches, now that it is quiet */
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
        /* a burst adds its counts to the store once a second, in a transaction of their own */
        metrics_flush(db, 0);
        idle_due = r->idle != NULL || metrics_pending();
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
