/* test_db: migrations, WAL, every statement prepares, users/sessions, outbox in one transaction,
 * the back ends' tables. */
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
#include "appt_list.h"
#include "appt_store.h"
#include "auth.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include <sqlite3.h>

#include "db.h"
#include "db_be.h"

/* client addresses (documentation ranges) */
#define A1 "192.0.2.1"
#define A2 "192.0.2.2"
#define A3 "2001:db8::3"

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
    struct db_stmt *st = db_stmt(f->db, DB_SEEN_CREATE);

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
        auth_login(f->db, &cfg, "ana@example.com", "wrong-password", A1, &v, token, &retry),
        CS_ERR_AUTH);
    assert_int_equal(
        auth_login(f->db, &cfg, "ana@example.com", "long-password", A1, &v, token, &retry), CS_OK);
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
    assert_int_equal(
        auth_login(f->db, &cfg, "ana@example.com", "long-password", A1, &v, token, &retry), CS_OK);
    sqlite3_exec(db_handle(f->db), "UPDATE sessions SET expires_at = 1", NULL, NULL, NULL);
    assert_int_equal(auth_session_user(f->db, &cfg, token, &v), CS_ERR_AUTH);
}

static long long lock_of(struct db *db, const char *scope)
{
    char q[160];

    snprintf(q, sizeof q,
             "SELECT coalesce(max(locked_until), 0) FROM login_failures WHERE scope = '%s'", scope);
    return count(db, q);
}

static void unlock_all(struct db *db)
{
    sqlite3_exec(db_handle(db), "UPDATE login_failures SET locked_until = 0", NULL, NULL, NULL);
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
        assert_int_equal(
            auth_login(f->db, &cfg, "t@example.com", "nope-nope", A1, &v, token, &retry),
            CS_ERR_AUTH);
    /* that pair is locked now, even with the right password, and for a while */
    assert_int_equal(
        auth_login(f->db, &cfg, "T@example.com", "long-password", A1, &v, token, &retry),
        CS_ERR_BUSY);
    assert_true(retry > 0 && retry <= AUTH_LOCK_BASE_S);
    /* the owner, from another address, is not locked out */
    assert_int_equal(
        auth_login(f->db, &cfg, "t@example.com", "long-password", A2, &v, token, &retry), CS_OK);
    /* another account from the locked address is not locked either (yet) */
    assert_int_equal(
        auth_login(f->db, &cfg, "other@example.com", "x-x-x-x-x", A1, &v, token, &retry),
        CS_ERR_AUTH);
    /* once the lock passes a good password works and clears that pair's count */
    unlock_all(f->db);
    assert_int_equal(
        auth_login(f->db, &cfg, "t@example.com", "long-password", A1, &v, token, &retry), CS_OK);
    assert_int_equal(count(f->db, "SELECT count(*) FROM login_failures WHERE scope = 'pair' AND "
                                  "key = '" A1 " t@example.com'"),
                     0);
    /* failures after a lock double it, up to 15 minutes (README) */
    {
        const long want[] = {30, 60, 120, 240, 480, 900, 900};
        for (int i = 0; i < AUTH_LOCK_AFTER - 1; i++)
            auth_login(f->db, &cfg, "t@example.com", "nope-nope", A3, &v, token, &retry);
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            long long until;
            unlock_all(f->db);
            assert_int_equal(
                auth_login(f->db, &cfg, "t@example.com", "nope-nope", A3, &v, token, &retry),
                CS_ERR_AUTH);
            until = lock_of(f->db, "pair") - db_now();
            if (until < want[i] - 2 || until > want[i])
                fail_msg("lock %zu: %lld s, want %ld", i, until, want[i]);
        }
        assert_int_equal(
            auth_login(f->db, &cfg, "t@example.com", "long-password", A3, &v, token, &retry),
            CS_ERR_BUSY);
        assert_true(retry > AUTH_LOCK_MAX_S - 3 && retry <= AUTH_LOCK_MAX_S);
    }
}

/* One address spraying many accounts is locked as an address; many addresses guessing one
 * account lock it only briefly. */
