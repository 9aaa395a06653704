/* store.h: the store of a configuration: calsync's tables as its host names them, migrated,
 * and the host's own schema needs met. Every program opens its store through here. */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>

struct cfg;
struct db;

/* calsync's tables in Vesta's database are all called calsync_<name>. */
#define STORE_VESTA_PREFIX "calsync_"

/* Opens cfg's store (CALSYNC_DB, its password file), with the host's table prefix, applying
 * pending migrations when migrate is set (and, for the vesta host, adding the link columns and
 * indexes Vesta's appointments need). On CS_OK *out is set (db_close). Else errbuf says why,
 * naming the store without its password. */
int store_open(const struct cfg *cfg, int migrate, struct db **out, char *errbuf, size_t errlen);

#endif
