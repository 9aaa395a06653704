/* db_copy.h: moving an installation between stores (calsync-admin copy). */
#ifndef DB_COPY_H
#define DB_COPY_H

#include <stddef.h>

#include "db.h"

/* Called while a table is copied (every DB_COPY_STEP rows; finished 0) and once it is done
 * (finished 1), with the rows of that table written so far. */
typedef void (*db_copy_progress)(const char *table, long long rows, int finished, void *ctx);
#define DB_COPY_STEP 1000

/* Copies every row of every table from one store to the other, one transaction per table of
 * the target, values as they are (ids, sealed tokens). Both must be at the latest schema
 * version. Refuses a target with any row unless force (which first empties each table in the
 * same transaction). CS_OK, or an error with the reason in errbuf. */
int db_copy(struct db *from, struct db *to, int force, db_copy_progress progress, void *ctx,
            char *errbuf, size_t errlen);

/* The tables copied, and a table's row count (-1 on error): for reports and tests. */
size_t db_copy_table_count(void);
const char *db_copy_table_name(size_t i);
long long db_copy_rows(struct db *db, size_t i);
/* The statements reading (all columns, key order) and writing table i. */
void db_copy_table_stmts(size_t i, enum db_stmt_id *get, enum db_stmt_id *put);

#endif
