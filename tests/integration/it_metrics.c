/* it_metrics: GET /metrics during a workload (every family there, parsed by promtool, moving the
 * right way: webhook outcomes, Google 5xx, a stuck job), refused elsewhere than loopback without
 * the token; /healthz and /readyz (the store gone and back, the worker's heartbeat); the alerting
 * rules and the dashboard name only metrics that exist. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypt.h"
#include "harness.h"

#define WEBHOOK_SECRET "integration-test-webhook-secret"
#define TOKEN "it-metrics-token-0123456789abcdef"
/* /readyz asks for a heartbeat younger than this (the runners beat every 5 s) */
#define READY_S "8"

static struct stack S;
static struct client C; /* ana@example.com, connected with a push channel */

static const char *const families[] = {"calsync_jobs",
                                       "calsync_jobs_oldest_due_seconds",
                                       "calsync_outbox_pending",
                                       "calsync_integrations",
                                       "calsync_channels_expiring_soon",
                                       "calsync_channels_expired",
                                       "calsync_users_writes_paused",
                                       "calsync_worker_heartbeat_age_seconds",
                                       "calsync_google_requests_total",
                                       "calsync_webhook_notifications_total",
                                       "calsync_jobs_finished_total",
                                       "calsync_sync_latency_seconds"};

static int setup(void **state)
{
    static const char *const env[] = {"CALSYNC_METRICS_TOKEN=" TOKEN,
                                      "CALSYNC_READY_HEARTBEAT_S=" READY_S, NULL};
    static const struct stack_opts o = {.webhooks = 1, .env = env, .db_proxy = 1};

    (void)state;
    if (crypt_init() != 0 || stack_start(&S, &o) != 0)
        return -1;
    if (stack_connect_user(&S, &C, "ana", NULL) != 0)
        return -1;
    return stack_wait_jobs(&S, 15000);
}

static int teardown(void **state)
{
    (void)state;
    client_free(&C);
    return stack_stop(&S);
}

struct expect {
    const char *name, *labels;
    double want; /* figure >= want (at_least) or == want */
    int at_least;
    double got;
};

static int reached(void *arg)
{
    struct expect *e = arg;

    e->got = stack_metric(&S, e->name, e->labels);
    return e->at_least ? e->got >= e->want : e->got == e->want;
}

/* Waits (counts reach the store within about a second) until name{labels} reaches want. */
static void wait_metric(const char *name, const char *labels, double want, int at_least)
{
    struct expect e = {name, labels, want, at_least, 0};

    if (!wait_until(reached, &e, 8000))
        fail_msg("%s{%s} is %g, expected %s%g", name, labels ? labels : "", e.got,
                 at_least ? ">= " : "", want);
}

/* ---- the route ---- */

/* Runs calsync-metrics as a CGI request from addr with an optional Authorization header;
 * returns the Status line's code (0 when none). */
static int cgi_metrics(const char *addr, const char *auth, const char *method, char *out,
                       size_t outlen)
{
    int code = 0;

    setenv("GATEWAY_INTERFACE", "CGI/1.1", 1);
    setenv("REQUEST_METHOD", method, 1);
    setenv("DOCUMENT_URI", "/metrics", 1);
    setenv("REMOTE_ADDR", addr, 1);
    if (auth != NULL)
        setenv("HTTP_AUTHORIZATION", auth, 1);
    stack_run(&S, "cgi/calsync-metrics", NULL, "", out, outlen);
    unsetenv("GATEWAY_INTERFACE");
    unsetenv("REQUEST_METHOD");
    unsetenv("DOCUMENT_URI");
    unsetenv("REMOTE_ADDR");
    unsetenv("HTTP_AUTHORIZATION");
    if (strncmp(out, "Status: ", 8) == 0)
        code = atoi(out + 8);
    return code;
}

/* Every family is there (HELP and TYPE), the text passes promtool's strict parser and linter,
 * loopback needs no token, another address needs it. */
