/* test_plan: every statement run per event or per request finds its rows through an index
 * (EXPLAIN QUERY PLAN on a fresh migrated database), so sync and routes stay flat as tables grow.
 *
 * Every statement of lib/db_sql.h that mentions appointments, outbox or sync_jobs, and every
 * JOB_* statement, is checked: it must be listed in hot[] (per event / per request: no full
 * scan of those tables, and a SEARCH on the named key when one is given) or in cold[] (once per
 * sync run or administrative, with the reason). JOB_* statements not listed are treated as hot
 * without a key. A plan is read from its detail column: "SCAN <table or alias>" without an
 * index is a full scan; "SCAN ... USING [COVERING] INDEX" and "SEARCH ..." are fine.
 * Plans are those of a database without ANALYZE statistics, as calsync runs it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <unistd.h>

#include <cmocka.h>

#include "cs.h"
#include <sqlite3.h>

#include "db.h"

#define DB_STMT(name, sql) [DB_##name] = #name,
#define DB_STMT2(name, sqlite_sql, mysql_sql) [DB_##name] = #name,
static const char *const stmt_name[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT
#undef DB_STMT2

static const char *const watched[] = {"appointments", "outbox", "sync_jobs"};

/* Run per pulled/pushed event or per HTTP request. key: text a SEARCH line must contain. */
static const struct {
    const char *name, *key;
} hot[] = {
    {"APPT_INSERT", NULL},
    {"APPT_INSERT_ID", NULL},
    {"APPT_PULL_INSERT_ID", NULL},
    {"APPT_HOST_SAVE", "rowid=?"},
    {"APPT_SET_FORMER", "rowid=?"},
    {"JOB_COVERS", "kind=? AND ckey=?"}, /* each webhook channel of a batch */
    {"APPT_GET", "rowid=?"},
    {"APPT_GET_ANY", "rowid=?"},
    {"APPT_LIST", "user_id=? AND is_active=?"},
    {"APPT_UPDATE", "rowid=?"},
    {"APPT_DEACTIVATE", "rowid=?"},
    {"APPT_BY_GOOGLE_ID", "google_event_id=?"},
    {"APPT_BY_FORMER_ID", "former_event_id=?"},
    {"APPT_SET_SYNCED", "rowid=?"},
    {"APPT_SET_SYNC_ERROR", "rowid=?"},
    {"APPT_PULL_INSERT", NULL},
    {"APPT_PULL_UPDATE", "rowid=?"},
    {"APPT_PULL_DELETE", "rowid=?"},
    {"APPT_MERGE_SAVE", "rowid=?"},
    {"APPT_SET_REMINDERS_SENT", "rowid=?"},
    {"APPT_SET_GOOGLE_META", "rowid=?"},
    {"APPT_BY_INSTANCE", "google_recurring_id=? AND google_original_start=?"},
    {"APPT_DISMISS", "rowid=?"},
    {"APPT_COUNT_STATE", "user_id=? AND is_active=?"}, /* status route */
    {"OUTBOX_PUT_IF_ABSENT", NULL},
    {"OUTBOX_PUT", NULL},
    {"OUTBOX_DUE", "user_id=?"},
    {"OUTBOX_DONE", "rowid=?"},
    {"OUTBOX_RETRY", "rowid=?"},
    {"OUTBOX_FOR_APPT", "appointment_id=?"},
    {"OUTBOX_DROP_APPT", "appointment_id=?"},
    {"OUTBOX_COUNT", "user_id=?"}, /* status route */
};

/* Once per sync run, per disconnect, per cron run or administrative. scan_ok: may read a whole
 * watched table (else it must still not, e.g. it reads one user's rows through an index). */
