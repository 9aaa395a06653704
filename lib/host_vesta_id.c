/* host_vesta_id.c: the vesta host's identity source: BetterAuth's session cookie, verified with
 * BETTER_AUTH_SECRET, then Vesta's sessions and users rows (read only, never written). */
#include "auth_local.h"
#include "bauth.h"
#include "cal.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "host.h"
#include "host_vesta_id.h"
#include "http.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* The last user this process made calsync's per-user row for (the zone and email it had then),
 * so a request writes only when something changed. */
static char vesta_shadow_id[CRYPT_UUIDLEN], vesta_shadow_tz[65],
    vesta_shadow_email[AUTH_EMAIL_MAX + 1];

const char *vesta_user_zone(const char *vesta_tz, const char *def)
{
    return vesta_tz != NULL && vesta_tz[0] && strcmp(vesta_tz, "UTC") != 0 &&
                   cal_zone_valid(vesta_tz)
               ? vesta_tz
               : def;
}

int vesta_user_row(struct db *db, const char *id, const char *email, const char *tz)
{
    struct db_stmt *st = db_stmt(db, DB_VESTA_USER_SHADOW);

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, id);
    db_bind_text(st, 2, tz);
    db_bind_int64(st, 3, db_now());
    db_bind_text(st, 4, email);
    return db_exec(db, st);
}

/* calsync's own row of the user, made on first sight and kept fresh, written only when it
 * changed since this process last wrote it. */
static int vesta_shadow(struct db *db, const struct auth_user *u)
{
    int rc;

    if (strcmp(vesta_shadow_id, u->id) == 0 && strcmp(vesta_shadow_tz, u->tz) == 0 &&
        strcmp(vesta_shadow_email, u->email) == 0)
        return CS_OK;
    if ((rc = vesta_user_row(db, u->id, u->email, u->tz)) == CS_OK) {
        snprintf(vesta_shadow_id, sizeof vesta_shadow_id, "%s", u->id);
        snprintf(vesta_shadow_tz, sizeof vesta_shadow_tz, "%s", u->tz);
        snprintf(vesta_shadow_email, sizeof vesta_shadow_email, "%s", u->email);
    }
    return rc;
}

/* The session token of the request's BetterAuth cookie, the secure one first. */
static int vesta_cookie_token(struct http_req *req, char token[BAUTH_TOKEN_MAX + 1])
{
    static const char *const names[] = {BAUTH_COOKIE_SECURE, BAUTH_COOKIE};
    char value[BAUTH_VALUE_MAX + 1];
    int rc = CS_ERR_AUTH;

    for (size_t i = 0; i < sizeof names / sizeof names[0] && rc != CS_OK; i++)
        if (http_cookie_get(req, names[i], value, sizeof value) == CS_OK)
            rc = bauth_verify(value, req->cfg->bauth_secret, req->cfg->bauth_secret_len, token,
                              BAUTH_TOKEN_MAX + 1);
    sodium_memzero(value, sizeof value);
    return rc;
}

static int vesta_session_user(struct http_req *req, struct auth_user *u)
{
    char token[BAUTH_TOKEN_MAX + 1], zone[65] = "";
    struct db_stmt *st;
    int rc = CS_ERR_AUTH, step;

    memset(u, 0, sizeof *u);
    if (vesta_cookie_token(req, token) != CS_OK)
        return CS_ERR_AUTH;
    if ((st = db_stmt(req->db, DB_VESTA_SESSION)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_text(st, 1, token);
    step = db_step(st);
    if (step == DB_ROW) {
        const unsigned char *id = db_col_text(st, 0);
        if (id != NULL && strlen((const char *)id) < sizeof u->id) {
            db_col_copy(st, 0, u->id, sizeof u->id);
            db_col_copy(st, 1, u->email, sizeof u->email);
            db_col_copy(st, 2, zone, sizeof zone);
            rc = CS_OK;
        }
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    if (rc != CS_OK)
        goto out;
    snprintf(u->tz, sizeof u->tz, "%s", vesta_user_zone(zone, req->cfg->default_tz));
    rc = vesta_shadow(req->db, u);
out:
    sodium_memzero(token, sizeof token);
    return rc;
}

const struct host_identity host_identity_vesta = {
    .name = "vesta",
    .session_user = vesta_session_user,
    .own_logins = 0,
    .own_appointments = 1,
};
