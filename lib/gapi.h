/* gapi.h: Google OAuth 2.0 and Calendar v3 over libcurl, with token refresh and backoff. */
#ifndef GAPI_H
#define GAPI_H

#include <cjson/cJSON.h>

#include "buf.h"
#include "crypt.h"

struct cfg;
struct db;

#define GAPI_REPLY_MAX (8 * 1024 * 1024)

struct gapi_resp {
    long status;     /* HTTP status; 0 when no answer arrived */
    struct buf body; /* capped at GAPI_REPLY_MAX inside the write callback */
    cJSON *json;     /* parsed body, or NULL */
    char reason[64]; /* Google's error reason, or the OAuth "error" code */
    char message[256];
    long retry_after; /* seconds, -1 when absent */
    int truncated;    /* the reply went over the cap and was cut off */
    char ctype[160];  /* the reply's Content-Type */
};

/* Frees what a response holds; safe on a zeroed struct. */
void gapi_resp_free(struct gapi_resp *r);
/* Initialises libcurl (and its TLS library) once, in the process that forks the workers: they
 * inherit it instead of each doing it on its first call. CS_OK or CS_ERR_NOMEM. */
int gapi_global_init(void);
/* One response header line (len bytes, CRLF included or not) into r: Content-Type and
 * Retry-After (delta seconds below an hour; anything else is ignored). */
void gapi_header_parse(struct gapi_resp *r, const char *line, size_t len);
/* Google's error reason and message out of r->json (Calendar's {"error":{"errors":[{reason}],
 * message}} or OAuth's {"error": code, "error_description": text}) into r->reason/message. */
void gapi_parse_error(struct gapi_resp *r);

/* One HTTP exchange, no retries. body may be NULL; ctype applies to it. Returns CS_OK when an
 * answer arrived (whatever its status), CS_ERR_NET / CS_ERR_TOOBIG otherwise. Free out. */
int gapi_http(const struct cfg *cfg, const char *method, const char *url, const char *bearer,
              const char *ctype, const char *body, const char *if_match, struct gapi_resp *out);

struct gapi_tokens {
    char *access, *refresh, *scope; /* refresh may be NULL */
    long expires_in;
};
void gapi_tokens_free(struct gapi_tokens *t);
#define GAPI_TOKEN_MAX 4096             /* longest access/refresh token (and scope list) taken */
#define GAPI_EXPIRES_MAX (366L * 86400) /* longest expires_in taken */
/* Reads a token endpoint answer (len bytes of JSON): access_token and expires_in required,
 * refresh_token and scope optional; tokens must be printable ASCII without spaces (they go
 * into headers). CS_OK (free t with gapi_tokens_free), CS_ERR_GOOGLE (malformed) or
 * CS_ERR_NOMEM. */
int gapi_tokens_parse(const char *body, size_t len, struct gapi_tokens *t);
/* authorization_code grant with the PKCE verifier. CS_OK, CS_ERR_AUTH (Google refused: reason
 * in errbuf), CS_ERR_NET. Free t with gapi_tokens_free iff CS_OK. */
int gapi_token_exchange(const struct cfg *cfg, const char *code, const char *verifier,
                        struct gapi_tokens *t, char *errbuf, size_t errlen);
/* refresh_token grant. CS_ERR_REAUTH on invalid_grant. */
int gapi_token_refresh(const struct cfg *cfg, const char *refresh, struct gapi_tokens *t,
                       char *errbuf, size_t errlen);
/* Revokes a token; CS_OK when Google accepted or already forgot it. */
int gapi_revoke(const struct cfg *cfg, const char *token);

/* A user's authorised Calendar client. */
struct gapi {
    struct db *db;
    const struct cfg *cfg;
    char user_id[CRYPT_UUIDLEN];
    char *access, *refresh; /* plaintext, zeroed on close */
    long long expiry;       /* epoch s */
    long long deadline_ms;  /* monotonic ms after which retries stop */
    int calls;              /* Google calls made, for the log */
    long long epoch;        /* the connection the tokens belong to */
    int detached;           /* tokens handed over (cleanup after a disconnect): no store */
    long long retry_at_ms;  /* after CS_ERR_RATELIMIT: when Google may be asked again */
    long long backoff_attempts;
    /* called before every attempt; non-CS_OK stops the call (e.g. the job was cancelled) */
    int (*alive)(void *ctx);
    void *alive_ctx;
};

