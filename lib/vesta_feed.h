/* vesta_feed.h: the vesta host's change feed and its first-sync seed. */
#ifndef VESTA_FEED_H
#define VESTA_FEED_H

struct db;
struct cfg;

/* One pass of the feed over Vesta's appointments (host_appts.feed). */
int vesta_feed(struct db *db, const struct cfg *cfg, int *found);
/* Every active appointment of the user into the store (host_appts.seed). */
int vesta_seed(struct db *db, const struct cfg *cfg, const char *user_id);

#endif
