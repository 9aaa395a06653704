/* it_realtime: push channels, the verified webhook, coalescing, renewal, disconnect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "crypt.h"
#include "harness.h"

#define WEBHOOK_SECRET "integration-test-webhook-secret"

static struct stack S;

/* stack_db_exec with values formatted in (times computed here: SQL both stores accept) */
static int stack_db_exec_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int stack_db_exec_fmt(const char *fmt, ...)
{
    char sql[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    return stack_db_exec(&S, sql);
}

static int setup(void **state)
{
    static const char *const env[] = {"CALSYNC_WEBHOOK_SETTLE_MS=400", NULL};
    static const struct stack_opts o = {.webhooks = 1, .env = env};

    (void)state;
    if (crypt_init() != 0)
        return -1;
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

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static void channel_of(const char *who, struct stack_chan *ch)
{
    assert_int_equal(stack_channel(&S, who, WEBHOOK_SECRET, ch), 0);
}

static long notify(const char *id, const char *rid, const char *token, const char *state_,
                   struct resp *r)
{
    struct client c;
    char h1[300], h2[300], h3[300], h4[64];
    const char *h[6] = {h1, h2, h3, h4, "X-Goog-Message-Number: 7", NULL};
    long st;

    snprintf(h1, sizeof h1, "X-Goog-Channel-ID: %s", id);
    snprintf(h2, sizeof h2, "X-Goog-Resource-ID: %s", rid);
    snprintf(h3, sizeof h3, "X-Goog-Channel-Token: %s", token);
    snprintf(h4, sizeof h4, "X-Goog-Resource-State: %s", state_);
    client_init(&c, &S);
    st = client_req(&c, "POST", "/api/google/calendar/webhook", h, NULL, r);
    client_free(&c);
    return st;
}

struct seek {
    struct client *c;
    const char *title;
};

static int appears(void *arg)
{
    struct seek *s = arg;
    struct resp r;
    int found;

    client_req(s->c, "GET", "/api/appointments?from=2026-01-01&to=2026-12-31", NULL, NULL, &r);
    found = r.body && strstr(r.body, s->title) != NULL;
    resp_free(&r);
    return found;
}

static void notification_brings_change(void **state)
{
    struct client c;
    struct resp r;
    struct seek s = {&c, "Creado en Google"};
    long long t0;

    (void)state;
    connect_user(&c, "nora");
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(jbool(r.json, "realtime"));
    resp_free(&r);
    t0 = now_ms();
    assert_int_equal(emu_ctl(&S, "POST", "events?account=nora@gmail.test",
                             "{\"summary\":\"Creado en "
                             "Google\",\"start\":{\"dateTime\":\"2026-06-01T10:00:00Z\"},\"end\":{"
                             "\"dateTime\":\"2026-06-01T11:00:00Z\"}}",
                             NULL),
                     200);
    /* nobody presses anything: Google's notification brings it */
    assert_true(wait_until(appears, &s, 8000));
    print_message("notification to visible appointment: %lld ms\n", now_ms() - t0);
    /* and a change made here reaches Google right after the save */
    assert_int_equal(
        client_json(&c, "POST", "/api/appointments",
                    "{\"title\":\"Creado en "
                    "Vesta\",\"start\":\"2026-06-02T10:00:00Z\",\"end\":\"2026-06-02T11:00:00Z\"}",
                    NULL),
        201);
    {
        int found = 0;
        for (int i = 0; i < 100 && !found; i++) {
            assert_int_equal(emu_ctl(&S, "GET", "events?account=nora@gmail.test", NULL, &r), 200);
            found = strstr(r.body, "Creado en Vesta") != NULL;
            resp_free(&r);
            if (!found)
                sleep_ms(50);
        }
        assert_true(found);
    }
    client_free(&c);
}

#undef ACCT
#define ACCT "omar@gmail.test"
static void forged_notifications(void **state)
{
    struct client c;
    struct resp r;
    struct stack_chan ch;
    char longid[400];
    size_t mark;
    long long runs;

    (void)state;
    connect_user(&c, "omar");
    channel_of("omar", &ch);
    runs = stack_db_int(&S, "SELECT count(*) FROM sync_runs r JOIN users u ON u.id = r.user_id "
                            "WHERE u.email = 'omar@example.com'");
    mark = emu_log_mark(&S);
    assert_int_equal(notify(ch.id, ch.rid, "forged-token", "exists", &r), 403);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(notify(ch.id, "other-resource", ch.token, "exists", NULL), 403);
    assert_int_equal(notify(ch.id, ch.rid, "", "exists", NULL), 403);
    /* a token made with another secret */
    {
        char other[CRYPT_HEXLEN];
        crypt_hmac_text("not-the-secret", ch.id, other);
        assert_int_equal(notify(ch.id, ch.rid, other, "exists", NULL), 403);
    }
    /* unknown (stale) channel: acknowledged, ignored */
    assert_int_equal(
        notify("00000000-0000-4000-8000-000000000000", ch.rid, ch.token, "exists", NULL), 200);
    /* malformed */
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(notify(longid, ch.rid, ch.token, "exists", NULL), 400);
    assert_int_equal(notify(ch.id, ch.rid, ch.token, "weird", NULL), 400);
    {
        struct client raw;
        client_init(&raw, &S);
        assert_int_equal(client_req(&raw, "POST", "/api/google/calendar/webhook", NULL, NULL, NULL),
                         400);
        assert_int_equal(client_req(&raw, "GET", "/api/google/calendar/webhook", NULL, NULL, NULL),
                         405);
        client_free(&raw);
    }
    sleep_ms(600);
    /* nothing ran: no Google call, no sync */
    assert_int_equal(emu_count_calls_for(&S, ACCT, NULL, "/", mark), 0);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM sync_runs r JOIN users u ON u.id = "
                                      "r.user_id WHERE u.email = 'omar@example.com'"),
                     runs);
    /* the genuine article: "sync" only confirms, "exists" syncs */
    assert_int_equal(notify(ch.id, ch.rid, ch.token, "sync", NULL), 200);
    sleep_ms(600);
    assert_int_equal(emu_count_calls_for(&S, ACCT, NULL, "/", mark), 0);
    assert_int_equal(notify(ch.id, ch.rid, ch.token, "exists", NULL), 200);
    for (int i = 0; i < 100 && emu_count_calls_for(&S, ACCT, "GET", "/events", mark) == 0; i++)
        sleep_ms(50);
    assert_int_equal(emu_count_calls_for(&S, ACCT, "GET", "/events", mark), 1);
    client_free(&c);
}

