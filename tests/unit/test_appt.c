/* test_appt: appointment validation (table-driven) and its JSON form. */
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
#include "buf.h"
#include "cs.h"
#include <sqlite3.h>

#include "db.h"

static void valid_inputs(void **state)
{
    static const struct {
        const char *json, *start, *end;
        int all_day;
    } cases[] = {
        {"{\"title\":\"a\",\"start\":\"2026-01-01T10:00:00+01:00\",\"end\":\"2026-01-01T11:00:00+"
         "01:00\"}",
         "2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z", 0},
        {"{\"title\":\"a\",\"allDay\":true,\"start\":\"2026-01-01\",\"end\":\"2026-01-03\"}",
         "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z", 1},
        /* an all-day date-time is read as the local date, the end inclusive */
        {"{\"title\":\"a\",\"allDay\":true,\"start\":\"2026-06-01T23:30:00Z\",\"end\":\"2026-06-"
         "01T23:45:00Z\"}",
         "2026-06-02T00:00:00Z", "2026-06-03T00:00:00Z", 1},
        {"{\"title\":\"Reunión ñ "
         "😀\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T10:01:00Z\",\"type\":"
         "\"Reunión\",\"status\":\"Cancelled\",\"contactId\":null,\"description\":null}",
         "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", 0},
    };
    char err[CS_ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct appt a;
        cJSON *in = cJSON_Parse(cases[i].json);
        memset(&a, 0, sizeof a);
        if (appt_apply_json(&a, in, 0, "Europe/Madrid", err, sizeof err) != CS_OK)
            fail_msg("case %zu refused: %s", i, err);
        assert_string_equal(a.start, cases[i].start);
        assert_string_equal(a.end, cases[i].end);
        assert_int_equal(a.all_day, cases[i].all_day);
        assert_non_null(a.description);
        appt_free(&a);
        cJSON_Delete(in);
    }
}

static void invalid_inputs(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"title\":\"a\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T10:00:00Z\"}",
        "{\"title\":\"a\",\"start\":\"2026-01-01\",\"end\":\"2026-01-02\"}",
        "{\"title\":\"a\",\"allDay\":true,\"start\":\"2026-01-01\",\"end\":\"2026-01-01\"}",
        "{\"title\":\"a\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:00Z\","
        "\"type\":\"visita\"}",
        "{\"title\":\"a\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:00Z\","
        "\"contactId\":1.5}",
        "{\"title\":\"a\\u0001b\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:"
        "00Z\"}",
        "{\"title\":[],\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:00Z\"}",
        "{\"title\":\"a\",\"start\":123,\"end\":\"2026-01-01T11:00:00Z\"}",
    };
    char err[CS_ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct appt a;
        cJSON *in = cJSON_Parse(bad[i]);
        assert_non_null(in);
        memset(&a, 0, sizeof a);
        err[0] = '\0';
        if (appt_apply_json(&a, in, 0, "Europe/Madrid", err, sizeof err) == CS_OK)
            fail_msg("case %zu accepted", i);
        assert_true(strlen(err) > 0);
        appt_free(&a);
        cJSON_Delete(in);
    }
}

static void long_title(void **state)
{
    char json[1200], err[CS_ERRLEN];
    struct appt a;
    cJSON *in;

    (void)state;
    memset(&a, 0, sizeof a);
    snprintf(
        json, sizeof json,
        "{\"title\":\"%0*d\",\"start\":\"2026-01-01T10:00:00Z\",\"end\":\"2026-01-01T11:00:00Z\"}",
        APPT_TITLE_MAX + 1, 0);
    in = cJSON_Parse(json);
    assert_int_equal(appt_apply_json(&a, in, 0, "UTC", err, sizeof err), CS_ERR_INVAL);
    assert_non_null(strstr(err, "title"));
    cJSON_Delete(in);
    appt_free(&a);
}

/* Text imported whole from Google may pass our own limits: sent back unchanged it is accepted,
 * changed it must fit them. */
