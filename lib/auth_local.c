/* auth_local.c: the standalone host's identity: accounts (argon2id), login throttling, sessions
 * stored as token hashes, and its identity source table. */
#include "auth_local.h"
#include "host.h"
#include "cal.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "http.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

int auth_email_valid(const char *email)
{
    const char *at;
    size_t n;

    if (email == NULL)
        return 0;
    n = strlen(email);
    if (n < 3 || n > AUTH_EMAIL_MAX)
        return 0;
    for (const char *p = email; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
            return 0;
    at = strchr(email, '@');
    return at != NULL && at != email && at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

static void auth_user_fill(struct db_stmt *st, const struct cfg *cfg, struct auth_user *u)
{
    db_col_copy(st, 0, u->id, sizeof u->id);
    db_col_copy(st, 1, u->email, sizeof u->email);
    db_col_copy(st, 2, u->tz, sizeof u->tz);
    if (u->tz[0] == '\0' && cfg != NULL)
        snprintf(u->tz, sizeof u->tz, "%s", cfg->default_tz);
}

int auth_user_add(struct db *db, const char *email, const char *password, const char *tz,
                  struct auth_user *out, char *errbuf, size_t errlen)
{
    char hash[CRYPT_PWLEN];
    struct db_stmt *st;
    size_t plen = password ? strlen(password) : 0;
    int rc;

    if (!auth_email_valid(email))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "invalid email address");
    if (plen < AUTH_PASSWORD_MIN || plen > AUTH_PASSWORD_MAX)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "password must have %d to %d characters",
                       AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
    if (tz != NULL && !cal_zone_valid(tz))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "unknown time zone '%s'", tz);
    if (crypt_password_hash(password, hash) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_NOMEM, "password hashing failed");
    memset(out, 0, sizeof *out);
    crypt_uuid(out->id);
    snprintf(out->email, sizeof out->email, "%s", email);
    snprintf(out->tz, sizeof out->tz, "%s", tz ? tz : "");
    st = db_stmt(db, DB_USER_INSERT);
    if (st == NULL)
        return cs_fail(errbuf, errlen, CS_ERR_DB, "database error");
    db_bind_text(st, 1, out->id);
    db_bind_text(st, 2, email);
    db_bind_text(st, 3, hash);
    db_bind_text(st, 4, tz);
    db_bind_int64(st, 5, db_now());
    rc = db_exec(db, st);
    sodium_memzero(hash, sizeof hash);
    if (rc == CS_ERR_CONFLICT)
        return cs_fail(errbuf, errlen, rc, "a user with that email already exists");
    if (rc != CS_OK)
        return cs_fail(errbuf, errlen, rc, "database error");
    return CS_OK;
}

/* The keys a login attempt counts under (see auth.h). */
struct auth_keys {
    char pair[AUTH_ADDR_MAX + AUTH_EMAIL_MAX + 2]; /* "address email" */
    char address[AUTH_ADDR_MAX + 1];
    const char *account;
};

static const struct auth_throttle {
    const char *scope;
    int after, base_s, max_s;
} auth_throttles[] = {
    {"pair", AUTH_LOCK_AFTER, AUTH_LOCK_BASE_S, AUTH_LOCK_MAX_S},
    {"address", AUTH_ADDR_LOCK_AFTER, AUTH_LOCK_BASE_S, AUTH_LOCK_MAX_S},
    {"account", AUTH_ACCOUNT_LOCK_AFTER, AUTH_ACCOUNT_LOCK_S, AUTH_ACCOUNT_LOCK_S},
};

static void auth_keys_fill(struct auth_keys *k, const char *email, const char *client_addr)
{
    const char *a = client_addr != NULL && *client_addr != '\0' ? client_addr : "unknown";

    snprintf(k->address, sizeof k->address, "%s", a);
    snprintf(k->pair, sizeof k->pair, "%s %s", k->address, email);
    k->account = email;
}

static const char *auth_key_of(const struct auth_keys *k, const char *scope)
{
    return strcmp(scope, "pair") == 0      ? k->pair
           : strcmp(scope, "address") == 0 ? k->address
                                           : k->account;
}