static void route_families_and_access(void **state)
{
    struct client c;
    struct resp r;
    char path[512], cmd[1200], out[65536], type[128];
    FILE *f;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_req(&c, "GET", "/metrics", NULL, NULL, &r), 200);
    assert_true(strncmp(r.content_type, "text/plain; version=0.0.4", 25) == 0);
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        snprintf(type, sizeof type, "# TYPE %s ", families[i]);
        if (strstr(r.body, type) == NULL)
            fail_msg("no family %s in /metrics", families[i]);
    }
    stack_path(&S, "metrics.txt", path, sizeof path);
    assert_non_null(f = fopen(path, "w"));
    fputs(r.body, f);
    fclose(f);
    resp_free(&r);
    if (system("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is missing (apt-get install prometheus; scripts/test installs it)");
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' >&2", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(client_req(&c, "POST", "/metrics", NULL, "", &r), 405);
    resp_free(&r);
    client_free(&c);

    /* another address: 403 without the token or with a wrong one, 200 with it */
    assert_int_equal(cgi_metrics("203.0.113.7", NULL, "GET", out, sizeof out), 403);
    assert_non_null(strstr(out, "{\"error\":"));
    assert_int_equal(cgi_metrics("203.0.113.7", "Bearer not-" TOKEN, "GET", out, sizeof out), 403);
    assert_int_equal(cgi_metrics("2001:db8::7", "Basic " TOKEN, "GET", out, sizeof out), 403);
    assert_int_equal(cgi_metrics("203.0.113.7", "Bearer " TOKEN, "GET", out, sizeof out), 200);
    assert_non_null(strstr(out, "# TYPE calsync_jobs gauge"));
    assert_int_equal(cgi_metrics("::1", NULL, "GET", out, sizeof out), 200);
    assert_int_equal(cgi_metrics("127.0.0.2", NULL, "GET", out, sizeof out), 200);
}

/* ---- webhook notifications ---- */

static double outcome(const char *o)
{
    char l[64];

    snprintf(l, sizeof l, "outcome=\"%s\"", o);
    return stack_metric(&S, "calsync_webhook_notifications_total", l);
}

struct settle {
    double last;
    int same;
};

/* True once the accepted count read the same three times in a row (nothing in flight). */
static int settled(void *arg)
{
    struct settle *s = arg;
    double v = outcome("accepted");

    s->same = v == s->last ? s->same + 1 : 0;
    s->last = v;
    sleep_ms(300);
    return s->same >= 3;
}

/* Each notification counted once under its outcome: a burst of N raises accepted by N. */
static void webhook_outcomes(void **state)
{
    struct stack_chan ch;
    struct settle st = {-1, 0};
    double acc, rep, forged, unknown, invalid;
    enum { N = 40 };

    (void)state;
    assert_int_equal(stack_channel(&S, "ana", WEBHOOK_SECRET, &ch), 0);
    /* the connect's own notifications first */
    assert_true(wait_until(settled, &st, 15000));
    acc = outcome("accepted");
    rep = outcome("replay");
    forged = outcome("forged");
    unknown = outcome("unknown_channel");
    invalid = outcome("invalid");
    assert_true(acc >= 0 && rep >= 0 && forged >= 0 && unknown >= 0 && invalid >= 0);

    /* a burst with rising message numbers, as Google sends them */
    assert_int_equal(stack_notify(&S, ch.id, ch.rid, ch.token, 1000000, N, 0, 200), N);
    wait_metric("calsync_webhook_notifications_total", "outcome=\"accepted\"", acc + N, 0);
    /* all at once: each one is accepted or, overtaken by a higher number, a replay */
    assert_int_equal(stack_notify(&S, ch.id, ch.rid, ch.token, 2000000, N, 1, 200), N);
    {
        struct expect e = {"calsync_webhook_notifications_total", "outcome=\"accepted\"", 0, 1, 0};
        e.want = acc + N + 1;
        assert_true(wait_until(reached, &e, 8000));
        for (int i = 0; i < 30 && outcome("accepted") + outcome("replay") < acc + rep + 2 * N; i++)
            sleep_ms(200);
        assert_true(outcome("accepted") + outcome("replay") == acc + rep + 2 * N);
        rep = outcome("replay");
        acc = outcome("accepted");
    }
    /* replays, forgeries, unknown channels, malformed requests */
    assert_int_equal(stack_notify(&S, ch.id, ch.rid, ch.token, 5, 5, 0, 200), 5);
    assert_int_equal(stack_notify(&S, ch.id, ch.rid, "forged-token", 3000000, 3, 0, 403), 3);
    assert_int_equal(stack_notify(&S, "no-such-channel", ch.rid, ch.token, 1, 2, 0, 200), 2);
    {
        struct resp r;
        assert_int_equal(client_req(&C, "GET", "/api/google/calendar/webhook", NULL, NULL, &r),
                         405);
        resp_free(&r);
    }
    wait_metric("calsync_webhook_notifications_total", "outcome=\"replay\"", rep + 5, 0);
    wait_metric("calsync_webhook_notifications_total", "outcome=\"forged\"", forged + 3, 0);
    wait_metric("calsync_webhook_notifications_total", "outcome=\"unknown_channel\"", unknown + 2,
                0);
    wait_metric("calsync_webhook_notifications_total", "outcome=\"invalid\"", invalid + 1, 0);
    assert_true(outcome("accepted") == acc);
}

