/* harness_proc.c: clocks, ports, files and processes of the integration tests. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_int.h"

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

int harness_free_port(void)
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
pid_t harness_spawn(struct stack *s, const char *const *argv, const char *logname)
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

int harness_file_exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && st.st_size >= 0;
}

int harness_port_open(int port)
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

char *harness_read_file(const char *path)
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

    if (stack_vesta()) /* Vesta's users are Vesta's */
        return stack_vesta_user(s, email, tz);
    snprintf(in, sizeof in, "%s\n", password);
    return stack_run(s, "cgi/calsync-admin", args, in, NULL, 0);
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
    pid = harness_spawn(s, argv, "logs/calsync.log");
    if (pid > 0)
        s->npids--; /* the caller reaps it */
    return pid;
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
