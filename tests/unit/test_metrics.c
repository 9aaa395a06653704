/* test_metrics: the counters (method groups, outcomes, latency buckets) added into a fresh store,
 * the scrape's text, readiness and the heartbeat, the progress helper, the operations config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pty.h>

#include <cmocka.h>

#include "buf.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "health.h"
#include "metrics.h"
#include "metrics_scrape.h"
#include "progress.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static struct db *db;
static struct cfg cfg;
static char path[64];

struct kv {
    const char *k, *v;
};

static const char *get(const char *key, void *ctx)
{
    const struct kv *kv = ctx;

    for (; kv->k; kv++)
        if (strcmp(kv->k, key) == 0)
            return kv->v;
    return NULL;
}

static int setup(void **state)
{
    struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_NODE", "unit-node"}, {NULL, NULL}};
    char err[CS_ERRLEN];
    int fd;

    (void)state;
    if (cfg_load_from(&cfg, get, env, err, sizeof err) != CS_OK)
        return -1;
    snprintf(path, sizeof path, "/tmp/calsync-metrics-XXXXXX");
    if ((fd = mkstemp(path)) < 0)
        return -1;
    close(fd);
    unlink(path);
    return db_open(path, &db, err, sizeof err) == CS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char p[80];

    (void)state;
    db_close(db);
    cfg_free(&cfg);
    for (const char *suf = "\0-wal\0-shm\0";; suf += strlen(suf) + 1) {
        snprintf(p, sizeof p, "%s%s", path, suf);
        unlink(p);
        if (strcmp(suf, "-shm") == 0)
            break;
    }
    return 0;
}

/* The store's sum of one series (0 when it has no row yet). */
static long long stored(const char *series)
{
    struct db_stmt *st = db_stmt(db, DB_METRICS_COUNTERS);
    long long v = 0;

    assert_non_null(st);
    while (db_step(st) == DB_ROW)
        if (strcmp((const char *)db_col_text(st, 0), series) == 0)
            v = db_col_int64(st, 1);
    db_reset(st);
    return v;
}

/* Each request counts under its method group and status class. */
static void google_groups(void **state)
{
    static const struct {
        const char *method, *url;
        long status;
        const char *series;
    } cases[] = {
        {"GET", "/calendars/primary/events?syncToken=x", 200, "events.list\",status=\"2xx"},
        {"POST", "/calendars/a%40b/events?sendUpdates=none", 503, "events.insert\",status=\"5xx"},
        {"GET", "/calendars/primary/events/abc123", 404, "events.get\",status=\"4xx"},
        {"PATCH", "/calendars/primary/events/abc", 412, "events.update\",status=\"4xx"},
        {"PUT", "/calendars/primary/events/abc", 200, "events.update\",status=\"2xx"},
        {"DELETE", "/calendars/primary/events/abc", 410, "events.delete\",status=\"4xx"},
        {"POST", "/calendars/primary/events/watch", 200, "events.watch\",status=\"2xx"},
        {"POST", "/channels/stop", 204, "channels.stop\",status=\"2xx"},
        {"POST", "/calendars", 200, "calendars\",status=\"2xx"},
        {"GET", "/users/me/calendarList?x=1", 0, "calendars\",status=\"error"},
        {"GET", "/colors", 302, "other\",status=\"3xx"},
    };
    char series[200], url[300];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long before;
        snprintf(series, sizeof series, "calsync_google_requests_total{method=\"%s\"}",
                 cases[i].series);
        snprintf(url, sizeof url, "%s%s", cfg.api_url, cases[i].url);
        before = stored(series);
        metrics_google(&cfg, cases[i].method, url, cases[i].status);
        assert_true(metrics_pending());
        assert_int_equal(metrics_flush(db, 1), CS_OK);
        assert_false(metrics_pending());
        if (stored(series) != before + 1)
            fail_msg("case %zu: %s %s not counted as %s", i, cases[i].method, url, series);
    }
    metrics_google(&cfg, "POST", cfg.token_url, 400);
    metrics_google(&cfg, "POST", cfg.revoke_url, 200);
    metrics_google(&cfg, "POST", cfg.batch_url, 200);
    metrics_google(&cfg, "GET", "https://elsewhere.example/x", 500);
    assert_int_equal(metrics_flush(db, 1), CS_OK);
    assert_int_equal(stored("calsync_google_requests_total{method=\"oauth.token\",status=\"4xx\"}"),
                     1);
    assert_int_equal(
        stored("calsync_google_requests_total{method=\"oauth.revoke\",status=\"2xx\"}"), 1);
    assert_int_equal(stored("calsync_google_requests_total{method=\"batch\",status=\"2xx\"}"), 1);
    assert_int_equal(stored("calsync_google_requests_total{method=\"other\",status=\"5xx\"}"), 1);
}

