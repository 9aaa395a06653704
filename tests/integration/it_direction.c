/* it_direction: the per-user sync direction (GET/PATCH /api/settings "syncDirection", shown in
 * status): bidirectional, vesta_to_google, google_to_vesta and none (paused) honoured by the
 * engine, and nothing lost when a closed way opens again. Runs on every store and host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static struct stack S;

static int setup(void **state)
{
    /* local changes wait for an explicit sync: each step controls what each side has seen */
    static const char *const env[] = {"CALSYNC_PUSH_DELAY_MS=3600000", NULL};
    static const struct stack_opts o = {.env = env};

    (void)state;
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static void set_direction(struct client *c, const char *dir)
{
    struct resp r;
    char body[96];

    snprintf(body, sizeof body, "{\"syncDirection\":\"%s\"}", dir);
    assert_int_equal(client_json(c, "PATCH", "/api/settings", body, &r), 200);
    assert_string_equal(jstr(r.json, "syncDirection"), dir);
    resp_free(&r);
    assert_int_equal(client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncDirection"), dir);
    resp_free(&r);
}

static void sync_now(struct client *c)
{
    struct resp r;

    assert_int_equal(client_json(c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    resp_free(&r);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
}

static long long create_local(struct client *c, const char *title, int day)
{
    struct resp r;
    char body[300];
    long long id;

    snprintf(body, sizeof body,
             "{\"title\":\"%s\",\"start\":\"2026-11-%02dT10:00:00+01:00\",\"end\":\"2026-11-%02dT"
             "11:00:00+01:00\",\"type\":\"Visita\"}",
             title, day, day);
    assert_int_equal(client_json(c, "POST", "/api/appointments", body, &r), 201);
    id = (long long)jnum(r.json, "id");
    resp_free(&r);
    return id;
}

static void create_google(const char *who, const char *title, int day)
{
    struct resp r;
    char path[96], body[300];

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    snprintf(body, sizeof body,
             "{\"summary\":\"%s\",\"start\":{\"dateTime\":\"2026-11-%02dT15:00:00+01:00\"},"
             "\"end\":{\"dateTime\":\"2026-11-%02dT16:00:00+01:00\"}}",
             title, day, day);
    assert_int_equal(emu_ctl(&S, "POST", path, body, &r), 200);
    resp_free(&r);
}

/* 1 when a title is among the user's appointments here / the account's live events at Google. */
static int local_has(struct client *c, const char *title)
{
    struct resp r;
    int found;

    assert_int_equal(
        client_req(c, "GET", "/api/appointments?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
                   NULL, NULL, &r),
        200);
    found = r.body != NULL && strstr(r.body, title) != NULL;
    resp_free(&r);
    return found;
}

static int google_has(const char *who, const char *title)
{
    struct resp r;
    char path[96];
    const cJSON *it;
    int found = 0;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (strcmp(jstr(it, "status"), "cancelled") != 0 && jstr(it, "summary") != NULL &&
            strcmp(jstr(it, "summary"), title) == 0)
            found = 1;
    }
    resp_free(&r);
    return found;
}

static void settings_validated(void **state)
{
    struct client c;
    struct resp r;
    static const char *const bad[] = {"{\"syncDirection\":\"both\"}", "{\"syncDirection\":1}",
                                      "{\"syncDirection\":null}", "{\"direction\":\"none\"}",
                                      "[\"none\"]"};

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "dora", NULL), 0);
    assert_int_equal(client_req(&c, "GET", "/api/settings", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncDirection"), "bidirectional"); /* the default */
    resp_free(&r);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(client_json(&c, "PATCH", "/api/settings", bad[i], &r), 400);
        assert_non_null(jstr(r.json, "error"));
        resp_free(&r);
    }
    /* a bad direction saves nothing else of the same request */
    assert_int_equal(client_json(&c, "PATCH", "/api/settings",
                                 "{\"reminders\":[15],\"syncDirection\":\"sideways\"}", &r),
                     400);
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/settings", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncDirection"), "bidirectional");
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r.json, "reminders")));
    resp_free(&r);
    client_free(&c);
}

/* Each one-way setting moves one way only; the other way's changes wait. */
static void one_way_each(void **state)
{
    struct client c;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "olga", NULL), 0);
    set_direction(&c, "vesta_to_google");
    create_local(&c, "Local A", 2);
    create_google("olga", "Google A", 3);
    sync_now(&c);
    assert_true(google_has("olga", "Local A"));
    assert_false(local_has(&c, "Google A"));
    set_direction(&c, "google_to_vesta");
    create_local(&c, "Local B", 4);
    sync_now(&c);
    assert_true(local_has(&c, "Google A")); /* the sync token kept its place */
    assert_false(google_has("olga", "Local B"));
    set_direction(&c, "bidirectional");
    sync_now(&c);
    assert_true(google_has("olga", "Local B")); /* the outbox kept its place */
    client_free(&c);
}

/* Paused: nothing moves; both sides edit the same appointment; opened again, every edit is
 * kept (fields changed on one side keep that side's value). */
static void paused_then_converges(void **state)
{
    struct client c;
    struct resp r;
    char path[300], gid[256] = "", body[200];
    long long id, calls;
    size_t mark;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "pau", NULL), 0);
    id = create_local(&c, "Shared", 5);
    sync_now(&c);
    assert_true(google_has("pau", "Shared"));
    {
        char sql[160], *v;
        snprintf(sql, sizeof sql,
                 "SELECT google_event_id FROM appointments WHERE appointment_id = %lld", id);
        v = stack_db_text(&S, sql);
        assert_non_null(v);
        snprintf(gid, sizeof gid, "%s", v);
        free(v);
    }
    set_direction(&c, "none");
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(jbool(r.json, "paused"));
    resp_free(&r);
    mark = emu_log_mark(&S);
    /* edits on both sides, different fields of the same appointment, plus a new one each */
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(&c, "PATCH", path, "{\"description\":\"from Vesta\"}", NULL), 200);
    snprintf(path, sizeof path, "events/%s?account=pau@gmail.test", gid);
    assert_int_equal(emu_ctl(&S, "PATCH", path, "{\"location\":\"from Google\"}", NULL), 200);
    create_local(&c, "Paused local", 6);
    create_google("pau", "Paused google", 7);
    sync_now(&c);
    calls = emu_count_calls(&S, "PATCH", "/events", mark) +
            emu_count_calls(&S, "POST", "/events", mark) +
            emu_count_calls(&S, "GET", "/events", mark);
    assert_int_equal(calls, 0); /* paused: not a single Calendar call */
    assert_false(google_has("pau", "Paused local"));
    assert_false(local_has(&c, "Paused google"));
    set_direction(&c, "bidirectional");
    sync_now(&c);
    sync_now(&c);
    assert_true(google_has("pau", "Paused local"));
    assert_true(local_has(&c, "Paused google"));
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "description"), "from Vesta");
    assert_string_equal(jstr(r.json, "location"), "from Google");
    resp_free(&r);
    snprintf(path, sizeof path, "events/%s?account=pau@gmail.test", gid);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "description"), "from Vesta");
    assert_string_equal(jstr(r.json, "location"), "from Google");
    resp_free(&r);
    snprintf(body, sizeof body, "%s", "done");
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_validated),
        cmocka_unit_test(one_way_each),
        cmocka_unit_test(paused_then_converges),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