static void long_text_unchanged(void **state)
{
    size_t n = APPT_DESC_MAX * 4;
    char *desc = malloc(n + 1), *json = malloc(n + 128), err[CS_ERRLEN];
    struct appt a;
    cJSON *in;

    (void)state;
    assert_non_null(desc);
    assert_non_null(json);
    memset(desc, 'd', n);
    desc[n] = '\0';
    memset(&a, 0, sizeof a);
    a.title = strdup("t");
    a.description = strdup(desc);
    a.location = strdup("");
    snprintf(a.start, sizeof a.start, "2026-01-01T10:00:00Z");
    snprintf(a.end, sizeof a.end, "2026-01-01T11:00:00Z");
    snprintf(json, n + 128, "{\"description\":\"%s\",\"location\":\"aqui\"}", desc);
    in = cJSON_Parse(json);
    assert_int_equal(appt_apply_json(&a, in, 1, "UTC", err, sizeof err), CS_OK);
    assert_string_equal(a.location, "aqui");
    assert_int_equal(strlen(a.description), n);
    cJSON_Delete(in);
    desc[0] = 'X'; /* changed: now our limit applies */
    snprintf(json, n + 128, "{\"description\":\"%s\"}", desc);
    in = cJSON_Parse(json);
    assert_int_equal(appt_apply_json(&a, in, 1, "UTC", err, sizeof err), CS_ERR_INVAL);
    assert_non_null(strstr(err, "description"));
    cJSON_Delete(in);
    appt_free(&a);
    free(desc);
    free(json);
}

static void partial_update_keeps_fields(void **state)
{
    struct appt a;
    char err[CS_ERRLEN];
    cJSON *c = cJSON_Parse("{\"title\":\"a\",\"location\":\"here\",\"start\":\"2026-01-01T10:00:"
                           "00Z\",\"end\":\"2026-01-01T11:00:00Z\",\"type\":\"Viaje\"}");
    cJSON *p = cJSON_Parse("{\"end\":\"2026-01-01T12:00:00Z\"}");
    cJSON *q = cJSON_Parse("{\"start\":\"2026-01-01T13:00:00Z\"}");

    (void)state;
    memset(&a, 0, sizeof a);
    assert_int_equal(appt_apply_json(&a, c, 0, "UTC", err, sizeof err), CS_OK);
    assert_int_equal(appt_apply_json(&a, p, 1, "UTC", err, sizeof err), CS_OK);
    assert_string_equal(a.location, "here");
    assert_string_equal(a.type, "Viaje");
    assert_string_equal(a.end, "2026-01-01T12:00:00Z");
    /* a start after the stored end is refused */
    assert_int_equal(appt_apply_json(&a, q, 1, "UTC", err, sizeof err), CS_ERR_INVAL);
    appt_free(&a);
    cJSON_Delete(c);
    cJSON_Delete(p);
    cJSON_Delete(q);
}

static void to_json(void **state)
{
    struct appt a;
    char err[CS_ERRLEN];
    cJSON *in = cJSON_Parse("{\"title\":\"x\",\"allDay\":true,\"start\":\"2026-01-01\",\"end\":"
                            "\"2026-01-02\",\"contactId\":7}");
    cJSON *out;

    (void)state;
    memset(&a, 0, sizeof a);
    assert_int_equal(appt_apply_json(&a, in, 0, "UTC", err, sizeof err), CS_OK);
    snprintf(a.sync_state, sizeof a.sync_state, "pending");
    out = appt_to_json(&a);
    assert_string_equal(cJSON_GetObjectItem(out, "start")->valuestring, "2026-01-01");
    assert_string_equal(cJSON_GetObjectItem(out, "end")->valuestring, "2026-01-02");
    assert_int_equal(cJSON_GetObjectItem(out, "contactId")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(out, "syncState")->valuestring, "pending");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(out, "googleEventId")));
    cJSON_Delete(out);
    cJSON_Delete(in);
    appt_free(&a);
}

static void list_cursor(void **state)
{
    struct appt_pos p = {"2026-03-02T10:00:00Z", 12345}, q;
    char c[APPT_CURSOR_LEN], bad[APPT_CURSOR_LEN];
    const char *invalid[] = {"",
                             "!!!",
                             "MjAyNi0wMy0wMlQxMDowMDowMFo=",    /* padded */
                             "MjAyNi0wMy0wMlQxMDowMDowMFo",     /* no id */
                             "bm90LWEtZGF0ZSAxMg",              /* "not-a-date 12" */
                             "MjAyNi0wMy0wMlQxMDowMDowMFogMA",  /* id 0 */
                             "MjAyNi0wMy0wMlQxMDowMDowMFogLTE", /* id -1 */
                             "MjAyNi0wMy0wMlQxMDowMDowMFogMXg", /* "1x" */
                             "MjAyNi0wMy0wMlQxMDowMDowMFogMTIzNDU2Nzg5MDEyMzQ1Njc4OTA"};

    (void)state;
    assert_int_equal(appt_cursor_encode(&p, c), CS_OK);
    assert_null(strchr(c, '='));
    assert_int_equal(strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     strlen(c));
    assert_int_equal(appt_cursor_decode(c, &q), CS_OK);
    assert_string_equal(q.start, p.start);
    assert_int_equal(q.id, p.id);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        if (appt_cursor_decode(invalid[i], &q) != CS_ERR_INVAL)
            fail_msg("cursor %zu (%s) accepted", i, invalid[i]);
    memset(bad, 'A', sizeof bad - 1);
    bad[sizeof bad - 1] = '\0';
    assert_int_equal(appt_cursor_decode(bad, &q), CS_ERR_INVAL);
}

