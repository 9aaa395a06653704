/* integ.h: the user's Google Calendar integration row (tokens sealed at rest). */
#ifndef INTEG_H
#define INTEG_H

#include "crypt.h"

struct db;
struct cfg;

struct integ {
    long long id;
    char user_id[CRYPT_UUIDLEN];
    char *access_token, *refresh_token; /* sealed; NULL when absent */
    long long expiry;                   /* epoch seconds */
    char calendar_id[256];
    char *sync_token;
    char *channel_id, *resource_id, *channel_token_hash;
    long long channel_expiration; /* epoch ms */
    int is_active;
    char state[20];
    long long last_sync_at;
    char *last_error;
    long long next_poll_at;
    long long updated_at;  /* epoch s */
    long long epoch;       /* bumped by every connect and disconnect */
    char calendar_kind[8]; /* "primary" or "vesta" (calendar_id "" until the job ensured it) */
    char *progress;        /* JSON of a long run's progress, or NULL */
};

/* Loads the user's row; CS_ERR_NOTFOUND when never connected. Free with integ_free. */
int integ_get(struct db *db, const char *user_id, struct integ *out);
void integ_free(struct integ *in);
/* 1 when the user has an active integration, else 0. */
int integ_is_connected(struct db *db, const char *user_id);
/* Sets state and last_error (NULL clears) of an active integration. */
int integ_set_state(struct db *db, const char *user_id, const char *state, const char *error);

#define INTEG_ADLEN 96
/* The associated data a sealed field of a user's row is bound to (crypt_seal_ad):
 * "<field>:<user id>", field being "access_token", "refresh_token", "pkce" or "cleanup"
 * (what a disconnect keeps for telling Google). */
void integ_token_ad(const char *field, const char *user_id, char out[INTEG_ADLEN]);
/* Re-seals every legacy "v1:" token of user_integrations as "v2:" bound to its row and field.
 * Idempotent; a row changed meanwhile is left to the next run. *n counts the rows rewritten.
 * CS_OK, or CS_ERR_CRYPTO (a value does not open under key: errbuf names the user) / CS_ERR_DB. */
int integ_reseal_legacy(struct db *db, const unsigned char key[32], int *n, char *errbuf,
                        size_t errlen);

#endif