#undef ACCT
#define ACCT "pia@gmail.test"
static void answers_before_google(void **state)
{
    struct client c;
    struct stack_chan ch;
    size_t mark;

    (void)state;
    connect_user(&c, "pia");
    channel_of("pia", &ch);
    sleep_ms(800); /* let the channel's own "sync" settle */
    mark = emu_log_mark(&S);
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":1500,\"count\":1,\"path\":\"/events\"}",
                             NULL),
                     200);
    assert_int_equal(notify(ch.id, ch.rid, ch.token, "exists", NULL), 200);
    /* answered while the Google call has not even finished */
    assert_int_equal(emu_count_calls_for(&S, ACCT, "GET", "/events", mark), 0);
    for (int i = 0; i < 100 && emu_count_calls_for(&S, ACCT, "GET", "/events", mark) == 0; i++)
        sleep_ms(50);
    assert_int_equal(emu_count_calls_for(&S, ACCT, "GET", "/events", mark), 1);
    client_free(&c);
}

#undef ACCT
#define ACCT "quim@gmail.test"
static void burst_coalesces(void **state)
{
    struct client c;
    struct stack_chan ch;
    char h1[300], h2[300], h3[300];
    const char *h[6] = {h1, h2, h3, "X-Goog-Resource-State: exists", "Content-Length: 0", NULL};
    CURLM *multi = curl_multi_init();
    CURL *easy[50];
    struct curl_slist *hl = NULL;
    char url[256], sql[256];
    size_t mark;
    long long runs0;
    int running = 1;

    (void)state;
    connect_user(&c, "quim");
    channel_of("quim", &ch);
    sleep_ms(800);
    snprintf(h1, sizeof h1, "X-Goog-Channel-ID: %s", ch.id);
    snprintf(h2, sizeof h2, "X-Goog-Resource-ID: %s", ch.rid);
    snprintf(h3, sizeof h3, "X-Goog-Channel-Token: %s", ch.token);
    for (int i = 0; h[i]; i++)
        hl = curl_slist_append(hl, h[i]);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sync_runs r JOIN users u ON u.id = r.user_id WHERE u.email = "
             "'quim@example.com' AND `trigger` = 'webhook'");
    runs0 = stack_db_int(&S, sql);
    mark = emu_log_mark(&S);
    snprintf(url, sizeof url, "%s/api/google/calendar/webhook", S.base);
    for (int i = 0; i < 50; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_POST, 1L);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_multi_add_handle(multi, easy[i]);
    }
    while (running) {
        curl_multi_perform(multi, &running);
        curl_multi_wait(multi, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < 50; i++) {
        long code = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
        assert_int_equal(code, 200);
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hl);
    sleep_ms(2500);
    print_message("50 notifications -> %lld syncs, %d list calls\n", stack_db_int(&S, sql) - runs0,
                  emu_count_calls_for(&S, ACCT, "GET", "/events", mark));
    assert_true(stack_db_int(&S, sql) - runs0 >= 1);
    assert_true(stack_db_int(&S, sql) - runs0 <= 2);
    assert_true(emu_count_calls_for(&S, ACCT, "GET", "/events", mark) >= 1);
    assert_true(emu_count_calls_for(&S, ACCT, "GET", "/events", mark) <= 2);
    client_free(&c);
}

