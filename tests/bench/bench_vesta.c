/* bench_vesta: the vesta host's change feed at realistic sizes (issue 22), in the table format of
 * calsync-bench (measure | value | ceiling | ratio | goal | ok):
 *   - one write by Vesta's app -> its event at Google, p95 over 40 writes, the feed alone (no
 *     notify), against the goal of 2 s; the ceiling is the feed's own interval;
 *   - one changed row found by a feed pass among 1k and among 100k Vesta appointments: the feed
 *     reads by updated_at, so its cost follows the changes, not the table (goal: 100k <= 1.5x
 *     1k). Each pass is timed in this process, through the library, median of 30.
 * Starts its own MariaDB (scripts/mariadb) and the test stack in vesta mode. Exits 1 when a
 * goal is missed or a measure could not be taken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>

#include "harness.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "host.h"
#include "store.h"

static int failed;

static void row(const char *measure, const char *value, const char *ceiling, double ratio,
                const char *goal, int ok)
{
    printf("%-40s | %-22s | %-14s | %-6.2f | %-26s | %s\n", measure, value, ceiling, ratio, goal,
           ok ? "ok" : "MISS");
    if (!ok)
        failed = 1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;

    return x < y ? -1 : x > y;
}

struct seen {
    struct stack *s;
    const char *who;
    char want[32];
};

static int event_there(void *arg)
{
    struct seen *w = arg;
    struct resp r;
    char path[128];
    int found = 0;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", w->who);
    if (emu_ctl(w->s, "GET", path, NULL, &r) == 200 && r.body != NULL)
        found = strstr(r.body, w->want) != NULL;
    resp_free(&r);
    return found;
}

/* Vesta write -> Google, p95 of 40, through the running stack (the feed at its default). */
static void m_visible(struct stack *s)
{
    struct client c;
    long long lat[40];
    char id[33], sql[512], v[48];
    struct seen w = {s, "bv", ""};
    int n = 0;

    if (stack_connect_user(s, &c, "bv", "Europe/Madrid") != 0) {
        row("Vesta write -> Google: p95", "-", "-", 0, "<= 2000 ms", 0);
        return;
    }
    stack_vesta_user_id("bv@example.com", id);
    for (int i = 0; i < 40; i++) {
        long long t0 = now_ms();
        snprintf(sql, sizeof sql,
                 "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
                 "status, notes, type) VALUES ('%s', 77, '2027-01-%02d 09:00:00', "
                 "'2027-01-%02d 10:00:00', 'Scheduled', 'bench %d', 'Visita')",
                 id, 1 + i % 28, 1 + i % 28, i);
        if (stack_db_exec(s, sql) != 0)
            break;
        snprintf(w.want, sizeof w.want, "bench %d\"", i);
        if (!wait_until(event_there, &w, 10000))
            break;
        lat[n++] = now_ms() - t0;
    }
    client_free(&c);
    if (n < 40) {
        row("Vesta write -> Google: p95", "timed out", "-", 0, "<= 2000 ms", 0);
        return;
    }
    qsort(lat, (size_t)n, sizeof lat[0], cmp_ll);
    snprintf(v, sizeof v, "%lld ms (p50 %lld)", lat[37], lat[19]);
    row("Vesta write -> Google: p95", v, "250 ms feed", 250.0 / (double)lat[37], "<= 2000 ms",
        lat[37] <= 2000);
}

static const char *bench_get(const char *key, void *ctx)
{
    (void)ctx;
    return getenv(key);
}

