/* metrics.c: the work's counters, kept per process (an addition each) and added into the store
 * at most once a second per process, in a transaction of their own: no write per event. */
#include "metrics.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Google: method groups x status classes */
static const char *const metrics_groups[] = {
    "events.list",   "events.get",   "events.insert", "events.update",
    "events.delete", "events.watch", "channels.stop", "calendars",
    "batch",         "oauth.token",  "oauth.revoke",  "other",
};
enum {
    MG_LIST,
    MG_GET,
    MG_INSERT,
    MG_UPDATE,
    MG_DELETE,
    MG_WATCH,
    MG_STOP,
    MG_CALENDARS,
    MG_BATCH,
    MG_TOKEN,
    MG_REVOKE,
    MG_OTHER,
    MG__MAX
};
static const char *const metrics_classes[] = {"2xx", "3xx", "4xx", "5xx", "error"};
#define MC__MAX 5
static const char *const metrics_outcomes[] = {
    "accepted", "replay", "unknown_channel", "forged", "sync", "invalid", "error"};
/* enum job_kind's order (jobs.h) */
static const char *const metrics_kinds[] = {"sync", "channel", "cleanup"};
#define MK__MAX 3
static const char *const metrics_job_outcomes[] = {"done", "retry", "dropped", "cancelled"};
static const char *const metrics_dirs[] = {"google_to_vesta", "vesta_to_google"};
/* latency buckets: upper bounds in ms (the last is +Inf), as exposed in seconds */
static const long long metrics_bounds_ms[] = {50,   100,   250,   500,   1000,   2500,
                                              5000, 10000, 30000, 60000, 300000, -1};
static const char *const metrics_les[] = {"0.05", "0.1", "0.25", "0.5", "1",   "2.5",
                                          "5",    "10",  "30",   "60",  "300", "+Inf"};
#define MB__MAX 12

_Static_assert(sizeof metrics_groups / sizeof metrics_groups[0] == MG__MAX, "groups");
_Static_assert(sizeof metrics_outcomes / sizeof metrics_outcomes[0] == METRICS_WH__MAX, "outcomes");
_Static_assert(sizeof metrics_job_outcomes / sizeof metrics_job_outcomes[0] == METRICS_JOB__MAX,
               "job outcomes");
_Static_assert(sizeof metrics_bounds_ms / sizeof metrics_bounds_ms[0] == MB__MAX, "buckets");

/* Where each family's series start in the table of counts. A latency direction holds its
 * buckets, then its sum (ms); its _count is its +Inf bucket. */
#define M_GOOGLE 0
#define M_WEBHOOK (M_GOOGLE + MG__MAX * MC__MAX)
#define M_JOBS (M_WEBHOOK + METRICS_WH__MAX)
#define M_LATENCY (M_JOBS + MK__MAX * METRICS_JOB__MAX)
#define M_PER_DIR (MB__MAX + 1)
#define M__MAX (M_LATENCY + METRICS_DIR__MAX * M_PER_DIR)

static const struct {
    const char *name, *type, *help;
} metrics_families[] = {
    {"calsync_google_requests_total", "counter",
     "Requests sent to Google, by method group and status class (error: no answer arrived)."},
    {"calsync_webhook_notifications_total", "counter",
     "Google push notifications received, by outcome."},
    {"calsync_jobs_finished_total", "counter", "Runs of sync jobs finished, by kind and outcome."},
    {"calsync_sync_latency_seconds", "histogram",
     "Time from a change on one side to its being visible on the other, by direction."},
};

/* This process's counts, and how much of them the store already has. */
static unsigned long long metrics_now[M__MAX], metrics_done[M__MAX];
static int metrics_dirty;
static long long metrics_last_ms, metrics_warned_ms;

static int metrics_prefix(const char *s, const char *p)
{
    size_t n = p != NULL ? strlen(p) : 0;

    return n > 0 && strncmp(s, p, n) == 0;
}