struct bg_sync {
    struct client *c;
    long status;
};

static void *bg_sync_main(void *arg)
{
    struct bg_sync *b = arg;

    b->status = client_json(b->c, "POST", "/api/google/calendar/sync", "{}", NULL);
    return NULL;
}

#undef ACCT
#define ACCT "vito@gmail.test"
static void one_more_pass(void **state)
{
    struct client c;
    struct stack_chan ch;
    struct bg_sync b = {&c, 0};
    pthread_t th;
    size_t mark;

    (void)state;
    connect_user(&c, "vito");
    channel_of("vito", &ch);
    sleep_ms(800);
    mark = emu_log_mark(&S);
    /* a slow first listing keeps the manual sync running while notifications arrive */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":1500,\"count\":1,\"path\":\"/events\"}",
                             NULL),
                     200);
    assert_int_equal(pthread_create(&th, NULL, bg_sync_main, &b), 0);
    sleep_ms(400);
    for (int i = 0; i < 3; i++)
        assert_int_equal(notify(ch.id, ch.rid, ch.token, "exists", NULL), 200);
    pthread_join(th, NULL);
    assert_int_equal(b.status, 200);
    sleep_ms(1500);
    /* the running sync made exactly one more pass for the three of them */
    assert_int_equal(emu_count_calls_for(&S, ACCT, "GET", "/events", mark), 2);
    client_free(&c);
}

static void renewal(void **state)
{
    struct client c;
    struct resp r;
    struct stack_chan old, fresh;
    struct seek s = {&c, "Tras renovar"};
    const char *none[] = {NULL};
    char out[512];
    const cJSON *it;
    int old_stopped = 0, fresh_live = 0;

    (void)state;
    connect_user(&c, "rosa");
    channel_of("rosa", &old);
    /* expiring within the renewal window (48 h) */
    assert_int_equal(
        stack_db_exec_fmt("UPDATE user_integrations SET channel_expiration = (%lld + 3600) * 1000 "
                          "WHERE channel_id IS NOT NULL",
                          (long long)time(NULL)),
        0);
    assert_int_equal(stack_run(&S, "cgi/calsync-renew", none, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "renew: channels renewed="));
    assert_int_equal(stack_wait_jobs(&S, 8000), 0); /* the worker renews */
    channel_of("rosa", &fresh);
    assert_string_not_equal(old.id, fresh.id);
    assert_int_equal(emu_ctl(&S, "GET", "channels", NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "channels"))
    {
        if (strcmp(jstr(it, "id"), old.id) == 0)
            old_stopped = jbool(it, "stopped");
        if (strcmp(jstr(it, "id"), fresh.id) == 0)
            fresh_live = jbool(it, "live");
    }
    resp_free(&r);
    assert_true(old_stopped);
    assert_true(fresh_live);
    /* the old channel's notifications are now ignored; the new one works */
    assert_int_equal(notify(old.id, old.rid, old.token, "exists", NULL), 200);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=rosa@gmail.test",
                             "{\"summary\":\"Tras "
                             "renovar\",\"start\":{\"dateTime\":\"2026-06-03T10:00:00Z\"},\"end\":{"
                             "\"dateTime\":\"2026-06-03T11:00:00Z\"}}",
                             NULL),
                     200);
    assert_true(wait_until(appears, &s, 8000));
    /* running it again renews nothing (idempotent) */
    assert_int_equal(stack_run(&S, "cgi/calsync-renew", none, NULL, out, sizeof out), 0);
    channel_of("rosa", &old);
    assert_string_equal(old.id, fresh.id);
    client_free(&c);
}

