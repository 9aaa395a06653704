/* vesta_host.h: what the vesta host's appointment source (host_vesta_appt.c) and its change
 * feed (vesta_feed.c) share. */
#ifndef VESTA_HOST_H
#define VESTA_HOST_H

#include "vesta_row.h"

struct db;
struct cfg;

/* The summary and location Vesta shows for a row: the contact's name and the listing's address,
 * read only within the user's own account. *title / *location malloc'd (free()). */
int vesta_describe(struct db *db, const struct vesta_row *r, char **title, char **location);
/* Records what calsync now knows of row r (its snapshot). */
int vesta_snap_put(struct db *db, const struct vesta_row *r);
/* The push delay of a user's change found by the feed (cfg->push_delay_ms). */
long long vesta_push_delay(const struct cfg *cfg);

/* The feed and the seed (vesta_feed.c). */
int vesta_feed(struct db *db, const struct cfg *cfg, int *found);
int vesta_seed(struct db *db, const struct cfg *cfg, const char *user_id);

#endif
