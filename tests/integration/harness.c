/* harness.c: process management and HTTP helpers for the integration tests. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

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
                                     "disconnect", "webhook",      "sync",    "settings"};

long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int wait_until(int (*cond)(void *), void *arg, int ms)
{
    long long end = now_ms() + ms;
    int v;

    while (!(v = cond(arg)) && now_ms() < end)
        sleep_ms(50);
    return v;
}

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

void stack_path(struct stack *s, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", s->dir, name);
}

/* fork+exec with the child dying with us; stdout/stderr to logfile. */
static pid_t spawn(struct stack *s, const char *const *argv, const char *logname)
{
    char logpath[512];
    pid_t pid;

    stack_path(s, logname, logpath, sizeof logpath);
    pid = fork();
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid > 0 && s->npids < (int)(sizeof s->pids / sizeof s->pids[0]))
        s->pids[s->npids++] = pid;
    return pid;
}

static int file_exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && st.st_size >= 0;
}

static int port_open(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Replaces every @KEY@ of the template. */
static int write_nginx_conf(struct stack *s, int workers)
{
    char keep[16], hook_keep[16];
    char *tpl = read_file(CALSYNC_SOURCE_DIR "/nginx/calsync.conf.in");
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
    s->http_port = free_port();
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
    if (spawn(s, emu_argv, "logs/emulator.log") < 0)
        return -1;
    for (int i = 0; i < 200 && !file_exists(portfile); i++)
        sleep_ms(25);
    {
        char *p = read_file(portfile);
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
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char prog[512], sock[512];
        snprintf(prog, sizeof prog, CALSYNC_BUILD_DIR "/cgi/calsync-%s", routes[i]);
        snprintf(sock, sizeof sock, "%s/run/%s.sock", dir, routes[i]);
        const char *argv[] = {prog, "--listen", sock, "--workers", "2", NULL};
        const char *fd0[] = {"/usr/bin/spawn-fcgi", "-n", "-s", sock, "--", prog, NULL};
        if (spawn(s, strcmp(routes[i], "auth") == 0 ? fd0 : argv, "logs/calsync-node2.log") < 0)
            return -1;
    }
    {
        const char *argv[] = {CALSYNC_BUILD_DIR "/cgi/calsync-worker", "--workers", "2", NULL};
        if ((s->worker2 = spawn(s, argv, "logs/calsync-node2.log")) < 0)
            return -1;
    }
    setenv("CALSYNC_STATE_DIR", s->dir, 1);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char sock[512];
        snprintf(sock, sizeof sock, "%s/run/%s.sock", dir, routes[i]);
        for (int k = 0; k < 200 && !file_exists(sock); k++)
            sleep_ms(25);
        if (!file_exists(sock))
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
        if (stack_mysql_create(s) != 0)
            return -1;
        setenv("CALSYNC_DB", s->db_url, 1);
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
        if (spawn(s, strcmp(routes[i], "auth") == 0 ? fd0 : argv, "logs/calsync.log") < 0)
            return -1;
    }
    if (!(o && o->no_worker)) {
        /* the job runner: the only process that calls Google after a route answered */
        const char *argv[] = {CALSYNC_BUILD_DIR "/cgi/calsync-worker", "--workers", "2", NULL};
        if ((s->worker = spawn(s, argv, "logs/calsync.log")) < 0)
            return -1;
    }
    if (o && o->nodes == 2 && stack_start_node2(s) != 0)
        return -1;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char sock[512];
        snprintf(sock, sizeof sock, "%s/run/%s.sock", s->dir, routes[i]);
        for (int k = 0; k < 200 && !file_exists(sock); k++)
            sleep_ms(25);
        if (!file_exists(sock))
            return -1;
    }
    if (write_nginx_conf(s, workers) != 0)
        return -1;
    {
        char conf[512], err[512];
        stack_path(s, "nginx.conf", conf, sizeof conf);
        stack_path(s, "logs/error.log", err, sizeof err);
        const char *argv[] = {"/usr/sbin/nginx", "-p", s->dir, "-c", conf, "-e", err, NULL};
        s->nginx = spawn(s, argv, "logs/nginx.out");
    }
    for (int i = 0; i < 200 && !port_open(s->http_port); i++)
        sleep_ms(25);
    return port_open(s->http_port) ? 0 : -1;
}

