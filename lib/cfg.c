/* cfg.c: the configuration read through a getter, each value validated, and its release. */
#include "cfg.h"
#include "cfg_int.h"
#include "log.h"
#include "cs.h"
#include "cal.h"
#include "appt.h"
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

char *cfg_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

static int cfg_str(char **dst, const char *v, const char *def)
{
    if (v == NULL)
        v = def;
    if (v == NULL) {
        *dst = NULL;
        return CS_OK;
    }
    *dst = strdup(v);
    return *dst ? CS_OK : CS_ERR_NOMEM;
}

static int cfg_int(int *dst, const char *key, const char *v, long def, long lo, long hi,
                   char *errbuf, size_t errlen)
{
    char *end;
    long n;

    if (v == NULL || *v == '\0') {
        *dst = (int)def;
        return CS_OK;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < lo || n > hi)
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "%s: expected an integer in [%ld, %ld]", key,
                       lo, hi);
    *dst = (int)n;
    return CS_OK;
}

static int cfg_url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (; *u; u++)
        if ((unsigned char)*u <= ' ' || *u == 0x7f)
            return 0;
    return 1;
}

static int cfg_secret_key(struct cfg *c, cfg_getter get, void *ctx, char *errbuf, size_t errlen)
{
    const char *hex = get("CALSYNC_SECRET_KEY", ctx);
    const char *file = get("CALSYNC_SECRET_KEY_FILE", ctx);
    char fbuf[160];
    size_t binlen = 0;
    const char *end = NULL;
    int rc = CS_OK;

    if ((hex == NULL || *hex == '\0') && file != NULL && *file != '\0') {
        FILE *fp = fopen(file, "r");
        if (fp == NULL)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG, "CALSYNC_SECRET_KEY_FILE: cannot open %s",
                           file);
        if ((c->secret_key_file = strdup(file)) == NULL) { /* for calsync-admin doctor */
            fclose(fp);
            return CS_ERR_NOMEM;
        }
        if (fgets(fbuf, sizeof fbuf, fp) == NULL)
            fbuf[0] = '\0';
        fclose(fp);
        hex = cfg_trim(fbuf);
    }
    if (hex == NULL || *hex == '\0')
        return cs_fail(
            errbuf, errlen, CS_ERR_CONFIG,
            "CALSYNC_SECRET_KEY (or CALSYNC_SECRET_KEY_FILE) is required: 64 hex digits");
    if (strlen(hex) != 64 ||
        sodium_hex2bin(c->secret_key, sizeof c->secret_key, hex, 64, NULL, &binlen, &end) != 0 ||
        binlen != 32 || (end != NULL && *end != '\0'))
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_SECRET_KEY: expected 64 hex digits (32 bytes)");
    sodium_memzero(fbuf, sizeof fbuf);
    return rc;
}

/* CALSYNC_DB as a mysql:// URL is checked here, so that a bad one stops start-up with a clear
 * message; CALSYNC_DB_PASSWORD_FILE keeps the password out of the environment. */
static int cfg_db(struct cfg *c, cfg_getter get, void *ctx, char *errbuf, size_t errlen)
{
    const char *file = get("CALSYNC_DB_PASSWORD_FILE", ctx);
    struct db_url u;
    char line[512];
    FILE *fp;
    int rc;

    if (!db_url_is_mysql(c->db_path)) {
        if (file != NULL && *file != '\0')
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_DB_PASSWORD_FILE is set but CALSYNC_DB is not a mysql:// URL");
        return CS_OK;
    }
    rc = db_url_parse(c->db_path, &u, errbuf, errlen);
    if (rc == CS_OK && file != NULL && *file != '\0' && u.password[0] != '\0')
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_DB holds a password and CALSYNC_DB_PASSWORD_FILE is set: give it in "
                     "one place");
    sodium_memzero(&u, sizeof u);
    if (rc != CS_OK || file == NULL || *file == '\0')
        return rc;
    if ((fp = fopen(file, "r")) == NULL)
        return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                       "CALSYNC_DB_PASSWORD_FILE: cannot open %s: %s", file, strerror(errno));
    if (fgets(line, sizeof line, fp) == NULL)
        line[0] = '\0';
    fclose(fp);
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || strlen(line) > 256) {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_DB_PASSWORD_FILE: %s must hold the password (1 to 256 bytes) on "
                     "its first line",
                     file);
    } else if ((c->db_password = strdup(line)) == NULL) {
        rc = CS_ERR_NOMEM;
    }
    sodium_memzero(line, sizeof line);
    return rc;
}

