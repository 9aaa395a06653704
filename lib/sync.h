/* sync.h: the two-way sync engine (DESIGN.md section 5). */
#ifndef SYNC_H
#define SYNC_H

struct db;
struct cfg;

struct sync_stats {
    int pushed, pulled, deleted, conflicts, errors;
};

/* Pushes the user's pending outbox rows within cfg->push_budget_ms (called by routes after
 * their commit and answer). Never fails the caller: problems stay queued and visible. */
void sync_after_commit(struct db *db, const struct cfg *cfg, const char *user_id);

#endif
