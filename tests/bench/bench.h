/* bench.h: what the measures of calsync-bench share: the table's rows and the stack helpers. */
#ifndef BENCH_H
#define BENCH_H

#include "harness.h"

enum verdict { V_OK, V_NOISE, V_MISS, V_FAIL, V_INFO };
struct row {
    char measure[64], value[48], ceiling[48], ratio[16], goal[48];
    enum verdict v;
};

/* A new row of the table (FAIL until the measure sets its verdict). */
struct row *row_add(const char *measure, const char *goal);
/* value <= goal within the noise margin; the worse of two verdicts. */
enum verdict at_most(double value, double goal);
enum verdict worst(enum verdict a, enum verdict b);
/* An integer from the stack's database, the query built from fmt. */
long long user_int(struct stack *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Creates WHO@example.com and logs c in (not connected). */
int new_user(struct stack *s, struct client *c, const char *who);
/* Sends c through the consent flow for Google account WHO@gmail.test; 302 or the status. */
long start_connect(struct stack *s, struct client *c, const char *who);
/* The connect's sync is done: lastSync set and not syncing. */
int sync_reported_done(struct stack *s, const char *email);

/* bench_realcal.c: a real agent's calendar: its import, then a soak under faults. */
void m_realcal(struct stack *s);

#endif
