/* harness.c: the stack of the integration tests started and stopped in a temporary directory. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "harness_int.h"

/* CALSYNC_TEST_FILTER=pattern runs only the tests whose names match (cmocka's glob: * and ?), for
 * working on one test of a long suite. */
__attribute__((constructor)) static void harness_filter(void)
{
    const char *f = getenv("CALSYNC_TEST_FILTER");

    if (f != NULL && *f != '\0')
        cmocka_set_test_filter(f);
}

#ifndef CALSYNC_BUILD_DIR
#error "CALSYNC_BUILD_DIR must be defined"
#endif

static const char *const routes[] = {"auth",       "appointments", "connect", "callback",
                                     "disconnect", "webhook",      "sync",    "settings",
                                     "metrics",    "health"};

/* Replaces every @KEY@ of the template. */
static int write_nginx_conf(struct stack *s, int workers)
{
    char keep[16], hook_keep[16];
    char *tpl = harness_read_file(CALSYNC_SOURCE_DIR "/nginx/calsync.conf.in");
    char path[512], port[16], run[400];
    const char *keys[] = {"@STATE@", "@PORT@",      "@RUN@",       "@WWW@",
                          "@NGINX@", "@USER_LINE@", "@KEEPALIVE@", "@WEBHOOK_KEEPALIVE@"};
    const char *vals[8];
    FILE *f;

    if (tpl == NULL)
        return -1;
    snprintf(port, sizeof port, "%d", s->http_port);
    snprintf(run, sizeof run, "%s/run", s->dir);
    vals[0] = s->dir;
    vals[1] = port;
    vals[2] = run;
    vals[3] = CALSYNC_SOURCE_DIR "/nginx/www";
    vals[4] = CALSYNC_SOURCE_DIR "/nginx";
    vals[5] = geteuid() == 0 ? "user root;" : "";
    snprintf(keep, sizeof keep, "%d", workers - 1); /* kept connections: see the template */
    vals[6] = keep;
    /* the webhook's event loop serves many connections per worker */
    snprintf(hook_keep, sizeof hook_keep, "%d", 16 * workers);
    vals[7] = hook_keep;
    stack_path(s, "nginx.conf", path, sizeof path);
    f = fopen(path, "w");
    if (f == NULL) {
        free(tpl);
        return -1;
    }
    if (s->nodes == 2) { /* every upstream gets node 2's socket beside node 1's */
        static const char key[] = "server unix:@RUN@/";
        size_t cap = strlen(tpl) * 2 + 1;
        char *two = malloc(cap), *o = two;
        if (two == NULL) {
            fclose(f);
            free(tpl);
            return -1;
        }
        for (const char *p = tpl; *p;) {
            if (strncmp(p, key, sizeof key - 1) == 0) {
                const char *end = strchr(p, ';');
                size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
                memcpy(o, p, n);
                o += n;
                o += snprintf(o, cap - (size_t)(o - two), " server unix:@RUN@/../node2/run/%.*s",
                              (int)(n - (sizeof key - 1)), p + sizeof key - 1);
                p += n;
            } else {
                *o++ = *p++;
            }
        }
        *o = '\0';
        free(tpl);
        tpl = two;
    }
    for (const char *p = tpl; *p;) {
        int hit = 0;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(p, keys[k], kl) == 0) {
                fputs(vals[k], f);
                p += kl;
                hit = 1;
                break;
            }
        }
        if (!hit)
            fputc(*p++, f);
    }
    fclose(f);
    free(tpl);
    return 0;
}

