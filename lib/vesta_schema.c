/* vesta_schema.c: Vesta's tables as calsync needs them: checked at every start (and by
 * calsync-admin doctor); of Vesta's structure calsync only adds the Google link columns and two
 * indexes of its appointments table, when missing. */
#include "vesta_schema.h"
#include "cs.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define T_ID "varchar|char"
#define T_INT "bigint|int|mediumint|smallint|tinyint"
#define T_TEXT "varchar|char|text|mediumtext|longtext|tinytext"
#define T_TIME "timestamp|datetime"
#define T_BOOL "tinyint|boolean|bool|bit|smallint|int|bigint"

const struct vesta_need vesta_needs[] = {
    {"users", NULL, NULL, 0, NULL},
    {"users", "id", T_ID, 0, NULL},
    {"users", "email", T_TEXT, 0, NULL},
    {"users", "timezone", T_TEXT, 0, NULL},
    {"users", "account_id", T_INT, 0, NULL},
    {"users", "is_active", T_BOOL, 0, NULL},
    {"sessions", NULL, NULL, 0, NULL},
    {"sessions", "token", T_TEXT, 0, NULL},
    {"sessions", "user_id", T_ID, 0, NULL},
    {"sessions", "expires_at", T_TIME, 0, NULL},
    {"contacts", NULL, NULL, 0, NULL},
    {"contacts", "contact_id", T_INT, 0, NULL},
    {"contacts", "account_id", T_INT, 0, NULL},
    {"contacts", "first_name", T_TEXT, 0, NULL},
    {"contacts", "last_name", T_TEXT, 0, NULL},
    {"contacts", "email", T_TEXT, 0, NULL},
    {"contacts", "additional_info", "json|longtext|text", 0, NULL},
    {"listings", "property_id", T_INT, 0, NULL},
    {"properties", "street", T_TEXT, 0, NULL},
    {"locations", "city", T_TEXT, 0, NULL},
    {"appointments", NULL, NULL, 0, NULL},
    {"appointments", "appointment_id", T_INT, 0, NULL},
    {"appointments", "user_id", T_ID, 0, NULL},
    {"appointments", "contact_id", T_INT, 0, NULL},
    {"appointments", "listing_id", T_INT, 0, NULL},
    {"appointments", "datetime_start", T_TIME, 0, NULL},
    {"appointments", "datetime_end", T_TIME, 0, NULL},
    {"appointments", "trip_time_minutes", T_INT, 0, NULL},
    {"appointments", "status", T_TEXT, 0, NULL},
    {"appointments", "notes", T_TEXT, 0, NULL},
    {"appointments", "type", T_TEXT, 0, NULL},
    {"appointments", "is_active", T_BOOL, 0, NULL},
    {"appointments", "updated_at", T_TIME, 0, NULL},
    {"appointments", "google_event_id", T_TEXT, 0,
     "ALTER TABLE `appointments` ADD COLUMN google_event_id varchar(255)"},
    {"appointments", "google_etag", T_TEXT, 0,
     "ALTER TABLE `appointments` ADD COLUMN google_etag varchar(255)"},
    {"appointments", "last_synced_at", T_TIME, 0,
     "ALTER TABLE `appointments` ADD COLUMN last_synced_at timestamp NULL"},
    /* the Google link's lookups and the change feed's scan */
    {"appointments", "google_event_id", NULL, 1,
     "CREATE INDEX calsync_appointments_google ON `appointments` (google_event_id)"},
    {"appointments", "updated_at", NULL, 1,
     "CREATE INDEX calsync_appointments_updated ON `appointments` (updated_at)"},
};
const size_t vesta_needs_count = sizeof vesta_needs / sizeof vesta_needs[0];

/* True when type is one of the '|'-separated list. */
static int vesta_type_in(const char *type, const char *list)
{
    size_t n = strlen(type);

    for (const char *p = list; p != NULL && *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == n && strncasecmp(p, type, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

int vesta_need_check(struct db *db, const struct vesta_need *n, char *errbuf, size_t errlen)
{
    struct db_stmt *st;
    char type[64] = "";
    int rc = CS_ERR_NOTFOUND, step;

    st = db_stmt(db, n->column == NULL ? DB_VESTA_HAS_TABLE
                     : n->index        ? DB_VESTA_HAS_INDEX
                                       : DB_VESTA_COLUMN_TYPE);
    if (st == NULL)
        return CS_ERR_DB;
    db_bind_text(st, 1, n->table);
    if (n->column != NULL)
        db_bind_text(st, 2, n->column);
    step = db_step(st);
    if (step == DB_ROW) {
        if (n->column == NULL || n->index)
            rc = db_col_int64(st, 0) > 0 ? CS_OK : CS_ERR_NOTFOUND;
        else {
            db_col_copy(st, 0, type, sizeof type);
            rc = CS_OK;
        }
    } else if (step != DB_DONE) {
        rc = CS_ERR_DB;
    }
    db_reset(st);
    if (rc == CS_OK && n->types != NULL && !vesta_type_in(type, n->types))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "Vesta's %s.%s is %s, not one of %s", n->table,
                       n->column, type, n->types);
    return rc;
}

/* Takes (lock 1) or gives back (0) the server lock the migrations take. CS_OK or CS_ERR_BUSY. */
static int vesta_schema_lock(struct db *db, int lock)
{
    struct db_stmt *st = db_stmt(db, lock ? DB_VESTA_SCHEMA_LOCK : DB_VESTA_SCHEMA_UNLOCK);
    int got = 0;

    if (st == NULL)
        return CS_ERR_DB;
    if (db_step(st) == DB_ROW)
        got = db_col_int64(st, 0) == 1;
    db_reset(st);
    return got || !lock ? CS_OK : CS_ERR_BUSY;
}

static int vesta_schema_ensure_locked(struct db *db, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < vesta_needs_count; i++) {
        const struct vesta_need *n = &vesta_needs[i];
        int rc = vesta_need_check(db, n, errbuf, errlen);
        if (rc == CS_ERR_INVAL)
            return CS_ERR_CONFIG;
        if (rc == CS_ERR_DB)
            return cs_fail(errbuf, errlen, CS_ERR_DB, "reading Vesta's schema failed: %s",
                           db_errmsg(db));
        if (rc == CS_OK)
            continue;
        if (n->add == NULL)
            return cs_fail(errbuf, errlen, CS_ERR_CONFIG,
                           "not Vesta's database: %s%s%s is missing (CALSYNC_HOST=vesta needs "
                           "Vesta's own database in CALSYNC_DB)",
                           n->table, n->column ? "." : "", n->column ? n->column : "");
        /* another node may add it at the same moment: look again after a failure */
        if (db_exec_sql(db, n->add) != CS_OK && vesta_need_check(db, n, errbuf, errlen) != CS_OK)
            return cs_fail(errbuf, errlen, CS_ERR_DB, "adding %s.%s%s to Vesta's schema failed: %s",
                           n->table, n->column, n->index ? " (index)" : "", db_errmsg(db));
        log_info("added to Vesta's %s: %s%s", n->table, n->column, n->index ? " (index)" : "");
    }
    return CS_OK;
}

int vesta_schema_ensure(struct db *db, char *errbuf, size_t errlen)
{
    int rc;

    if (vesta_schema_lock(db, 1) != CS_OK)
        return cs_fail(errbuf, errlen, CS_ERR_DB,
                       "cannot take the migration lock to check Vesta's schema (another node "
                       "migrating for over 60 s?)");
    rc = vesta_schema_ensure_locked(db, errbuf, errlen);
    vesta_schema_lock(db, 0);
    return rc;
}