/* The method group of a request, from its URL against the configured endpoints. */
static int metrics_group(const struct cfg *cfg, const char *method, const char *url)
{
    const char *path, *ev;
    size_t len;

    if (metrics_prefix(url, cfg->token_url))
        return MG_TOKEN;
    if (metrics_prefix(url, cfg->revoke_url))
        return MG_REVOKE;
    if (metrics_prefix(url, cfg->batch_url))
        return MG_BATCH;
    if (!metrics_prefix(url, cfg->api_url))
        return MG_OTHER;
    path = url + strlen(cfg->api_url);
    len = strcspn(path, "?");
    if (len >= 14 && strncmp(path + len - 14, "/channels/stop", 14) == 0)
        return MG_STOP;
    if (len >= 13 && strncmp(path + len - 13, "/events/watch", 13) == 0)
        return MG_WATCH;
    /* calendars/{id}/events[/{eventId}]: ids are percent-encoded, so the first "/events"
     * ending a segment is the collection */
    for (ev = strstr(path, "/events"); ev != NULL && ev < path + len;
         ev = strstr(ev + 1, "/events")) {
        const char *rest = ev + 7;
        if (rest == path + len) /* the collection */
            return strcmp(method, "GET") == 0    ? MG_LIST
                   : strcmp(method, "POST") == 0 ? MG_INSERT
                                                 : MG_OTHER;
        if (*rest != '/')
            continue;
        if (strcmp(method, "GET") == 0)
            return MG_GET;
        if (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0)
            return MG_UPDATE;
        return strcmp(method, "DELETE") == 0 ? MG_DELETE : MG_OTHER;
    }
    if (strncmp(path, "/calendars", 10) == 0 || strncmp(path, "/users/me/calendarList", 22) == 0)
        return MG_CALENDARS;
    return MG_OTHER;
}

static void metrics_add(size_t i, unsigned long long n)
{
    if (n == 0)
        return;
    metrics_now[i] += n;
    metrics_dirty = 1;
}

void metrics_google(const struct cfg *cfg, const char *method, const char *url, long status)
{
    int cls = status >= 200 && status < 600 ? (int)(status / 100) - 2 : MC__MAX - 1;

    if (cfg == NULL || method == NULL || url == NULL)
        return;
    metrics_add(M_GOOGLE + (size_t)metrics_group(cfg, method, url) * MC__MAX + (size_t)cls, 1);
}

void metrics_webhook(enum metrics_webhook o, unsigned n)
{
    if ((unsigned)o < METRICS_WH__MAX)
        metrics_add(M_WEBHOOK + (size_t)o, n);
}

void metrics_job(int kind, enum metrics_job o)
{
    if (kind >= 0 && kind < MK__MAX && (unsigned)o < METRICS_JOB__MAX)
        metrics_add(M_JOBS + (size_t)kind * METRICS_JOB__MAX + (size_t)o, 1);
}

void metrics_latency(enum metrics_dir d, long long since_ms)
{
    size_t base;
    long long ms;

    if ((unsigned)d >= METRICS_DIR__MAX || since_ms <= 0)
        return;
    ms = db_now_ms() - since_ms;
    if (ms < 0) /* clocks a little apart (Google's, ours): as good as immediate */
        ms = 0;
    base = M_LATENCY + (size_t)d * M_PER_DIR;
    for (size_t b = 0; b < MB__MAX; b++)
        if (metrics_bounds_ms[b] < 0 || ms <= metrics_bounds_ms[b])
            metrics_add(base + b, 1);
    metrics_add(base + MB__MAX, (unsigned long long)ms);
}

int metrics_pending(void)
{
    return metrics_dirty;
}