/* CS_OK when no lock holds; CS_ERR_BUSY with *retry_after seconds when one does. */
static int auth_throttle_check(struct db *db, const struct auth_keys *k, long *retry_after)
{
    struct db_stmt *st = db_stmt(db, DB_LOGIN_LOCKED);
    long long now = db_now();

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, k->pair);
    db_bind_text(st, 2, k->address);
    db_bind_text(st, 3, k->account);
    if (db_step(st) == DB_ROW && db_col_int64(st, 1) > now) {
        *retry_after = (long)(db_col_int64(st, 1) - now);
        log_warn("login refused: %s locked for %ld s", (const char *)db_col_text(st, 0),
                 *retry_after);
    }
    db_reset(st);
    return *retry_after > 0 ? CS_ERR_BUSY : CS_OK;
}

/* Counts a failure under each key, forgetting idle rows and keeping the table bounded. */
static int auth_throttle_fail(struct db *db, const struct auth_keys *k)
{
    long long now = db_now();
    struct db_stmt *st;
    int rc = db_begin(db);

    if (rc != CS_OK)
        return rc;
    if ((st = db_stmt(db, DB_LOGIN_PURGE)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, now - AUTH_FAIL_TTL_S);
    if ((rc = db_exec(db, st)) != CS_OK)
        goto out;
    for (size_t i = 0; i < sizeof auth_throttles / sizeof auth_throttles[0]; i++) {
        const struct auth_throttle *t = &auth_throttles[i];
        if ((st = db_stmt(db, DB_LOGIN_FAILED)) == NULL) {
            rc = CS_ERR_DB;
            goto out;
        }
        db_bind_text(st, 1, t->scope);
        db_bind_text(st, 2, auth_key_of(k, t->scope));
        db_bind_int64(st, 3, now);
        db_bind_int(st, 4, t->after);
        db_bind_int(st, 5, t->base_s);
        db_bind_int(st, 6, t->max_s);
        if ((rc = db_exec(db, st)) != CS_OK)
            goto out;
    }
    if ((st = db_stmt(db, DB_LOGIN_CAP)) == NULL) {
        rc = CS_ERR_DB;
        goto out;
    }
    db_bind_int64(st, 1, now);
    db_bind_int(st, 2, AUTH_FAIL_ROWS_MAX);
    rc = db_exec(db, st);
out:
    rc = db_end(db, rc);
    return rc;
}

int auth_login(struct db *db, const struct cfg *cfg, const char *email, const char *password,
               const char *client_addr, struct auth_user *u, char token[CRYPT_TOKLEN],
               long *retry_after)
{
    /* A fixed hash to verify against when the user is unknown, so timing does not tell. */
    static char dummy[CRYPT_PWLEN];
    char hash[CRYPT_PWLEN] = "", th[CRYPT_HEXLEN];
    struct auth_keys k;
    struct db_stmt *st;
    int found = 0, ok, rc;

    *retry_after = 0;
    if (dummy[0] == '\0' && crypt_password_hash("calsync-dummy-password", dummy) != CS_OK)
        return CS_ERR_NOMEM;
    auth_keys_fill(&k, email, client_addr);
    if ((rc = auth_throttle_check(db, &k, retry_after)) != CS_OK)
        return rc;
    st = db_stmt(db, DB_USER_BY_EMAIL);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, email);
    if (db_step(st) == DB_ROW) {
        auth_user_fill(st, cfg, u);
        db_col_copy(st, 3, hash, sizeof hash);
        found = 1;
    }
    db_reset(st);
    ok = crypt_password_verify(found ? hash : dummy, password) && found;
    sodium_memzero(hash, sizeof hash);
    /* failures count per account, known or not, so locking tells nothing either */
    if (!ok)
        return auth_throttle_fail(db, &k) == CS_OK ? CS_ERR_AUTH : CS_ERR_DB;
    st = db_stmt(db, DB_LOGIN_OK);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, k.pair);
    if (db_exec(db, st) != CS_OK)
        return CS_ERR_DB;
    crypt_random_token(token, 32);
    crypt_sha256_hex(token, strlen(token), th);
    st = db_stmt(db, DB_SESSION_INSERT);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, th);
    db_bind_text(st, 2, u->id);
    db_bind_int64(st, 3, db_now() + AUTH_SESSION_TTL);
    db_bind_int64(st, 4, db_now());
    if (db_exec(db, st) != CS_OK)
        return CS_ERR_DB;
    st = db_stmt(db, DB_SESSION_PURGE);
    if (st != NULL) {
        db_bind_int64(st, 1, db_now());
        db_exec(db, st);
    }
    return CS_OK;
}