static void login_throttle_address_and_account(void **state)
{
    struct fx *f = *state;
    struct auth_user u, v;
    struct cfg cfg;
    char err[CS_ERRLEN], token[CRYPT_TOKLEN], email[64], addr[32];
    long retry = 0;

    memset(&cfg, 0, sizeof cfg);
    cfg.default_tz = "UTC";
    assert_int_equal(
        auth_user_add(f->db, "own@example.com", "long-password", NULL, &u, err, sizeof err), CS_OK);
    for (int i = 0; i < AUTH_ADDR_LOCK_AFTER; i++) {
        snprintf(email, sizeof email, "victim%d@example.com", i);
        assert_int_equal(auth_login(f->db, &cfg, email, "nope-nope", A1, &v, token, &retry),
                         CS_ERR_AUTH);
    }
    assert_int_equal(
        auth_login(f->db, &cfg, "own@example.com", "long-password", A1, &v, token, &retry),
        CS_ERR_BUSY);
    assert_true(retry > 0 && retry <= AUTH_LOCK_BASE_S);
    assert_int_equal(
        auth_login(f->db, &cfg, "own@example.com", "long-password", A2, &v, token, &retry), CS_OK);
    unlock_all(f->db);
    /* a success on one account does not reset the address's count: the next failure locks */
    assert_int_equal(
        auth_login(f->db, &cfg, "own@example.com", "long-password", A1, &v, token, &retry), CS_OK);
    assert_int_equal(auth_login(f->db, &cfg, "x@example.com", "nope-nope", A1, &v, token, &retry),
                     CS_ERR_AUTH);
    assert_true(lock_of(f->db, "address") > db_now());

    /* many addresses, one account: a short, flat lock */
    for (int i = 0; i < AUTH_ACCOUNT_LOCK_AFTER; i++) {
        snprintf(addr, sizeof addr, "198.51.100.%d", i + 1);
        assert_int_equal(
            auth_login(f->db, &cfg, "own@example.com", "nope-nope", addr, &v, token, &retry),
            CS_ERR_AUTH);
    }
    assert_int_equal(
        auth_login(f->db, &cfg, "own@example.com", "long-password", A3, &v, token, &retry),
        CS_ERR_BUSY);
    assert_true(retry > 0 && retry <= AUTH_ACCOUNT_LOCK_S);
    for (int i = 0; i < 5; i++) {
        unlock_all(f->db);
        auth_login(f->db, &cfg, "own@example.com", "nope-nope", "198.51.100.200", &v, token,
                   &retry);
    }
    assert_true(lock_of(f->db, "account") - db_now() <= AUTH_ACCOUNT_LOCK_S);
    /* a missing address counts as one "unknown" client */
    assert_int_equal(auth_login(f->db, &cfg, "n@example.com", "nope-nope", NULL, &v, token, &retry),
                     CS_ERR_AUTH);
    assert_int_equal(count(f->db, "SELECT count(*) FROM login_failures WHERE scope = 'address' AND "
                                  "key = 'unknown'"),
                     1);
}