/* Median µs of a feed pass that finds one changed row, with `total` rows in Vesta's table. */
static long long feed_pass_us(struct stack *s, struct db *db, const struct cfg *cfg, int total)
{
    char id[33], sql[600];
    long long t[30];
    int found;

    stack_vesta_user_id("bf@example.com", id);
    /* Vesta's other agents' rows, written two days ago (bulk, as a recursive sequence) */
    snprintf(sql, sizeof sql,
             "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
             "notes, type, created_at, updated_at) SELECT 'someone-else', 77, "
             "'2027-02-01 09:00:00', '2027-02-01 10:00:00', CONCAT('row ', seq), 'Visita', "
             "UTC_TIMESTAMP() - INTERVAL 2 DAY, UTC_TIMESTAMP() - INTERVAL 2 DAY FROM "
             "seq_1_to_%d",
             total);
    if (stack_db_exec(s, sql) != 0) {
        fprintf(stderr, "bench_vesta: cannot fill Vesta's table\n");
        return -1;
    }
    /* the connected agent's one row */
    snprintf(sql, sizeof sql,
             "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
             "notes, type) VALUES ('%s', 77, '2027-02-02 09:00:00', '2027-02-02 10:00:00', "
             "'mine', 'Visita')",
             id);
    if (stack_db_exec(s, sql) != 0)
        return -1;
    host_appts_of(cfg)->feed(db, cfg, &found); /* absorb it (and the deep look back) */
    for (int i = 0; i < 30; i++) {
        struct timespec a, b;
        snprintf(sql, sizeof sql,
                 "UPDATE `appointments` SET notes = 'mine %d' WHERE user_id = '%s'", i, id);
        stack_db_exec(s, sql);
        clock_gettime(CLOCK_MONOTONIC, &a);
        host_appts_of(cfg)->feed(db, cfg, &found);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1000000LL + (b.tv_nsec - a.tv_nsec) / 1000;
        if (found < 1) {
            fprintf(stderr, "bench_vesta: a feed pass found %d changes, not the one made\n", found);
            return -1;
        }
    }
    qsort(t, 30, sizeof t[0], cmp_ll);
    stack_db_exec(s, "DELETE FROM `appointments` WHERE user_id = 'someone-else'");
    return t[15];
}

static void m_flat(struct stack *s)
{
    struct client c;
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN] = "connecting failed", v[48], ceil[32];
    long long small, big;

    if (stack_connect_user(s, &c, "bf", "Europe/Madrid") != 0 ||
        cfg_load_from(&cfg, bench_get, NULL, err, sizeof err) != CS_OK) {
        fprintf(stderr, "bench_vesta: %s\n", err);
        row("1 Vesta change found, 1k vs 100k rows", "-", "-", 0, "100k <= 1.5x 1k", 0);
        return;
    }
    client_free(&c);
    /* from here this process is the only one running the feed: its passes are timed */
    if (s->worker > 0) {
        kill(s->worker, SIGTERM);
        waitpid(s->worker, NULL, 0);
        s->worker = 0;
    }
    if (store_open(&cfg, 0, &db, err, sizeof err) != CS_OK) {
        fprintf(stderr, "bench_vesta: %s\n", err);
        row("1 Vesta change found, 1k vs 100k rows", "-", "-", 0, "100k <= 1.5x 1k", 0);
        cfg_free(&cfg);
        return;
    }
    small = feed_pass_us(s, db, &cfg, 1000);
    big = feed_pass_us(s, db, &cfg, 100000);
    if (small <= 0 || big <= 0) {
        row("1 Vesta change found, 1k vs 100k rows", "-", "-", 0, "100k <= 1.5x 1k", 0);
    } else {
        snprintf(v, sizeof v, "%.1f ms @100k", big / 1000.0);
        snprintf(ceil, sizeof ceil, "%.1f ms @1k", small / 1000.0);
        row("1 Vesta change found, 1k vs 100k rows", v, ceil, (double)small / (double)big,
            "100k <= 1.5x 1k", big <= small * 3 / 2);
    }
    db_close(db);
    cfg_free(&cfg);
}

int main(void)
{
    struct stack s;
    /* the feed at its default interval, as deployed */
    static const char *const env[] = {"CALSYNC_FEED_MS=250", NULL};
    static const struct stack_opts o = {.webhooks = 1, .env = env};
    char dir[] = "/tmp/calsync-bench-mdb-XXXXXX", cmd[512], url[600];

    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(cmd, sizeof cmd, CALSYNC_SOURCE_DIR "/scripts/mariadb start %s/m >&2", dir);
    if (system(cmd) != 0)
        return 1;
    snprintf(url, sizeof url, "%s/m/url", dir);
    setenv("CALSYNC_TEST_DB_URL_FILE", url, 1);
    setenv("CALSYNC_TEST_HOST", "vesta", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&s, 0, sizeof s);
    if (stack_start(&s, &o) != 0) {
        fprintf(stderr, "bench_vesta: the stack did not start\n");
        failed = 1;
    } else {
        m_visible(&s);
        m_flat(&s);
    }
    stack_stop(&s);
    snprintf(cmd, sizeof cmd, CALSYNC_SOURCE_DIR "/scripts/mariadb stop %s/m >&2; rmdir %s", dir,
             dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_vesta: stopping MariaDB failed\n");
    return failed;
}
