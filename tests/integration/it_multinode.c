/* it_multinode: two calsync nodes (route programs and calsync-worker each, own state dirs) on
 * one MariaDB database behind one nginx that spreads requests and Google's notifications over
 * both. A randomized two-sided workload with Google faults converges with nothing lost and
 * nothing doubled; no two jobs of a user ever run at once (audited in the store while it runs);
 * a worker killed mid-sync on one node is finished by the other. MySQL store only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>

#include <cmocka.h>

#include "harness.h"

static struct stack S;

#define USERS 3
#define OPS 90
static const char *const who[USERS] = {"ana", "ben", "cai"};
static struct client C[USERS];

static int setup(void **state)
{
    struct stack_opts o = {.webhooks = 1, .nodes = 2};

    (void)state;
    if (stack_start(&S, &o) != 0)
        return -1;
    for (int u = 0; u < USERS; u++)
        if (stack_connect_user(&S, &C[u], who[u], NULL) != 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int u = 0; u < USERS; u++)
        client_free(&C[u]);
    return stack_stop(&S);
}

/* ---- the audit: leased jobs per user, sampled while the workload runs ---- */

struct audit {
    pthread_t th;
    volatile int stop;
    long long samples, worst; /* most leased jobs of one user seen at once */
};

static void *audit_main(void *arg)
{
    struct audit *a = arg;

    while (!a->stop) {
        struct timespec ts;
        char sql[300];
        long long n;
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM sync_jobs WHERE "
                 "lease_owner IS NOT NULL AND lease_until >= %lld GROUP BY user_id) t",
                 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        n = stack_db_int(&S, sql);
        if (n > a->worst)
            a->worst = n;
        a->samples++;
        sleep_ms(5);
    }
    return NULL;
}

/* ---- the two sides ---- */

struct item {
    char title[64];
    long long local_id; /* made locally: its id; else 0 */
    char gid[128];      /* made on Google: its event id */
    int alive;
};
static struct item items[USERS][OPS];
static int nitems[USERS];

static int local_create(int u, int i)
{
    struct item *it = &items[u][nitems[u]];
    struct resp r;
    char body[256];

    snprintf(it->title, sizeof it->title, "Local %s %d", who[u], i);
    snprintf(body, sizeof body,
             "{\"title\":\"%s\",\"start\":\"2027-06-%02dT%02d:00:00Z\",\"end\":\"2027-06-%02dT%02d:"
             "30:00Z\"}",
             it->title, 1 + i % 28, 8 + i % 10, 1 + i % 28, 8 + i % 10);
    if (client_json(&C[u], "POST", "/api/appointments", body, &r) != 201) {
        resp_free(&r);
        return -1;
    }
    it->local_id = (long long)jnum(r.json, "id");
    it->alive = 1;
    nitems[u]++;
    resp_free(&r);
    return 0;
}

static int google_create(int u, int i)
{
    struct item *it = &items[u][nitems[u]];
    struct resp r;
    char body[300], path[96];

    snprintf(it->title, sizeof it->title, "Google %s %d", who[u], i);
    snprintf(body, sizeof body,
             "{\"summary\":\"%s\",\"start\":{\"dateTime\":\"2027-07-%02dT%02d:00:00Z\"},\"end\":{"
             "\"dateTime\":\"2027-07-%02dT%02d:30:00Z\"}}",
             it->title, 1 + i % 28, 8 + i % 10, 1 + i % 28, 8 + i % 10);
    snprintf(path, sizeof path, "events?account=%s@gmail.test", who[u]);
    if (emu_ctl(&S, "POST", path, body, &r) != 200) {
        resp_free(&r);
        return -1;
    }
    snprintf(it->gid, sizeof it->gid, "%s", jstr(r.json, "id"));
    it->alive = 1;
    nitems[u]++;
    resp_free(&r);
    return 0;
}

/* Deletes a live item on the side that made it. */
static void delete_one(int u, unsigned pick)
{
    char path[256];

    for (int k = 0; k < nitems[u]; k++) {
        struct item *it = &items[u][(pick + (unsigned)k) % (unsigned)nitems[u]];
        if (!it->alive)
            continue;
        if (it->local_id > 0) {
            snprintf(path, sizeof path, "/api/appointments/%lld", it->local_id);
            struct resp r;
            long st = client_json(&C[u], "DELETE", path, NULL, &r);
            resp_free(&r);
            if (st != 200 && st != 204)
                continue;
        } else {
            snprintf(path, sizeof path, "events/%s?account=%s@gmail.test", it->gid, who[u]);
            if (emu_ctl(&S, "DELETE", path, NULL, NULL) / 100 != 2)
                continue;
        }
        it->alive = 0;
        return;
    }
}

/* Live titles of u on Google and locally, each must hold every live item exactly once and
 * nothing else of the workload. */
