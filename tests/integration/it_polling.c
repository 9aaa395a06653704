/* it_polling: without webhooks, the renew cron polls and retries the outbox until both sides agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

static struct stack S;

static int setup(void **state)
{
    static const char *const env[] = {"CALSYNC_POLL_INTERVAL=60", "CALSYNC_PUSH_DELAY_MS=0", NULL};
    static const struct stack_opts o = {.webhooks = 0, .env = env};

    (void)state;
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static void connect_user(struct client *c, const char *who)
{
    assert_int_equal(stack_connect_user(&S, c, who, NULL), 0);
}

/* uma's poll interval has passed */
#define UMA_POLL_DUE                                                                               \
    "UPDATE user_integrations SET next_poll_at = 1 WHERE user_id = (SELECT id FROM users WHERE "   \
    "email = 'uma@example.com')"

static int renew(char *out, size_t len)
{
    const char *none[] = {NULL};

    return stack_run(&S, "cgi/calsync-renew", none, NULL, out, len);
}

static void polling_converges(void **state)
{
    struct client c;
    struct resp r;
    char out[512];

    (void)state;
    connect_user(&c, "uma");
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_false(jbool(r.json, "realtime"));
    assert_string_equal(jstr(r.json, "state"), "connected");
    resp_free(&r);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM user_integrations WHERE channel_id IS NOT NULL"), 0);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=uma@gmail.test",
                             "{\"summary\":\"Sondeo\",\"start\":{\"dateTime\":\"2026-07-01T10:00:"
                             "00Z\"},\"end\":{\"dateTime\":\"2026-07-01T11:00:00Z\"}}",
                             NULL),
                     200);
    /* just synced: the next poll is an interval (60 s here) away */
    assert_int_equal(renew(out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=0"));
    /* the interval passes (the clock is moved in the store, not waited for) */
    assert_int_equal(stack_db_exec(&S, UMA_POLL_DUE), 0);
    assert_int_equal(renew(out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=1"));
    assert_int_equal(stack_wait_jobs(&S, 8000), 0); /* the worker polls */
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-06-01&to=2026-08-01", NULL, NULL, &r),
        200);
    assert_non_null(strstr(r.body, "Sondeo"));
    resp_free(&r);
    /* the poll set the next one an interval ahead: nothing to poll now */
    assert_true(stack_db_int(&S, "SELECT next_poll_at FROM user_integrations i JOIN users u ON "
                                 "u.id = i.user_id WHERE u.email = 'uma@example.com'") >
                (long long)time(NULL) + 50);
    assert_int_equal(renew(out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=0"));
    /* local edits push at once, but do not postpone the next poll */
    assert_int_equal(stack_db_exec(&S, UMA_POLL_DUE), 0);
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Empuje\",\"start\":\"2026-07-03T10:00:00Z\",\"end\":"
                                 "\"2026-07-03T11:00:00Z\"}",
                                 NULL),
                     201);
    assert_int_equal(stack_wait_jobs(&S, 8000), 0); /* the push ran */
    assert_int_equal(emu_ctl(&S, "GET", "events?account=uma@gmail.test", NULL, &r), 200);
    assert_non_null(strstr(r.body, "Empuje"));
    resp_free(&r);
    assert_int_equal(renew(out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=1"));
    client_free(&c);
}

struct seek_err {
    struct client *c;
    const char *path;
};

static int has_sync_error(void *arg)
{
    struct seek_err *se = arg;
    struct resp r;
    int yes = 0;

    if (client_req(se->c, "GET", se->path, NULL, NULL, &r) == 200)
        yes = jstr(r.json, "syncError") != NULL;
    resp_free(&r);
    return yes;
}

static void outbox_retried_by_cron(void **state)
{
    struct client c;
    struct resp r;
    char out[512], path[64];
    long long id;

    (void)state;
    connect_user(&c, "vera");
    assert_int_equal(
        emu_ctl(&S, "POST", "faults", "{\"status\":503,\"count\":1000,\"path\":\"/events\"}", NULL),
        200);
    /* the local save succeeds although Google is down */
    assert_int_equal(
        client_json(&c, "POST", "/api/appointments",
                    "{\"title\":\"Sin "
                    "Google\",\"start\":\"2026-07-02T10:00:00Z\",\"end\":\"2026-07-02T11:00:00Z\"}",
                    &r),
        201);
    id = (long long)jnum(r.json, "id");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    /* the push job backs off within its budget (8 s here), then shows the error and is
     * rescheduled, never dropped */
    {
        struct seek_err se = {&c, path};
        assert_true(wait_until(has_sync_error, &se, 15000));
    }
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncState"), "pending");
    assert_non_null(jstr(r.json, "syncError"));
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM sync_jobs WHERE attempts > 0"), 1);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_int_equal((int)jnum(r.json, "pending"), 1);
    resp_free(&r);
    emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    /* time passes until the row is due */
    assert_int_equal(stack_db_exec(&S, "UPDATE outbox SET next_attempt_at = 0; UPDATE "
                                       "user_integrations SET backoff_until = 0"),
                     0);
    assert_int_equal(renew(out, sizeof out), 0);
    assert_int_equal(stack_wait_jobs(&S, 8000), 0);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncState"), "synced");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "syncError")));
    resp_free(&r);
    assert_int_equal(emu_ctl(&S, "GET", "events?account=vera@gmail.test", NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 1);
    resp_free(&r);
    client_free(&c);
}

static void admin_cli(void **state)
{
    const char *list[] = {"user-list", NULL}, *status[] = {"status", NULL};
    const char *bad[] = {"user-add", "not-an-email", NULL},
               *dup[] = {"user-add", "uma@example.com", NULL};
    char out[4096];

    (void)state;
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", list, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "uma@example.com"));
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", status, NULL, out, sizeof out), 0);
    {
        int have = -1, all = -2;
        const char *v = strstr(out, "schema version: ");
        assert_non_null(v);
        assert_int_equal(sscanf(v, "schema version: %d of %d", &have, &all), 2);
        assert_int_equal(have, all); /* every migration applied */
        assert_true(all >= 3);
    }
    assert_non_null(strstr(out, "webhooks: off (polling)"));
    assert_non_null(strstr(out, "uma@example.com\tconnected\tlast sync 20"));
    assert_int_not_equal(
        stack_run(&S, "cgi/calsync-admin", bad, "long-password\n", out, sizeof out), 0);
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", dup, "long-password\n", out, sizeof out),
                     3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(polling_converges),
                                       cmocka_unit_test(outbox_retried_by_cron),
                                       cmocka_unit_test(admin_cli)};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
