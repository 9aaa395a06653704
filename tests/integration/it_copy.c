/* it_copy: calsync-admin copy moves a live installation from SQLite to the other store (MariaDB
 * when the tests run on MySQL, another SQLite file otherwise) without losing a row or a value:
 * every column of every table is compared (4-byte UTF-8 included), and a second copy refuses
 * the non-empty target unless --force. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cs.h"
#include "db.h"
#include "db_copy.h"
#include "harness.h"

static struct stack S;   /* the running installation, on SQLite */
static struct stack T;   /* only names the target database (MySQL) */
static char target[700]; /* the target store URL or path */

static int setup(void **state)
{
    struct stack_opts o = {.webhooks = 1, .sqlite = 1};

    (void)state;
    if (stack_start(&S, &o) != 0)
        return -1;
    memset(&T, 0, sizeof T);
    if (stack_mysql()) {
        if (stack_mysql_create(&T) != 0)
            return -1;
        snprintf(target, sizeof target, "%s", T.db_url);
    } else {
        stack_path(&S, "copy.db", target, sizeof target);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stack_mysql_drop(&T);
    return stack_stop(&S);
}

/* Every row of every table of both stores, column by column as text, in key order. */
static void compare_stores(const char *a_url, const char *b_url)
{
    struct db *a = NULL, *b = NULL;
    char err[CS_ERRLEN];

    assert_int_equal(db_connect(a_url, &a, err, sizeof err), CS_OK);
    assert_int_equal(db_connect(b_url, &b, err, sizeof err), CS_OK);
    for (size_t i = 0; i < db_copy_table_count(); i++) {
        const char *t = db_copy_table_name(i);
        enum db_stmt_id get = (enum db_stmt_id)0, put = (enum db_stmt_id)0;
        struct db_stmt *sa, *sb;
        long long rows = 0;
        int ncols, ra, rb;
        char sql[200];
        db_copy_table_stmts(i, &get, &put);
        assert_true(get != 0 && put != 0);
        ncols = db_param_count(db_stmt(a, put));
        /* the copy names every column the table has (a new column must join it) */
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s')", t);
        assert_int_equal(stack_db_int(&S, sql), ncols);
        sa = db_stmt(a, get);
        sb = db_stmt(b, get);
        assert_non_null(sa);
        assert_non_null(sb);
        for (;;) {
            ra = db_step(sa);
            rb = db_step(sb);
            assert_int_equal(ra, rb);
            if (ra != DB_ROW)
                break;
            rows++;
            for (int c = 0; c < ncols; c++) {
                const unsigned char *va = db_col_text(sa, c), *vb = db_col_text(sb, c);
                if ((va == NULL) != (vb == NULL) ||
                    (va != NULL && strcmp((const char *)va, (const char *)vb) != 0))
                    fail_msg("%s row %lld column %d differs: %.80s | %.80s", t, rows, c,
                             va ? (const char *)va : "NULL", vb ? (const char *)vb : "NULL");
            }
        }
        assert_int_equal(ra, DB_DONE);
        db_reset(sa);
        db_reset(sb);
        print_message("%-18s %lld rows identical\n", t, rows);
    }
    db_close(a);
    db_close(b);
}

static void copy_round_trip(void **state)
{
    struct client c, d;
    struct resp r;
    char src[512], out[4096];
    const char *args[] = {"copy", "--from", src, "--to", target, NULL};
    const char *again[] = {"copy", "--from", src, "--to", target, "--force", NULL};
    const char *body = "{\"title\":\"Copiada\",\"description\":\"línea 1\\nñandú 🦤\","
                       "\"start\":\"2026-09-01T10:00:00Z\",\"end\":\"2026-09-01T11:00:00Z\"}";
    const char *idem[] = {"Content-Type: application/json", "Idempotency-Key: copy-key-1", NULL};
    char origin[128];

    (void)state;
    stack_path(&S, "calsync.db", src, sizeof src);
    /* a connected user with synced appointments, jobs, runs, a channel and sealed tokens */
    assert_int_equal(stack_connect_user(&S, &c, "cora", NULL), 0);
    assert_int_equal(client_json(&c, "POST", "/api/appointments", body, NULL), 201);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=cora@gmail.test",
                             "{\"summary\":\"De Google\",\"start\":{\"dateTime\":\"2026-09-02T10:"
                             "00:00Z\"},\"end\":{\"dateTime\":\"2026-09-02T11:00:00Z\"}}",
                             NULL),
                     200);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL), 200);
    /* an idempotent create, an OAuth state left behind, login failures, a pending job */
    snprintf(origin, sizeof origin, "Origin: %s", S.base);
    {
        const char *h[] = {idem[0], idem[1], origin, NULL};
        assert_int_equal(client_req(&c, "POST", "/api/appointments", h, body, NULL), 201);
    }
    assert_int_equal(stack_user(&S, "dora@example.com", "password-123", "America/Winnipeg"), 0);
    client_init(&d, &S);
    assert_int_equal(client_login(&d, "dora@example.com", "password-123"), 200);
    assert_int_equal(client_req(&d, "GET", "/api/google/calendar/connect", NULL, NULL, &r), 302);
    resp_free(&r);
    assert_int_equal(client_login(&d, "dora@example.com", "wrong-password"), 401);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    assert_int_equal(stack_db_exec(&S, "INSERT INTO sync_jobs(user_id, kind, ckey, pull, "
                                       "`trigger`, not_before, created_at) SELECT id, 'sync', id, "
                                       "1, 'later', 4102444800000, 1 FROM users WHERE email = "
                                       "'dora@example.com'"),
                     0);
    /* a Vesta calendar remembered for dora, and her reminders setting */
    assert_int_equal(stack_db_exec(&S, "INSERT INTO vesta_calendars(user_id, calendar_id, "
                                       "created_at, used_at) SELECT id, "
                                       "'c0ffee@group.calendar.google.com', 1, 2 FROM users "
                                       "WHERE email = 'dora@example.com'"),
                     0);
    assert_int_equal(stack_db_exec(&S, "UPDATE users SET reminders = '[10,60]' WHERE email = "
                                       "'dora@example.com'"),
                     0);
    for (size_t i = 0; i < db_copy_table_count(); i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", db_copy_table_name(i));
        if (strcmp(db_copy_table_name(i), "sessions") != 0 &&
            strcmp(db_copy_table_name(i), "outbox") != 0)
            assert_true(stack_db_int(&S, sql) > 0); /* every table has something to copy */
    }

    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    print_message("%s", out);
    assert_non_null(strstr(out, "appointments"));
    assert_non_null(strstr(out, "done"));
    assert_null(strstr(out, "password")); /* the URL is shown redacted */
    compare_stores(src, target);

    /* a second copy refuses the non-empty target, unless forced */
    assert_int_not_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", again, NULL, out, sizeof out), 0);
    compare_stores(src, target);
    client_free(&c);
    client_free(&d);
}