/* Flushes add what was counted since the last one; nothing inside an open transaction; a
 * busy process at most once a second. */
static void flush_adds(void **state)
{
    const char *acc = "calsync_webhook_notifications_total{outcome=\"accepted\"}";
    long long a0 = stored(acc);

    (void)state;
    metrics_webhook(METRICS_WH_ACCEPTED, 3);
    assert_int_equal(metrics_flush(db, 1), CS_OK);
    assert_int_equal(stored(acc), a0 + 3);
    metrics_webhook(METRICS_WH_ACCEPTED, 2);
    assert_int_equal(metrics_flush(db, 0), CS_OK); /* within the second: kept */
    assert_int_equal(stored(acc), a0 + 3);
    assert_true(metrics_pending());
    assert_int_equal(db_begin(db), CS_OK);
    assert_int_equal(metrics_flush(db, 1), CS_OK); /* not in the caller's transaction */
    db_rollback(db);
    assert_int_equal(stored(acc), a0 + 3);
    assert_int_equal(metrics_flush(db, 1), CS_OK);
    assert_int_equal(stored(acc), a0 + 5);
    metrics_job(0, METRICS_JOB_RETRY);
    metrics_job(2, METRICS_JOB_DONE);
    metrics_job(7, METRICS_JOB_DONE); /* no such kind: ignored */
    assert_int_equal(metrics_flush(db, 1), CS_OK);
    assert_int_equal(stored("calsync_jobs_finished_total{kind=\"sync\",outcome=\"retry\"}"), 1);
    assert_int_equal(stored("calsync_jobs_finished_total{kind=\"cleanup\",outcome=\"done\"}"), 1);
}

/* A change seen 300 ms after it was made lands in every bucket from 0.5 s up. */
static void latency_buckets(void **state)
{
    char *text;
    struct buf b;

    (void)state;
    metrics_latency(METRICS_TO_GOOGLE, db_now_ms() - 300);
    metrics_latency(METRICS_TO_GOOGLE, 0);                 /* unknown: ignored */
    metrics_latency(METRICS_TO_VESTA, db_now_ms() + 5000); /* clocks apart: immediate */
    assert_int_equal(metrics_flush(db, 1), CS_OK);
    assert_int_equal(stored("calsync_sync_latency_seconds_bucket{direction=\"vesta_to_google\","
                            "le=\"0.25\"}"),
                     0);
    assert_int_equal(stored("calsync_sync_latency_seconds_bucket{direction=\"vesta_to_google\","
                            "le=\"0.5\"}"),
                     1);
    assert_int_equal(stored("calsync_sync_latency_seconds_bucket{direction=\"vesta_to_google\","
                            "le=\"+Inf\"}"),
                     1);
    assert_true(stored("calsync_sync_latency_seconds_sum{direction=\"vesta_to_google\"}") >= 300);
    assert_int_equal(stored("calsync_sync_latency_seconds_bucket{direction=\"google_to_vesta\","
                            "le=\"0.05\"}"),
                     1);
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_scrape(db, &b), CS_OK);
    text = b.data;
    assert_non_null(strstr(text, "# TYPE calsync_sync_latency_seconds histogram\n"));
    assert_non_null(
        strstr(text, "calsync_sync_latency_seconds_count{direction=\"vesta_to_google\"} 1\n"));
    assert_non_null(
        strstr(text, "calsync_sync_latency_seconds_sum{direction=\"google_to_vesta\"} 0.000\n"));
    buf_free(&b);
}

/* Series are distinct, fit the store's key, and belong to a family with help and type. */
static void series_table(void **state)
{
    char a[200], b[200], fam[200];
    const char *type;

    (void)state;
    assert_true(metrics_series_count() > 50);
    for (size_t i = 0; i < metrics_series_count(); i++) {
        assert_int_equal(metrics_series_name(i, a, sizeof a, fam, sizeof fam), 0);
        assert_true(strlen(a) < 191);
        assert_non_null(metrics_family_help(fam, &type));
        for (size_t j = i + 1; j < metrics_series_count(); j++) {
            assert_int_equal(metrics_series_name(j, b, sizeof b, NULL, 0), 0);
            assert_string_not_equal(a, b);
        }
    }
    assert_int_equal(metrics_series_name(metrics_series_count(), a, sizeof a, NULL, 0), -1);
}