int cfg_load_from(struct cfg *c, cfg_getter get, void *ctx, char *errbuf, size_t errlen)
{
    static const struct {
        const char *key;
        size_t off;
        const char *def;
    } urls[] = {
        {"GOOGLE_AUTH_URL", offsetof(struct cfg, auth_url),
         "https://accounts.google.com/o/oauth2/v2/auth"},
        {"GOOGLE_TOKEN_URL", offsetof(struct cfg, token_url),
         "https://oauth2.googleapis.com/token"},
        {"GOOGLE_REVOKE_URL", offsetof(struct cfg, revoke_url),
         "https://oauth2.googleapis.com/revoke"},
        {"GOOGLE_CALENDAR_API_URL", offsetof(struct cfg, api_url),
         "https://www.googleapis.com/calendar/v3"},
        {"GOOGLE_BATCH_URL", offsetof(struct cfg, batch_url),
         "https://www.googleapis.com/batch/calendar/v3"},
    };
    char def[512];
    const char *v;
    int rc;

    memset(c, 0, sizeof *c);
    if (sodium_init() < 0)
        return cs_fail(errbuf, errlen, CS_ERR_CRYPTO, "libsodium failed to initialise");
    if ((rc = cfg_secret_key(c, get, ctx, errbuf, errlen)) != CS_OK)
        goto out;

    if ((rc = cfg_str(&c->state_dir, get("CALSYNC_STATE_DIR", ctx), "var")) != CS_OK)
        goto out;
    snprintf(def, sizeof def, "%s/calsync.db", c->state_dir);
    if ((rc = cfg_str(&c->db_path, get("CALSYNC_DB", ctx), def)) != CS_OK)
        goto out;
    if (*c->db_path == '\0') {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG, "CALSYNC_DB must not be empty");
        goto out;
    }
    if ((rc = cfg_db(c, get, ctx, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_str(&c->base_url, get("CALSYNC_BASE_URL", ctx), "http://127.0.0.1:8080")) !=
        CS_OK)
        goto out;
    while (strlen(c->base_url) > 0 && c->base_url[strlen(c->base_url) - 1] == '/')
        c->base_url[strlen(c->base_url) - 1] = '\0';
    if (!cfg_url_ok(c->base_url)) {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_BASE_URL: expected an http:// or https:// URL");
        goto out;
    }
    if ((rc = cfg_int(&c->http_port, "CALSYNC_HTTP_PORT", get("CALSYNC_HTTP_PORT", ctx), 8080, 1,
                      65535, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_str(&c->default_tz, get("CALSYNC_DEFAULT_TZ", ctx), "Europe/Madrid")) != CS_OK)
        goto out;
    if (!cal_zone_valid(c->default_tz)) {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG, "CALSYNC_DEFAULT_TZ: unknown time zone '%s'",
                     c->default_tz);
        goto out;
    }

    v = get("GOOGLE_CLIENT_ID", ctx);
    if (v != NULL && *v != '\0') {
        if ((rc = cfg_str(&c->google_client_id, v, NULL)) != CS_OK)
            goto out;
        v = get("GOOGLE_CLIENT_SECRET", ctx);
        if (v == NULL || *v == '\0') {
            rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                         "GOOGLE_CLIENT_SECRET is required when GOOGLE_CLIENT_ID is set");
            goto out;
        }
        if ((rc = cfg_str(&c->google_client_secret, v, NULL)) != CS_OK)
            goto out;
    }
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char **dst = (char **)((char *)c + urls[i].off);
        if ((rc = cfg_str(dst, get(urls[i].key, ctx), urls[i].def)) != CS_OK)
            goto out;
        if (!cfg_url_ok(*dst)) {
            rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG, "%s: expected an http(s) URL", urls[i].key);
            goto out;
        }
    }
    snprintf(def, sizeof def, "%s/api/google/calendar/webhook", c->base_url);
    if ((rc = cfg_str(&c->webhook_url, get("GOOGLE_CALENDAR_WEBHOOK_URL", ctx), def)) != CS_OK)
        goto out;
    if (*c->webhook_url != '\0' && !cfg_url_ok(c->webhook_url)) {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "GOOGLE_CALENDAR_WEBHOOK_URL: expected an http(s) URL or empty");
        goto out;
    }
    if ((rc = cfg_str(&c->webhook_secret, get("GOOGLE_CALENDAR_WEBHOOK_SECRET", ctx), "")) != CS_OK)
        goto out;
    if (*c->webhook_url != '\0' && c->google_client_id != NULL && strlen(c->webhook_secret) < 16) {
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "GOOGLE_CALENDAR_WEBHOOK_SECRET (16+ characters) is required with webhooks; "
                     "set GOOGLE_CALENDAR_WEBHOOK_URL= (empty) for polling only");
        goto out;
    }
    v = get("CALSYNC_LOG_LEVEL", ctx);
    {
        enum log_level lvl = LOG_INFO;
        if (v != NULL && *v != '\0' && log_level_parse(v, &lvl) != 0) {
            rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                         "CALSYNC_LOG_LEVEL: expected debug, info, warn or error");
            goto out;
        }
        c->log_level = (int)lvl;
    }
    if ((rc = cfg_int(&c->http_timeout_ms, "CALSYNC_HTTP_TIMEOUT_MS",
                      get("CALSYNC_HTTP_TIMEOUT_MS", ctx), 10000, 100, 120000, errbuf, errlen)) !=
        CS_OK)
        goto out;
    if ((rc = cfg_int(&c->sync_budget_ms, "CALSYNC_SYNC_BUDGET_MS",
                      get("CALSYNC_SYNC_BUDGET_MS", ctx), 30000, 100, 600000, errbuf, errlen)) !=
        CS_OK)
        goto out;
    if ((rc = cfg_int(&c->push_delay_ms, "CALSYNC_PUSH_DELAY_MS", get("CALSYNC_PUSH_DELAY_MS", ctx),
                      0, 0, 24 * 3600 * 1000, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_int(&c->poll_interval_s, "CALSYNC_POLL_INTERVAL",
                      get("CALSYNC_POLL_INTERVAL", ctx), 300, 1, 86400, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_int(&c->channel_ttl_s, "CALSYNC_CHANNEL_TTL", get("CALSYNC_CHANNEL_TTL", ctx),
                      7 * 86400, 60, 30 * 86400, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_int(&c->renew_before_s, "CALSYNC_RENEW_BEFORE", get("CALSYNC_RENEW_BEFORE", ctx),
                      48 * 3600, 0, 30 * 86400, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_int(&c->webhook_settle_ms, "CALSYNC_WEBHOOK_SETTLE_MS",
                      get("CALSYNC_WEBHOOK_SETTLE_MS", ctx), 150, 0, 10000, errbuf, errlen)) !=
        CS_OK)
        goto out;
    /* "users should be able to edit their calendars normally again within several hours"
     * (support.google.com/a/answer/2905486): 3 h, then the writes are tried again */
    if ((rc = cfg_int(&c->usage_pause_s, "CALSYNC_USAGE_PAUSE_S", get("CALSYNC_USAGE_PAUSE_S", ctx),
                      3 * 3600, 1, 7 * 86400, errbuf, errlen)) != CS_OK)
        goto out;
    snprintf(def, sizeof def, "%s/run/worker.sock", c->state_dir);
    if ((rc = cfg_str(&c->worker_socket, get("CALSYNC_WORKER_SOCKET", ctx), def)) != CS_OK)
        goto out;
    if (strlen(c->worker_socket) >= 100) { /* sun_path holds 108 bytes */
        rc = cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                     "CALSYNC_WORKER_SOCKET: path too long (at most 99 bytes)");
        goto out;
    }
    if ((rc = cfg_int(&c->job_lease_ms, "CALSYNC_JOB_LEASE_MS", get("CALSYNC_JOB_LEASE_MS", ctx),
                      20000, 1000, 600000, errbuf, errlen)) != CS_OK)
        goto out;
    if ((rc = cfg_int(&c->worker_poll_ms, "CALSYNC_WORKER_POLL_MS",
                      get("CALSYNC_WORKER_POLL_MS", ctx), 200, 10, 60000, errbuf, errlen)) != CS_OK)
        goto out;
    {
        /* the page's colours (app.css): Visita blue, Reunión violet, Firma green, Cierre
         * orange, Viaje cyan -> Blueberry, Grape, Basil, Tangerine, Peacock */
        static const char defaults[CFG_TYPES][3] = {"9", "3", "10", "6", "7"};
        memcpy(c->type_colors, defaults, sizeof defaults);
        if ((rc = cfg_type_colors_parse(get("CALSYNC_TYPE_COLORS", ctx), c->type_colors, errbuf,
                                        errlen)) != CS_OK)
            goto out;
    }
    if ((rc = cfg_host_load(c, get, ctx, errbuf, errlen)) != CS_OK)
        goto out;
    rc = cfg_ops_load(c, get, ctx, errbuf, errlen);
out:
    if (rc != CS_OK)
        cfg_free(c);
    return rc;
}

int cfg_type_colors_parse(const char *s, char out[CFG_TYPES][3], char *errbuf, size_t errlen)
{
    char tmp[CFG_TYPES][3];
    int seen[CFG_TYPES] = {0};
    const char *p = s;

    _Static_assert(CFG_TYPES == APPT_TYPES, "one colour per appointment type");
    memcpy(tmp, out, sizeof tmp);
    if (s == NULL || *s == '\0')
        return CS_OK;
    for (;;) {
        size_t n = strcspn(p, ","), tl;
        const char *colon = memchr(p, ':', n), *num;
        char type[32];
        long v = 0;
        int i, digits = 0;

        if (colon == NULL || colon == p || (tl = (size_t)(colon - p)) >= sizeof type)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_TYPE_COLORS: expected TYPE:COLOR entries separated by commas "
                           "(e.g. Visita:9,Firma:3), got '%.*s'",
                           (int)(n > 40 ? 40 : n), p);
        memcpy(type, p, tl);
        type[tl] = '\0';
        if ((i = appt_type_index(type)) < 0)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_TYPE_COLORS: unknown type '%s' (types: Visita, Reunión, Firma, "
                           "Cierre, Viaje)",
                           type);
        if (seen[i]++)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_TYPE_COLORS: type '%s' is given twice", type);
        for (num = colon + 1; num < p + n && *num >= '0' && *num <= '9' && digits < 3;
             num++, digits++)
            v = v * 10 + (*num - '0');
        if (digits == 0 || num != p + n || v < 1 || v > 11)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "CALSYNC_TYPE_COLORS: the colour of '%s' must be a Google event colorId "
                           "from 1 to 11",
                           type);
        snprintf(tmp[i], sizeof tmp[i], "%ld", v);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    memcpy(out, tmp, sizeof tmp);
    return CS_OK;
}

void cfg_free(struct cfg *c)
{
    char **strs[] = {&c->db_path,
                     &c->db_password,
                     &c->base_url,
                     &c->state_dir,
                     &c->default_tz,
                     &c->google_client_id,
                     &c->google_client_secret,
                     &c->webhook_url,
                     &c->webhook_secret,
                     &c->auth_url,
                     &c->token_url,
                     &c->revoke_url,
                     &c->api_url,
                     &c->batch_url,
                     &c->worker_socket};

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        if (*strs[i] != NULL) {
            sodium_memzero(*strs[i], strlen(*strs[i]));
            free(*strs[i]);
            *strs[i] = NULL;
        }
    }
    cfg_host_free(c);
    cfg_ops_free(c);
    free(c->secret_key_file); /* a path, not a secret */
    c->secret_key_file = NULL;
    sodium_memzero(c->secret_key, sizeof c->secret_key);
}

int cfg_google_enabled(const struct cfg *c)
{
    return c->google_client_id != NULL;
}
