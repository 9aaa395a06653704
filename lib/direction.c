/* direction.c: the user's sync direction, stored with calsync's row of the user. */
#include "direction.h"
#include "cs.h"
#include "db.h"

#include <string.h>

static const char *const direction_names[DIR__MAX] = {"bidirectional", "vesta_to_google",
                                                      "google_to_vesta", "none"};

const char *direction_name(enum direction d)
{
    return d >= 0 && d < DIR__MAX ? direction_names[d] : direction_names[0];
}

int direction_parse(const char *s)
{
    for (int i = 0; s != NULL && i < DIR__MAX; i++)
        if (strcmp(s, direction_names[i]) == 0)
            return i;
    return -1;
}

int direction_pushes(enum direction d)
{
    return d == DIR_BIDIRECTIONAL || d == DIR_VESTA_TO_GOOGLE;
}

int direction_pulls(enum direction d)
{
    return d == DIR_BIDIRECTIONAL || d == DIR_GOOGLE_TO_VESTA;
}

int direction_get(struct db *db, const char *user_id, enum direction *out)
{
    struct db_stmt *st = db_stmt(db, DB_USER_GET_DIRECTION);
    int rc = CS_OK, step, d;

    *out = DIR_BIDIRECTIONAL;
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    step = db_step(st);
    if (step == DB_ROW) {
        d = direction_parse((const char *)db_col_text(st, 0));
        if (d >= 0)
            *out = (enum direction)d;
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    return rc;
}

int direction_set(struct db *db, const char *user_id, enum direction d)
{
    struct db_stmt *st = db_stmt(db, DB_USER_SET_DIRECTION);
    int rc;

    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, user_id);
    db_bind_text(st, 2, direction_name(d));
    if ((rc = db_exec(db, st)) == CS_OK && db_changes(db) != 1)
        rc = CS_ERR_NOTFOUND;
    return rc;
}
