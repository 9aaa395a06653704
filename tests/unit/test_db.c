/* test_db: migrations, WAL, every statement prepares, users/sessions, outbox in one transaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "appt.h"
#include "auth.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include "db.h"

struct fx {
    char path[64];
    struct db *db;
};

/* a fresh database from schema/ for each test */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[CS_ERRLEN];
    int fd;

    snprintf(f->path, sizeof f->path, "/tmp/calsync-db-XXXXXX");
    fd = mkstemp(f->path);
    close(fd);
    unlink(f->path);
    if (db_open(f->path, &f->db, err, sizeof err) != CS_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[80];

    db_close(f->db);
    unlink(f->path);
    snprintf(p, sizeof p, "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->path);
    unlink(p);
    free(f);
    return 0;
}

static long long count(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void migrated_and_wal(void **state)
{
    struct fx *f = *state;
    struct db *again;
    char err[CS_ERRLEN];
    sqlite3_stmt *st;

    assert_int_equal(db_version(f->db), (int)db_migrations_count);
    assert_true(db_migrations_count >= 1);
    assert_int_equal(sqlite3_prepare_v2(db_handle(f->db), "PRAGMA journal_mode", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    /* reopening does not re-apply anything */
    assert_int_equal(db_open(f->path, &again, err, sizeof err), CS_OK);
    assert_int_equal(db_version(again), (int)db_migrations_count);
    db_close(again);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'appointments_google'"), 1);
}

static void every_statement_prepares(void **state)
{
    struct fx *f = *state;
    sqlite3_stmt *st = db_stmt(f->db, DB_SEEN_CREATE);

    assert_non_null(st);
    assert_int_equal(db_exec(f->db, st), CS_OK);
    for (int i = 0; i < DB__MAX; i++)
        if (db_stmt(f->db, (enum db_stmt_id)i) == NULL)
            fail_msg("statement %d does not prepare", i);
}

static void users_and_sessions(void **state)
{
    struct fx *f = *state;
    struct auth_user u, v;
    struct cfg cfg;
    char err[CS_ERRLEN], token[CRYPT_TOKLEN];
    long retry;

    memset(&cfg, 0, sizeof cfg);
    cfg.default_tz = "Europe/Madrid";
    assert_int_equal(
        auth_user_add(f->db, "ana@example.com", "long-password", NULL, &u, err, sizeof err), CS_OK);
    assert_int_equal(
        auth_user_add(f->db, "ANA@example.com", "long-password", NULL, &v, err, sizeof err),
        CS_ERR_CONFLICT);
    assert_int_equal(
        auth_user_add(f->db, "not-an-email", "long-password", NULL, &v, err, sizeof err),
        CS_ERR_INVAL);
    assert_int_equal(auth_user_add(f->db, "b@example.com", "short", NULL, &v, err, sizeof err),
                     CS_ERR_INVAL);
    assert_int_equal(
        auth_user_add(f->db, "b@example.com", "long-password", "Mars/Base", &v, err, sizeof err),
        CS_ERR_INVAL);
    assert_int_equal(
        auth_login(f->db, &cfg, "ana@example.com", "wrong-password", &v, token, &retry),
        CS_ERR_AUTH);
    assert_int_equal(auth_login(f->db, &cfg, "ana@example.com", "long-password", &v, token, &retry),
                     CS_OK);
    assert_string_equal(v.id, u.id);
    assert_string_equal(v.tz, "Europe/Madrid"); /* default zone */
    assert_int_equal(count(f->db, "SELECT count(*) FROM sessions"), 1);
    assert_int_equal(auth_session_user(f->db, &cfg, token, &v), CS_OK);
    /* the cookie value itself is nowhere in the database */
    {
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db_handle(f->db), "SELECT count(*) FROM sessions WHERE token_hash = ?1",
                           -1, &st, NULL);
        sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
        sqlite3_step(st);
        assert_int_equal(sqlite3_column_int(st, 0), 0);
        sqlite3_finalize(st);
    }
    assert_int_equal(auth_logout(f->db, token), CS_OK);
    assert_int_equal(auth_session_user(f->db, &cfg, token, &v), CS_ERR_AUTH);
    /* expired sessions do not authenticate */
    assert_int_equal(auth_login(f->db, &cfg, "ana@example.com", "long-password", &v, token, &retry),
                     CS_OK);
    sqlite3_exec(db_handle(f->db), "UPDATE sessions SET expires_at = 1", NULL, NULL, NULL);
    assert_int_equal(auth_session_user(f->db, &cfg, token, &v), CS_ERR_AUTH);
}

static void login_throttle(void **state)
{
    struct fx *f = *state;
    struct auth_user u, v;
    struct cfg cfg;
    char err[CS_ERRLEN], token[CRYPT_TOKLEN];
    long retry = 0;

    memset(&cfg, 0, sizeof cfg);
    cfg.default_tz = "UTC";
    assert_int_equal(
        auth_user_add(f->db, "t@example.com", "long-password", NULL, &u, err, sizeof err), CS_OK);
    for (int i = 0; i < AUTH_LOCK_AFTER; i++)
        assert_int_equal(auth_login(f->db, &cfg, "t@example.com", "nope-nope", &v, token, &retry),
                         CS_ERR_AUTH);
    /* locked now, even with the right password, and for a while */
    assert_int_equal(auth_login(f->db, &cfg, "T@example.com", "long-password", &v, token, &retry),
                     CS_ERR_BUSY);
    assert_true(retry > 0 && retry <= AUTH_LOCK_BASE_S);
    /* another address is unaffected */
    assert_int_equal(auth_login(f->db, &cfg, "other@example.com", "x-x-x-x-x", &v, token, &retry),
                     CS_ERR_AUTH);
    /* once the lock passes a good password works and clears the count */
    sqlite3_exec(db_handle(f->db), "UPDATE login_failures SET locked_until = 0", NULL, NULL, NULL);
    assert_int_equal(auth_login(f->db, &cfg, "t@example.com", "long-password", &v, token, &retry),
                     CS_OK);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM login_failures WHERE email = 't@example.com'"), 0);
    /* failures after a lock double it */
    for (int i = 0; i < AUTH_LOCK_AFTER + 1; i++) {
        sqlite3_exec(db_handle(f->db), "UPDATE login_failures SET locked_until = 0", NULL, NULL,
                     NULL);
        auth_login(f->db, &cfg, "t@example.com", "nope-nope", &v, token, &retry);
    }
    assert_int_equal(auth_login(f->db, &cfg, "t@example.com", "long-password", &v, token, &retry),
                     CS_ERR_BUSY);
    assert_true(retry > AUTH_LOCK_BASE_S && retry <= 2 * AUTH_LOCK_BASE_S);
}

static void outbox_with_change(void **state)
{
    struct fx *f = *state;
    struct auth_user u;
    struct appt a;
    char err[CS_ERRLEN];
    cJSON *in = cJSON_Parse(
        "{\"title\":\"t\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:00Z\"}");

    assert_int_equal(
        auth_user_add(f->db, "o@example.com", "long-password", NULL, &u, err, sizeof err), CS_OK);
    memset(&a, 0, sizeof a);
    snprintf(a.user_id, sizeof a.user_id, "%s", u.id);
    assert_int_equal(appt_apply_json(&a, in, 0, "Europe/Madrid", err, sizeof err), CS_OK);
    assert_int_equal(appt_create(f->db, &a, 1, NULL, NULL), CS_OK);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM outbox WHERE op = 'upsert' AND version = 1"), 1);
    assert_int_equal(appt_update(f->db, &a, 1), CS_OK);
    assert_int_equal(count(f->db, "SELECT count(*) FROM outbox WHERE version = 2"), 1);
    assert_int_equal(appt_delete(f->db, u.id, a.id, 1), CS_OK);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM outbox WHERE op = 'delete' AND version = 3"), 1);
    assert_int_equal(appt_delete(f->db, u.id, a.id, 1), CS_ERR_NOTFOUND);
    assert_int_equal(appt_delete(f->db, "someone-else", a.id, 1), CS_ERR_NOTFOUND);
    /* a failing write leaves neither the row nor its outbox entry */
    sqlite3_exec(
        db_handle(f->db),
        "CREATE TRIGGER no_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'x'); END",
        NULL, NULL, NULL);
    {
        long long before = count(f->db, "SELECT count(*) FROM appointments");
        assert_int_not_equal(appt_create(f->db, &a, 1, NULL, NULL), CS_OK);
        assert_int_equal(count(f->db, "SELECT count(*) FROM appointments"), before);
    }
    appt_free(&a);
    cJSON_Delete(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrated_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(every_statement_prepares, setup, teardown),
        cmocka_unit_test_setup_teardown(users_and_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(login_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_with_change, setup, teardown),
    };
    if (crypt_init() != CS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