static const struct {
    const char *name;
    int scan_ok;
    const char *why;
} cold[] = {
    {"APPT_LINKED_IDS", 0, "once per full sync: every linked row of the user"},
    {"APPT_COUNT_LINKED", 0, "once per full sync: the reconcile safety stop"},
    {"APPT_UNLINKED_ACTIVE", 0, "once per sync run: the first push after a connect"},
    {"APPT_LINKED_UNSEEN", 0, "once per full sync: reconciliation"},
    {"APPT_CLEAR_GOOGLE", 0, "disconnect: every row of the user"},
    {"APPT_UPCOMING_LINKED", 0, "a changed reminders setting: the user's upcoming rows"},
    {"OUTBOX_CLEAR_USER", 0, "disconnect"},
    {"OUTBOX_USERS_DUE", 1, "once per cron run over every user's due pushes (small table)"},
    {"INTEG_OVERVIEW", 0, "calsync-admin status"},
    {"JOB_STALE", 1, "once per cron run: counts lapsed leases (the table holds pending work only)"},
    {"JOB_STALE", 1, "once per cron run: counts lapsed leases (the table holds pending work only)"},
    {"METRICS_JOBS", 1, "once per scrape of /metrics: the queue holds pending work only"},
    {"METRICS_OLDEST_DUE", 0, "once per scrape of /metrics: the due range of sync_jobs_due"},
    {"METRICS_OUTBOX", 1, "once per scrape of /metrics: counts the pending pushes"},
    {"COPY_GET_appointments", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_PUT_appointments", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_COUNT_appointments", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_CLEAR_appointments", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_GET_outbox", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_PUT_outbox", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_COUNT_outbox", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_CLEAR_outbox", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_GET_sync_jobs", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_PUT_sync_jobs", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_COUNT_sync_jobs", 1, "calsync-admin copy: the whole table, once"},
    {"COPY_CLEAR_sync_jobs", 1, "calsync-admin copy: the whole table, once"},
};

static struct db *db;
static char path[64];

static int setup(void **state)
{
    char err[CS_ERRLEN];
    int fd;

    (void)state;
    snprintf(path, sizeof path, "/tmp/calsync-plan-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    unlink(path);
    if (db_open(path, &db, err, sizeof err) != CS_OK)
        return -1;
    /* statements on the sync's temporary table need it to exist */
    return db_exec(db, db_stmt(db, DB_SEEN_CREATE)) == CS_OK ? 0 : -1;
}

static int teardown(void **state)
{
    char p[80];

    (void)state;
    db_close(db);
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    return 0;
}

/* True when word occurs in s as a whole identifier (case-insensitive). */
static int has_word(const char *s, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = s; *p; p++) {
        if (strncasecmp(p, word, n) != 0)
            continue;
        int before = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after)
            return 1;
    }
    return 0;
}

static int is_watched(const char *table)
{
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++)
        if (strcasecmp(table, watched[i]) == 0)
            return 1;
    return 0;
}

/* The watched table that name is, or that sql gives the alias name ("outbox o",
 * "appointments AS a"); NULL when neither. */
static const char *watched_table_of(const char *sql, const char *name)
{
    char pat[128];

    if (is_watched(name))
        return name;
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++) {
        snprintf(pat, sizeof pat, "%s %s", watched[i], name);
        if (has_word(sql, pat))
            return watched[i];
        snprintf(pat, sizeof pat, "%s AS %s", watched[i], name);
        if (has_word(sql, pat))
            return watched[i];
    }
    return NULL;
}

static int touches_watched(int id, const char *sql)
{
    if (strncmp(stmt_name[id], "JOB_", 4) == 0)
        return 1;
    for (size_t i = 0; i < sizeof watched / sizeof watched[0]; i++)
        if (has_word(sql, watched[i]))
            return 1;
    return 0;
}