/* The gauges from rows as the programs write them. */
static void scrape_gauges(void **state)
{
    long long now = db_now_ms();
    char sql[2048];
    struct buf b;

    (void)state;
    snprintf(sql, sizeof sql,
             "INSERT INTO users(id, email, password_hash, timezone, created_at) VALUES "
             "('u1','a@x','h','UTC',0),('u2','b@x','h','UTC',0),('u3','c@x','h','UTC',0);"
             "INSERT INTO user_integrations(user_id, provider, is_active, state, channel_id, "
             "channel_expiration, backoff_until, created_at, updated_at) VALUES "
             "('u1','google_calendar',1,'connected','c1',%lld,0,0,0),"
             "('u2','google_calendar',1,'error','c2',%lld,%lld,0,0),"
             "('u3','google_calendar',1,'reauth_required','c3',%lld,0,0,0);"
             "INSERT INTO sync_jobs(user_id, kind, ckey, not_before, created_at) VALUES "
             "('u1','sync','u1',%lld,0);"
             "INSERT INTO sync_jobs(user_id, kind, ckey, not_before, created_at, lease_owner, "
             "lease_until) VALUES ('u3','channel','u3',%lld,0,'o',%lld);"
             "INSERT INTO sync_jobs(user_id, kind, ckey, not_before, created_at) VALUES "
             "('u2','sync','u2',%lld,0);"
             "UPDATE users SET sync_direction = 'none' WHERE id = 'u2';",
             now + 3600 * 1000LL, now - 1000, now + 60000, now - 1000, now - 10000, now - 20000,
             now + 20000, now - 5000);
    assert_int_equal(db_exec_sql(db, sql), CS_OK);
    assert_int_equal(health_beat(db, "node-a", 42), CS_OK);
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_scrape(db, &b), CS_OK);
    /* u1's sync job is due (10 s), u3's channel job runs, u2's waits for Google's backoff */
    assert_non_null(strstr(b.data, "calsync_jobs{kind=\"sync\",state=\"pending\"} 1\n"));
    assert_non_null(strstr(b.data, "calsync_jobs{kind=\"sync\",state=\"backoff\"} 1\n"));
    assert_non_null(strstr(b.data, "calsync_jobs{kind=\"channel\",state=\"running\"} 1\n"));
    assert_non_null(strstr(b.data, "calsync_jobs_oldest_due_seconds 10."));
    assert_non_null(strstr(b.data, "calsync_integrations{state=\"connected\"} 1\n"));
    assert_non_null(strstr(b.data, "calsync_integrations{state=\"error\"} 1\n"));
    assert_non_null(strstr(b.data, "calsync_integrations{state=\"reauth_required\"} 1\n"));
    /* u2 paused the sync (direction none) */
    assert_non_null(strstr(b.data, "calsync_integrations{state=\"paused\"} 1\n"));
    /* u1's channel expires within the hour, u2's has expired; u3 must reconnect: not counted */
    assert_non_null(strstr(b.data, "calsync_channels_expiring_soon 1\n"));
    assert_non_null(strstr(b.data, "calsync_channels_expired 1\n"));
    assert_non_null(strstr(b.data, "calsync_worker_heartbeat_age_seconds{node=\"node-a\"} 0."));
    assert_non_null(strstr(b.data, "calsync_users_writes_paused 0\n"));
    buf_free(&b);
    assert_int_equal(db_exec_sql(db, "DELETE FROM sync_jobs"), CS_OK);
}