/* ---- Google calls, jobs and latency ---- */

/* A 503 fault raises the 5xx count by the calls it failed; the change still goes through, and
 * both directions' latency is observed. */
static void google_5xx_and_latency(void **state)
{
    double g5, done, push, pull;

    (void)state;
    assert_int_equal(stack_wait_jobs(&S, 15000), 0);
    sleep_ms(1500); /* what the connect counted has reached the store */
    g5 = stack_metric(&S, "calsync_google_requests_total", "status=\"5xx\"");
    done = stack_metric(&S, "calsync_jobs_finished_total", "kind=\"sync\",outcome=\"done\"");
    push = stack_metric(&S, "calsync_sync_latency_seconds_count", "direction=\"vesta_to_google\"");
    pull = stack_metric(&S, "calsync_sync_latency_seconds_count", "direction=\"google_to_vesta\"");
    assert_true(g5 >= 0 && done >= 1 && push >= 0 && pull >= 0);

    assert_int_equal(
        emu_ctl(&S, "POST", "faults",
                "{\"status\":503,\"count\":2,\"method\":\"POST\",\"path\":\"/events\"}", NULL),
        200);
    assert_int_equal(client_json(&C, "POST", "/api/appointments",
                                 "{\"title\":\"Visita medida\",\"start\":\"2027-05-03T10:00:00Z\","
                                 "\"end\":\"2027-05-03T11:00:00Z\"}",
                                 NULL),
                     201);
    wait_metric("calsync_google_requests_total", "status=\"5xx\"", g5 + 2, 0);
    wait_metric("calsync_google_requests_total", "method=\"events.insert\",status=\"5xx\"", 2, 1);
    wait_metric("calsync_sync_latency_seconds_count", "direction=\"vesta_to_google\"", push + 1, 1);
    wait_metric("calsync_jobs_finished_total", "kind=\"sync\",outcome=\"done\"", done + 1, 1);
    assert_true(stack_metric(&S, "calsync_google_requests_total",
                             "method=\"events.insert\",status=\"2xx\"") >= 1);

    /* a change made on Google arrives by its notification: observed on the way in */
    assert_int_equal(emu_ctl(&S, "POST", "events?account=ana@gmail.test",
                             "{\"summary\":\"Firma medida\",\"start\":{\"dateTime\":"
                             "\"2027-05-04T10:00:00Z\"},\"end\":{\"dateTime\":"
                             "\"2027-05-04T11:00:00Z\"}}",
                             NULL),
                     200);
    wait_metric("calsync_sync_latency_seconds_count", "direction=\"google_to_vesta\"", pull + 1, 1);
    /* a histogram: the +Inf bucket is the count, buckets only grow with le */
    {
        char *b = stack_scrape(&S);
        assert_non_null(b);
        assert_true(
            metrics_sum(b, "calsync_sync_latency_seconds_bucket",
                        "direction=\"google_to_vesta\",le=\"+Inf\"") ==
            metrics_sum(b, "calsync_sync_latency_seconds_count", "direction=\"google_to_vesta\""));
        assert_true(metrics_sum(b, "calsync_sync_latency_seconds_bucket",
                                "direction=\"vesta_to_google\",le=\"0.05\"") <=
                    metrics_sum(b, "calsync_sync_latency_seconds_bucket",
                                "direction=\"vesta_to_google\",le=\"300\""));
        assert_true(metrics_sum(b, "calsync_sync_latency_seconds_sum",
                                "direction=\"google_to_vesta\"") > 0);
        free(b);
    }
}