static int hot_index(const char *name)
{
    for (size_t i = 0; i < sizeof hot / sizeof hot[0]; i++)
        if (strcmp(hot[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int cold_index(const char *name)
{
    for (size_t i = 0; i < sizeof cold / sizeof cold[0]; i++)
        if (strcmp(cold[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The plan of statement id, one detail line per row joined with "\n", into out. */
static void plan_of(int id, char *out, size_t outlen)
{
    char q[8192];
    const char *st = db_sql_text(db, (enum db_stmt_id)id);
    sqlite3_stmt *ep;
    size_t used = 0;

    assert_non_null(st);
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", st);
    out[0] = '\0';
    if (sqlite3_prepare_v2(db_handle(db), q, -1, &ep, NULL) != SQLITE_OK)
        fail_msg("%s: EXPLAIN QUERY PLAN failed: %s", stmt_name[id], sqlite3_errmsg(db_handle(db)));
    while (sqlite3_step(ep) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(ep, 3);
        int n = snprintf(out + used, outlen - used, "%s\n", d ? d : "");
        if (n < 0 || (size_t)n >= outlen - used)
            break;
        used += (size_t)n;
    }
    sqlite3_finalize(ep);
}

/* First full scan of a watched table in plan ("SCAN x" without an index); its line into bad. */
static int full_scan(const char *sql, const char *plan, char *bad, size_t badlen)
{
    char line[512];

    for (const char *p = plan; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        if (strncmp(line, "SCAN ", 5) != 0 || strstr(line, "USING INDEX") ||
            strstr(line, "USING COVERING INDEX"))
            continue;
        char name[128];
        size_t k = strcspn(line + 5, " ");
        snprintf(name, sizeof name, "%.*s", (int)k, line + 5);
        if (watched_table_of(sql, name) != NULL) {
            snprintf(bad, badlen, "%s", line);
            return 1;
        }
    }
    return 0;
}

/* The key must be searched for on a SEARCH line. */
static int searches_key(const char *plan, const char *key)
{
    char line[512];

    for (const char *p = plan; *p;) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        p += n + (p[n] == '\n');
        if (strncmp(line, "SEARCH ", 7) == 0 && strstr(line, key) != NULL)
            return 1;
    }
    return 0;
}

static void every_watched_statement_is_classified(void **state)
{
    int missing = 0;

    (void)state;
    for (int i = 0; i < DB__MAX; i++) {
        const char *st = db_sql_text(db, (enum db_stmt_id)i);
        assert_non_null(st);
        if (!touches_watched(i, st) || hot_index(stmt_name[i]) >= 0 ||
            cold_index(stmt_name[i]) >= 0 || strncmp(stmt_name[i], "JOB_", 4) == 0)
            continue;
        print_error("%s touches appointments/outbox/sync_jobs: add it to hot[] (per event or "
                    "request) or cold[] (with the reason) in tests/unit/test_plan.c\n",
                    stmt_name[i]);
        missing++;
    }
    /* the lists name real statements (a renamed one must not leave a stale entry behind) */
    for (size_t k = 0; k < sizeof hot / sizeof hot[0]; k++) {
        int found = 0;
        for (int i = 0; i < DB__MAX && !found; i++)
            found = strcmp(stmt_name[i], hot[k].name) == 0;
        if (!found) {
            print_error("hot[] names %s, which is not in lib/db_sql.h\n", hot[k].name);
            missing++;
        }
    }
    for (size_t k = 0; k < sizeof cold / sizeof cold[0]; k++) {
        int found = 0;
        for (int i = 0; i < DB__MAX && !found; i++)
            found = strcmp(stmt_name[i], cold[k].name) == 0;
        if (!found) {
            print_error("cold[] names %s, which is not in lib/db_sql.h\n", cold[k].name);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

static void no_full_scan_per_event(void **state)
{
    char plan[8192], bad[512];
    int failures = 0;

    (void)state;
    for (int i = 0; i < DB__MAX; i++) {
        const char *st = db_sql_text(db, (enum db_stmt_id)i);
        const char *sql;
        int h, c;

        assert_non_null(st);
        sql = st;
        if (!touches_watched(i, sql))
            continue;
        h = hot_index(stmt_name[i]);
        c = cold_index(stmt_name[i]);
        if (c >= 0 && cold[c].scan_ok)
            continue;
        plan_of(i, plan, sizeof plan);
        if (full_scan(sql, plan, bad, sizeof bad)) {
            print_error("%s: full scan \"%s\"%s\nplan:\n%s\n", stmt_name[i], bad,
                        c >= 0 ? " (a per-run statement, but over every user)" : "", plan);
            failures++;
        } else if (h >= 0 && hot[h].key != NULL && !searches_key(plan, hot[h].key)) {
            print_error("%s: no index search on \"%s\" (the lookup walks rows)\nplan:\n%s\n",
                        stmt_name[i], hot[h].key, plan);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* The checker itself: a scan, an aliased scan and a key-less search are caught. */
static void checker_catches_scans(void **state)
{
    char bad[512];

    (void)state;
    assert_true(full_scan("SELECT 1 FROM appointments", "SCAN appointments\n", bad, sizeof bad));
    assert_true(
        full_scan("SELECT 1 FROM outbox o JOIN users u", "SCAN o\nSEARCH u\n", bad, sizeof bad));
    assert_string_equal(bad, "SCAN o");
    assert_true(full_scan("SELECT 1 FROM sync_jobs AS j", "SCAN j\n", bad, sizeof bad));
    assert_false(full_scan("SELECT 1 FROM appointments",
                           "SCAN appointments USING COVERING INDEX appointments_user_start\n", bad,
                           sizeof bad));
    assert_false(full_scan("SELECT 1 FROM user_integrations i", "SCAN i\n", bad, sizeof bad));
    assert_false(searches_key("SEARCH appointments USING INDEX appointments_user_start "
                              "(user_id=?)\n",
                              "google_event_id=?"));
    assert_true(searches_key("SEARCH appointments USING INDEX appointments_google_active "
                             "(user_id=? AND google_event_id=?)\n",
                             "google_event_id=?"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checker_catches_scans),
        cmocka_unit_test(every_watched_statement_is_classified),
        cmocka_unit_test(no_full_scan_per_event),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
