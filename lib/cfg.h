/* cfg.h: the process configuration, read once at start-up (DESIGN.md section 2). */
#ifndef CFG_H
#define CFG_H

#include <stddef.h>

#define CFG_TYPES 5 /* APPT_TYPES */

struct cfg {
    char *db_path;     /* CALSYNC_DB: a SQLite path or a mysql:// URL (may hold a password:
                          log it through db_url_redact only) */
    char *db_password; /* from CALSYNC_DB_PASSWORD_FILE, else NULL (then the URL's) */
    unsigned char secret_key[32];
    char *base_url; /* no trailing slash */
    int http_port;
    char *state_dir;
    char *default_tz;
    char *google_client_id; /* NULL when Google is not configured */
    char *google_client_secret;
    char *webhook_url; /* "" means polling only */
    char *webhook_secret;
    char *auth_url, *token_url, *revoke_url, *api_url, *batch_url;
    int log_level;         /* enum log_level: CALSYNC_LOG_LEVEL debug|info|warn|error */
    int http_timeout_ms;   /* per Google call */
    int sync_budget_ms;    /* how long one sync may keep retrying */
    int push_delay_ms;     /* a local change's push job waits this long (coalesces edits) */
    int poll_interval_s;   /* polling sync period for integrations without a channel */
    int channel_ttl_s;     /* requested push channel lifetime */
    int renew_before_s;    /* renew channels expiring within this */
    int webhook_settle_ms; /* how long a notification's sync waits for the rest of a burst */
    int usage_pause_s;     /* Google's usage limits (403 quotaExceeded): writes wait this long */
    char *worker_socket;   /* UNIX datagram socket calsync-worker is woken on ("" = none) */
    int worker_poll_ms;    /* calsync-worker looks for due jobs at least this often */
    int job_lease_ms;      /* a claimed job another worker may take over once this lapses */
    /* Google event colorId ("1".."11") of each appointment type, in appt_type_index order */
    char type_colors[CFG_TYPES][3];

    char *secret_key_file; /* CALSYNC_SECRET_KEY_FILE when the key came from it, else NULL */

    int host; /* CALSYNC_HOST: enum cfg_host */
    /* BETTER_AUTH_SECRET (or the first line of BETTER_AUTH_SECRET_FILE): the host's session
     * signing key, raw bytes (vesta); NULL otherwise. Never logged. */
    unsigned char *bauth_secret;
    size_t bauth_secret_len;
    int feed_ms; /* CALSYNC_FEED_MS: how often the host's change feed looks (vesta) */

    /* operations (cfg_ops.c) */
    /* CALSYNC_METRICS_TOKEN (or the first line of CALSYNC_METRICS_TOKEN_FILE): the bearer token
     * that opens GET /metrics to other addresses than loopback; NULL: loopback only. Never
     * logged. */
    char *metrics_token;
    char node[64];         /* CALSYNC_NODE: this host in worker heartbeats (default: hostname) */
    int ready_heartbeat_s; /* CALSYNC_READY_HEARTBEAT_S: /readyz wants this node's worker
                              heartbeat younger than this; 0: not checked (no worker here) */
};

/* Where users, sessions and appointments live (DESIGN.md section 7). */
enum cfg_host { CFG_HOST_STANDALONE = 0, CFG_HOST_VESTA = 1 };

/* Looks a key up; NULL when unset. */
typedef const char *(*cfg_getter)(const char *key, void *ctx);

/* Reads the environment (and the CALSYNC_CONFIG file it names, whose KEY=VALUE lines the
 * environment overrides). On CS_OK *out is filled; free with cfg_free. Else errbuf says why. */
int cfg_load(struct cfg *out, char *errbuf, size_t errlen);
/* Same, from any getter (tests). */
int cfg_load_from(struct cfg *out, cfg_getter get, void *ctx, char *errbuf, size_t errlen);
void cfg_free(struct cfg *c);
/* Reads CALSYNC_TYPE_COLORS ("Visita:9,Firma:3,...": a type spelled as stored, a colon, a
 * Google event colorId 1..11; each type at most once; types not named keep what out holds)
 * into out. CS_OK, or CS_ERR_CONFIG with errbuf saying which entry is wrong. */
int cfg_type_colors_parse(const char *s, char out[CFG_TYPES][3], char *errbuf, size_t errlen);
/* True when the Google client is configured. */
int cfg_google_enabled(const struct cfg *c);

/* Sets the private umask (cs_secure_umask), then loads the config or exits with a clear
 * message on stderr (used by every program's main). */
void cfg_load_or_die(struct cfg *out);

#endif