static void concurrent_renewals(void **state)
{
    struct client c;
    struct resp r;
    const char *none[] = {NULL};
    pid_t pids[4];
    const cJSON *it;
    int live = 0, st;

    (void)state;
    connect_user(&c, "ugo");
    assert_int_equal(
        stack_db_exec_fmt("UPDATE user_integrations SET channel_expiration = (%lld + 60) * 1000 "
                          "WHERE channel_id IS NOT NULL",
                          (long long)time(NULL)),
        0);
    /* several cron hosts at once, all with a watch call in flight together */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":700,\"count\":4,\"path\":\"/watch\"}",
                             NULL),
                     200);
    for (int i = 0; i < 4; i++)
        pids[i] = stack_spawn(&S, "cgi/calsync-renew", none);
    for (int i = 0; i < 4; i++) {
        assert_true(pids[i] > 0);
        waitpid(pids[i], &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    /* exactly one live channel for the calendar, and it is the stored one */
    {
        struct stack_chan ch;
        channel_of("ugo", &ch);
        assert_int_equal(emu_ctl(&S, "GET", "channels", NULL, &r), 200);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "channels"))
        {
            if (strcmp(jstr(it, "calendar"), "ugo@gmail.test") == 0 && jbool(it, "live")) {
                live++;
                assert_string_equal(jstr(it, "id"), ch.id);
            }
        }
        resp_free(&r);
    }
    assert_int_equal(live, 1);
    client_free(&c);
}

static void safety_net_poll(void **state)
{
    struct client c;
    const char *none[] = {NULL};
    char out[512];
    size_t mark;

    (void)state;
    connect_user(&c, "wes");
    /* a channel, but no full sync for hours: Google may have lost notifications */
    assert_int_equal(
        stack_db_exec_fmt("UPDATE user_integrations SET next_poll_at = %lld - 7 * 3600 WHERE "
                          "user_id = (SELECT id FROM users WHERE email = 'wes@example.com')",
                          (long long)time(NULL)),
        0);
    mark = emu_log_mark(&S);
    assert_int_equal(stack_run(&S, "cgi/calsync-renew", none, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=1"));
    assert_int_equal(stack_wait_jobs(&S, 8000), 0);
    assert_int_equal(emu_count_calls_for(&S, "wes@gmail.test", "GET", "/events", mark), 1);
    /* and then not again for a while */
    assert_int_equal(stack_run(&S, "cgi/calsync-renew", none, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "polled=0"));
    client_free(&c);
}

static void expired_channel_recovered(void **state)
{
    struct client c;
    struct stack_chan old, fresh;
    struct seek s = {&c, "Canal recuperado"};
    const char *none[] = {NULL};
    char out[512];

    (void)state;
    connect_user(&c, "sara");
    channel_of("sara", &old);
    /* the channel died at Google and its expiry passed */
    emu_ctl(&S, "POST", "channels/expire", "{}", NULL);
    assert_int_equal(
        stack_db_exec(
            &S,
            "UPDATE user_integrations SET channel_expiration = 1000 WHERE channel_id IS NOT NULL"),
        0);
    assert_int_equal(stack_run(&S, "cgi/calsync-renew", none, NULL, out, sizeof out), 0);
    assert_int_equal(stack_wait_jobs(&S, 8000), 0); /* the worker re-opens it */
    channel_of("sara", &fresh);
    assert_string_not_equal(old.id, fresh.id);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=sara@gmail.test",
                             "{\"summary\":\"Canal "
                             "recuperado\",\"start\":{\"dateTime\":\"2026-06-04T10:00:00Z\"},"
                             "\"end\":{\"dateTime\":\"2026-06-04T11:00:00Z\"}}",
                             NULL),
                     200);
    assert_true(wait_until(appears, &s, 8000));
    client_free(&c);
}

#undef ACCT
#define ACCT "tere@gmail.test"
static void after_disconnect(void **state)
{
    struct client c;
    struct stack_chan ch;
    size_t mark;

    (void)state;
    connect_user(&c, "tere");
    channel_of("tere", &ch);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", NULL), 200);
    sleep_ms(600);
    mark = emu_log_mark(&S);
    assert_int_equal(notify(ch.id, ch.rid, ch.token, "exists", NULL), 200);
    sleep_ms(800);
    assert_int_equal(emu_count_calls_for(&S, ACCT, NULL, "/", mark), 0);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notification_brings_change),
        cmocka_unit_test(forged_notifications),
        cmocka_unit_test(answers_before_google),
        cmocka_unit_test(burst_coalesces),
        cmocka_unit_test(one_more_pass),
        cmocka_unit_test(renewal),
        cmocka_unit_test(concurrent_renewals),
        cmocka_unit_test(safety_net_poll),
        cmocka_unit_test(expired_channel_recovered),
        cmocka_unit_test(after_disconnect),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
