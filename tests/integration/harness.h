/* harness.h: starts the whole stack (emulator, route programs, nginx) in a temp dir on
 * loopback for integration tests, and talks HTTP to it. */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

struct stack_opts {
    int webhooks;                /* open push channels (GOOGLE_CALENDAR_WEBHOOK_URL set) */
    const char *const *env;      /* extra "KEY=VALUE" for the programs, NULL-terminated */
    const char *const *emu_args; /* extra emulator arguments, NULL-terminated */
    int no_worker;               /* do not start calsync-worker (the test starts its own) */
    int route_workers;           /* FastCGI workers per route (0: 2) */
    int sqlite;                  /* the store is calsync.db even when the tests run on MySQL */
    int nodes;                   /* 2: a second node (its own state dir node2/, route programs
                                    and worker) on the same store, nginx spreading requests
                                    over both (needs the MySQL store) */
    int db_proxy;                /* MySQL: the programs reach the server through a relay that
                                    stack_store_cut can cut */
};

struct stack {
    char dir[256];
    int http_port, emu_port;
    char base[64]; /* http://127.0.0.1:PORT */
    char emu[64];  /* http://127.0.0.1:PORT of the emulator */
    pid_t pids[32];
    int npids;
    pid_t nginx;
    pid_t worker;  /* calsync-worker's parent process, or 0 */
    pid_t worker2; /* the second node's, or 0 */
    int nodes;
    /* the store: "" (SQLite: calsync.db in dir), or a fresh database on the MySQL-protocol
     * server named by CALSYNC_TEST_DB_URL (or the file CALSYNC_TEST_DB_URL_FILE), dropped by
     * stack_stop */
    char db_name[64];
    char db_url[600];
    void *proxy; /* the relay of stack_opts.db_proxy, or NULL */
};

/* True when the stack runs on Vesta's database and logins (CALSYNC_TEST_HOST=vesta, with the
 * MySQL-protocol server): the store gets Vesta's tables (tests/vesta/fixture.sql) and two
 * agencies (accounts 1 and 2), users are rows of Vesta's users (account 1), a login is a
 * BetterAuth session signed with STACK_BAUTH_SECRET, and the stack_db_* helpers name calsync's
 * tables as in standalone (users, appointments, ... become calsync_*): Vesta's own are written
 * in backticks (`appointments`). */
int stack_vesta(void);
#define STACK_BAUTH_SECRET "integration-test-better-auth-secret"
/* What the connect's redirect back says on success: standalone's page, or Vesta's. */
#define STACK_CONNECTED (stack_vesta() ? "success=google_connected" : "google=connected")
/* Vesta's user id of an email (as stack_user makes it, 32 hex digits). */
void stack_vesta_user_id(const char *email, char out[33]);
/* True when the tests run against a MySQL-protocol server (CALSYNC_TEST_DB_URL[_FILE]). */
int stack_mysql(void);
/* Creates s's fresh database on that server (s->db_name, s->db_url); 0 or -1. stack_start
 * does it; stack_stop drops it with stack_mysql_drop. */
int stack_mysql_create(struct stack *s);
void stack_mysql_drop(struct stack *s);

int stack_start(struct stack *s, const struct stack_opts *o);
/* Makes the store unreachable for the stack's programs (gone 1), or reachable again (gone 0):
 * SQLite, the database file is moved away and back (open connections keep the file; the path
 * no longer names it); MySQL (stack_opts.db_proxy), the relay drops every connection and
 * refuses new ones until restored. 0 or -1. */
int stack_store_cut(struct stack *s, int gone);
/* Only the emulator (s->emu); stop with stack_stop. */
int stack_start_emulator(struct stack *s, const struct stack_opts *o);
/* Stops everything; -1 when a sanitizer reported in the logs (the directory is kept). */
int stack_stop(struct stack *s);
/* Creates a user (calsync-admin user-add); returns 0 on success. */
int stack_user(struct stack *s, const char *email, const char *password, const char *tz);
/* Runs a program of the build (e.g. "cgi/calsync-renew") with args; returns its exit code.
 * Its stdout is written to out (when not NULL). */
int stack_run(struct stack *s, const char *prog, const char *const *args, const char *stdin_text,
              char *out, size_t outlen);
/* Starts a program of the build in the background (the caller kills and reaps it). */
pid_t stack_spawn(struct stack *s, const char *prog, const char *const *args);
/* Path of a file in the stack's directory. */
void stack_path(struct stack *s, const char *name, char *out, size_t outlen);

struct resp {
    long status;
    char *body;
    cJSON *json;
    char location[4096];
    char set_cookie[1024];
    char content_type[128];
    char retry_after[32];
};
void resp_free(struct resp *r);

struct client {
    CURL *c;
    struct stack *s;
};
void client_init(struct client *cl, struct stack *s);
void client_free(struct client *cl);
/* A request to the stack (path relative to base) or to any absolute URL. headers: NULL or
 * NULL-terminated list of "Name: value". Returns the HTTP status (0 on transport failure). */
long client_req(struct client *cl, const char *method, const char *path_or_url,
                const char *const *headers, const char *body, struct resp *r);