static int converged_user(int u, int report)
{
    struct resp r;
    char path[96], sql[400];
    int ok = 1, google_n = 0, alive = 0;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who[u]);
    if (emu_ctl(&S, "GET", path, NULL, &r) != 200) {
        resp_free(&r);
        return 0;
    }
    for (int k = 0; k < nitems[u]; k++) {
        const cJSON *ev;
        int n = 0;
        long long local;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItem(r.json, "items"))
        {
            if (strcmp(jstr(ev, "status"), "cancelled") != 0 && jstr(ev, "summary") &&
                strcmp(jstr(ev, "summary"), items[u][k].title) == 0)
                n++;
        }
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id WHERE "
                 "u.email = '%s@example.com' AND a.is_active = 1 AND a.title = '%s'",
                 who[u], items[u][k].title);
        local = stack_db_int(&S, sql);
        if (n != items[u][k].alive || local != items[u][k].alive) {
            if (report)
                print_message("%s: \"%s\" alive=%d google=%d local=%lld\n", who[u],
                              items[u][k].title, items[u][k].alive, n, local);
            ok = 0;
        }
        alive += items[u][k].alive;
    }
    {
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItem(r.json, "items"))
        {
            if (strcmp(jstr(ev, "status"), "cancelled") != 0)
                google_n++;
        }
    }
    resp_free(&r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id WHERE "
             "u.email = '%s@example.com' AND a.is_active = 1",
             who[u]);
    if (google_n != alive || stack_db_int(&S, sql) != alive) {
        if (report)
            print_message("%s: %d live items, %d on Google, %lld local\n", who[u], alive, google_n,
                          stack_db_int(&S, sql));
        ok = 0;
    }
    return ok;
}

static int converged(void *arg)
{
    int ok = 1;

    (void)arg;
    for (int u = 0; u < USERS; u++)
        ok &= converged_user(u, 0);
    return ok;
}

static void workload_converges(void **state)
{
    struct audit a = {0};
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("CALSYNC_TEST_SEED");
    static const char *const faults[] = {
        "{\"status\":503,\"count\":2,\"path\":\"/calendar/v3\"}",
        "{\"status\":429,\"retryAfter\":1,\"count\":1,\"path\":\"/events\"}",
        "{\"status\":403,\"reason\":\"rateLimitExceeded\",\"count\":1,\"path\":\"/events\"}",
        "{\"kind\":\"delay\",\"ms\":400,\"count\":3,\"path\":\"/events\"}",
        "{\"kind\":\"drop\",\"count\":1,\"path\":\"/events\"}",
    };

    (void)state;
    if (env != NULL)
        seed = (unsigned)strtoul(env, NULL, 10);
    print_message("workload seed %u (CALSYNC_TEST_SEED=%u repeats it)\n", seed, seed);
    srand(seed);
    assert_int_equal(pthread_create(&a.th, NULL, audit_main, &a), 0);
    for (int i = 0; i < OPS; i++) {
        int u = rand() % USERS, op = rand() % 10;
        if (op < 4)
            assert_int_equal(local_create(u, i), 0);
        else if (op < 7)
            assert_int_equal(google_create(u, i), 0);
        else if (op < 9)
            delete_one(u, (unsigned)rand());
        else
            assert_int_equal(emu_ctl(&S, "POST", "faults", faults[rand() % 5], NULL), 200);
        if (rand() % 4 == 0)
            sleep_ms(rand() % 60);
    }
    emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    /* no Sync now: every change converges on its own (jobs, notifications, retries) */
    if (!wait_until(converged, NULL, 90000)) {
        for (int u = 0; u < USERS; u++)
            converged_user(u, 1);
        fail_msg("the two sides did not converge");
    }
    assert_int_equal(stack_wait_jobs(&S, 20000), 0);
    assert_true(converged(NULL));
    a.stop = 1;
    pthread_join(a.th, NULL);
    print_message("audit: %lld samples, at most %lld leased job(s) of one user at once\n",
                  a.samples, a.worst);
    assert_true(a.samples > 20);
    assert_int_equal(a.worst, 1);
    /* both nodes took part: routes answered and workers ran syncs on each */
    assert_true(stack_file_contains(&S, "logs/calsync.log", "appointments: created appointment"));
    assert_true(
        stack_file_contains(&S, "logs/calsync-node2.log", "appointments: created appointment"));
    assert_true(stack_file_contains(&S, "logs/calsync.log", "worker: sync ("));
    assert_true(stack_file_contains(&S, "logs/calsync-node2.log", "worker: sync ("));
    assert_true(stack_file_contains(&S, "logs/calsync.log", "webhook:"));
    assert_true(stack_file_contains(&S, "logs/calsync-node2.log", "webhook:"));
}

/* /metrics answers for the whole installation whichever node nginx picks: both nodes' worker
 * heartbeats, counters that never go back from one answer to the next, the workload's work. */
