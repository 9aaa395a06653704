/* metrics_scrape.c: GET /metrics's text: the store's gauges, every node's heartbeat and the
 * counters summed over every process, in the Prometheus text format 0.0.4. */
#include "metrics_scrape.h"
#include "metrics.h"
#include "buf.h"
#include "cs.h"
#include "db.h"

#include <stdlib.h>
#include <string.h>

#define SCRAPE_NAME_MAX 160

static const char *const scrape_kinds[] = {"sync", "channel", "cleanup"};
static const char *const scrape_job_states[] = {"pending", "running", "backoff"};
/* the states every scrape shows (others found in the store are shown too) */
static const char *const scrape_states[] = {"connected", "syncing", "error", "reauth_required"};

static int scrape_head(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and line ends escaped as the format wants. */
static int scrape_label(struct buf *out, const char *v)
{
    int rc = CS_OK;

    for (; *v && rc == CS_OK; v++) {
        if (*v == '\\' || *v == '"')
            rc = buf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            rc = buf_adds(out, "\\n");
        else
            rc = buf_add(out, v, 1);
    }
    return rc;
}

/* Steps a one-row statement; its first column(s) into v[0..n); CS_OK or CS_ERR_DB. */
static int scrape_row(struct db_stmt *st, long long *v, int n)
{
    int step = db_step(st);

    for (int i = 0; i < n; i++)
        v[i] = step == DB_ROW ? db_col_int64(st, i) : 0;
    db_reset(st);
    return step == DB_ROW || step == DB_DONE ? CS_OK : CS_ERR_DB;
}

/* calsync_jobs{kind,state} and the age of the oldest job due */
static int scrape_jobs(struct db *db, struct buf *out, long long now)
{
    long long n[3][3] = {{0}}, oldest = 0;
    struct db_stmt *st = db_stmt(db, DB_METRICS_JOBS);
    int step, rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, now);
    while ((step = db_step(st)) == DB_ROW) {
        const char *k = (const char *)db_col_text(st, 0);
        for (int i = 0; k != NULL && i < 3; i++) {
            if (strcmp(k, scrape_kinds[i]) != 0)
                continue;
            n[i][1] = db_col_int64(st, 2);
            n[i][2] = db_col_int64(st, 3);
            n[i][0] = db_col_int64(st, 1) - n[i][1] - n[i][2];
        }
    }
    db_reset(st);
    if (step != DB_DONE)
        return CS_ERR_DB;
    rc = scrape_head(out, "calsync_jobs", "gauge",
                     "Sync jobs queued, by kind and state (pending: due or settling; running: "
                     "leased by a worker; backoff: waiting after a failure or for Google).");
    for (int i = 0; i < 3 && rc == CS_OK; i++)
        for (int s = 0; s < 3 && rc == CS_OK; s++)
            rc = buf_printf(out, "calsync_jobs{kind=\"%s\",state=\"%s\"} %lld\n", scrape_kinds[i],
                            scrape_job_states[s], n[i][s]);
    if (rc != CS_OK || (st = db_stmt(db, DB_METRICS_OLDEST_DUE)) == NULL)
        return rc != CS_OK ? rc : CS_ERR_DB;
    db_bind_int64(st, 1, now);
    if (scrape_row(st, &oldest, 1) != CS_OK)
        return CS_ERR_DB;
    rc = scrape_head(out, "calsync_jobs_oldest_due_seconds", "gauge",
                     "How long the oldest job a worker could run now has been due (0: none).");
    if (rc == CS_OK)
        rc = buf_printf(out, "calsync_jobs_oldest_due_seconds %.3f\n",
                        oldest > 0 && oldest < now ? (double)(now - oldest) / 1000.0 : 0.0);
    return rc;
}

/* one gauge of one value */
static int scrape_gauge(struct buf *out, const char *name, const char *help, long long v)
{
    int rc = scrape_head(out, name, "gauge", help);

    return rc == CS_OK ? buf_printf(out, "%s %lld\n", name, v) : rc;
}

