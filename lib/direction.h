/* direction.h: a user's sync direction: which ways changes move between the host and Google. */
#ifndef DIRECTION_H
#define DIRECTION_H

struct db;

enum direction {
    DIR_BIDIRECTIONAL = 0, /* both ways (default for new connections) */
    DIR_VESTA_TO_GOOGLE,   /* the host's changes go to Google; Google's are not applied */
    DIR_GOOGLE_TO_VESTA,   /* Google's changes are applied; the host's wait in the outbox */
    DIR_NONE,              /* paused: nothing moves, nothing is lost */
    DIR__MAX
};

/* The name in the API ("bidirectional", ...), and back: -1 for anything else. */
const char *direction_name(enum direction d);
int direction_parse(const char *s);
/* Whether changes go to Google / come from Google under d. */
int direction_pushes(enum direction d);
int direction_pulls(enum direction d);
/* The user's setting (DIR_BIDIRECTIONAL when unset or unknown); CS_ERR_DB on a store error. */
int direction_get(struct db *db, const char *user_id, enum direction *out);
int direction_set(struct db *db, const char *user_id, enum direction d);

#endif
