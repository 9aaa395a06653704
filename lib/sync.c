/* sync.c: the two-way sync engine. */
#include "sync.h"

void sync_after_commit(struct db *db, const struct cfg *cfg, const char *user_id)
{
    (void)db;
    (void)cfg;
    (void)user_id;
}
