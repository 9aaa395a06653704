/* calsync-worker: the long-running program that runs the durable sync jobs (push, pull,
 * channels, disconnect clean-up). Route programs only write jobs and wake it; this is the only
 * process that calls Google after a route has answered. Several workers (and several hosts)
 * share the queue: each job is claimed under a lease, one job per user at a time. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "health.h"
#include "host.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "sync.h"

#define WORKERS_MAX 64

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* The wake-up socket routes send a datagram to; -1 when none is configured or it cannot be
 * bound (polling alone still finds every job). */
static int wake_socket(const struct cfg *cfg)
{
    struct sockaddr_un sa;
    int fd;

    if (cfg->worker_socket == NULL || cfg->worker_socket[0] == '\0')
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", cfg->worker_socket);
    {
        /* its directory (e.g. STATE/run) may not exist yet on a fresh install */
        char dir[sizeof sa.sun_path], *slash;
        snprintf(dir, sizeof dir, "%s", cfg->worker_socket);
        if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
            *slash = '\0';
            mkdir(dir, 0700);
        }
    }
    unlink(cfg->worker_socket); /* a stale socket of a previous run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        log_warn("cannot bind wake-up socket %s (%s); polling every %d ms only", cfg->worker_socket,
                 strerror(errno), cfg->worker_poll_ms);
        close(fd);
        return -1;
    }
    /* route programs run as the same user: owner-only is enough */
    chmod(cfg->worker_socket, 0600);
    return fd;
}

/* Runs one claimed job and records its outcome. */
static void run_job(struct db *db, const struct cfg *cfg, struct job *j)
{
    struct sync_stats st;
    char err[CS_ERRLEN] = "";
    long long retry_at = 0;
    int rc;

    memset(&st, 0, sizeof st);
    switch (j->kind) {
    case JOB_SYNC:
        rc = sync_run(db, cfg, j, &st, err, sizeof err);
        retry_at = st.retry_at_ms;
        break;
    case JOB_CHANNEL: {
        long long lease = j->lease_until;
        rc = sync_channel_open(db, cfg, j->user_id, j);
        if (rc == CS_ERR_RATELIMIT && j->lease_until != lease)
            retry_at = j->lease_until;
        j->lease_until = lease;
        if (rc != CS_OK)
            snprintf(err, sizeof err, "opening the push channel: %s", cs_strerror(rc));
        if (rc == CS_ERR_BUSY) /* another renewer stored one: nothing left to do */
            rc = CS_OK;
        break;
    }
    case JOB_CLEANUP:
        rc = sync_cleanup(cfg, j);
        if (rc != CS_OK)
            snprintf(err, sizeof err, "telling Google about the disconnect: %s", cs_strerror(rc));
        /* best effort: a few tries, then the user can revoke in their Google account */
        if (rc != CS_OK && j->attempts >= 5)
            rc = CS_ERR_INVAL;
        break;
    default:
        rc = CS_ERR_INVAL;
    }
    if (rc == CS_OK) {
        jobs_done(db, j);
        metrics_job(j->kind, METRICS_JOB_DONE);
    } else if (rc == CS_ERR_NOTFOUND || rc == CS_ERR_REAUTH || rc == CS_ERR_INVAL) {
        jobs_done(db, j); /* not connected any more, or nothing a retry can fix */
        metrics_job(j->kind, METRICS_JOB_DROPPED);
    } else if (rc == CS_ERR_BUSY) {
        jobs_done(db, j); /* cancelled by a disconnect (or another worker took it over: then
                             the row is not ours and this changes nothing) */
        metrics_job(j->kind, METRICS_JOB_CANCELLED);
    } else {
        jobs_retry(db, j, retry_at, err);
        metrics_job(j->kind, METRICS_JOB_RETRY);
    }
}

/* Between jobs: the node's heartbeat every HEALTH_BEAT_MS, and the counts of the work into the
 * store (at most once a second while busy; at once when idle). */
static void worker_tick(struct db *db, const struct cfg *cfg, long long *beat_ms, int idle)
{
    long long now = db_now_ms();

    static int failing;

    if (now - *beat_ms >= HEALTH_BEAT_MS || now < *beat_ms) {
        if (health_beat(db, cfg->node, (long)getpid()) == CS_OK) {
            *beat_ms = now;
            if (failing)
                log_info("heartbeat stored again");
            failing = 0;
        } else if (!failing++) { /* once per outage */
            log_warn("heartbeat not stored: %s", db_errmsg(db));
        }
    }
    metrics_flush(db, idle);
}

/* Shortest time between two looks at the queue that wake-ups cause. */
#define WAKE_GAP_MS 5