static void text_validation(void **state)
{
    (void)state;
    assert_true(cs_text_valid("plain\ttext\nok"));
    assert_true(cs_text_valid("ñandú €"));
    assert_false(cs_text_valid("\x01"));
    assert_false(cs_text_valid("\xc3"));         /* truncated */
    assert_false(cs_text_valid("\xc0\xaf"));     /* overlong */
    assert_false(cs_text_valid("\xed\xa0\x80")); /* surrogate */
}

/* appt_list_json prints what cJSON prints for appt_list's array, for awkward content too. */
static void list_json_matches_cjson(void **state)
{
    char path[64], err[CS_ERRLEN], *want;
    struct db *db;
    struct buf b;
    struct appt_pos pos;
    int more;
    cJSON *arr = cJSON_CreateArray();
    int fd;

    (void)state;
    snprintf(path, sizeof path, "/tmp/calsync-appt-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    assert_int_equal(db_open(path, &db, err, sizeof err), CS_OK);
    assert_int_equal(
        sqlite3_exec(db_handle(db),
                     "INSERT INTO users(id, email, password_hash, timezone, created_at) "
                     "VALUES('u1', 'a@b.c', 'x', 'Europe/Madrid', 0);"
                     "INSERT INTO appointments(user_id, contact_id, title, description, location, "
                     "start_utc, end_utc, all_day, type, status, google_event_id, sync_state, "
                     "sync_error, created_at, updated_at) VALUES "
                     "('u1', NULL, 'Visita \"piso\" \\ centro', 'l\u00ednea' || char(10) || "
                     "'dos' || char(9) || char(1) || char(8) || char(12) || char(13) || char(127),"
                     " '', '2026-03-02T10:00:00Z', '2026-03-02T11:00:00Z', 0, 'Visita', "
                     "'Scheduled', NULL, 'local', NULL, 1, 1762345678901),"
                     "('u1', 42, 'Firma / caf\u00e9 \u20ac', '', 'Calle Mayor 1', "
                     "'2026-03-03T00:00:00Z', '2026-03-05T00:00:00Z', 1, 'Firma', 'Completed', "
                     "'abc123', 'error', 'Google said \"no\"', 2, 2),"
                     "('u1', NULL, 'gone', '', '', '2026-03-04T10:00:00Z', "
                     "'2026-03-04T11:00:00Z', 0, 'Reuni\u00f3n', 'Scheduled', NULL, 'local', "
                     "NULL, 3, 3);"
                     "UPDATE appointments SET is_active = 0 WHERE title = 'gone';",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(appt_list(db, "u1", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", NULL,
                               APPT_LIST_MAX, arr, &pos, &more),
                     CS_OK);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    want = cJSON_PrintUnformatted(arr);
    buf_init(&b, 1 << 20);
    assert_int_equal(appt_list_json(db, "u1", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", NULL,
                                    APPT_LIST_MAX, &b, &pos, &more),
                     CS_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, want);
    buf_reset(&b);
    assert_int_equal(appt_list_json(db, "u1", "2027-03-01T00:00:00Z", "2027-04-01T00:00:00Z", NULL,
                                    APPT_LIST_MAX, &b, &pos, &more),
                     CS_OK);
    assert_string_equal(b.data, "[]");
    buf_free(&b);
    free(want);
    cJSON_Delete(arr);
    db_close(db);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(valid_inputs),
                                       cmocka_unit_test(invalid_inputs),
                                       cmocka_unit_test(long_title),
                                       cmocka_unit_test(long_text_unchanged),
                                       cmocka_unit_test(partial_update_keeps_fields),
                                       cmocka_unit_test(to_json),
                                       cmocka_unit_test(text_validation),
                                       cmocka_unit_test(list_cursor),
                                       cmocka_unit_test(list_json_matches_cjson)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
