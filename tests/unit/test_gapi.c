/* test_gapi: tokens sealed for their row (a copied token does not open), the v1 -> v2 migration,
 * and the pure parsers of Google's answers (token endpoint, errors, headers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "cs.h"
#include <sqlite3.h>

#include "db.h"
#include "gapi.h"
#include "integ.h"

struct fx {
    char path[64];
    struct db *db;
    struct cfg cfg;
    struct auth_user a, b;
};

/* a fresh database from schema/ with two users */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[CS_ERRLEN];
    int fd;

    snprintf(f->path, sizeof f->path, "/tmp/calsync-gapi-XXXXXX");
    fd = mkstemp(f->path);
    close(fd);
    unlink(f->path);
    if (db_open(f->path, &f->db, err, sizeof err) != CS_OK)
        return -1;
    for (int i = 0; i < 32; i++)
        f->cfg.secret_key[i] = (unsigned char)(i * 7 + 1);
    f->cfg.default_tz = "UTC";
    if (auth_user_add(f->db, "a@example.com", "long-password", NULL, &f->a, err, sizeof err) !=
            CS_OK ||
        auth_user_add(f->db, "b@example.com", "long-password", NULL, &f->b, err, sizeof err) !=
            CS_OK)
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

static void sql(struct fx *f, const char *q)
{
    char *msg = NULL;

    if (sqlite3_exec(db_handle(f->db), q, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", q, msg ? msg : "?");
}

static char *text(struct fx *f, const char *q, const char *user_id)
{
    sqlite3_stmt *st;
    char *out = NULL;

    assert_int_equal(sqlite3_prepare_v2(db_handle(f->db), q, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

static void store(struct fx *f, const char *user_id, const char *access, const char *refresh)
{
    struct gapi_tokens t = {
        .access = (char *)access, .refresh = (char *)refresh, .expires_in = 3600};

    assert_int_equal(gapi_store_tokens(f->db, &f->cfg, user_id, &t, 1, 0), CS_OK);
}

/* Stored tokens are v2, bound to user and field: copied into another row they do not open. */
static void tokens_bound_to_row(void **state)
{
    struct fx *f = *state;
    struct gapi g;
    char *v;

    store(f, f->a.id, "ya29.access-a", "1//refresh-a");
    store(f, f->b.id, "ya29.access-b", "1//refresh-b");
    v = text(f, "SELECT refresh_token FROM user_integrations WHERE user_id = ?1", f->a.id);
    assert_non_null(v);
    assert_true(strncmp(v, "v2:", 3) == 0);
    free(v);
    assert_int_equal(gapi_open(&g, f->db, &f->cfg, f->a.id, 1000), CS_OK);
    assert_string_equal(g.access, "ya29.access-a");
    assert_string_equal(g.refresh, "1//refresh-a");
    gapi_close(&g);
    /* someone with write access to the database copies A's sealed tokens into B's row */
    sql(f, "UPDATE user_integrations SET (access_token, refresh_token) = (SELECT access_token, "
           "refresh_token FROM user_integrations i WHERE i.user_id = (SELECT id FROM users "
           "WHERE email = 'a@example.com')) WHERE user_id = (SELECT id FROM users "
           "WHERE email = 'b@example.com')");
    assert_int_equal(gapi_open(&g, f->db, &f->cfg, f->b.id, 1000), CS_ERR_REAUTH);
    assert_null(g.refresh);
    assert_null(g.access);
    /* swapping the two fields of one row does not work either */
    sql(f, "UPDATE user_integrations SET access_token = refresh_token, refresh_token = "
           "access_token WHERE user_id = (SELECT id FROM users WHERE email = 'a@example.com')");
    assert_int_equal(gapi_open(&g, f->db, &f->cfg, f->a.id, 1000), CS_ERR_REAUTH);
}

/* Rows written before v2 still open, and calsync-admin migrate's re-seal binds them. */
static void legacy_tokens_migrate(void **state)
{
    struct fx *f = *state;
    char *va = NULL, *vr = NULL, *before, *after, err[CS_ERRLEN];
    struct gapi g;
    sqlite3_stmt *st;
    int n = -1;

    store(f, f->a.id, "placeholder", "placeholder");
    store(f, f->b.id, "ya29.access-b", "1//refresh-b"); /* already v2 */
    assert_int_equal(crypt_seal(f->cfg.secret_key, "ya29.old-a", &va), CS_OK);
    assert_int_equal(crypt_seal(f->cfg.secret_key, "1//old-refresh-a", &vr), CS_OK);
    assert_int_equal(sqlite3_prepare_v2(db_handle(f->db),
                                        "UPDATE user_integrations SET access_token = ?2, "
                                        "refresh_token = ?3 WHERE user_id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, f->a.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, va, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, vr, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(va);
    free(vr);
    /* meanwhile v1 is read */
    assert_int_equal(gapi_open(&g, f->db, &f->cfg, f->a.id, 1000), CS_OK);
    assert_string_equal(g.refresh, "1//old-refresh-a");
    gapi_close(&g);
    before = text(f, "SELECT access_token FROM user_integrations WHERE user_id = ?1", f->b.id);
    assert_int_equal(integ_reseal_legacy(f->db, f->cfg.secret_key, &n, err, sizeof err), CS_OK);
    assert_int_equal(n, 1);
    after = text(f, "SELECT access_token FROM user_integrations WHERE user_id = ?1", f->b.id);
    assert_string_equal(before, after); /* v2 rows are left alone */
    free(before);
    free(after);
    after = text(f,
                 "SELECT access_token || refresh_token FROM user_integrations "
                 "WHERE user_id = ?1",
                 f->a.id);
    assert_true(strncmp(after, "v2:", 3) == 0 && strstr(after, "v1:") == NULL);
    free(after);
    assert_int_equal(gapi_open(&g, f->db, &f->cfg, f->a.id, 1000), CS_OK);
    assert_string_equal(g.access, "ya29.old-a");
    assert_string_equal(g.refresh, "1//old-refresh-a");
    gapi_close(&g);
    /* idempotent */
    assert_int_equal(integ_reseal_legacy(f->db, f->cfg.secret_key, &n, err, sizeof err), CS_OK);
    assert_int_equal(n, 0);
    /* a value that does not open under the key stops the migration with a clear message */
    sql(f, "UPDATE user_integrations SET refresh_token = 'v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE user_id = (SELECT id FROM users "
           "WHERE email = 'b@example.com')");
    assert_int_equal(integ_reseal_legacy(f->db, f->cfg.secret_key, &n, err, sizeof err),
                     CS_ERR_CRYPTO);
    assert_non_null(strstr(err, f->b.id));
}

static void token_answers(void **state)
{
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        {"{\"access_token\":\"ya29.a\",\"expires_in\":3599,\"refresh_token\":\"1//r\","
         "\"scope\":\"https://www.googleapis.com/auth/calendar.events\"}",
         CS_OK},
        {"{\"access_token\":\"ya29.a\",\"expires_in\":0}", CS_OK},
        {"{\"access_token\":\"ya29.a\",\"expires_in\":3599,\"refresh_token\":null}", CS_OK},
        {"{\"access_token\":\"ya29.a\"}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"ya29.a\",\"expires_in\":\"3599\"}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"ya29.a\",\"expires_in\":1e300}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"ya29.a\",\"expires_in\":-1}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"ya29 a\",\"expires_in\":1}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"a\\r\\nX-Evil: 1\",\"expires_in\":1}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"\",\"expires_in\":1}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"a\",\"expires_in\":1,\"refresh_token\":5}", CS_ERR_GOOGLE},
        {"{\"access_token\":\"a\",\"expires_in\":1,\"scope\":[1]}", CS_ERR_GOOGLE},
        {"[1]", CS_ERR_GOOGLE},
        {"", CS_ERR_GOOGLE},
    };
    struct gapi_tokens t;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = gapi_tokens_parse(cases[i].body, strlen(cases[i].body), &t);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].body, rc, cases[i].rc);
        if (rc == CS_OK)
            gapi_tokens_free(&t);
    }
    assert_int_equal(gapi_tokens_parse(cases[0].body, strlen(cases[0].body), &t), CS_OK);
    assert_string_equal(t.access, "ya29.a");
    assert_string_equal(t.refresh, "1//r");
    assert_int_equal(t.expires_in, 3599);
    gapi_tokens_free(&t);
    assert_int_equal(gapi_tokens_parse(NULL, 0, &t), CS_ERR_GOOGLE);
}

static void error_bodies_and_headers(void **state)
{
    struct gapi_resp r;
    const char *calendar = "{\"error\":{\"errors\":[{\"reason\":\"rateLimitExceeded\"}],"
                           "\"code\":403,\"message\":\"Rate Limit Exceeded\"}}";
    const char *lines[] = {"Content-Type: application/json; charset=UTF-8\r\n",
                           "Retry-After: 7\r\n", "retry-after: 99999\r\n",
                           "Retry-After: Wed, 21 Oct 2026 07:28:00 GMT\r\n", "Retry-After:"};

    (void)state;
    memset(&r, 0, sizeof r);
    r.json = cJSON_Parse(calendar);
    gapi_parse_error(&r);
    assert_string_equal(r.reason, "rateLimitExceeded");
    assert_string_equal(r.message, "Rate Limit Exceeded");
    gapi_resp_free(&r);
    r.json = cJSON_Parse("{\"error\":\"invalid_grant\",\"error_description\":\"Bad\"}");
    gapi_parse_error(&r);
    assert_string_equal(r.reason, "invalid_grant");
    assert_string_equal(r.message, "Bad");
    gapi_resp_free(&r);
    gapi_parse_error(&r); /* no body */
    assert_string_equal(r.reason, "");
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        gapi_header_parse(&r, lines[i], strlen(lines[i]));
    assert_string_equal(r.ctype, "application/json; charset=UTF-8");
    assert_int_equal(r.retry_after, 7); /* later out-of-range or date forms leave it */
    gapi_resp_free(&r);
}

static void page_and_watch(void **state)
{
    cJSON *j;
    const cJSON *items;
    const char *np, *ns, *rid;
    long long exp;

    (void)state;
    j = cJSON_Parse("{\"items\":[{\"id\":\"a\"}],\"nextPageToken\":\"p1\"}");
    assert_int_equal(gapi_page_parse(j, &items, &np, &ns), CS_OK);
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_string_equal(np, "p1");
    assert_null(ns);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"nextSyncToken\":\"s 1\"}");
    assert_int_equal(gapi_page_parse(j, &items, &np, &ns), CS_ERR_GOOGLE);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"items\":{}}");
    assert_int_equal(gapi_page_parse(j, &items, &np, &ns), CS_ERR_GOOGLE);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"resourceId\":\"r1\",\"expiration\":\"1767225600000\"}");
    assert_int_equal(gapi_watch_parse(j, &rid, &exp), CS_OK);
    assert_string_equal(rid, "r1");
    assert_true(exp == 1767225600000LL);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"resourceId\":\"r1\"}");
    assert_int_equal(gapi_watch_parse(j, &rid, &exp), CS_OK);
    assert_true(exp == -1);
    cJSON_Delete(j);
    {
        const char *bad[] = {"{\"expiration\":\"1\"}",
                             "{\"resourceId\":\"r1\",\"expiration\":\"x\"}",
                             "{\"resourceId\":\"r1\",\"expiration\":\"-5\"}",
                             "{\"resourceId\":\"r1\",\"expiration\":1e300}",
                             "{\"resourceId\":\"r 1\"}",
                             "[]"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            j = cJSON_Parse(bad[i]);
            if (gapi_watch_parse(j, &rid, &exp) != CS_ERR_GOOGLE)
                fail_msg("watch answer %s accepted", bad[i]);
            cJSON_Delete(j);
        }
    }
}