/* Every statement of lib/db_sql.h prepares on the target store (on MySQL: its dialect's text,
 * against the MySQL migrations), and every migration has its MySQL twin. */
static void every_statement_prepares(void **state)
{
    struct db *db = NULL;
    char err[CS_ERRLEN];

    (void)state;
    assert_int_equal(db_migrations_count, db_migrations_mysql_count);
    for (size_t i = 0; i < db_migrations_count; i++) {
        char num[8];
        snprintf(num, sizeof num, "%.4s", db_migrations[i].name);
        if (strncmp(db_migrations_mysql[i].name, num, 4) != 0 ||
            strstr(db_migrations_mysql[i].name, ".mysql.sql") == NULL)
            fail_msg("migration %s has no MySQL twin (%s)", db_migrations[i].name,
                     db_migrations_mysql[i].name);
    }
    assert_int_equal(db_open(target, &db, err, sizeof err), CS_OK);
    assert_int_equal(db_version(db), db_version_latest(db));
    assert_int_equal(db_exec(db, db_stmt(db, DB_SEEN_CREATE)), CS_OK);
    {
        /* the vesta host's own statements (their SQLite text a placeholder) read Vesta's tables:
         * it_host_vesta prepares them on Vesta's database */
        struct db *lite = NULL;
        char path[512];
        stack_path(&S, "calsync.db", path, sizeof path);
        assert_int_equal(db_connect(path, &lite, err, sizeof err), CS_OK);
        for (int id = 0; id < DB__MAX; id++) {
            if (strcmp(db_sql_text(lite, (enum db_stmt_id)id), "SELECT NULL WHERE 0") == 0)
                continue;
            if (db_stmt(db, (enum db_stmt_id)id) == NULL)
                fail_msg("statement %d does not prepare: %s", id,
                         db_sql_text(db, (enum db_stmt_id)id));
        }
        db_close(lite);
    }
    db_close(db);
}

/* Several nodes starting at once on an empty database migrate it exactly once. */
static void concurrent_migrate_once(void **state)
{
    struct stack fresh;
    pid_t pids[6];
    const char *args[] = {"migrate", NULL};
    char *old = getenv("CALSYNC_DB") ? strdup(getenv("CALSYNC_DB")) : NULL;
    char sql[200];

    (void)state;
    if (!stack_mysql()) {
        /* SQLite: six at once on a new file, every one succeeds and the schema is whole */
        struct db *db = NULL;
        char path[512], err[CS_ERRLEN];
        stack_path(&S, "fresh-migrate.db", path, sizeof path);
        setenv("CALSYNC_DB", path, 1);
        for (int i = 0; i < 6; i++)
            assert_true((pids[i] = stack_spawn(&S, "cgi/calsync-admin", args)) > 0);
        for (int i = 0; i < 6; i++) {
            int st;
            assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(db_connect(path, &db, err, sizeof err), CS_OK);
        assert_int_equal(db_version(db), (int)db_migrations_count);
        db_close(db);
        if (old != NULL)
            setenv("CALSYNC_DB", old, 1);
        free(old);
        return;
    }
    memset(&fresh, 0, sizeof fresh);
    assert_int_equal(stack_mysql_create(&fresh), 0);
    setenv("CALSYNC_DB", fresh.db_url, 1);
    for (int i = 0; i < 6; i++)
        assert_true((pids[i] = stack_spawn(&S, "cgi/calsync-admin", args)) > 0);
    for (int i = 0; i < 6; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.schema_migrations", fresh.db_name);
    assert_int_equal(stack_db_int(&T, sql), (long long)db_migrations_mysql_count);
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT version) FROM %s.schema_migrations",
             fresh.db_name);
    assert_int_equal(stack_db_int(&T, sql), (long long)db_migrations_mysql_count);
    stack_mysql_drop(&fresh);
    if (old != NULL)
        setenv("CALSYNC_DB", old, 1);
    free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_round_trip),
        cmocka_unit_test(every_statement_prepares),
        cmocka_unit_test(concurrent_migrate_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