int stack_start_emulator(struct stack *s, const struct stack_opts *o)
{
    char buf[1024], portfile[512], cb[256];
    const char *emu_argv[32];
    int n = 0;

    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/calsync-it-XXXXXX");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    for (const char *sub = "run\0logs\0tmp\0"; *sub; sub += strlen(sub) + 1) {
        stack_path(s, sub, buf, sizeof buf);
        mkdir(buf, 0700);
    }
    s->http_port = harness_free_port();
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->http_port);
    snprintf(cb, sizeof cb, "%s/api/google/calendar/callback", s->base);

    stack_path(s, "run/emulator.port", portfile, sizeof portfile);
    emu_argv[n++] = CALSYNC_BUILD_DIR "/tests/calsync-emulator";
    emu_argv[n++] = "--port-file";
    emu_argv[n++] = portfile;
    emu_argv[n++] = "--redirect-uri";
    emu_argv[n++] = cb;
    for (int i = 0; o && o->emu_args && o->emu_args[i] && n < 30; i++)
        emu_argv[n++] = o->emu_args[i];
    emu_argv[n] = NULL;
    if (harness_spawn(s, emu_argv, "logs/emulator.log") < 0)
        return -1;
    for (int i = 0; i < 200 && !harness_file_exists(portfile); i++)
        sleep_ms(25);
    {
        char *p = harness_read_file(portfile);
        s->emu_port = p ? atoi(p) : 0;
        free(p);
    }
    if (s->emu_port <= 0)
        return -1;
    snprintf(s->emu, sizeof s->emu, "http://127.0.0.1:%d", s->emu_port);
    return 0;
}

/* The second node: its own state directory (node2/: sockets, worker wake-up socket), route
 * programs and calsync-worker, on the same store; nginx gets both nodes' sockets. */
static int stack_start_node2(struct stack *s)
{
    char dir[300], buf[400];

    s->nodes = 2;
    snprintf(dir, sizeof dir, "%s/node2", s->dir);
    mkdir(dir, 0700);
    snprintf(buf, sizeof buf, "%s/run", dir);
    mkdir(buf, 0700);
    setenv("CALSYNC_STATE_DIR", dir, 1);
    setenv("CALSYNC_NODE", "node2", 1); /* its own worker heartbeat (node 1: the host name) */
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char prog[512], sock[512];
        snprintf(prog, sizeof prog, CALSYNC_BUILD_DIR "/cgi/calsync-%s", routes[i]);
        snprintf(sock, sizeof sock, "%s/run/%s.sock", dir, routes[i]);
        const char *argv[] = {prog, "--listen", sock, "--workers", "2", NULL};
        const char *fd0[] = {"/usr/bin/spawn-fcgi", "-n", "-s", sock, "--", prog, NULL};
        if (harness_spawn(s, strcmp(routes[i], "auth") == 0 ? fd0 : argv,
                          "logs/calsync-node2.log") < 0)
            return -1;
    }
    {
        const char *argv[] = {CALSYNC_BUILD_DIR "/cgi/calsync-worker", "--workers", "2", NULL};
        if ((s->worker2 = harness_spawn(s, argv, "logs/calsync-node2.log")) < 0)
            return -1;
    }
    setenv("CALSYNC_STATE_DIR", s->dir, 1);
    unsetenv("CALSYNC_NODE");
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char sock[512];
        snprintf(sock, sizeof sock, "%s/run/%s.sock", dir, routes[i]);
        for (int k = 0; k < 200 && !harness_file_exists(sock); k++)
            sleep_ms(25);
        if (!harness_file_exists(sock))
            return -1;
    }
    return 0;
}