static void metrics_of_both_nodes(void **state)
{
    double last = -1;

    (void)state;
    sleep_ms(1500); /* the last counts reach the store */
    for (int i = 0; i < 12; i++) {
        char *b = stack_scrape(&S);
        double calls;
        assert_non_null(b);
        calls = metrics_sum(b, "calsync_google_requests_total", NULL);
        assert_true(calls > 0 && calls >= last);
        last = calls;
        assert_true(metrics_sum(b, "calsync_worker_heartbeat_age_seconds", "node=\"node2\"") >= 0);
        assert_true(metrics_sum(b, "calsync_worker_heartbeat_age_seconds", NULL) >
                    metrics_sum(b, "calsync_worker_heartbeat_age_seconds", "node=\"node2\""));
        assert_true(metrics_sum(b, "calsync_webhook_notifications_total", "outcome=\"accepted\"") >
                    0);
        assert_true(metrics_sum(b, "calsync_jobs_finished_total", "outcome=\"done\"") >= USERS);
        assert_true(metrics_sum(b, "calsync_sync_latency_seconds_count", NULL) > 0);
        free(b);
    }
}

/* kill -9 of node 1's job runners while they import; node 2 finishes the work. */
static void killed_node_finished_by_other(void **state)
{
    struct client c;
    struct resp r;
    char body[160], sql[300];
    int killed;

    (void)state;
    /* 800 events to import, each list page slow: the import is in flight when killed */
    {
        cJSON *arr = cJSON_CreateArray();
        char *txt;
        for (int i = 0; i < 800; i++) {
            cJSON *e = cJSON_CreateObject();
            char t[64], d[40];
            snprintf(t, sizeof t, "Import %d", i);
            cJSON_AddStringToObject(e, "summary", t);
            snprintf(d, sizeof d, "2027-08-%02dT%02d:00:00Z", 1 + i % 28, i % 24);
            cJSON_AddItemToObject(cJSON_AddObjectToObject(e, "start"), "dateTime",
                                  cJSON_CreateString(d));
            snprintf(d, sizeof d, "2027-08-%02dT%02d:30:00Z", 1 + i % 28, i % 24);
            cJSON_AddItemToObject(cJSON_AddObjectToObject(e, "end"), "dateTime",
                                  cJSON_CreateString(d));
            cJSON_AddItemToArray(arr, e);
        }
        txt = cJSON_PrintUnformatted(arr);
        assert_int_equal(emu_ctl(&S, "POST", "events?account=kim@gmail.test", txt, &r), 200);
        resp_free(&r);
        free(txt);
        cJSON_Delete(arr);
    }
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":1500,\"count\":2,\"method\":\"GET\","
                             "\"path\":\"/events\"}",
                             NULL),
                     200);
    /* node 2's runners are stopped for now, so node 1 takes the job */
    assert_true(stack_kill_worker_of(&S, 2, SIGSTOP) >= 1);
    assert_int_equal(stack_user(&S, "kim@example.com", "password-123", NULL), 0);
    snprintf(body, sizeof body, "{\"account\":\"kim@gmail.test\",\"deny\":false}");
    assert_int_equal(emu_ctl(&S, "POST", "config", body, NULL), 200);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "kim@example.com", "password-123"), 200);
    {
        char loc[4096];
        assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
        assert_non_null(strstr(loc, STACK_CONNECTED));
    }
    sleep_ms(700);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM sync_jobs j JOIN users u ON u.id = j.user_id WHERE u.email = "
             "'kim@example.com' AND j.lease_owner IS NOT NULL");
    assert_int_equal(stack_db_int(&S, sql), 1); /* node 1 is running it */
    killed = stack_kill_worker_of(&S, 1, SIGKILL);
    assert_true(killed >= 1);
    /* node 1's parent restarts its runners; stop them too, so that node 2 must finish */
    sleep_ms(1200);
    stack_kill_worker_of(&S, 1, SIGSTOP);
    assert_true(stack_kill_worker_of(&S, 2, SIGCONT) >= 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id WHERE u.email "
             "= 'kim@example.com' AND a.is_active = 1 AND a.title LIKE 'Import %%'");
    for (int i = 0; i < 600 && stack_db_int(&S, sql) < 800; i++)
        sleep_ms(100);
    stack_kill_worker_of(&S, 1, SIGCONT);
    assert_int_equal(stack_db_int(&S, sql), 800);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) - count(DISTINCT google_event_id) FROM appointments a "
                         "JOIN users u ON u.id = a.user_id WHERE u.email = 'kim@example.com' AND "
                         "a.is_active = 1"),
        0);
    {
        char *id = stack_db_text(&S, "SELECT id FROM users WHERE email = 'kim@example.com'");
        char line[128];
        assert_non_null(id);
        snprintf(line, sizeof line, "sync (connect) user=%s ok", id);
        assert_true(stack_file_contains(&S, "logs/calsync-node2.log", line));
        assert_false(stack_file_contains(&S, "logs/calsync.log", line));
        free(id);
    }
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workload_converges),
        cmocka_unit_test(metrics_of_both_nodes),
        cmocka_unit_test(killed_node_finished_by_other),
    };

    if (!stack_mysql()) {
        /* registered only as it_multinode_mysql: without the server this is a failure, not a
         * pass */
        fprintf(stderr, "it_multinode: needs the MySQL store (CALSYNC_TEST_DB_URL[_FILE])\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