/* 403 dailyLimitExceeded waits for the next quota day: midnight Pacific time, DST included. */
static void quota_day(void **state)
{
    static const struct {
        const char *now, *next;
    } cases[] = {
        {"2026-01-15T12:00:00Z", "2026-01-16T08:00:00Z"}, /* PST: midnight is 08:00Z */
        {"2026-01-16T07:59:59Z", "2026-01-16T08:00:00Z"},
        {"2026-01-16T08:00:00Z", "2026-01-17T08:00:00Z"},
        {"2026-07-01T06:30:00Z", "2026-07-01T07:00:00Z"}, /* PDT: 07:00Z */
        {"2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z"}, /* 22:00 PST the day before */
        {"2026-03-08T09:00:00Z", "2026-03-09T07:00:00Z"}, /* 01:00 PST, DST begins at 02:00 */
        {"2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}, /* 23:00 PDT the day before */
        {"2026-11-01T08:00:00Z", "2026-11-02T08:00:00Z"}, /* 01:00 PDT, DST ends at 02:00 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        time_t now, next;
        assert_int_equal(cal_parse_rfc3339(cases[i].now, &now), CS_OK);
        assert_int_equal(cal_parse_rfc3339(cases[i].next, &next), CS_OK);
        assert_int_equal(gapi_next_quota_day_ms((long long)now * 1000 + 250),
                         (long long)next * 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tokens_bound_to_row, setup, teardown),
        cmocka_unit_test_setup_teardown(legacy_tokens_migrate, setup, teardown),
        cmocka_unit_test(token_answers),
        cmocka_unit_test(error_bodies_and_headers),
        cmocka_unit_test(page_and_watch),
        cmocka_unit_test(quota_day),
    };
    if (crypt_init() != CS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