/* Loads and decrypts the user's tokens. CS_ERR_REAUTH when there are none usable.
 * budget_ms bounds the retries of every later call. Before each call the connection is checked:
 * when the user disconnected (or reconnected) since, the call fails with CS_ERR_NOTFOUND and
 * nothing reaches Google. Close with gapi_close iff CS_OK. */
int gapi_open(struct gapi *g, struct db *db, const struct cfg *cfg, const char *user_id,
              long long budget_ms);
/* A client over tokens handed in (plaintext, copied; access may be NULL) that never touches the
 * store: for the clean-up after a disconnect. Close with gapi_close iff CS_OK. */
int gapi_open_detached(struct gapi *g, const struct cfg *cfg, const char *user_id,
                       const char *access, const char *refresh, long long budget_ms);
void gapi_close(struct gapi *g);
/* A Calendar call on path (relative to GOOGLE_CALENDAR_API_URL, query included). Refreshes the
 * token when near expiry and once on 401; retries 429, rate-limit 403s, 5xx and transport
 * errors with exponential backoff and jitter (honouring Retry-After) within the budget.
 * Every retryable answer moves the integration's shared backoff (Retry-After, or exponential
 * with jitter), which every process honours; when the wait would pass the budget the call gives
 * up with CS_ERR_RATELIMIT and g->retry_at_ms says when to try again.
 * CS_OK: out holds a final answer (2xx or a non-retryable error: the caller judges).
 * CS_ERR_REAUTH: grant revoked (tokens wiped, state reauth_required). CS_ERR_CONFIG: Google
 * refused calsync's own client credentials (tokens kept). CS_ERR_RATELIMIT /
 * CS_ERR_NET: gave up within the budget (out holds the last answer). CS_ERR_NOTFOUND: the
 * connection is gone (disconnected). Free out either way. */
int gapi_call(struct gapi *g, const char *method, const char *path, const cJSON *body,
              const char *if_match, struct gapi_resp *out);
/* When the quota day after now_ms starts: midnight Pacific time, when Google's daily quotas
 * reset (403 dailyLimitExceeded waits for it). */
long long gapi_next_quota_day_ms(long long now_ms);
#define GAPI_BATCH_MAX 50
/* Sends n (<= GAPI_BATCH_MAX) Calendar requests in one batch call to GOOGLE_BATCH_URL; paths are
 * relative to GOOGLE_CALENDAR_API_URL, bodies may be NULL. On CS_OK outs[i] holds the answer
 * to request i (free each with gapi_resp_free, whatever the result); otherwise the caller
 * falls back to single calls. */
int gapi_batch(struct gapi *g, size_t n, const char *const *methods, const char *const *paths,
               cJSON *const *bodies, struct gapi_resp *outs);
/* Reads a multipart/mixed batch answer (ctype names its boundary; body NUL-terminated at len)
 * into outs[0..n): returns how many parts were read. Free each read out with gapi_resp_free. */
size_t gapi_batch_parse(const char *ctype, const char *body, size_t len, struct gapi_resp *outs,
                        size_t n);
/* Percent-encodes a path segment into b. */
int gapi_path_segment(struct buf *b, const char *s);

/* Reads an events list page: items (NULL when absent), nextPageToken and nextSyncToken
 * (NULL when absent; printable tokens without spaces, bounded), pointing into page.
 * CS_OK or CS_ERR_GOOGLE (not a page). */
int gapi_page_parse(const cJSON *page, const cJSON **items, const char **next_page,
                    const char **next_sync);
/* Reads an events/watch answer: resourceId (required, a bounded printable token) and
 * expiration (ms since the epoch, as Google's int64 string or a number; -1 when absent),
 * pointing into ans. CS_OK or CS_ERR_GOOGLE. */
int gapi_watch_parse(const cJSON *ans, const char **resource_id, long long *expiration_ms);

/* Stores tokens sealed for user: on connect (a new connection epoch starts), or after a refresh
 * (only into the connection epoch they belong to). */
int gapi_store_tokens(struct db *db, const struct cfg *cfg, const char *user_id,
                      const struct gapi_tokens *t, int connect, long long epoch);

#endif