int metrics_flush(struct db *db, int force)
{
    char name[160];
    long long now;
    int rc;

    if (!metrics_dirty || db == NULL)
        return CS_OK;
    now = db_now_ms();
    if ((!force && now - metrics_last_ms < METRICS_FLUSH_MS && now >= metrics_last_ms) ||
        db_in_transaction(db))
        return CS_OK;
    metrics_last_ms = now;
    /* one row per series, always in the same order: flushes of several processes (and nodes)
     * on a shared server take their row locks in one order and never deadlock */
    if ((rc = db_begin(db)) == CS_OK) {
        for (size_t i = 0; i < M__MAX && rc == CS_OK; i++) {
            struct db_stmt *st;
            if (metrics_now[i] == metrics_done[i])
                continue;
            if (metrics_series_name(i, name, sizeof name, NULL, 0) != 0 ||
                (st = db_stmt(db, DB_METRICS_ADD)) == NULL) {
                rc = CS_ERR_DB;
                break;
            }
            db_bind_text(st, 1, name);
            db_bind_int64(st, 2, (long long)(metrics_now[i] - metrics_done[i]));
            db_bind_int64(st, 3, now);
            rc = db_exec(db, st);
        }
        rc = db_end(db, rc);
    }
    if (rc != CS_OK) {
        /* a store outage: the counts wait here; say so once a minute, not once a second */
        if (now - metrics_warned_ms >= 60000 || now < metrics_warned_ms) {
            log_warn("metrics not stored (kept for the next try): %s", cs_strerror(rc));
            metrics_warned_ms = now;
        }
        return rc;
    }
    memcpy(metrics_done, metrics_now, sizeof metrics_done);
    metrics_dirty = 0;
    return CS_OK;
}

size_t metrics_series_count(void)
{
    return M__MAX;
}

int metrics_series_is_ms(size_t i)
{
    return i >= M_LATENCY && i < M__MAX && (i - M_LATENCY) % M_PER_DIR == MB__MAX;
}

int metrics_series_name(size_t i, char *out, size_t outlen, char *family, size_t famlen)
{
    const char *fam;
    int n;

    if (i < M_WEBHOOK) {
        fam = metrics_families[0].name;
        n = snprintf(out, outlen, "%s{method=\"%s\",status=\"%s\"}", fam,
                     metrics_groups[(i - M_GOOGLE) / MC__MAX],
                     metrics_classes[(i - M_GOOGLE) % MC__MAX]);
    } else if (i < M_JOBS) {
        fam = metrics_families[1].name;
        n = snprintf(out, outlen, "%s{outcome=\"%s\"}", fam, metrics_outcomes[i - M_WEBHOOK]);
    } else if (i < M_LATENCY) {
        fam = metrics_families[2].name;
        n = snprintf(out, outlen, "%s{kind=\"%s\",outcome=\"%s\"}", fam,
                     metrics_kinds[(i - M_JOBS) / METRICS_JOB__MAX],
                     metrics_job_outcomes[(i - M_JOBS) % METRICS_JOB__MAX]);
    } else if (i < M__MAX) {
        size_t d = (i - M_LATENCY) / M_PER_DIR, b = (i - M_LATENCY) % M_PER_DIR;
        fam = metrics_families[3].name;
        if (b == MB__MAX)
            n = snprintf(out, outlen, "%s_sum{direction=\"%s\"}", fam, metrics_dirs[d]);
        else
            n = snprintf(out, outlen, "%s_bucket{direction=\"%s\",le=\"%s\"}", fam, metrics_dirs[d],
                         metrics_les[b]);
    } else {
        return -1;
    }
    if (family != NULL)
        snprintf(family, famlen, "%s", fam);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int metrics_series_count_name(size_t i, char *out, size_t outlen)
{
    int n;

    if (!metrics_series_is_ms(i))
        return -1;
    n = snprintf(out, outlen, "%s_count{direction=\"%s\"}", metrics_families[3].name,
                 metrics_dirs[(i - M_LATENCY) / M_PER_DIR]);
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

const char *metrics_family_help(const char *family, const char **type)
{
    for (size_t i = 0; i < sizeof metrics_families / sizeof metrics_families[0]; i++) {
        if (strcmp(family, metrics_families[i].name) == 0) {
            if (type != NULL)
                *type = metrics_families[i].type;
            return metrics_families[i].help;
        }
    }
    return NULL;
}
