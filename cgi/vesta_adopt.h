/* vesta_adopt.h: calsync-admin vesta-adopt: Vesta's own Google connections moved into calsync. */
#ifndef VESTA_ADOPT_H
#define VESTA_ADOPT_H

struct db;
struct cfg;

struct vesta_adopt_stats {
    int total, adopted, reauth, skipped, failed;
};
/* One line per user: what was (or, with dry_run, would be) done. */
typedef void (*vesta_adopt_line)(void *ctx, const char *user_id, const char *what);

/* Adopts every active google_calendar row of Vesta's user_integrations (see vesta_adopt.c).
 * Idempotent: an adopted row is retired, so a second run finds nothing. With dry_run nothing
 * changes and Google is not called. CS_OK (per-user failures are counted in stats->failed) or
 * the store's error. */
int vesta_adopt(struct db *db, const struct cfg *cfg, int dry_run, vesta_adopt_line line, void *ctx,
                struct vesta_adopt_stats *stats);

#endif
