/* db_prefix.h: calsync's table names with a prefix (the vesta host keeps every table of its own
 * as calsync_<name> in Vesta's database). */
#ifndef DB_PREFIX_H
#define DB_PREFIX_H

/* sql with each of calsync's table names (a bare word outside quotes, backticks and comments:
 * users, appointments, sync_jobs, ...) prefixed; a name in `backticks` is left as it is (the host's
 * own tables). malloc'd (free()), NULL on OOM. prefix NULL or "": a copy. */
char *db_prefix_sql(const char *sql, const char *prefix);

#endif