/* /readyz's checks: the store, the heartbeat of this node's worker (when asked for). */
static void readiness(void **state)
{
    char reason[CS_ERRLEN], moved[80];

    (void)state;
    cfg.ready_heartbeat_s = 30;
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_ERR_BUSY);
    assert_string_equal(reason, "no heartbeat from calsync-worker on node unit-node");
    assert_int_equal(health_beat(db, cfg.node, (long)getpid()), CS_OK);
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_OK);
    assert_int_equal(db_exec_sql(db, "UPDATE worker_heartbeats SET beat_at = beat_at - 60000"),
                     CS_OK);
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_ERR_BUSY);
    assert_non_null(strstr(reason, "last showed a heartbeat 60 s ago"));
    cfg.ready_heartbeat_s = 0;
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_OK);
    /* the file moved away: gone, though the open connection still reads it */
    snprintf(moved, sizeof moved, "%s.away", path);
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(db_ping(db), CS_ERR_DB);
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_ERR_DB);
    assert_string_equal(reason, "store unreachable");
    assert_int_equal(rename(moved, path), 0);
    assert_int_equal(db_ping(db), CS_OK);
    assert_int_equal(health_ready(db, &cfg, reason, sizeof reason), CS_OK);
}

/* Plain lines per tenth when not a terminal; one line redrawn in place on one. */
static void progress_lines(void **state)
{
    struct progress p;
    char text[4096];
    FILE *f = tmpfile();
    size_t n;
    int master, slave;

    (void)state;
    assert_non_null(f);
    progress_start(&p, f, "copy", "rows", 200);
    for (long long i = 1; i <= 200; i++)
        progress_set(&p, i);
    progress_note(&p, "%-18s %d", "users", 200);
    progress_end(&p);
    rewind(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "copy: 20/200 rows (10%)\ncopy: 40/200 rows (20%)\n"));
    assert_non_null(strstr(text, "copy: 200/200 rows (100%)\nusers              200\n"));
    assert_null(strchr(text, '\r'));

    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    assert_non_null(f = fdopen(slave, "w"));
    progress_start(&p, f, "vesta-adopt", "users", -1);
    progress_set(&p, 3);
    progress_end(&p);
    fclose(f);
    n = (size_t)read(master, text, sizeof text - 1);
    text[n] = '\0';
    close(master);
    assert_non_null(strstr(text, "\rvesta-adopt: 3 users\033[K"));
}

/* The metrics token, the node's name and readiness's age, read and refused. */
static void ops_config(void **state)
{
    static const struct {
        const char *k, *v, *k2, *v2;
        int ok;
    } cases[] = {
        {"CALSYNC_METRICS_TOKEN", "0123456789abcdef", NULL, NULL, 1},
        {"CALSYNC_METRICS_TOKEN", "short", NULL, NULL, 0},
        {"CALSYNC_METRICS_TOKEN", "0123456789 abcdef", NULL, NULL, 0},
        {"CALSYNC_METRICS_TOKEN", "0123456789abcdef", "CALSYNC_METRICS_TOKEN_FILE", "/x", 0},
        {"CALSYNC_METRICS_TOKEN_FILE", "/nonexistent/token", NULL, NULL, 0},
        {"CALSYNC_NODE", "web-1.example", NULL, NULL, 1},
        {"CALSYNC_NODE", "web 1", NULL, NULL, 0},
        {"CALSYNC_READY_HEARTBEAT_S", "0", NULL, NULL, 1},
        {"CALSYNC_READY_HEARTBEAT_S", "-1", NULL, NULL, 0},
        {"CALSYNC_READY_HEARTBEAT_S", "soon", NULL, NULL, 0},
    };
    char err[CS_ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY},
                           {cases[i].k, cases[i].v},
                           {cases[i].k2 ? cases[i].k2 : "X", cases[i].v2},
                           {NULL, NULL}};
        struct cfg c;
        int rc = cfg_load_from(&c, get, env, err, sizeof err);
        if ((rc == CS_OK) != cases[i].ok)
            fail_msg("case %zu (%s=%s): %s", i, cases[i].k, cases[i].v, rc ? err : "accepted");
        if (rc == CS_OK)
            cfg_free(&c);
    }
    {
        struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY}, {NULL, NULL}};
        struct cfg c;
        assert_int_equal(cfg_load_from(&c, get, env, err, sizeof err), CS_OK);
        assert_null(c.metrics_token);
        assert_true(c.node[0] != '\0');
        assert_int_equal(c.ready_heartbeat_s, 30);
        cfg_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(google_groups),   cmocka_unit_test(flush_adds),
        cmocka_unit_test(latency_buckets), cmocka_unit_test(series_table),
        cmocka_unit_test(scrape_gauges),   cmocka_unit_test(readiness),
        cmocka_unit_test(progress_lines),  cmocka_unit_test(ops_config),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
