/* metrics.h: counters of the work (Google calls, webhook notifications, jobs, sync latency), kept
 * per process at the cost of an addition and added into the store now and then, where every
 * process and node of an installation sums up (README, "Metrics"). */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>

struct cfg;
struct db;

/* What became of a webhook notification. */
enum metrics_webhook {
    METRICS_WH_ACCEPTED, /* verified and new: its pull is recorded (or already pending) */
    METRICS_WH_REPLAY,   /* verified, message number not above the last one: ignored */
    METRICS_WH_UNKNOWN,  /* no active channel of that id: ignored (200) */
    METRICS_WH_FORGED,   /* token or resource id wrong: refused (403) */
    METRICS_WH_SYNC,     /* the channel's "sync" confirmation */
    METRICS_WH_INVALID,  /* malformed: refused (400, 405, 413) */
    METRICS_WH_ERROR,    /* not recorded (503): Google sends it again */
    METRICS_WH__MAX
};

/* How a job's run ended (calsync-worker, or a route running one). */
enum metrics_job {
    METRICS_JOB_DONE,      /* done (or one more pass asked for meanwhile) */
    METRICS_JOB_RETRY,     /* failed; rescheduled with backoff */
    METRICS_JOB_DROPPED,   /* nothing a retry can fix (disconnected, grant revoked, refused) */
    METRICS_JOB_CANCELLED, /* cancelled by a disconnect, or taken over by another worker */
    METRICS_JOB__MAX
};

/* Which way a change travelled, for "changed on one side -> visible on the other". */
enum metrics_dir {
    METRICS_TO_VESTA,  /* a Google change applied here (incremental pulls) */
    METRICS_TO_GOOGLE, /* a local change pushed to Google (from its outbox row) */
    METRICS_DIR__MAX
};

/* Counts one exchange with Google: method and url as sent (the method group is read from the
 * URL against cfg's endpoints), status the HTTP answer's, or 0 when none arrived. */
void metrics_google(const struct cfg *cfg, const char *method, const char *url, long status);
/* Counts n notifications with outcome o. */
void metrics_webhook(enum metrics_webhook o, unsigned n);
/* Counts a finished run of a job of kind (enum job_kind) ending as o. */
void metrics_job(int kind, enum metrics_job o);
/* Observes one change that became visible now, changed at since_ms (epoch ms; <= 0: unknown,
 * ignored). */
void metrics_latency(enum metrics_dir d, long long since_ms);

/* How often a busy process adds its counts into the store (at most). */
#define METRICS_FLUSH_MS 1000
/* Adds what this process counted since its last flush into the store, in a transaction of its
 * own (nothing when nothing was counted; nothing inside the caller's open transaction). With
 * force 0, only when METRICS_FLUSH_MS have passed since the last flush. CS_OK, or CS_ERR_DB
 * (then the counts stay for the next flush; logged now and then). */
int metrics_flush(struct db *db, int force);
/* True when counts wait for a flush. */
int metrics_pending(void);

/* The series: every counter the store may hold, in exposition order. */
size_t metrics_series_count(void);
/* Series i as exposed (name{label="value",...}) into out; its family's name (without _bucket,
 * _sum, _count) into family. 0, or -1 when i is out of range. */
int metrics_series_name(size_t i, char *out, size_t outlen, char *family, size_t famlen);
/* True when series i holds milliseconds to be exposed as seconds (a latency sum). */
int metrics_series_is_ms(size_t i);
/* For a latency sum i: its histogram's _count series into out (0); its value is that of series
 * i - 1, the +Inf bucket. -1 for any other series. */
int metrics_series_count_name(size_t i, char *out, size_t outlen);
/* The HELP text and TYPE of a family named by metrics_series_name; NULL when unknown. */
const char *metrics_family_help(const char *family, const char **type);

#endif
