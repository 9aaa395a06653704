/* harness_proxy.c: a TCP relay between the stack's programs and the MySQL test server that a
 * test can cut (the store "gone") and restore; and the same for a SQLite store (the file moved
 * away and back). */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "harness_int.h"
#include "db.h"

#define PROXY_PAIRS 512

/* One relayed connection: the program's side and the server's, closed by the last of its two
 * copying threads. */
struct proxy_pair {
    int fd[2];
    int refs;
};

struct proxy {
    int lfd, port;
    struct sockaddr_in up;
    pthread_t th;
    volatile int stop, cut;
    pthread_mutex_t mu;
    struct proxy_pair *pairs[PROXY_PAIRS];
};

struct proxy_dir {
    struct proxy *p;
    struct proxy_pair *pair;
    int from, to;
};

static void proxy_pair_release(struct proxy *p, struct proxy_pair *pair)
{
    int last;

    pthread_mutex_lock(&p->mu);
    last = --pair->refs == 0;
    if (last)
        for (int i = 0; i < PROXY_PAIRS; i++)
            if (p->pairs[i] == pair)
                p->pairs[i] = NULL;
    pthread_mutex_unlock(&p->mu);
    if (last) {
        close(pair->fd[0]);
        close(pair->fd[1]);
        free(pair);
    }
}

/* Copies one direction until either side ends, then ends both. */
static void *proxy_copy(void *arg)
{
    struct proxy_dir *d = arg;
    char buf[16384];

    for (;;) {
        ssize_t n = read(d->from, buf, sizeof buf), off = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        while (off < n) {
            ssize_t w = write(d->to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    shutdown(d->from, SHUT_RDWR);
    shutdown(d->to, SHUT_RDWR);
    proxy_pair_release(d->p, d->pair);
    free(d);
    return NULL;
}

static void proxy_relay(struct proxy *p, int cfd)
{
    struct proxy_pair *pair = calloc(1, sizeof *pair);
    int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), slot = -1;

    if (pair == NULL || sfd < 0 || connect(sfd, (struct sockaddr *)&p->up, sizeof p->up) != 0)
        goto fail;
    pair->fd[0] = cfd;
    pair->fd[1] = sfd;
    pair->refs = 2;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < PROXY_PAIRS && slot < 0; i++)
        if (p->pairs[i] == NULL)
            p->pairs[(slot = i)] = pair;
    pthread_mutex_unlock(&p->mu);
    if (slot < 0)
        goto fail;
    for (int k = 0; k < 2; k++) {
        struct proxy_dir *d = malloc(sizeof *d);
        pthread_t th;
        if (d == NULL)
            abort(); /* a test harness out of memory */
        d->p = p;
        d->pair = pair;
        d->from = pair->fd[k];
        d->to = pair->fd[1 - k];
        if (pthread_create(&th, NULL, proxy_copy, d) != 0)
            abort();
        pthread_detach(th);
    }
    return;
fail:
    if (slot >= 0) {
        pthread_mutex_lock(&p->mu);
        p->pairs[slot] = NULL;
        pthread_mutex_unlock(&p->mu);
    }
    free(pair);
    close(cfd);
    if (sfd >= 0)
        close(sfd);
}

/* Accepts until stopped; while cut, each connection is closed as soon as it comes. */
static void *proxy_accept(void *arg)
{
    struct proxy *p = arg;

    while (!p->stop) {
        struct pollfd pf = {.fd = p->lfd, .events = POLLIN};
        int cfd;
        if (poll(&pf, 1, 100) <= 0)
            continue;
        if ((cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
            continue;
        if (p->cut)
            close(cfd);
        else
            proxy_relay(p, cfd);
    }
    return NULL;
}

/* Ends every relayed connection (the copying threads close them). */
static void proxy_drop_all(struct proxy *p)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < PROXY_PAIRS; i++) {
        if (p->pairs[i] != NULL) {
            shutdown(p->pairs[i]->fd[0], SHUT_RDWR);
            shutdown(p->pairs[i]->fd[1], SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&p->mu);
}

int stack_proxy_start(struct stack *s, char *url, size_t urlsize)
{
    struct proxy *p = calloc(1, sizeof *p);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    struct db_url u;
    char err[256], rest[600];
    const char *at, *slash;

    if (p == NULL || db_url_parse(url, &u, err, sizeof err) != 0 || u.socket[0] != '\0') {
        fprintf(stderr, "the store relay needs a TCP mysql:// URL\n");
        free(p);
        return -1;
    }
    memset(u.password, 0, sizeof u.password);
    p->up.sin_family = AF_INET;
    p->up.sin_port = htons((uint16_t)u.port);
    if (inet_pton(AF_INET, strcmp(u.host, "localhost") == 0 ? "127.0.0.1" : u.host,
                  &p->up.sin_addr) != 1) {
        free(p);
        return -1;
    }
    pthread_mutex_init(&p->mu, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->lfd, 128) != 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &len) != 0 ||
        pthread_create(&p->th, NULL, proxy_accept, p) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return -1;
    }
    p->port = ntohs(sa.sin_port);
    s->proxy = p;
    /* mysql://USER:PW@HOST:PORT/DB...: the relay's address in place of HOST:PORT */
    if ((at = strrchr(url, '@')) == NULL || (slash = strchr(at, '/')) == NULL)
        return -1;
    snprintf(rest, sizeof rest, "%s", slash);
    snprintf(url + (at - url), urlsize - (size_t)(at - url), "@127.0.0.1:%d%s", p->port, rest);
    return 0;
}

/* Stopped relays: their copying threads may still be ending, so they stay allocated; kept
 * reachable here (not a leak for LeakSanitizer), one per stack a test process starts. */
static struct proxy *proxy_stopped[64];
static size_t proxy_nstopped;

void stack_proxy_stop(struct stack *s)
{
    struct proxy *p = s->proxy;

    if (p == NULL)
        return;
    p->stop = 1;
    pthread_join(p->th, NULL);
    close(p->lfd);
    p->cut = 1;
    proxy_drop_all(p);
    /* the copying threads end on their own; the relay itself stays allocated for them */
    if (proxy_nstopped < sizeof proxy_stopped / sizeof proxy_stopped[0])
        proxy_stopped[proxy_nstopped++] = p;
    s->proxy = NULL;
}

int stack_store_cut(struct stack *s, int gone)
{
    struct proxy *p = s->proxy;
    char db[512], away[560];

    if (s->db_name[0] != '\0') {
        if (p == NULL) {
            fprintf(stderr, "stack_store_cut on MySQL needs stack_opts.db_proxy\n");
            return -1;
        }
        p->cut = gone;
        if (gone)
            proxy_drop_all(p);
        return 0;
    }
    stack_path(s, "calsync.db", db, sizeof db);
    snprintf(away, sizeof away, "%s.gone", db);
    return gone ? rename(db, away) : rename(away, db);
}