/* calsync_integrations{state}, channels, outbox, paused users */
static int scrape_integrations(struct db *db, struct buf *out, long long now)
{
    long long n[4] = {0}, ch[2] = {0}, paused[2] = {0}, outbox = 0;
    struct db_stmt *st;
    struct buf other;
    int step, rc;

    if ((st = db_stmt(db, DB_METRICS_INTEG_STATES)) == NULL)
        return CS_ERR_DB;
    buf_init(&other, 64 * 1024);
    while ((step = db_step(st)) == DB_ROW) {
        const char *s = (const char *)db_col_text(st, 0);
        int known = 0;
        for (int i = 0; s != NULL && i < 4; i++)
            if (strcmp(s, scrape_states[i]) == 0)
                n[i] = db_col_int64(st, 1), known = 1;
        if (!known && s != NULL &&
            (buf_adds(&other, "calsync_integrations{state=\"") != CS_OK ||
             scrape_label(&other, s) != CS_OK ||
             buf_printf(&other, "\"} %lld\n", db_col_int64(st, 1)) != CS_OK))
            break;
    }
    db_reset(st);
    rc = step == DB_DONE ? CS_OK : CS_ERR_DB;
    if (rc == CS_OK && (st = db_stmt(db, DB_METRICS_PAUSED)) == NULL)
        rc = CS_ERR_DB;
    if (rc == CS_OK) {
        if (db_param_count(st) > 0) /* ?1 = now, for a pause that ends at a time */
            db_bind_int64(st, 1, now);
        rc = scrape_row(st, paused, 2);
    }
    if (rc == CS_OK)
        rc = scrape_head(out, "calsync_integrations", "gauge",
                         "Active Google connections by state (paused: sync direction none, "
                         "counted under its state too).");
    for (int i = 0; i < 4 && rc == CS_OK; i++)
        rc = buf_printf(out, "calsync_integrations{state=\"%s\"} %lld\n", scrape_states[i], n[i]);
    if (rc == CS_OK)
        rc = buf_printf(out, "calsync_integrations{state=\"paused\"} %lld\n%s", paused[0],
                        other.data ? other.data : "");
    buf_free(&other);
    if (rc == CS_OK && (st = db_stmt(db, DB_METRICS_CHANNELS)) == NULL)
        rc = CS_ERR_DB;
    if (rc == CS_OK) {
        db_bind_int64(st, 1, now);
        db_bind_int64(st, 2, now + 86400000LL); /* within 24 h */
        rc = scrape_row(st, ch, 2);
    }
    if (rc == CS_OK &&
        ((st = db_stmt(db, DB_METRICS_OUTBOX)) == NULL || scrape_row(st, &outbox, 1) != CS_OK))
        rc = CS_ERR_DB;
    if (rc == CS_OK)
        rc = scrape_gauge(out, "calsync_channels_expiring_soon",
                          "Push channels of working connections that expire within 24 hours.",
                          ch[0]);
    if (rc == CS_OK)
        rc = scrape_gauge(out, "calsync_channels_expired",
                          "Push channels of working connections already expired (not renewed).",
                          ch[1]);
    if (rc == CS_OK)
        rc = scrape_gauge(out, "calsync_outbox_pending",
                          "Local changes waiting to be pushed to Google (outbox rows).", outbox);
    if (rc == CS_OK)
        rc = scrape_gauge(out, "calsync_users_writes_paused",
                          "Users whose writes to Google are paused by Google's usage limits.",
                          paused[1]);
    return rc;
}

/* calsync_worker_heartbeat_age_seconds{node} */
static int scrape_heartbeats(struct db *db, struct buf *out, long long now)
{
    struct db_stmt *st = db_stmt(db, DB_HEARTBEAT_LIST);
    int step, rc;

    if (st == NULL)
        return CS_ERR_DB;
    rc = scrape_head(out, "calsync_worker_heartbeat_age_seconds", "gauge",
                     "Time since each node's calsync-worker last showed it was alive.");
    while (rc == CS_OK && (step = db_step(st)) == DB_ROW) {
        long long at = db_col_int64(st, 1);
        const char *node = (const char *)db_col_text(st, 0);
        if ((rc = buf_adds(out, "calsync_worker_heartbeat_age_seconds{node=\"")) == CS_OK &&
            (rc = scrape_label(out, node ? node : "")) == CS_OK)
            rc = buf_printf(out, "\"} %.3f\n", at < now ? (double)(now - at) / 1000.0 : 0.0);
    }
    db_reset(st);
    return rc != CS_OK ? rc : step == DB_DONE ? CS_OK : CS_ERR_DB;
}

/* The counters: every series metrics.c knows, with the store's sum (0 until first added). */
static int scrape_counters(struct db *db, struct buf *out)
{
    size_t n = metrics_series_count();
    long long *v = calloc(n, sizeof *v);
    char(*names)[SCRAPE_NAME_MAX] = calloc(n, sizeof *names);
    char name[SCRAPE_NAME_MAX], fam[SCRAPE_NAME_MAX], last[SCRAPE_NAME_MAX] = "";
    struct db_stmt *st = NULL;
    int step = DB_DONE, rc = CS_OK;

    if (v == NULL || names == NULL) {
        rc = CS_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n && rc == CS_OK; i++)
        if (metrics_series_name(i, names[i], sizeof names[i], NULL, 0) != 0)
            rc = CS_ERR_TOOBIG;
    if (rc != CS_OK || (st = db_stmt(db, DB_METRICS_COUNTERS)) == NULL) {
        rc = rc != CS_OK ? rc : CS_ERR_DB;
        goto out;
    }
    while ((step = db_step(st)) == DB_ROW) {
        const char *s = (const char *)db_col_text(st, 0);
        /* a series of another version of calsync (a node not upgraded yet) is left out */
        for (size_t i = 0; s != NULL && i < n; i++)
            if (strcmp(names[i], s) == 0)
                v[i] = db_col_int64(st, 1);
    }
    db_reset(st);
    if (step != DB_DONE)
        rc = CS_ERR_DB;
    for (size_t i = 0; i < n && rc == CS_OK; i++) {
        const char *type, *help;
        metrics_series_name(i, name, sizeof name, fam, sizeof fam);
        if (strcmp(fam, last) != 0) {
            help = metrics_family_help(fam, &type);
            rc = scrape_head(out, fam, help ? type : "untyped", help ? help : "");
            memcpy(last, fam, sizeof last);
        }
        if (rc == CS_OK && metrics_series_is_ms(i))
            rc = buf_printf(out, "%s %.3f\n", name, (double)v[i] / 1000.0);
        else if (rc == CS_OK)
            rc = buf_printf(out, "%s %lld\n", name, v[i]);
        if (rc == CS_OK && metrics_series_count_name(i, name, sizeof name) == 0)
            rc = buf_printf(out, "%s %lld\n", name, i > 0 ? v[i - 1] : 0);
    }
out:
    free(names);
    free(v);
    return rc;
}

int metrics_scrape(struct db *db, struct buf *out)
{
    long long now = db_now_ms();
    int rc;

    if ((rc = scrape_jobs(db, out, now)) == CS_OK &&
        (rc = scrape_integrations(db, out, now)) == CS_OK &&
        (rc = scrape_heartbeats(db, out, now)) == CS_OK)
        rc = scrape_counters(db, out);
    return rc;
}
