/* host.h: the two seams to the host calsync serves (DESIGN.md section 7): who the user is (the
 * identity source) and where the appointments live (the appointment source), each a table of
 * operations chosen once at start-up from CALSYNC_HOST. */
#ifndef HOST_H
#define HOST_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct db;
struct cfg;
struct appt;
struct auth_user;
struct http_req;
struct gmap_extra;

/* The identity source: a request's session -> the user. */
struct host_identity {
    const char *name;
    /* The signed-in user of req (its cookies): CS_OK with u filled (id, email, zone),
     * CS_ERR_AUTH when there is no valid session (nothing else was read), CS_ERR_DB. */
    int (*session_user)(struct http_req *req, struct auth_user *u);
    /* True when calsync's own login/logout/me routes serve; else they answer 404 (the host
     * logs its users in). */
    int own_logins;
    /* True when calsync's own appointments API (/api/appointments) serves. */
    int own_appointments;
};

/* Extra Google fields the host wants on an appointment's event; strings stay valid until the
 * next call on the same appointment source. */
#define HOST_PRIV_MAX 6
struct host_event_extra {
    const char *source_url, *source_title; /* Google's "source" (a link back), or NULL */
    int n_priv;
    const char *priv[HOST_PRIV_MAX][2]; /* private extended properties: key, value */
    char buf[1024];
};

/* The appointment source. calsync's own store (the appointments table of lib/appt.c) always
 * holds the appointments the engine syncs; the source keeps the host's rows in step with it.
 * In the standalone host the store IS the host, so every operation is a no-op. Each operation
 * runs inside the caller's transaction (the host's tables live in the same database). */
struct host_appts {
    const char *name;
    /* A new appointment is about to be stored (made in the API, or pulled from Google: ev is
     * the event, else NULL): the host makes its row first and sets a->id to its id (0: let
     * the store choose). CS_OK or an error (nothing stored); CS_ERR_NOTFOUND when a contact
     * given through the API is none of the host's (for this user). */
    int (*create)(struct db *db, const struct cfg *cfg, struct appt *a, const cJSON *ev);
    /* a was saved in the store with content from Google (pull, merge): the host's row follows
     * under a compare-and-swap on what calsync last saw of it. When the host changed the row
     * meanwhile, fields it changed win: a then holds the merge and *repush is set (the merge
     * must go back to Google). by_api: a local edit through calsync's API (no swap);
     * CS_ERR_INVAL when the contact it sets is none of the host's (for this user). */
    int (*store)(struct db *db, const struct cfg *cfg, struct appt *a, int by_api, int *repush);
    /* The appointment was deleted (in Google, or through calsync's API). */
    int (*remove)(struct db *db, const char *user_id, long long id);
    /* The appointment's Google link changed (gid NULL: unlinked). */
    int (*link)(struct db *db, long long id, const char *gid, const char *etag);
    /* Every Google link of the user is cleared (disconnect). */
    int (*unlink_user)(struct db *db, const char *user_id);
    /* Brings the user's host rows into the store (on a connection's first sync): rows the store
     * does not have are added and queued. CS_OK or an error. */
    int (*seed)(struct db *db, const struct cfg *cfg, const char *user_id);
    /* One pass of the change feed: the host's rows changed (or deleted) since the last pass
     * are brought into the store and queued for Google. *found counts them. Several nodes may
     * run it at once: one does the work, the others return at once. */
    int (*feed)(struct db *db, const struct cfg *cfg, int *found);
    /* What the event of a carries for the host (link back, ids); x may be left empty. */
    void (*event_extra)(struct db *db, const struct cfg *cfg, const struct appt *a,
                        struct host_event_extra *x);
};

/* The tables of the configured host (cfg->host). */
const struct host_identity *host_identity_of(const struct cfg *cfg);
const struct host_appts *host_appts_of(const struct cfg *cfg);

extern const struct host_identity host_identity_standalone;
extern const struct host_appts host_appts_standalone;
extern const struct host_identity host_identity_vesta;
extern const struct host_appts host_appts_vesta;

#endif