/* One worker process: claim, run, repeat; sleep on the wake-up socket when nothing is due. */
static int worker_loop(const struct cfg *cfg, int wake_fd)
{
    struct db *db = NULL;
    char err[CS_ERRLEN];
    long long looked = 0; /* when the queue was last found with nothing due */
    long long beat = 0;   /* when this runner last wrote the node's heartbeat */

    if (store_open(cfg, 1, &db, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        return 1;
    }
    while (!stopping) {
        struct job j;
        int rc = jobs_claim(db, cfg->job_lease_ms, &j);
        if (rc == CS_OK) {
            run_job(db, cfg, &j);
            jobs_free(&j);
            /* an import holds pages of megabytes: give them back, the process lives on */
            malloc_trim(0);
            worker_tick(db, cfg, &beat, 0);
            continue;
        }
        worker_tick(db, cfg, &beat, 1);
        /* nothing due: sleep until the next job is due, a route wakes us, or the poll
         * interval passes (jobs from other hosts, lapsed leases) */
        long long due = jobs_next_due(db), now = db_now_ms();
        looked = now;
        int timeout = cfg->worker_poll_ms;
        if (due > now && due - now < timeout)
            timeout = (int)(due - now);
        if (wake_fd >= 0) {
            struct pollfd p = {.fd = wake_fd, .events = POLLIN};
            if (poll(&p, 1, timeout) > 0) {
                char b[64];
                /* a burst of notifications sends wake-ups by the thousand: look at most
                 * every WAKE_GAP_MS, taking every wake-up of the gap in one look */
                long long since = db_now_ms() - looked;
                if (since >= 0 && since < WAKE_GAP_MS)
                    usleep((useconds_t)(WAKE_GAP_MS - since) * 1000);
                while (recv(wake_fd, b, sizeof b, MSG_DONTWAIT) > 0)
                    ;
            }
        } else {
            usleep((useconds_t)timeout * 1000);
        }
    }
    metrics_flush(db, 1);
    db_close(db);
    return 0;
}

/* The host's change feed (vesta: Vesta's app writes appointments behind calsync's back): one
 * process per node looks every feed_ms; the nodes take turns through the store. */
static int feed_loop(const struct cfg *cfg)
{
    const struct host_appts *h = host_appts_of(cfg);
    struct db *db = NULL;
    char err[CS_ERRLEN];
    int fails = 0;

    if (store_open(cfg, 0, &db, err, sizeof err) != CS_OK) {
        log_error("%s", err);
        return 1;
    }
    log_info("change feed of the %s host: every %d ms", h->name, cfg->feed_ms);
    while (!stopping) {
        int found = 0, rc = h->feed(db, cfg, &found);
        if (rc != CS_OK) {
            if (fails++ % 20 == 0) /* a store outage: say so now and then, keep trying */
                log_warn("change feed: %s", cs_strerror(rc));
        } else {
            fails = 0;
            if (found > 0)
                jobs_wake(cfg);
        }
        usleep((useconds_t)cfg->feed_ms * 1000);
    }
    db_close(db);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: calsync-worker [--workers N]   (configuration from the "
                    "environment; DESIGN.md section 2)\n");
}

int main(int argc, char **argv)
{
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];
    pid_t kids[WORKERS_MAX + 1];
    int workers = 2, procs, wake_fd, status = 0;

    log_init("worker");
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > WORKERS_MAX) {
                fprintf(stderr, "calsync-worker: --workers takes 1..%d\n", WORKERS_MAX);
                return 2;
            }
            workers = (int)v;
        } else {
            usage();
            return 2;
        }
    }
    cfg_load_or_die(&cfg);
    if (crypt_init() != CS_OK) {
        fprintf(stderr, "calsync-worker: libsodium failed to initialise\n");
        return 1;
    }
    /* libcurl and its TLS library set up once, before forking: the runners share it */
    if (gapi_global_init() != CS_OK) {
        fprintf(stderr, "calsync-worker: libcurl failed to initialise\n");
        return 1;
    }
    /* migrate once, before forking */
    if (store_open(&cfg, 1, &db, err, sizeof err) != CS_OK) {
        fprintf(stderr, "calsync-worker: %s\n", err);
        cfg_free(&cfg);
        return 1;
    }
    db_close(db);
    cs_on_stop_signals(on_signal); /* poll() returns at once on SIGTERM */
    wake_fd = wake_socket(&cfg);
    log_info("started: %d workers, wake-up socket %s, polling every %d ms", workers,
             wake_fd >= 0 ? cfg.worker_socket : "(none)", cfg.worker_poll_ms);
    memset(kids, 0, sizeof kids);
    /* one more process runs the host's change feed, when the host has one */
    procs = workers + (cfg.host == CFG_HOST_VESTA ? 1 : 0);
    while (!stopping) {
        /* start missing workers (at start, and to replace one that died) */
        for (int i = 0; i < procs && !stopping; i++) {
            if (kids[i] > 0)
                continue;
            pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                exit(i < workers ? worker_loop(&cfg, wake_fd) : feed_loop(&cfg));
            }
            if (pid < 0) {
                log_error("fork failed: %s", strerror(errno));
                sleep(1);
                continue;
            }
            kids[i] = pid;
        }
        pid_t dead = wait(&status);
        if (dead < 0) {
            if (errno == ECHILD)
                sleep(1);
            continue;
        }
        for (int i = 0; i < procs; i++) {
            if (kids[i] == dead) {
                kids[i] = 0;
                if (!stopping)
                    log_warn("worker %d died (status %d); starting another", (int)dead, status);
            }
        }
        if (!stopping)
            usleep(100 * 1000);
    }
    /* SIGTERM: each worker finishes the job it is running, then exits */
    for (int i = 0; i < procs; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGTERM);
    for (int i = 0; i < procs; i++)
        if (kids[i] > 0)
            waitpid(kids[i], NULL, 0);
    if (wake_fd >= 0) {
        close(wake_fd);
        unlink(cfg.worker_socket);
    }
    log_info("stopped");
    cfg_free(&cfg);
    return 0;
}
