/* auth.h: users, password login, cookie sessions and the CSRF rule. */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>

#include "crypt.h"

struct db;
struct cfg;
struct http_req;

#define AUTH_COOKIE "calsync_session"
#define AUTH_SESSION_TTL (14 * 86400)
#define AUTH_EMAIL_MAX 254
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 1024

struct auth_user {
    char id[CRYPT_UUIDLEN];
    char email[AUTH_EMAIL_MAX + 1];
    char tz[65]; /* the user's zone, or the configured default */
};

/* True for a plausible address: one '@', no spaces or control characters, bounded. */
int auth_email_valid(const char *email);
/* Creates a user. CS_OK, CS_ERR_INVAL (bad email/password/zone: errbuf says), CS_ERR_CONFLICT
 * (email taken) or CS_ERR_DB. */
int auth_user_add(struct db *db, const char *email, const char *password, const char *tz,
                  struct auth_user *out, char *errbuf, size_t errlen);
#define AUTH_LOCK_AFTER 5   /* failures in a row before an address is locked */
#define AUTH_LOCK_BASE_S 30 /* first lock; doubles with every further failure */
#define AUTH_LOCK_MAX_S 900

/* Checks a password and opens a session: on CS_OK token holds the cookie value (only its hash
 * is stored). CS_ERR_AUTH on bad credentials; CS_ERR_BUSY while the address is locked after
 * repeated failures (*retry_after then says for how many seconds). */
int auth_login(struct db *db, const struct cfg *cfg, const char *email, const char *password,
               struct auth_user *u, char token[CRYPT_TOKLEN], long *retry_after);
/* Resolves a session cookie value to its user; CS_ERR_AUTH when unknown or expired. */
int auth_session_user(struct db *db, const struct cfg *cfg, const char *token, struct auth_user *u);
int auth_logout(struct db *db, const char *token);

/* The session user of a request without answering: CS_OK or CS_ERR_AUTH. */
int auth_session_of(struct http_req *req, struct auth_user *u);
/* For routes: fills u from the request's cookie, or answers 401 and returns CS_ERR_AUTH. */
int auth_require(struct http_req *req, struct auth_user *u);
/* For state-changing routes: JSON content type (else 415) and a matching Origin when present
 * (else 403). Answers and returns non-CS_OK on refusal. */
int auth_check_write(struct http_req *req);
/* Same-origin check alone (for state-changing routes without a body). */
int auth_check_origin(struct http_req *req);
/* Builds the Set-Cookie header line ("Set-Cookie: ...\r\n"); max_age 0 clears it. */
void auth_cookie_header(const struct cfg *cfg, const char *token, long max_age, char *out,
                        size_t outlen);

#endif
