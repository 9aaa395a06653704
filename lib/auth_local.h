/* auth_local.h: the standalone host's users, password logins and cookie sessions. */
#ifndef AUTH_LOCAL_H
#define AUTH_LOCAL_H

#include <stddef.h>
#include <cjson/cJSON.h>

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
/* Login throttling (README "Security"). Failed logins count in three places, each its own lock:
 * - the (account, client address) pair: strict, so one client guessing one password is slow;
 * - the client address, whatever the accounts: stops one client spraying many accounts;
 * - the account, whatever the addresses: lenient and short, so guessing from many addresses is
 *   slowed down while an attacker can never keep the owner out for more than a minute.
 * A success clears its pair only (a client cannot reset its counts by logging into an account
 * of its own); counts idle for AUTH_FAIL_TTL_S are forgotten; the table holds at most
 * AUTH_FAIL_ROWS_MAX rows (the oldest unlocked go first). */
#define AUTH_LOCK_AFTER 5   /* failures of one pair before it is locked */
#define AUTH_LOCK_BASE_S 30 /* first lock; doubles with every further failure: 30 s .. 15 min */
#define AUTH_LOCK_MAX_S 900
#define AUTH_ADDR_LOCK_AFTER 20    /* failures from one address, any accounts */
#define AUTH_ACCOUNT_LOCK_AFTER 20 /* failures on one account, any addresses */
#define AUTH_ACCOUNT_LOCK_S 60     /* flat: does not grow */
#define AUTH_FAIL_TTL_S 86400
#define AUTH_FAIL_ROWS_MAX 50000
#define AUTH_ADDR_MAX 64 /* longer client addresses are cut (IPv6 text is at most 45) */

/* Checks a password and opens a session: on CS_OK token holds the cookie value (only its hash
 * is stored). client_addr is the client's address (REMOTE_ADDR; NULL or "" counts as
 * "unknown"). CS_ERR_AUTH on bad credentials; CS_ERR_BUSY while a throttle lock holds
 * (*retry_after then says for how many seconds). */
int auth_login(struct db *db, const struct cfg *cfg, const char *email, const char *password,
               const char *client_addr, struct auth_user *u, char token[CRYPT_TOKLEN],
               long *retry_after);
/* The fields of a login body: CS_OK with email and password pointing into body; CS_ERR_INVAL
 * when either is missing or not a string (400); CS_ERR_TOOBIG when one is longer than any
 * account's could be (answered like bad credentials). */
int auth_login_fields(const cJSON *body, const char **email, const char **password);
/* Resolves a session cookie value to its user; CS_ERR_AUTH when unknown or expired. */
int auth_session_user(struct db *db, const struct cfg *cfg, const char *token, struct auth_user *u);
int auth_logout(struct db *db, const char *token);

/* Builds the Set-Cookie header line ("Set-Cookie: ...\r\n"); max_age 0 clears it. */
void auth_cookie_header(const struct cfg *cfg, const char *token, long max_age, char *out,
                        size_t outlen);

#endif
