/* sync_int.h: what the sync engine's files (sync, sync_push, sync_pull, sync_merge,
 * sync_channel) share; not for other modules. */
#ifndef SYNC_INT_H
#define SYNC_INT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "appt.h"
#include "buf.h"
#include "cs.h"
#include "db.h"
#include "gapi.h"
#include "gmap.h"
#include "host.h"
#include "sync.h"

struct job;

/* One job's run for one user. */
struct sync_ctx {
    struct db *db;
    const struct cfg *cfg;
    struct job *job; /* the lease this run holds; NULL when run without one (tests) */
    struct gapi g;
    char user_id[CRYPT_UUIDLEN];
    char tz[65];
    char cal[600];       /* "/calendars/<encoded id>" */
    char cal_id[256];    /* the calendar id itself ("primary" or the Vesta calendar's) */
    char reminders[256]; /* the user's reminders setting: "default" or "[10,60]" */
    int initial;         /* first sync of the connection (no sync token yet): an import */
    int progress_set;    /* a progress row was written: cleared when the run ends */
    struct sync_stats *st;
    char err[CS_ERRLEN];
    int pulled; /* a pull ran: the poll clock restarts */
    int lost;   /* the job's lease was taken from us: stop at once */
    const struct host_appts *host; /* the appointment source the store is kept in step with */
    int pushes, pulls;             /* what the user's sync direction lets this run do */
    struct host_event_extra hx;    /* the host's extras of the event being built */
};

/* helpers (sync_ctx.c) */
long long sync_parse_ms(const char *rfc3339);
const char *sync_str(const cJSON *o, const char *key);
void sync_user_tz(struct sync_ctx *c);
/* Loads an appointment of the user whether active or not. */
int sync_load(struct sync_ctx *c, long long id, struct appt *a);
/* Loads the user's appointment a statement (?1 user, ?2 event id) selects. */
int sync_load_by(struct sync_ctx *c, enum db_stmt_id id, const char *gid, struct appt *a);
void sync_pending_op(struct sync_ctx *c, long long id, char op[8]);
void sync_set_error(struct sync_ctx *c, long long id, const char *state, const char *msg);
int sync_mark_deleted(struct sync_ctx *c, long long id);
int sync_collect_ids(struct sync_ctx *c, enum db_stmt_id id, long long **ids, size_t *n);
int sync_link(struct sync_ctx *c, const struct appt *a, const cJSON *ev);
int sync_path(struct sync_ctx *c, struct buf *b, const char *event_id, const char *suffix);
int sync_event_error(struct sync_ctx *c, const struct gapi_resp *r, const char *what);
/* What a's event carries beyond its fields: its type's colour, and the reminders when they go
 * (always with full, else only when the setting changed since they were last sent). */
void sync_extra(struct sync_ctx *c, const struct appt *a, int full, struct gmap_extra *x);
/* Reads the user's reminders setting into c->reminders. */
void sync_user_reminders(struct sync_ctx *c);
/* a was saved in the store with Google's content: the host's row follows (sync_merge_save and
 * the pull call it). When the host had changed the row meanwhile, its fields are merged into a,
 * saved, and queued for Google. */
int sync_host_store(struct sync_ctx *c, struct appt *a);
/* Records that a's event now has the reminders of c (after a push whose body had them). */
void sync_reminders_sent(struct sync_ctx *c, const struct appt *a, const cJSON *body);
/* True when a's former link lived in the calendar this run syncs with. */
int sync_former_here(const struct sync_ctx *c, const struct appt *a);
/* Keeps the job's lease while local work runs between Google calls (a page of thousands of
 * events can outlast a lease): CS_ERR_BUSY once the job was taken from us. Cheap when the
 * lease is young (a clock read). */
int sync_keepalive(struct sync_ctx *c);
/* Shows a long run's progress in the status (total < 0: unknown). */
void sync_progress(struct sync_ctx *c, const char *phase, long long done, long long total);
/* Takes the progress row away again (at the end of a run that wrote one). */
void sync_progress_clear(struct sync_ctx *c);

/* merge (sync_merge.c). The merges never push themselves: SYNC_PUSH_AGAIN tells the pusher
 * (sync_push.c) that a now holds what must go to Google and its link was updated, so the push
 * is tried once more one level deeper. */
#define SYNC_PUSH_AGAIN 1000
int sync_merge_save(struct sync_ctx *c, struct appt *a, const char *gid, const char *etag,
                    const char *updated, const char *snap);
/* After a 412: re-reads the event, merges field by field against the last synced version and
 * saves the merge. CS_OK (linked, nothing left to send), SYNC_PUSH_AGAIN, or an error. */
int sync_resolve_412(struct sync_ctx *c, struct appt *a);
/* An appointment linked before a disconnect: CS_OK (linked again), SYNC_PUSH_AGAIN (a points
 * at the former event: update it), CS_ERR_NOTFOUND (gone: create a new one) or an error. */
int sync_adopt_former(struct sync_ctx *c, struct appt *a);

/* push (sync_push.c): drains every due outbox row; stops at the first failure that concerns
 * Google as a whole */
int sync_push(struct sync_ctx *c);
int sync_push_upsert(struct sync_ctx *c, struct appt *a, int depth);

/* pull (sync_pull.c): every page since sync_token (NULL: a full listing + reconcile) */
int sync_pull(struct sync_ctx *c, const char *sync_token);

#endif