int auth_login_fields(const cJSON *body, const char **email, const char **password)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "email");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(body, "password");

    *email = *password = NULL;
    if (!cJSON_IsString(e) || !cJSON_IsString(p))
        return CS_ERR_INVAL;
    if (strlen(e->valuestring) > AUTH_EMAIL_MAX || strlen(p->valuestring) > AUTH_PASSWORD_MAX)
        return CS_ERR_TOOBIG;
    *email = e->valuestring;
    *password = p->valuestring;
    return CS_OK;
}

/* Sessions a route process checked lately: valid while nothing was committed to the store
 * since (a logout, an expiry purge or a deleted user moves its data version) and until they
 * expire. The page polls every few seconds with the same cookie. */
#define AUTH_SESSION_CACHE 4
static struct {
    char token_hash[CRYPT_HEXLEN];
    long long version, expires_at;
    struct auth_user user;
    unsigned long used;
} auth_sessions[AUTH_SESSION_CACHE];
static unsigned long auth_clock;

int auth_session_user(struct db *db, const struct cfg *cfg, const char *token, struct auth_user *u)
{
    char th[CRYPT_HEXLEN];
    struct db_stmt *st;
    long long version, now = db_now();
    int rc = CS_ERR_AUTH, victim = 0;

    if (token == NULL || strlen(token) < 16 || strlen(token) >= CRYPT_TOKLEN)
        return CS_ERR_AUTH;
    crypt_sha256_hex(token, strlen(token), th);
    version = db_data_version(db);
    for (int i = 0; i < AUTH_SESSION_CACHE && version >= 0; i++)
        if (auth_sessions[i].version == version && auth_sessions[i].expires_at > now &&
            crypt_str_eq(auth_sessions[i].token_hash, th)) {
            *u = auth_sessions[i].user;
            auth_sessions[i].used = ++auth_clock;
            return CS_OK;
        }
    st = db_stmt(db, DB_SESSION_GET);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, th);
    db_bind_int64(st, 2, now);
    if (db_step(st) == DB_ROW) {
        auth_user_fill(st, cfg, u);
        for (int i = 1; i < AUTH_SESSION_CACHE; i++)
            if (auth_sessions[i].used < auth_sessions[victim].used)
                victim = i;
        if (version >= 0) {
            snprintf(auth_sessions[victim].token_hash, CRYPT_HEXLEN, "%s", th);
            auth_sessions[victim].version = version;
            auth_sessions[victim].expires_at = db_col_int64(st, 3);
            auth_sessions[victim].user = *u;
            auth_sessions[victim].used = ++auth_clock;
        }
        rc = CS_OK;
    }
    db_reset(st);
    return rc;
}

int auth_logout(struct db *db, const char *token)
{
    char th[CRYPT_HEXLEN];
    struct db_stmt *st;

    crypt_sha256_hex(token, strlen(token), th);
    st = db_stmt(db, DB_SESSION_DELETE);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, th);
    return db_exec(db, st);
}

void auth_cookie_header(const struct cfg *cfg, const char *token, long max_age, char *out,
                        size_t outlen)
{
    int secure = strncmp(cfg->base_url, "https://", 8) == 0;

    snprintf(out, outlen, "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%ld%s\r\n",
             AUTH_COOKIE, token, max_age, secure ? "; Secure" : "");
}

/* The standalone host's identity source: calsync's own cookie and sessions table. */
static int auth_local_session_of(struct http_req *req, struct auth_user *u)
{
    char token[CRYPT_TOKLEN];
    int rc;

    if (http_cookie_get(req, AUTH_COOKIE, token, sizeof token) != CS_OK)
        return CS_ERR_AUTH;
    rc = auth_session_user(req->db, req->cfg, token, u);
    sodium_memzero(token, sizeof token);
    return rc;
}

const struct host_identity host_identity_standalone = {
    .name = "standalone",
    .session_user = auth_local_session_of,
    .own_logins = 1,
    .own_appointments = 1,
};
