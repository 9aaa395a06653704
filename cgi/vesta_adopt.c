/* vesta_adopt.c: calsync-admin vesta-adopt [--dry-run]: the agents connected through Vesta's own
 * earlier Google sync move into calsync without a new consent: their refresh token checked with
 * Google and sealed, their direction kept, the old tokenless channel stopped and a verified one
 * opened (by the worker), the plain-text copies blanked and Vesta's row retired. The first sync
 * links the events Vesta had already pushed (their ids, kept on its appointments). */
#include "vesta_adopt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "direction.h"
#include "gapi.h"
#include "host_vesta_id.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "sync.h"

struct legacy {
    long long id;
    char user_id[CRYPT_UUIDLEN], email[256], tz[65], calendar[256], direction[24];
    char *access, *refresh, *channel, *resource;
    long long expiry;
    int user_known;
};

static void legacy_free(struct legacy *l)
{
    crypt_free_secret(l->access);
    crypt_free_secret(l->refresh);
    free(l->channel);
    free(l->resource);
}

/* Every active google_calendar row of Vesta's user_integrations into *out (free each). */
static int legacy_list(struct db *db, struct legacy **out, size_t *n)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_LEGACY_LIST);
    struct legacy *v = NULL;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return CS_ERR_DB;
    while (db_step(st) == DB_ROW) {
        struct legacy *l;
        if (*n == cap) {
            struct legacy *p = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof *v);
            if (p == NULL) {
                db_reset(st);
                *out = v;
                return CS_ERR_NOMEM;
            }
            v = p;
        }
        l = &v[(*n)++];
        memset(l, 0, sizeof *l);
        l->id = db_col_int64(st, 0);
        db_col_copy(st, 1, l->user_id, sizeof l->user_id);
        l->access = db_col_dup(st, 2);
        l->refresh = db_col_dup(st, 3);
        l->expiry = db_col_int64(st, 4);
        db_col_copy(st, 5, l->calendar, sizeof l->calendar);
        l->channel = db_col_dup(st, 6);
        l->resource = db_col_dup(st, 7);
        db_col_copy(st, 8, l->direction, sizeof l->direction);
        l->user_known = !db_col_is_null(st, 9);
        db_col_copy(st, 9, l->email, sizeof l->email);
        db_col_copy(st, 10, l->tz, sizeof l->tz);
    }
    db_reset(st);
    *out = v;
    return CS_OK;
}

static int legacy_retire(struct db *db, long long id)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_LEGACY_RETIRE);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_int64(st, 1, id);
    return db_exec(db, st);
}

/* The connection in calsync's store, Vesta's row retired, the first sync queued: one transaction.
 * t NULL: the grant is gone (the user reconnects once; state reauth_required). */
