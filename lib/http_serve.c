/* http_serve.c: a route program's main: options, CGI or FastCGI, workers, their supervisor. */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "http.h"
#include "http_int.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

static volatile sig_atomic_t http_stop;

/* WAL pages at which the batched loop's commits checkpoint (SQLite's default: 1000) */
#define HTTP_CKPT_PAGES 10000

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
        /* what the request counted (routes that call Google) goes to the store now: an idle
         * worker may wait long for its next request */
        metrics_flush(db, 1);
    }
    FCGX_Free(&fr, 1);
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
        if (store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
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
        metrics_flush(db, 1);
        db_close(db);
        cfg_free(&cfg);
        return 0;
    }

    /* The schema is brought up to date once, before any worker opens the file. */
    if (store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
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
    if (store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
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
        rc = b != NULL ? http_loop_batched(sock, &cfg, db, b, &http_stop)
                       : http_loop(sock, &cfg, db, h, ctx);
    metrics_flush(db, 1);
    db_close(db);
    cfg_free(&cfg);
    return rc;
}

int http_serve(int argc, char **argv, const char *route, http_handler h, void *ctx)
{
    return http_serve_any(argc, argv, route, h, ctx, NULL);
}

int http_serve_batched(int argc, char **argv, const struct http_batched *r)
{
    return http_serve_any(argc, argv, r->route, r->handler, r->ctx, r);
}