int stack_start(struct stack *s, const struct stack_opts *o)
{
    int workers = o && o->route_workers > 0 ? o->route_workers : 2;
    char nworkers[16], buf[1024], webhook[256];

    snprintf(nworkers, sizeof nworkers, "%d", workers);
    if (stack_start_emulator(s, o) != 0)
        return -1;
    /* the programs read their configuration from the environment we give them */
    if (stack_mysql() && !(o && o->sqlite)) {
        char url[sizeof s->db_url];
        if (stack_mysql_create(s) != 0)
            return -1;
        snprintf(url, sizeof url, "%s", s->db_url);
        if (o && o->db_proxy && stack_proxy_start(s, url, sizeof url) != 0)
            return -1;
        setenv("CALSYNC_DB", url, 1);
    } else {
        stack_path(s, "calsync.db", buf, sizeof buf);
        setenv("CALSYNC_DB", buf, 1);
    }
    setenv("CALSYNC_STATE_DIR", s->dir, 1);
    setenv("CALSYNC_SECRET_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           1);
    setenv("CALSYNC_BASE_URL", s->base, 1);
    setenv("CALSYNC_DEFAULT_TZ", "Europe/Madrid", 1);
    setenv("GOOGLE_CLIENT_ID", "calsync-emulator-client", 1);
    setenv("GOOGLE_CLIENT_SECRET", "calsync-emulator-secret", 1);
    snprintf(buf, sizeof buf, "%s/o/oauth2/v2/auth", s->emu);
    setenv("GOOGLE_AUTH_URL", buf, 1);
    snprintf(buf, sizeof buf, "%s/token", s->emu);
    setenv("GOOGLE_TOKEN_URL", buf, 1);
    snprintf(buf, sizeof buf, "%s/revoke", s->emu);
    setenv("GOOGLE_REVOKE_URL", buf, 1);
    snprintf(buf, sizeof buf, "%s/calendar/v3", s->emu);
    setenv("GOOGLE_CALENDAR_API_URL", buf, 1);
    snprintf(buf, sizeof buf, "%s/batch/calendar/v3", s->emu);
    setenv("GOOGLE_BATCH_URL", buf, 1);
    snprintf(webhook, sizeof webhook, "%s/api/google/calendar/webhook", s->base);
    setenv("GOOGLE_CALENDAR_WEBHOOK_URL", o && o->webhooks ? webhook : "", 1);
    setenv("GOOGLE_CALENDAR_WEBHOOK_SECRET", "integration-test-webhook-secret", 1);
    setenv("CALSYNC_SYNC_BUDGET_MS", "8000", 1);
    setenv("CALSYNC_PUSH_DELAY_MS", "0", 1);
    setenv("CALSYNC_JOB_LEASE_MS", "3000", 1); /* a killed worker's job is taken over soon */
    setenv("CALSYNC_HTTP_TIMEOUT_MS", "3000", 1);
    if (stack_vesta()) {
        if (s->db_name[0] == '\0') {
            fprintf(stderr, "CALSYNC_TEST_HOST=vesta needs the MySQL-protocol test server\n");
            return -1;
        }
        setenv("CALSYNC_HOST", "vesta", 1);
        setenv("BETTER_AUTH_SECRET", STACK_BAUTH_SECRET, 1);
        setenv("CALSYNC_FEED_MS", "100", 1);
    } else {
        unsetenv("CALSYNC_HOST");
    }
    for (int i = 0; o && o->env && o->env[i]; i++) {
        char kv[512], *eq;
        snprintf(kv, sizeof kv, "%s", o->env[i]);
        eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            setenv(kv, eq + 1, 1);
        }
    }

    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char prog[512], sock[512];
        snprintf(prog, sizeof prog, CALSYNC_BUILD_DIR "/cgi/calsync-%s", routes[i]);
        snprintf(sock, sizeof sock, "%s/run/%s.sock", s->dir, routes[i]);
        const char *argv[] = {prog, "--listen", sock, "--workers", nworkers, NULL};
        /* the auth program gets its socket on fd 0 from spawn-fcgi, as under systemd */
        const char *fd0[] = {"/usr/bin/spawn-fcgi", "-n", "-s", sock, "--", prog, NULL};
        if (harness_spawn(s, strcmp(routes[i], "auth") == 0 ? fd0 : argv, "logs/calsync.log") < 0)
            return -1;
    }
    if (!(o && o->no_worker)) {
        /* the job runner: the only process that calls Google after a route answered */
        const char *argv[] = {CALSYNC_BUILD_DIR "/cgi/calsync-worker", "--workers", "2", NULL};
        if ((s->worker = harness_spawn(s, argv, "logs/calsync.log")) < 0)
            return -1;
    }
    if (o && o->nodes == 2 && stack_start_node2(s) != 0)
        return -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char sock[512];
        snprintf(sock, sizeof sock, "%s/run/%s.sock", s->dir, routes[i]);
        for (int k = 0; k < 200 && !harness_file_exists(sock); k++)
            sleep_ms(25);
        if (!harness_file_exists(sock))
            return -1;
    }
    if (write_nginx_conf(s, workers) != 0)
        return -1;
    {
        char conf[512], err[512];
        stack_path(s, "nginx.conf", conf, sizeof conf);
        stack_path(s, "logs/error.log", err, sizeof err);
        const char *argv[] = {"/usr/sbin/nginx", "-p", s->dir, "-c", conf, "-e", err, NULL};
        s->nginx = harness_spawn(s, argv, "logs/nginx.out");
    }
    for (int i = 0; i < 200 && !harness_port_open(s->http_port); i++)
        sleep_ms(25);
    return harness_port_open(s->http_port) ? 0 : -1;
}