/* A user who pauses the sync (direction none) counts as paused, and no more once resumed. */
static void paused_direction(void **state)
{
    (void)state;
    wait_metric("calsync_integrations", "state=\"paused\"", 0, 0);
    assert_int_equal(
        client_json(&C, "PATCH", "/api/settings", "{\"syncDirection\":\"none\"}", NULL), 200);
    wait_metric("calsync_integrations", "state=\"paused\"", 1, 0);
    assert_int_equal(
        client_json(&C, "PATCH", "/api/settings", "{\"syncDirection\":\"bidirectional\"}", NULL),
        200);
    wait_metric("calsync_integrations", "state=\"paused\"", 0, 0);
}

/* ---- a stuck queue, the heartbeat, readiness ---- */

static long readyz(char *body, size_t len)
{
    struct client c;
    struct resp r;
    long st;

    client_init(&c, &S);
    st = client_req(&c, "GET", "/readyz", NULL, NULL, &r);
    if (body != NULL)
        snprintf(body, len, "%s", r.body ? r.body : "");
    resp_free(&r);
    client_free(&c);
    return st;
}

static int is_ready(void *arg)
{
    return readyz(NULL, 0) == (long)(intptr_t)arg;
}

/* With the worker's runners stopped a new push waits: the oldest due job's age and the queue
 * grow, the heartbeat ages and /readyz says so; resumed, all of it goes back. */
static void stuck_job_and_heartbeat(void **state)
{
    char body[512];
    double age;

    (void)state;
    assert_int_equal(stack_wait_jobs(&S, 15000), 0);
    assert_true(wait_until(is_ready, (void *)(intptr_t)200, 10000));
    wait_metric("calsync_jobs_oldest_due_seconds", NULL, 0, 0);
    assert_true(stack_kill_worker(&S, SIGSTOP) > 0);
    assert_int_equal(
        client_json(&C, "POST", "/api/appointments",
                    "{\"title\":\"Reunión atascada\",\"start\":\"2027-05-05T10:00:00Z\","
                    "\"end\":\"2027-05-05T11:00:00Z\"}",
                    NULL),
        201);
    wait_metric("calsync_jobs", "kind=\"sync\",state=\"pending\"", 1, 1);
    wait_metric("calsync_outbox_pending", NULL, 1, 1);
    wait_metric("calsync_jobs_oldest_due_seconds", NULL, 2, 1);
    age = stack_metric(&S, "calsync_jobs_oldest_due_seconds", NULL);
    sleep_ms(1000);
    assert_true(stack_metric(&S, "calsync_jobs_oldest_due_seconds", NULL) >= age + 0.9);
    /* no heartbeat for longer than CALSYNC_READY_HEARTBEAT_S: not ready, and says why */
    assert_true(wait_until(is_ready, (void *)(intptr_t)503, 20000));
    assert_int_equal(readyz(body, sizeof body), 503);
    assert_non_null(strstr(body, "{\"error\":\"calsync-worker on node"));
    assert_true(stack_metric(&S, "calsync_worker_heartbeat_age_seconds", NULL) > atof(READY_S));
    {
        struct resp r;
        assert_int_equal(client_req(&C, "GET", "/healthz", NULL, NULL, &r), 200);
        assert_string_equal(r.body, "{\"status\":\"ok\"}");
        resp_free(&r);
    }

    assert_true(stack_kill_worker(&S, SIGCONT) > 0);
    wait_metric("calsync_outbox_pending", NULL, 0, 0);
    wait_metric("calsync_jobs_oldest_due_seconds", NULL, 0, 0);
    assert_true(wait_until(is_ready, (void *)(intptr_t)200, 10000));
    assert_int_equal(readyz(body, sizeof body), 200);
    assert_string_equal(body, "{\"status\":\"ready\"}");
    assert_true(stack_metric(&S, "calsync_worker_heartbeat_age_seconds", NULL) < atof(READY_S));
}

