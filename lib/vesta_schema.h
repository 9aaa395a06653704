/* vesta_schema.h: what calsync needs of Vesta's own tables, checked and (only by adding what is
 * missing) made so. */
#ifndef VESTA_SCHEMA_H
#define VESTA_SCHEMA_H

#include <stddef.h>

struct db;

/* One need of calsync: a table, a column of a usable type, or an index led by a column. */
struct vesta_need {
    const char *table, *column; /* column NULL: the table itself */
    const char *types;          /* usable data types, '|'-separated ("varchar|text"), or NULL */
    int index;                  /* an index led by the column */
    const char *add;            /* the DDL that adds it when missing (NULL: must exist) */
};
extern const struct vesta_need vesta_needs[];
extern const size_t vesta_needs_count;

/* Checks one need: CS_OK when met, CS_ERR_NOTFOUND (missing), CS_ERR_INVAL (unusable type:
 * errbuf says which), CS_ERR_DB. */
int vesta_need_check(struct db *db, const struct vesta_need *n, char *errbuf, size_t errlen);
/* Adds what calsync adds to Vesta's schema when it is missing (google_event_id, google_etag,
 * last_synced_at, the indexes on google_event_id and updated_at), idempotently, never dropping
 * or retyping anything; fails with a clear message when a table or column calsync reads is
 * missing or unusable. CS_OK, CS_ERR_CONFIG or CS_ERR_DB. */
int vesta_schema_ensure(struct db *db, char *errbuf, size_t errlen);

#endif