static int adopt_store(struct db *db, const struct cfg *cfg, const struct legacy *l,
                       const struct gapi_tokens *t)
{
    static struct gapi_tokens none = {.access = "-", .expires_in = 0};
    struct db_stmt *st;
    struct integ in;
    int d = direction_parse(l->direction), rc;

    if ((rc = db_begin(db)) != CS_OK)
        return rc;
    if ((rc = vesta_user_row(db, l->user_id, l->email, vesta_user_zone(l->tz, cfg->default_tz))) !=
            CS_OK ||
        (rc = gapi_store_tokens(db, cfg, l->user_id, t ? t : &none, 1, 0)) != CS_OK)
        goto out;
    if ((st = db_stmt(db, DB_INTEG_SET_CALENDAR)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, l->user_id);
    db_bind_text(st, 2, "primary");
    db_bind_text(st, 3, l->calendar[0] ? l->calendar : "primary");
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    if ((rc = direction_set(db, l->user_id, d >= 0 ? (enum direction)d : DIR_VESTA_TO_GOOGLE)) !=
        CS_OK)
        goto out;
    if (t == NULL) {
        if ((rc = integ_get(db, l->user_id, &in)) != CS_OK)
            goto out;
        st = db_stmt(db, DB_INTEG_REAUTH);
        if (st == NULL) {
            integ_free(&in);
            rc = CS_ERR_DB;
            goto out;
        }
        db_bind_text(st, 1, l->user_id);
        db_bind_text(st, 2, "Google access was revoked or expired; reconnect Google Calendar");
        db_bind_int64(st, 3, db_now());
        db_bind_int64(st, 4, in.epoch);
        integ_free(&in);
        rc = db_exec(db, st);
    } else {
        rc = integ_set_state(db, l->user_id, "syncing", NULL);
        if (rc == CS_OK && *cfg->webhook_url != '\0')
            rc = jobs_enqueue_channel(db, l->user_id, "adopt");
        if (rc == CS_OK)
            rc = jobs_enqueue_sync(db, l->user_id, 1, "adopt", 0, NULL, NULL);
    }
    if (rc == CS_OK)
        rc = legacy_retire(db, l->id);
out:
    return db_end(db, rc);
}

/* Vesta's channel (opened without a token) is stopped: Google accepts channels.stop with its
 * id and resource id from the holder of the grant. */
static const char *adopt_stop_channel(const struct cfg *cfg, const struct legacy *l,
                                      const struct gapi_tokens *t)
{
    struct gapi g;
    int rc;

    if (l->channel == NULL || !*l->channel || l->resource == NULL || !*l->resource)
        return "no channel to stop";
    if (gapi_open_detached(&g, cfg, l->user_id, t->access, l->refresh, cfg->sync_budget_ms) !=
        CS_OK)
        return "its old channel could not be stopped (it expires by itself)";
    rc = sync_channel_stop(&g, l->channel, l->resource);
    gapi_close(&g);
    return rc == CS_OK ? "old channel stopped"
                       : "its old channel could not be stopped (it expires by itself)";
}

int vesta_adopt(struct db *db, const struct cfg *cfg, int dry_run, vesta_adopt_line line, void *ctx,
                struct vesta_adopt_stats *stats)
{
    struct legacy *rows = NULL;
    size_t n = 0;
    char msg[600];
    int rc;

    memset(stats, 0, sizeof *stats);
    if ((rc = legacy_list(db, &rows, &n)) != CS_OK)
        goto out;
    stats->total = (int)n;
    for (size_t i = 0; i < n; i++) {
        struct legacy *l = &rows[i];
        struct gapi_tokens t;
        char err[CS_ERRLEN];
        int got;

        memset(&t, 0, sizeof t);
        if (!l->user_known) {
            stats->skipped++;
            line(ctx, l->user_id, "skipped: no such user in Vesta");
            continue;
        }
        if (integ_is_connected(db, l->user_id)) {
            /* connected through calsync meanwhile: only Vesta's copy goes */
            if (!dry_run && legacy_retire(db, l->id) != CS_OK) {
                stats->failed++;
                line(ctx, l->user_id, "failed: cannot retire Vesta's row");
                continue;
            }
            stats->skipped++;
            line(ctx, l->user_id,
                 dry_run ? "would retire Vesta's row: already connected through calsync"
                         : "already connected through calsync: Vesta's row retired");
            continue;
        }
        if (dry_run) {
            snprintf(msg, sizeof msg,
                     "would adopt: calendar %s, direction %s, %s, tokens moved out of Vesta",
                     l->calendar, l->direction,
                     l->channel && *l->channel ? "its channel stopped and a verified one opened"
                                               : "a verified channel opened");
            stats->adopted++;
            line(ctx, l->user_id, msg);
            continue;
        }
        got = l->refresh != NULL && *l->refresh
                  ? gapi_token_refresh(cfg, l->refresh, &t, err, sizeof err)
                  : CS_ERR_REAUTH;
        if (got == CS_OK && t.refresh == NULL && (t.refresh = strdup(l->refresh)) == NULL)
            got = CS_ERR_NOMEM;
        if (got != CS_OK && got != CS_ERR_REAUTH) {
            stats->failed++;
            snprintf(msg, sizeof msg, "failed: Google did not answer (%s); run again later",
                     cs_strerror(got));
            line(ctx, l->user_id, msg);
            gapi_tokens_free(&t);
            continue;
        }
        if (adopt_store(db, cfg, l, got == CS_OK ? &t : NULL) != CS_OK) {
            stats->failed++;
            line(ctx, l->user_id, "failed: the store refused the change; nothing was moved");
            gapi_tokens_free(&t);
            continue;
        }
        if (got == CS_ERR_REAUTH) {
            stats->reauth++;
            line(ctx, l->user_id,
                 "adopted, but Google no longer accepts its grant: reauth_required (the agent "
                 "reconnects once); Vesta's tokens removed");
        } else {
            stats->adopted++;
            snprintf(msg, sizeof msg, "adopted: calendar %s, direction %s, %s", l->calendar,
                     l->direction, adopt_stop_channel(cfg, l, &t));
            line(ctx, l->user_id, msg);
        }
        gapi_tokens_free(&t);
    }
    if (!dry_run && stats->adopted > 0)
        jobs_wake(cfg);
out:
    for (size_t i = 0; i < n; i++)
        legacy_free(&rows[i]);
    free(rows);
    return rc;
}