/* JSON request with Content-Type and same Origin. */
long client_json(struct client *cl, const char *method, const char *path, const char *body,
                 struct resp *r);
/* Logs in; returns the status. */
long client_login(struct client *cl, const char *email, const char *password);
/* Follows the connect flow through the emulator's consent. Returns the final Location. */
long client_connect(struct client *cl, char *final_location, size_t len);

/* Waits until the user's integration has synced and is not syncing; 0 or -1 (10 s). */
int client_wait_synced(struct client *c);
/* The same, waiting up to ms. */
int client_wait_synced_ms(struct client *c, int ms);
/* Creates WHO@example.com (password "password-123", zone tz or the default), logs c in as it
 * and connects it to the Google account WHO@gmail.test; 0 once the initial sync is done. */
int stack_connect_user(struct stack *s, struct client *c, const char *who, const char *tz);
/* The same up to the connect's redirect back (0): the initial sync is left running. */
int stack_connect_start(struct stack *s, struct client *c, const char *who, const char *tz);

/* Emulator control: method on /_emulator/<path>; returns status. */
long emu_ctl(struct stack *s, const char *method, const char *path, const char *body,
             struct resp *r);
/* Counts log entries of the emulator whose "METHOD path" contains pattern, since index. */
int emu_count_calls(struct stack *s, const char *method, const char *path_part, size_t since);
size_t emu_log_mark(struct stack *s);
/* Same, only the Calendar calls on one Google account's calendar. */
int emu_count_calls_for(struct stack *s, const char *account, const char *method,
                        const char *path_part, size_t since);

/* Polls cond until it returns true or ms pass; returns the last cond value. */
int wait_until(int (*cond)(void *), void *arg, int ms);
long long now_ms(void);
void sleep_ms(int ms);

/* cJSON helpers */
const char *jstr(const cJSON *o, const char *key);
double jnum(const cJSON *o, const char *key);
int jbool(const cJSON *o, const char *key);

/* A tiny HTTP receiver on 127.0.0.1 recording each request's headers (push notifications). */
#include <pthread.h>
#define RECEIVER_MAX 256
struct receiver {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    int n;
    char *reqs[RECEIVER_MAX]; /* raw request heads */
    volatile int stop;
};
int receiver_start(struct receiver *r);
void receiver_stop(struct receiver *r);
int receiver_count(struct receiver *r);
/* Header value of request i (case-insensitive name) into out; 0 when found. */
int receiver_header(struct receiver *r, int i, const char *name, char *out, size_t len);

/* A user's push channel as Google echoes it back: its id and resource id from the store, the
 * token derived from the webhook secret. 0, or -1 when WHO@example.com has no channel. */
struct stack_chan {
    char id[64], rid[128], token[65];
};
int stack_channel(struct stack *s, const char *who, const char *secret, struct stack_chan *ch);

/* The processes whose parent is pid (their pids into kids, at most max); how many there are. */
int stack_children(pid_t pid, pid_t *kids, int max);
/* Sends sig to calsync-worker's job runners (its parent starts new ones); returns how many. */
int stack_kill_worker(struct stack *s, int sig);
/* The same for node 1 or 2 of a two-node stack. */
int stack_kill_worker_of(struct stack *s, int node, int sig);
/* Waits until calsync-worker has run every job that is due within ms (none left but those
 * scheduled later); 0 or -1. */
int stack_wait_jobs(struct stack *s, int ms);

/* Operations (harness_ops.c): GET /metrics from loopback, malloc'd (NULL unless 200). */
char *stack_scrape(struct stack *s);
/* The sum of the samples of an exposition whose series is name and holds every label of labels
 * (comma-separated 'k="v"' parts, or NULL); -1 when no sample matches. */
double metrics_sum(const char *body, const char *name, const char *labels);
/* metrics_sum of a fresh scrape; -2 when the scrape failed. */
double stack_metric(struct stack *s, const char *name, const char *labels);
/* n push notifications of channel id/rid with token (message numbers first, first+1, ..., or
 * none when first < 0), one after another or all at once on their own connections (together).
 * Returns how many were answered want. */
#define STACK_NOTIFY_MAX 64
int stack_notify(struct stack *s, const char *id, const char *rid, const char *token,
                 long long first, int n, int together, long want);
/* 1 with its name in out when text (a PromQL expression, a rules file) names a calsync_* metric
 * the exposition metrics has not (a family, or a histogram's _bucket/_sum/_count); else 0. */
int metrics_unknown_name(const char *text, const char *metrics, char *out, size_t outlen);
/* A whole file, NUL-terminated (free it), or NULL. */
char *stack_read_text(const char *path);

/* Direct database access for assertions (the stack's store, SQLite or MySQL: write SQL both
 * accept; on MySQL the session has the library's sql_mode, so || concatenates). */
long long stack_db_int(struct stack *s, const char *sql);
int stack_db_exec(struct stack *s, const char *sql);
char *stack_db_text(struct stack *s, const char *sql); /* malloc'd or NULL */
/* True when the raw bytes of a file in the stack dir contain needle. */
int stack_file_contains(struct stack *s, const char *name, const char *needle);

#endif