/* True when a sanitizer reported anything in the programs' logs. */
static int sanitizer_reports(struct stack *s)
{
    const char *logs[] = {"logs/calsync.log", "logs/emulator.log", "logs/calsync-node2.log"};
    int bad = 0;

    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++) {
        char path[512], *text;
        stack_path(s, logs[i], path, sizeof path);
        text = read_file(path);
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

int stack_run(struct stack *s, const char *prog, const char *const *args, const char *stdin_text,
              char *out, size_t outlen)
{
    int in[2], outp[2], st;
    const char *argv[16];
    char path[512];
    pid_t pid;
    int n = 0;

    snprintf(path, sizeof path, CALSYNC_BUILD_DIR "/%s", prog);
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe(in) != 0 || pipe(outp) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        char logpath[512];
        int fd;
        stack_path(s, "logs/calsync.log", logpath, sizeof logpath);
        fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(in[0], 0);
        dup2(outp[1], 1);
        if (fd >= 0)
            dup2(fd, 2);
        close(in[1]);
        close(outp[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(outp[1]);
    if (stdin_text && write(in[1], stdin_text, strlen(stdin_text)) < 0)
        perror("write");
    close(in[1]);
    {
        size_t used = 0;
        ssize_t r;
        char tmp[4096];
        while ((r = read(outp[0], tmp, sizeof tmp)) > 0) {
            if (out && used + (size_t)r < outlen) {
                memcpy(out + used, tmp, (size_t)r);
                used += (size_t)r;
            }
        }
        if (out && outlen)
            out[used < outlen ? used : outlen - 1] = '\0';
    }
    close(outp[0]);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int stack_user(struct stack *s, const char *email, const char *password, const char *tz)
{
    char in[512];
    const char *args[] = {"user-add", email, tz ? "--tz" : NULL, tz, NULL};

    snprintf(in, sizeof in, "%s\n", password);
    return stack_run(s, "cgi/calsync-admin", args, in, NULL, 0);
}

/* ---- HTTP ---- */

struct body_buf {
    char *p;
    size_t n;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct body_buf *b = ud;
    char *np = realloc(b->p, b->n + sz * n + 1);

    if (np == NULL)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, p, sz * n);
    b->n += sz * n;
    b->p[b->n] = '\0';
    return sz * n;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);

    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    char line[4200];

    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Location: ", 10) == 0)
        copy_str(r->location, sizeof r->location, line + 10);
    else if (strncasecmp(line, "Set-Cookie: ", 12) == 0)
        copy_str(r->set_cookie, sizeof r->set_cookie, line + 12);
    else if (strncasecmp(line, "Content-Type: ", 14) == 0)
        copy_str(r->content_type, sizeof r->content_type, line + 14);
    else if (strncasecmp(line, "Retry-After: ", 13) == 0)
        copy_str(r->retry_after, sizeof r->retry_after, line + 13);
    return len;
}

void resp_free(struct resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

void client_init(struct client *cl, struct stack *s)
{
    cl->c = curl_easy_init();
    cl->s = s;
    curl_easy_setopt(cl->c, CURLOPT_COOKIEFILE, ""); /* in-memory cookie engine */
}

void client_free(struct client *cl)
{
    curl_easy_cleanup(cl->c);
    cl->c = NULL;
}

long client_req(struct client *cl, const char *method, const char *path_or_url,
                const char *const *headers, const char *body, struct resp *r)
{
    char url[8192];
    struct curl_slist *h = NULL;
    struct body_buf b = {NULL, 0};
    struct resp tmp;

    if (r == NULL)
        r = &tmp;
    memset(r, 0, sizeof *r);
    if (strncmp(path_or_url, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path_or_url);
    else
        snprintf(url, sizeof url, "%s%s", cl->s->base, path_or_url);
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    curl_easy_setopt(cl->c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cl->c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cl->c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(cl->c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(cl->c, CURLOPT_FOLLOWLOCATION, 0L);
    if (body) {
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(cl->c, CURLOPT_HTTPGET, strcmp(method, "GET") == 0 ? 1L : 0L);
        if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(cl->c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_easy_perform(cl->c) == CURLE_OK)
        curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    r->body = b.p ? b.p : strdup("");
    r->json = cJSON_Parse(r->body);
    {
        long st = r->status;
        if (r == &tmp)
            resp_free(&tmp);
        return st;
    }
}

long client_json(struct client *cl, const char *method, const char *path, const char *body,
                 struct resp *r)
{
    char origin[128];
    const char *h[] = {"Content-Type: application/json", origin, NULL};

    snprintf(origin, sizeof origin, "Origin: %s", cl->s->base);
    return client_req(cl, method, path, h, body, r);
}

long client_login(struct client *cl, const char *email, const char *password)
{
    char body[512];

    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    return client_json(cl, "POST", "/api/auth/login", body, NULL);
}

long client_connect(struct client *cl, char *final_location, size_t len)
{
    struct resp r;
    char loc[4096];
    long st;

    final_location[0] = '\0';
    st = client_req(cl, "GET", "/api/google/calendar/connect", NULL, NULL, &r);
    snprintf(loc, sizeof loc, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(cl, "GET", loc, NULL, NULL, &r); /* the emulator's consent */
    snprintf(loc, sizeof loc, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(cl, "GET", loc, NULL, NULL, &r); /* back to our callback */
    snprintf(final_location, len, "%s", r.location);
    resp_free(&r);
    return st;
}

long emu_ctl(struct stack *s, const char *method, const char *path, const char *body,
             struct resp *r)
{
    struct client cl;
    char url[4096];
    long st;
    const char *h[] = {"Content-Type: application/json", NULL};

    client_init(&cl, s);
    snprintf(url, sizeof url, "%s/_emulator/%s", s->emu, path);
    st = client_req(&cl, method, url, h, body, r);
    client_free(&cl);
    return st;
}

size_t emu_log_mark(struct stack *s)
{
    struct resp r;
    size_t n = 0;

    if (emu_ctl(s, "GET", "log?since=1000000000", NULL, &r) == 200)
        n = (size_t)jnum(r.json, "next");
    resp_free(&r);
    return n;
}

int emu_count_calls(struct stack *s, const char *method, const char *path_part, size_t since)
{
    return emu_count_calls_for(s, NULL, method, path_part, since);
}

int emu_count_calls_for(struct stack *s, const char *account, const char *method,
                        const char *path_part, size_t since)
{
    struct resp r;
    char path[64];
    const cJSON *e;
    int n = 0;

    snprintf(path, sizeof path, "log?since=%zu", since);
    if (emu_ctl(s, "GET", path, NULL, &r) == 200) {
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
        {
            const char *m = jstr(e, "method"), *p = jstr(e, "path"), *a = jstr(e, "account");
            if (account != NULL && (a == NULL || strcmp(a, account) != 0))
                continue;
            if ((method == NULL || (m && strcmp(m, method) == 0)) && p && strstr(p, path_part))
                n++;
        }
    }
    resp_free(&r);
    return n;
}

const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- notification receiver ---- */

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;

    while (!r->stop) {
        char buf[8192];
        size_t used = 0;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        while (used < sizeof buf - 1) {
            ssize_t k = recv(c, buf + used, sizeof buf - 1 - used, 0);
            if (k <= 0)
                break;
            used += (size_t)k;
            buf[used] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[used] = '\0';
        if (used > 0) {
            const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            pthread_mutex_lock(&r->mu);
            if (r->n < RECEIVER_MAX)
                r->reqs[r->n++] = strdup(buf);
            pthread_mutex_unlock(&r->mu);
            if (send(c, ok, strlen(ok), MSG_NOSIGNAL) < 0)
                perror("receiver send");
        }
        close(c);
    }
    return NULL;
}

int receiver_start(struct receiver *r)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    struct timeval tv = {0, 200000};

    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(r->fd, 16) != 0 || getsockname(r->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r->port = ntohs(sa.sin_port);
    return pthread_create(&r->th, NULL, receiver_main, r);
}

void receiver_stop(struct receiver *r)
{
    r->stop = 1;
    shutdown(r->fd, SHUT_RDWR);
    pthread_join(r->th, NULL);
    close(r->fd);
    for (int i = 0; i < r->n; i++)
        free(r->reqs[i]);
    r->n = 0;
}

int receiver_count(struct receiver *r)
{
    int n;

    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int receiver_header(struct receiver *r, int i, const char *name, char *out, size_t len)
{
    int rc = -1;
    size_t nl = strlen(name);

    pthread_mutex_lock(&r->mu);
    if (i >= 0 && i < r->n) {
        for (const char *p = r->reqs[i]; p && *p;
             p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
            if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                const char *v = p + nl + 1;
                size_t vl;
                while (*v == ' ')
                    v++;
                vl = strcspn(v, "\r\n");
                if (vl >= len)
                    vl = len - 1;
                memcpy(out, v, vl);
                out[vl] = '\0';
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* ---- the store: SQLite file or MySQL-protocol database ---- */

#include <sqlite3.h>
#include <mysql.h>

#include "crypt.h"
#include "db.h"

/* The server URL the mysql variants of the tests run against, or NULL. */
static const char *stack_mysql_server(void)
{
    static char url[600];
    const char *u = getenv("CALSYNC_TEST_DB_URL"), *file = getenv("CALSYNC_TEST_DB_URL_FILE");

    if (u != NULL && *u != '\0')
        return u;
    if (file == NULL || *file == '\0')
        return NULL;
    if (url[0] == '\0') {
        FILE *f = fopen(file, "r");
        if (f == NULL || fgets(url, sizeof url, f) == NULL) {
            fprintf(stderr,
                    "CALSYNC_TEST_DB_URL_FILE: cannot read %s (is the MariaDB test server "
                    "up? ctest starts it as the mysql_server fixture)\n",
                    file);
            url[0] = '\0';
        }
        if (f != NULL)
            fclose(f);
        url[strcspn(url, "\r\n")] = '\0';
    }
    return url[0] ? url : NULL;
}

int stack_mysql(void)
{
    return getenv("CALSYNC_TEST_DB_URL") != NULL || getenv("CALSYNC_TEST_DB_URL_FILE") != NULL;
}

/* Connects to the server (database db, or none) with the session the library uses. */
static MYSQL *stack_my_connect(const char *url, const char *db)
{
    struct db_url u;
    char err[256];
    MYSQL *h;

    if (url == NULL || db_url_parse(url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "bad test database URL: %s\n", url ? err : "(none)");
        return NULL;
    }
    h = mysql_init(NULL);
    if (h != NULL) {
        mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (mysql_real_connect(h, u.socket[0] ? NULL : u.host, u.user, u.password, db, u.port,
                               u.socket[0] ? u.socket : NULL,
                               CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS) == NULL ||
            mysql_query(h, "SET time_zone = '+00:00', SESSION sql_mode = "
                           "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT,"
                           "NO_BACKSLASH_ESCAPES'") != 0) {
            fprintf(stderr, "test database: %s\n", mysql_error(h));
            mysql_close(h);
            h = NULL;
        }
    }
    memset(u.password, 0, sizeof u.password);
    return h;
}

/* Runs sql (several statements allowed) and drops every result; 0 or -1. */
static int stack_my_exec(MYSQL *h, const char *sql)
{
    int rc = 0;

    if (mysql_query(h, sql) != 0) {
        fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        return -1;
    }
    do {
        MYSQL_RES *res = mysql_store_result(h);
        if (res != NULL)
            mysql_free_result(res);
    } while (mysql_next_result(h) == 0);
    if (mysql_errno(h) != 0) {
        fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        rc = -1;
    }
    return rc;
}

int stack_mysql_create(struct stack *s)
{
    const char *server = stack_mysql_server();
    const char *p, *slash, *q;
    unsigned char rnd[6];
    char sql[160];
    MYSQL *h;
    int rc;

    if (server == NULL)
        return -1;
    if ((h = stack_my_connect(server, NULL)) == NULL)
        return -1;
    {
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
            if (f)
                fclose(f);
            mysql_close(h);
            return -1;
        }
        fclose(f);
    }
    snprintf(s->db_name, sizeof s->db_name, "calsync_it_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
             s->db_name);
    rc = stack_my_exec(h, sql);
    mysql_close(h);
    if (rc != 0) {
        s->db_name[0] = '\0';
        return -1;
    }
    /* the server's URL with our database in place of its own */
    p = server + 8;
    slash = strchr(p, '/');
    q = slash ? strchr(slash, '?') : NULL;
    snprintf(s->db_url, sizeof s->db_url, "%.*s/%s%s", (int)(slash ? slash - server : 0), server,
             s->db_name, q ? q : "");
    return 0;
}

void stack_mysql_drop(struct stack *s)
{
    char sql[128];
    MYSQL *h;

    if (s->db_name[0] == '\0')
        return;
    if (getenv("CALSYNC_KEEP_TEST_DIR") != NULL) {
        fprintf(stderr, "test database kept: %s\n", s->db_name);
        return;
    }
    if ((h = stack_my_connect(stack_mysql_server(), NULL)) != NULL) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s->db_name);
        stack_my_exec(h, sql);
        mysql_close(h);
    }
    s->db_name[0] = '\0';
}

/* The first column of the first row of a query, as text (malloc'd) or NULL; *found set when
 * there was a row. */
static char *stack_db_first(struct stack *s, const char *sql, int *found)
{
    char *out = NULL;

    *found = 0;
    if (s->db_name[0] != '\0') {
        MYSQL *h = stack_my_connect(s->db_url, s->db_name);
        MYSQL_RES *res;
        MYSQL_ROW row;
        if (h == NULL)
            return NULL;
        if (mysql_query(h, sql) != 0) {
            fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        } else if ((res = mysql_store_result(h)) != NULL) {
            if ((row = mysql_fetch_row(res)) != NULL) {
                *found = 1;
                if (row[0] != NULL)
                    out = strdup(row[0]);
            }
            mysql_free_result(res);
        }
        mysql_close(h);
        return out;
    }
    {
        char path[512];
        sqlite3 *db;
        sqlite3_stmt *st;
        stack_path(s, "calsync.db", path, sizeof path);
        if (sqlite3_open(path, &db) != SQLITE_OK)
            return NULL;
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            *found = 1;
            if (sqlite3_column_text(st, 0) != NULL)
                out = strdup((const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    return out;
}

long long stack_db_int(struct stack *s, const char *sql)
{
    int found;
    char *v = stack_db_first(s, sql, &found);
    long long n = found ? (v ? strtoll(v, NULL, 10) : 0) : -1;

    free(v);
    return n;
}

int stack_db_exec(struct stack *s, const char *sql)
{
    char path[512];
    sqlite3 *db;
    int rc;

    if (s->db_name[0] != '\0') {
        MYSQL *h = stack_my_connect(s->db_url, s->db_name);
        if (h == NULL)
            return -1;
        rc = stack_my_exec(h, sql);
        mysql_close(h);
        return rc;
    }
    stack_path(s, "calsync.db", path, sizeof path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

char *stack_db_text(struct stack *s, const char *sql)
{
    int found;

    return stack_db_first(s, sql, &found);
}

int stack_file_contains(struct stack *s, const char *name, const char *needle)
{
    char path[512];
    FILE *f;
    char *buf;
    long n;
    int found = 0;
    size_t nl = strlen(needle);

    stack_path(s, name, path, sizeof path);
    f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
        for (long i = 0; i + (long)nl <= n && !found; i++)
            found = memcmp(buf + i, needle, nl) == 0;
    free(buf);
    fclose(f);
    return found;
}

pid_t stack_spawn(struct stack *s, const char *prog, const char *const *args)
{
    const char *argv[16];
    char path[512];
    int n = 0;
    pid_t pid;

    snprintf(path, sizeof path, CALSYNC_BUILD_DIR "/%s", prog);
    argv[n++] = path;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid = spawn(s, argv, "logs/calsync.log");
    if (pid > 0)
        s->npids--; /* the caller reaps it */
    return pid;
}

/* ---- users connected to Google ---- */

static int synced_cond(void *arg)
{
    struct client *c = arg;
    struct resp r;
    int ok;

    client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r);
    ok = jstr(r.json, "lastSync") != NULL && jstr(r.json, "state") != NULL &&
         strcmp(jstr(r.json, "state"), "syncing") != 0;
    resp_free(&r);
    return ok;
}

int client_wait_synced(struct client *c)
{
    return wait_until(synced_cond, c, 10000) ? 0 : -1;
}

int stack_connect_start(struct stack *s, struct client *c, const char *who, const char *tz)
{
    char email[64], body[128], loc[4096];

    snprintf(email, sizeof email, "%s@example.com", who);
    if (stack_user(s, email, "password-123", tz) != 0)
        return -1;
    snprintf(body, sizeof body, "{\"account\":\"%s@gmail.test\",\"deny\":false}", who);
    if (emu_ctl(s, "POST", "config", body, NULL) != 200)
        return -1;
    client_init(c, s);
    if (client_login(c, email, "password-123") != 200 ||
        client_connect(c, loc, sizeof loc) != 302 || strstr(loc, "google=connected") == NULL)
        return -1;
    return 0;
}

int stack_connect_user(struct stack *s, struct client *c, const char *who, const char *tz)
{
    if (stack_connect_start(s, c, who, tz) != 0)
        return -1;
    return client_wait_synced(c);
}

int stack_wait_jobs(struct stack *s, int ms)
{
    long long until = now_ms() + ms;

    for (;;) {
        /* due (or running) jobs left: rows whose time has come and that did not fail */
        char sql[200];
        long long left;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the programs' clock, in ms (not whole seconds:
                                                a job written this second would look later) */
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sync_jobs WHERE (lease_owner IS NOT NULL OR "
                 "not_before <= %lld)",
                 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 500);
        left = stack_db_int(s, sql);
        if (left == 0)
            return 0;
        if (now_ms() > until)
            return -1;
        sleep_ms(20);
    }
}

int stack_kill_worker(struct stack *s, int sig)
{
    return stack_kill_worker_of(s, 1, sig);
}

int stack_children(pid_t pid, pid_t *kids, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[512], *p;
        long id = strtol(e->d_name, &p, 10), ppid = 0;
        FILE *f;
        if (*p != '\0' || id <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%ld/stat", id);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(buf, sizeof buf, f) != NULL && (p = strrchr(buf, ')')) != NULL)
            ppid = strtol(p + 4, NULL, 10); /* ") S PPID" */
        fclose(f);
        if (ppid == (long)pid) {
            if (n < max)
                kids[n] = (pid_t)id;
            n++;
        }
    }
    closedir(d);
    return n;
}

int stack_kill_worker_of(struct stack *s, int node, int sig)
{
    pid_t parent = node == 2 ? s->worker2 : s->worker, kids[256];
    int n = 0, found;

    if (parent <= 0)
        return 0;
    found = stack_children(parent, kids, 256);
    for (int i = 0; i < found && i < 256; i++)
        if (kill(kids[i], sig) == 0)
            n++;
    return n;
}

int stack_channel(struct stack *s, const char *who, const char *secret, struct stack_chan *ch)
{
    static const char *const cols[2] = {"channel_id", "resource_id"};
    char *out[2] = {ch->id, ch->rid};
    size_t len[2] = {sizeof ch->id, sizeof ch->rid};

    for (int i = 0; i < 2; i++) {
        char sql[256], *v;
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE "
                 "u.email = '%s@example.com'",
                 cols[i], who);
        if ((v = stack_db_text(s, sql)) == NULL)
            return -1;
        snprintf(out[i], len[i], "%s", v);
        free(v);
    }
    crypt_hmac_text(secret, ch->id, ch->token);
    return 0;
}