/* /readyz answers 503 while the store is gone and 200 once it is back; /healthz stays 200. */
static void readyz_follows_the_store(void **state)
{
    char body[512];
    struct resp r;

    (void)state;
    assert_true(wait_until(is_ready, (void *)(intptr_t)200, 10000));
    assert_int_equal(stack_store_cut(&S, 1), 0);
    assert_int_equal(readyz(body, sizeof body), 503);
    assert_string_equal(body, "{\"error\":\"store unreachable\"}");
    assert_int_equal(client_req(&C, "GET", "/healthz", NULL, NULL, &r), 200);
    resp_free(&r);
    assert_int_equal(readyz(body, sizeof body), 503);
    assert_int_equal(stack_store_cut(&S, 0), 0);
    assert_true(wait_until(is_ready, (void *)(intptr_t)200, 10000));
    /* and the rest of the stack carries on */
    assert_int_equal(
        client_json(&C, "POST", "/api/appointments",
                    "{\"title\":\"Después del corte\",\"start\":\"2027-05-06T10:00:00Z\","
                    "\"end\":\"2027-05-06T11:00:00Z\"}",
                    NULL),
        201);
    wait_metric("calsync_outbox_pending", NULL, 0, 0);
}

/* ---- the alerting rules and the dashboard ---- */

static void collect_exprs(const cJSON *o, int *count, const char *metrics)
{
    const cJSON *it;

    if (cJSON_IsObject(o)) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "expr");
        if (cJSON_IsString(e)) {
            char missing[128];
            if (metrics_unknown_name(e->valuestring, metrics, missing, sizeof missing))
                fail_msg("the dashboard names %s, which /metrics does not have", missing);
            (*count)++;
        }
    }
    cJSON_ArrayForEach(it, o) collect_exprs(it, count, metrics);
}

/* promtool checks the rules and runs their unit tests; rules and dashboard name real metrics. */
static void rules_and_dashboard(void **state)
{
    char *metrics = stack_scrape(&S), *rules, *dash;
    cJSON *d;
    int exprs = 0;

    (void)state;
    assert_non_null(metrics);
    if (system("command -v promtool >/dev/null") != 0)
        fail_msg("promtool is missing (apt-get install prometheus; scripts/test installs it)");
    assert_int_equal(system("promtool check rules " CALSYNC_SOURCE_DIR
                            "/dist/prometheus/calsync-alerts.yml >&2"),
                     0);
    assert_int_equal(system("promtool test rules " CALSYNC_SOURCE_DIR
                            "/tests/prometheus/calsync-alerts.test.yml >&2"),
                     0);
    assert_non_null(rules =
                        stack_read_text(CALSYNC_SOURCE_DIR "/dist/prometheus/calsync-alerts.yml"));
    {
        char missing[128];
        if (metrics_unknown_name(rules, metrics, missing, sizeof missing))
            fail_msg("the alerting rules name %s, which /metrics does not have", missing);
    }
    assert_non_null(dash =
                        stack_read_text(CALSYNC_SOURCE_DIR "/dist/grafana/calsync-dashboard.json"));
    assert_non_null(d = cJSON_Parse(dash));
    collect_exprs(d, &exprs, metrics);
    assert_true(exprs >= 10);
    cJSON_Delete(d);
    free(dash);
    free(rules);
    free(metrics);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(route_families_and_access), cmocka_unit_test(google_5xx_and_latency),
        cmocka_unit_test(webhook_outcomes),          cmocka_unit_test(paused_direction),
        cmocka_unit_test(stuck_job_and_heartbeat),   cmocka_unit_test(readyz_follows_the_store),
        cmocka_unit_test(rules_and_dashboard),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