/* Idle rows are forgotten and the table stays bounded. */
static void login_throttle_bounded(void **state)
{
    struct fx *f = *state;
    struct auth_user v;
    struct cfg cfg;
    char token[CRYPT_TOKLEN], q[512];
    long retry = 0;

    memset(&cfg, 0, sizeof cfg);
    cfg.default_tz = "UTC";
    snprintf(q, sizeof q,
             "INSERT INTO login_failures(scope, key, failures, locked_until, updated_at) "
             "VALUES('account', 'old@example.com', 3, 0, %lld)",
             db_now() - AUTH_FAIL_TTL_S - 10);
    assert_int_equal(sqlite3_exec(db_handle(f->db), q, NULL, NULL, NULL), SQLITE_OK);
    /* a flood of distinct accounts, over the cap, one of them locked */
    snprintf(q, sizeof q,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
             "INSERT INTO login_failures(scope, key, failures, locked_until, updated_at) "
             "SELECT 'account', 'flood' || i || '@example.com', 1, "
             "CASE WHEN i = 1 THEN %lld ELSE 0 END, %lld - %d + i FROM n",
             AUTH_FAIL_ROWS_MAX + 10, db_now() + 600, db_now(), AUTH_FAIL_ROWS_MAX + 10);
    assert_int_equal(sqlite3_exec(db_handle(f->db), q, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(auth_login(f->db, &cfg, "new@example.com", "nope-nope", A1, &v, token, &retry),
                     CS_ERR_AUTH);
    assert_int_equal(count(f->db, "SELECT count(*) FROM login_failures WHERE key = "
                                  "'old@example.com'"),
                     0);
    assert_true(count(f->db, "SELECT count(*) FROM login_failures") <= AUTH_FAIL_ROWS_MAX);
    /* the newest rows and the locked one are kept */
    assert_int_equal(count(f->db, "SELECT count(*) FROM login_failures WHERE key = "
                                  "'flood1@example.com'"),
                     1);
    assert_int_equal(count(f->db, "SELECT count(*) FROM login_failures WHERE scope = 'pair' AND "
                                  "key = '" A1 " new@example.com'"),
                     1);
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
    assert_int_equal(appt_create(f->db, NULL, &a, 1, NULL, NULL), CS_OK);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM outbox WHERE op = 'upsert' AND version = 1"), 1);
    assert_int_equal(appt_update(f->db, NULL, &a, 1), CS_OK);
    assert_int_equal(count(f->db, "SELECT count(*) FROM outbox WHERE version = 2"), 1);
    assert_int_equal(appt_delete(f->db, NULL, u.id, a.id, 1), CS_OK);
    assert_int_equal(
        count(f->db, "SELECT count(*) FROM outbox WHERE op = 'delete' AND version = 3"), 1);
    assert_int_equal(appt_delete(f->db, NULL, u.id, a.id, 1), CS_ERR_NOTFOUND);
    assert_int_equal(appt_delete(f->db, NULL, "someone-else", a.id, 1), CS_ERR_NOTFOUND);
    /* a failing write leaves neither the row nor its outbox entry */
    sqlite3_exec(
        db_handle(f->db),
        "CREATE TRIGGER no_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'x'); END",
        NULL, NULL, NULL);
    {
        long long before = count(f->db, "SELECT count(*) FROM appointments");
        assert_int_not_equal(appt_create(f->db, NULL, &a, 1, NULL, NULL), CS_OK);
        assert_int_equal(count(f->db, "SELECT count(*) FROM appointments"), before);
    }
    appt_free(&a);
    cJSON_Delete(in);
}

/* Each back end fills its whole table (only the WAL and SQLite-handle hooks are optional), and
 * the face answers from the table it chose. */
static void backends_fill_their_tables(void **state)
{
    static const struct db_backend *const bes[] = {&db_backend_sqlite, &db_backend_mysql};
    struct fx *f = *state;

    for (size_t b = 0; b < sizeof bes / sizeof bes[0]; b++) {
        const struct db_backend *be = bes[b];
        assert_non_null(be->name);
        assert_non_null(be->sql);
        assert_non_null(be->migrations);
        assert_non_null(be->migrations_count);
        for (int i = 0; i < DB__MAX; i++)
            if (be->sql[i] == NULL)
                fail_msg("%s: statement %d has no text", be->name, i);
        assert_true(be->open && be->close && be->version && be->migrate && be->prepare &&
                    be->reset && be->exec && be->bind_int64 && be->bind_text && be->bind_null &&
                    be->param_count && be->step && be->col_int64 && be->col_text &&
                    be->col_is_null && be->changes && be->last_id && be->errmsg && be->exec_sql &&
                    be->begin && be->commit && be->rollback && be->in_transaction &&
                    be->data_version);
    }
    assert_int_equal(db_backend_sqlite.kind, DB_SQLITE);
    assert_int_equal(db_backend_mysql.kind, DB_MYSQL);
    assert_int_equal(db_kind(f->db), DB_SQLITE);
    assert_ptr_equal(db_sql_text(f->db, DB_SEEN_ADD), db_sql_sqlite[DB_SEEN_ADD]);
    assert_int_equal(db_version_latest(f->db), (int)db_migrations_count);
    assert_non_null(db_handle(f->db));
    assert_true(db_data_version(f->db) != -1);
}

/* A mysql:// URL goes to the MySQL back end, which refuses a malformed one before connecting;
 * the half-opened connection is freed (ASan) and the password never shows. */
static void mysql_url_refused_cleanly(void **state)
{
    struct db *db = (struct db *)1;
    char err[CS_ERRLEN] = "";

    (void)state;
    assert_int_equal(db_open("mysql://u:secret@host", &db, err, sizeof err), CS_ERR_CONFIG);
    assert_null(db);
    assert_non_null(strstr(err, "CALSYNC_DB"));
    assert_null(strstr(err, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrated_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(every_statement_prepares, setup, teardown),
        cmocka_unit_test_setup_teardown(users_and_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(login_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(login_throttle_address_and_account, setup, teardown),
        cmocka_unit_test_setup_teardown(login_throttle_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(outbox_with_change, setup, teardown),
        cmocka_unit_test_setup_teardown(backends_fill_their_tables, setup, teardown),
        cmocka_unit_test(mysql_url_refused_cleanly),
    };
    if (crypt_init() != CS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