/* True when a sanitizer reported anything in the programs' logs. */
static int sanitizer_reports(struct stack *s)
{
    const char *logs[] = {"logs/calsync.log", "logs/emulator.log", "logs/calsync-node2.log"};
    int bad = 0;

    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        char path[512], *text;
        stack_path(s, logs[i], path, sizeof path);
        text = harness_read_file(path);
        const char *hit = text ? strstr(text, "Sanitizer") : NULL;
        if (text && hit == NULL)
            hit = strstr(text, "runtime error:");
        if (hit != NULL) {
            const char *from = hit - text > 200 ? hit - 200 : text;
            fprintf(stderr, "sanitizer report in %s:\n%.3000s\n", path, from);
            bad = 1;
        }
        free(text);
    }
    return bad;
}

/* Processes still running with the stack's directory on their command line, 5 s after the
 * stop (route workers whose supervisor is gone get SIGTERM from the kernel): each is reported,
 * then killed. Returns how many there were. */
static int stack_stragglers(struct stack *s)
{
    long long end = now_ms() + 5000;
    int n;

    for (;;) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        n = 0;
        while (d != NULL && (e = readdir(d)) != NULL) {
            char path[300], cmd[1024];
            char *p;
            long pid = strtol(e->d_name, &p, 10);
            size_t len;
            FILE *f;
            if (*p != '\0' || pid <= 0 || pid == (long)getpid())
                continue;
            snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
            if ((f = fopen(path, "r")) == NULL)
                continue;
            len = fread(cmd, 1, sizeof cmd - 1, f);
            fclose(f);
            for (size_t i = 0; i < len; i++)
                if (cmd[i] == '\0')
                    cmd[i] = ' ';
            cmd[len] = '\0';
            if (len == 0 || strstr(cmd, s->dir) == NULL)
                continue;
            n++;
            if (now_ms() > end) {
                fprintf(stderr, "still running after the stop: %ld %s\n", pid, cmd);
                kill((pid_t)pid, SIGKILL);
            }
        }
        if (d != NULL)
            closedir(d);
        if (n == 0 || now_ms() > end)
            return n;
        sleep_ms(50);
    }
}

int stack_stop(struct stack *s)
{
    char cmd[600];
    int bad;

    for (int i = s->npids - 1; i >= 0; i--)
        kill(s->pids[i], SIGTERM);
    for (int i = 0; i < s->npids; i++) {
        int st;
        long long end = now_ms() + 5000;
        while (waitpid(s->pids[i], &st, WNOHANG) == 0) {
            if (now_ms() > end) {
                kill(s->pids[i], SIGKILL);
                waitpid(s->pids[i], &st, 0);
                break;
            }
            sleep_ms(10);
        }
    }
    s->npids = 0;
    stack_proxy_stop(s);
    stack_mysql_drop(s);
    bad = sanitizer_reports(s);
    if (stack_stragglers(s) != 0) {
        fprintf(stderr, "a program of the stack outlived its stop (see above)\n");
        bad = 1;
    }
    if (!bad && getenv("CALSYNC_KEEP_TEST_DIR") == NULL &&
        strncmp(s->dir, "/tmp/calsync-it-", 16) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", s->dir);
    } else {
        fprintf(stderr, "test directory kept: %s\n", s->dir);
    }
    return bad ? -1 : 0;
}
