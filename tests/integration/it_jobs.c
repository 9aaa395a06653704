/* it_jobs: the durable job queue and calsync-worker under the failures found in independent
 * testing: a revoked grant at disconnect, Retry-After across processes, a worker killed
 * mid-import, a Google outage, disconnect racing the connect, long fields, oversized pages,
 * idempotent creates, Sync now joining the running job, the initial push draining, and a page
 * applied for longer than the job's lease. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static struct stack S;

static int setup(void **state)
{
    static const struct stack_opts o = {.webhooks = 1};

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

/* Creates n events on who's Google calendar, titled "<prefix> i", a day apart from start. */
static void google_bulk(const char *who, int n, const char *prefix, const char *desc)
{
    char path[128];

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    for (int i = 0; i < n; i++) {
        size_t dl = desc ? strlen(desc) : 0;
        char *body = malloc(dl + 512);
        assert_non_null(body);
        snprintf(body, dl + 512,
                 "{\"summary\":\"%s %d\",\"description\":\"%s\",\"start\":{\"dateTime\":\"2027-"
                 "%02d-%02dT%02d:00:00Z\"},\"end\":{\"dateTime\":\"2027-%02d-%02dT%02d:30:00Z\"}}",
                 prefix, i, desc ? desc : "", 1 + i % 12, 1 + (i / 12) % 28, i % 24, 1 + i % 12,
                 1 + (i / 12) % 28, i % 24);
        assert_int_equal(emu_ctl(&S, "POST", path, body, NULL), 200);
        free(body);
    }
}

static long long local_count(const char *who, const char *like)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id WHERE u.email "
             "= '%s@example.com' AND a.is_active = 1 AND a.title LIKE '%s'",
             who, like);
    return stack_db_int(&S, sql);
}

struct want {
    const char *who, *like;
    long long n;
};

static int has_local(void *arg)
{
    struct want *w = arg;

    return local_count(w->who, w->like) >= w->n;
}

/* Google events of who whose summary is exactly title (live ones). */
static int google_has(const char *who, const char *title)
{
    struct resp r;
    char path[128];
    const cJSON *it;
    int n = 0;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    if (emu_ctl(&S, "GET", path, NULL, &r) != 200) {
        resp_free(&r);
        return 0;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (strcmp(jstr(it, "status"), "cancelled") != 0 && jstr(it, "summary") &&
            strcmp(jstr(it, "summary"), title) == 0)
            n++;
    }
    resp_free(&r);
    return n;
}

struct gwant {
    const char *who, *title;
};

static int on_google(void *arg)
{
    struct gwant *g = arg;

    return google_has(g->who, g->title) == 1;
}

/* 1. A grant revoked at Google: disconnect still succeeds locally, nothing crashes. */
static void disconnect_after_revoke(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    connect_user(&c, "ada");
    emu_ctl(&S, "POST", "tokens/revoke", "{}", NULL);
    emu_ctl(&S, "POST", "tokens/expire", "{}", NULL);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
    assert_true(jbool(r.json, "success"));
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations i JOIN users u ON "
                                      "u.id = i.user_id WHERE u.email = 'ada@example.com' AND "
                                      "i.is_active = 0 AND i.access_token IS NULL AND "
                                      "i.refresh_token IS NULL"),
                     1);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "state"), "not_connected");
    resp_free(&r);
    /* the same route program answers the next request at once: no worker died */
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
    resp_free(&r);
    /* and no clean-up job is left retrying for ever: Google said the grant is gone */
    assert_int_equal(stack_wait_jobs(&S, 5000), 0);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM sync_jobs j JOIN users u ON u.id = "
                                      "j.user_id WHERE u.email = 'ada@example.com'"),
                     0);
    client_free(&c);
}

/* 2. Retry-After is honoured by every process, and a rate-limited pull is never lost. */
static void retry_after_honoured(void **state)
{
    struct client c;
    struct resp r;
    size_t mark;
    long long prev_429 = 0;
    int n429 = 0, checked = 0;
    const cJSON *it;

    (void)state;
    connect_user(&c, "bea");
    mark = emu_log_mark(&S);
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"status\":429,\"retryAfter\":2,\"count\":2,\"method\":\"GET\","
                             "\"path\":\"/events\"}",
                             NULL),
                     200);
    /* a local save and a Google change at the same moment */
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Guardada local\",\"start\":\"2027-03-01T10:00:00Z\","
                                 "\"end\":\"2027-03-01T11:00:00Z\"}",
                                 NULL),
                     201);
    google_bulk("bea", 1, "Cambio en Google", NULL);
    {
        struct want w = {"bea", "Cambio en Google%", 1};
        struct gwant g = {"bea", "Guardada local"};
        assert_true(wait_until(has_local, &w, 20000)); /* no Sync now */
        assert_true(wait_until(on_google, &g, 5000));
    }
    /* the calls after each 429 waited the 2 s Google asked for */
    {
        char q[64];
        snprintf(q, sizeof q, "log?since=%zu", mark);
        assert_int_equal(emu_ctl(&S, "GET", q, NULL, &r), 200);
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "entries"))
    {
        const char *acc = jstr(it, "account"), *path = jstr(it, "path");
        /* a call refused by a fault is logged before its account is known */
        if ((acc != NULL && acc[0] != '\0' && strcmp(acc, "bea@gmail.test") != 0) || path == NULL ||
            strstr(path, "/events") == NULL || strcmp(jstr(it, "method"), "GET") != 0)
            continue;
        if (prev_429 > 0) {
            long long gap = (long long)jnum(it, "ts") - prev_429;
            if (gap < 1950)
                fail_msg("a list call came %lld ms after a 429 with Retry-After: 2", gap);
            checked++;
        }
        prev_429 = 0;
        if ((int)jnum(it, "status") == 429) {
            prev_429 = (long long)jnum(it, "ts");
            n429++;
        }
    }
    resp_free(&r);
    assert_int_equal(n429, 2);
    assert_int_equal(checked, 2);
    /* the backoff was shared through the store */
    assert_true(stack_db_int(&S, "SELECT count(*) FROM user_integrations i JOIN users u ON u.id = "
                                 "i.user_id WHERE u.email = 'bea@example.com' AND "
                                 "i.backoff_until > 0") == 1);
    client_free(&c);
}

/* 3. kill -9 of the worker mid-import with a notification pending: converges, no Sync now,
 * no duplicates. */
static void killed_worker_mid_import(void **state)
{
    struct client c;
    char body[128], loc[4096];
    int killed;

    (void)state;
    google_bulk("cruz", 3000, "Importado", NULL);
    assert_int_equal(stack_user(&S, "cruz@example.com", "password-123", NULL), 0);
    snprintf(body, sizeof body, "{\"account\":\"cruz@gmail.test\",\"deny\":false}");
    assert_int_equal(emu_ctl(&S, "POST", "config", body, NULL), 200);
    /* the import's list call hangs long enough to be killed in flight */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":1500,\"count\":1,\"method\":\"GET\","
                             "\"path\":\"/events\"}",
                             NULL),
                     200);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "cruz@example.com", "password-123"), 200);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    sleep_ms(700);
    google_bulk("cruz", 1, "Durante la caida", NULL); /* its notification is recorded */
    killed = stack_kill_worker(&S, SIGKILL);
    assert_true(killed >= 1);
    {
        struct want w = {"cruz", "Importado %", 3000}, w2 = {"cruz", "Durante la caida%", 1};
        assert_true(wait_until(has_local, &w, 60000));
        assert_true(wait_until(has_local, &w2, 10000));
    }
    assert_int_equal(local_count("cruz", "Importado %"), 3000);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) - count(DISTINCT google_event_id) FROM appointments a "
                         "JOIN users u ON u.id = a.user_id WHERE u.email = 'cruz@example.com' AND "
                         "a.is_active = 1"),
        0);
    client_free(&c);
}

/* 4. Google down 40 s, then back: every change both ways arrives without a click. */
static void outage_then_recovery(void **state)
{
    struct client c;

    (void)state;
    connect_user(&c, "dora");
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"status\":503,\"forMs\":40000,\"path\":\"/calendar/v3\"}", NULL),
                     200);
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Durante el apagon\",\"start\":\"2027-04-01T10:00:"
                                 "00Z\",\"end\":\"2027-04-01T11:00:00Z\"}",
                                 NULL),
                     201);
    google_bulk("dora", 1, "Desde Google en el apagon", NULL);
    sleep_ms(3000);
    assert_int_equal(local_count("dora", "Desde Google en el apagon%"), 0); /* Google is down */
    {
        struct want w = {"dora", "Desde Google en el apagon%", 1};
        struct gwant g = {"dora", "Durante el apagon"};
        /* 40 s of outage, then Google's asked-for backoff: no click anywhere */
        assert_true(wait_until(has_local, &w, 90000));
        assert_true(wait_until(on_google, &g, 30000));
    }
    client_free(&c);
}

/* 5. Disconnect right after connect: no channel survives at Google, no call after. */
static void disconnect_right_after_connect(void **state)
{
    char email[64], who[16], body[128], loc[4096];

    (void)state;
    for (int round = 0; round < 3; round++) {
        struct client c;
        struct resp r;
        size_t mark;
        const cJSON *it;
        int live = 0, late = 0;

        snprintf(who, sizeof who, "eva%d", round);
        snprintf(email, sizeof email, "%s@example.com", who);
        google_bulk(who, 300, "Evento", NULL);
        assert_int_equal(stack_user(&S, email, "password-123", NULL), 0);
        snprintf(body, sizeof body, "{\"account\":\"%s@gmail.test\",\"deny\":false}", who);
        assert_int_equal(emu_ctl(&S, "POST", "config", body, NULL), 200);
        client_init(&c, &S);
        assert_int_equal(client_login(&c, email, "password-123"), 200);
        assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
        assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
        resp_free(&r);
        mark = emu_log_mark(&S);
        sleep_ms(2500);
        assert_int_equal(emu_ctl(&S, "GET", "channels", NULL, &r), 200);
        cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "channels"))
        {
            char acc[64];
            snprintf(acc, sizeof acc, "%s@gmail.test", who);
            if (jstr(it, "calendar") && strcmp(jstr(it, "calendar"), acc) == 0 &&
                jbool(it, "live")) {
                char *t = cJSON_PrintUnformatted(it);
                print_message("live channel after disconnect: %s\n", t);
                free(t);
                live++;
            }
        }
        resp_free(&r);
        assert_int_equal(live, 0);
        /* after the disconnect answered, only the clean-up talks to Google (stop, revoke) */
        {
            char acc[64];
            snprintf(acc, sizeof acc, "%s@gmail.test", who);
            late = emu_count_calls_for(&S, acc, "GET", "/events", mark) +
                   emu_count_calls_for(&S, acc, "POST", "/events", mark);
        }
        assert_int_equal(late, 0);
        assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON "
                                          "u.id = a.user_id WHERE u.email LIKE 'eva%' AND "
                                          "a.google_event_id IS NOT NULL"),
                         0);
        client_free(&c);
    }
}

/* 6. Long fields round-trip byte-exact; a local edit of one field changes no other. */
static void long_fields_round_trip(void **state)
{
    struct client c;
    struct resp r;
    size_t dlen = 1024 * 1024, tlen = 10000;
    char *desc = malloc(dlen + 1), *title = malloc(tlen + 1), *body, path[128], gid[128];
    long long id;

    (void)state;
    assert_non_null(desc);
    assert_non_null(title);
    for (size_t i = 0; i < dlen; i++)
        desc[i] = "abcdefghij klmnopqrstuvwxyz0123456789"[i % 37];
    desc[dlen] = '\0';
    for (size_t i = 0; i < tlen; i++)
        title[i] = "Titulo largo "[i % 13];
    title[tlen] = '\0';
    connect_user(&c, "flor");
    body = malloc(dlen + tlen + 512);
    assert_non_null(body);
    snprintf(
        body, dlen + tlen + 512,
        "{\"summary\":\"%s\",\"description\":\"%s\",\"location\":\"Antes\",\"start\":{"
        "\"dateTime\":\"2027-05-01T10:00:00Z\"},\"end\":{\"dateTime\":\"2027-05-01T11:00:00Z\"}}",
        title, desc);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=flor@gmail.test", body, &r), 200);
    snprintf(gid, sizeof gid, "%s", jstr(r.json, "id"));
    resp_free(&r);
    {
        struct want w = {"flor", "Titulo largo%", 1};
        assert_true(wait_until(has_local, &w, 10000));
    }
    assert_int_equal(stack_db_int(&S, "SELECT length(description) FROM appointments WHERE "
                                      "location = 'Antes'"),
                     (long long)dlen);
    id = stack_db_int(&S, "SELECT appointment_id FROM appointments WHERE location = 'Antes'");
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(&c, "PATCH", path, "{\"location\":\"Despues\"}", NULL), 200);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL), 200);
    snprintf(path, sizeof path, "events/%s?account=flor@gmail.test", gid);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "location"), "Despues");
    assert_int_equal(strlen(jstr(r.json, "description")), dlen);
    assert_true(strcmp(jstr(r.json, "description"), desc) == 0);
    assert_true(strcmp(jstr(r.json, "summary"), title) == 0);
    resp_free(&r);
    free(body);
    free(desc);
    free(title);
    client_free(&c);
}

/* 7. A list page over the reply cap is asked for again, smaller; the pull never stops. */
static void oversized_pages(void **state)
{
    struct client c;
    struct resp r;
    size_t dlen = 1024 * 1024;
    char *desc = malloc(dlen + 1);

    (void)state;
    assert_non_null(desc);
    memset(desc, 'x', dlen);
    desc[dlen] = '\0';
    connect_user(&c, "gala");
    google_bulk("gala", 9, "Enorme", desc); /* 9 MiB in all: over the 8 MiB cap */
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    resp_free(&r);
    assert_int_equal(local_count("gala", "Enorme %"), 9);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "state"), "connected");
    resp_free(&r);
    free(desc);
    client_free(&c);
}

/* 8. Idempotency-Key: a retry answers the first result and creates nothing. */
static void idempotent_create(void **state)
{
    static const char *key[] = {"Idempotency-Key: 5f0c8a4e-retry-1",
                                "Content-Type: "
                                "application/json",
                                NULL};
    static const char *bad[] = {"Idempotency-Key: has space", "Content-Type: application/json",
                                NULL};
    const char *body = "{\"title\":\"Una sola vez\",\"start\":\"2027-06-01T10:00:00Z\",\"end\":"
                       "\"2027-06-01T11:00:00Z\"}";
    struct client c;
    struct resp r;
    long long first;

    (void)state;
    connect_user(&c, "hugo");
    assert_int_equal(client_req(&c, "POST", "/api/appointments", key, body, &r), 201);
    first = (long long)jnum(r.json, "id");
    resp_free(&r);
    /* the answer was lost; the client sends the same request again */
    assert_int_equal(client_req(&c, "POST", "/api/appointments", key, body, &r), 201);
    assert_int_equal((long long)jnum(r.json, "id"), first);
    resp_free(&r);
    assert_int_equal(local_count("hugo", "Una sola vez"), 1);
    /* the same key with another body */
    assert_int_equal(client_req(&c, "POST", "/api/appointments", key,
                                "{\"title\":\"Otra\",\"start\":\"2027-06-01T10:00:00Z\",\"end\":"
                                "\"2027-06-01T11:00:00Z\"}",
                                &r),
                     422);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "POST", "/api/appointments", bad, body, &r), 400);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(local_count("hugo", "%"), 1);
    {
        struct gwant g = {"hugo", "Una sola vez"};
        assert_true(wait_until(on_google, &g, 5000));
    }
    client_free(&c);
}

struct sync_call {
    struct client *c;
    long status;
};

static void *sync_thread(void *arg)
{
    struct sync_call *sc = arg;
    struct resp r;

    sc->status = client_json(sc->c, "POST", "/api/google/calendar/sync", "{}", &r);
    resp_free(&r);
    return NULL;
}

/* 9. Two Sync now at once join one job instead of racing; neither fails. */
static void sync_now_joins(void **state)
{
    struct client c1, c2;
    struct sync_call a = {&c1, 0}, b = {&c2, 0};
    pthread_t t1, t2;
    size_t mark;

    (void)state;
    connect_user(&c1, "ines");
    client_init(&c2, &S);
    assert_int_equal(client_login(&c2, "ines@example.com", "password-123"), 200);
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":700,\"count\":1,\"method\":\"GET\","
                             "\"path\":\"/events\"}",
                             NULL),
                     200);
    mark = emu_log_mark(&S);
    pthread_create(&t1, NULL, sync_thread, &a);
    sleep_ms(100);
    pthread_create(&t2, NULL, sync_thread, &b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(b.status, 200);
    /* the second joined: one more pass at most, never two syncs at once */
    assert_true(emu_count_calls_for(&S, "ines@gmail.test", "GET", "/events", mark) <= 2);
    client_free(&c1);
    client_free(&c2);
}

/* 10. The initial sync drains the outbox completely, in batches of 50. */
static void initial_push_drains(void **state)
{
    struct client c;
    char loc[4096];
    size_t mark;

    (void)state;
    assert_int_equal(stack_user(&S, "juno@example.com", "password-123", NULL), 0);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "juno@example.com", "password-123"), 200);
    /* 2,000 appointments before connecting (written straight into the store: quicker; SQL
     * both stores accept) */
    {
        char *uid = stack_db_text(&S, "SELECT id FROM users WHERE email = 'juno@example.com'");
        size_t cap = 2000 * 160 + 512, used;
        char *sql = malloc(cap);
        assert_non_null(uid);
        assert_non_null(sql);
        /* the vesta host: Vesta's own table, which its app writes (the first sync brings them) */
        used = (size_t)snprintf(sql, cap, "%s",
                                stack_vesta() ? "INSERT INTO `appointments`(user_id, contact_id, "
                                                "notes, type, datetime_start, datetime_end, "
                                                "is_active, status) VALUES"
                                              : "INSERT INTO appointments(user_id, title, "
                                                "description, location, start_utc, end_utc, "
                                                "created_at, updated_at) VALUES");
        for (int i = 0; i < 2000; i++) {
            time_t t = (time_t)1798761600 + (time_t)i * 3600; /* 2027-01-01 + i hours */
            struct tm tm;
            char start[32], end[32];
            gmtime_r(&t, &tm);
            strftime(start, sizeof start,
                     stack_vesta() ? "%Y-%m-%d %H:00:00" : "%Y-%m-%dT%H:00:00Z", &tm);
            strftime(end, sizeof end, stack_vesta() ? "%Y-%m-%d %H:30:00" : "%Y-%m-%dT%H:30:00Z",
                     &tm);
            used += (size_t)snprintf(sql + used, cap - used,
                                     stack_vesta()
                                         ? "%s('%s', 77, 'Local %d', 'Visita', '%s', '%s', 1, "
                                           "'Scheduled')"
                                         : "%s('%s', 'Local %d', '', '', '%s', '%s', 1, 1)",
                                     i ? "," : "", uid, i, start, end);
        }
        assert_true(used < cap);
        assert_int_equal(stack_db_exec(&S, sql), 0);
        free(sql);
        free(uid);
    }
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"account\":\"juno@gmail.test\"}", NULL), 200);
    mark = emu_log_mark(&S);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    /* the vesta host first brings Vesta's 2,000 rows into its store (slow under ASan) */
    assert_int_equal(client_wait_synced_ms(&c, 60000), 0);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON u.id = "
                                      "a.user_id WHERE u.email = 'juno@example.com' AND "
                                      "a.google_event_id IS NULL"),
                     0);
    assert_int_equal(emu_count_calls(&S, "POST", "/batch", mark), 40);
    client_free(&c);
}

/* 11. A page whose local work outlasts the job's lease (3 s here): the lease is kept while the
 * page is applied, so no other worker process takes the job over mid-page (a lost lease ended
 * the run with "listing events failed: busy" and made a second run redo the import). A trigger
 * makes every imported row slow (MySQL: 8 ms asleep; SQLite: about 4 ms of work, on a machine
 * shared with other tests), so the one page of 600 outlasts half the lease or all of it. On
 * MySQL a lapsed lease is taken over at once (the page locks rows, not the store): without the
 * renewal the second worker process imported the page beside the first, and 600 events became
 * 852 rows. On SQLite the claim waits behind the page's write lock, so there this checks only
 * that the renewal between items works. */
static void slow_page_keeps_lease(void **state)
{
    struct client c;
    struct want w = {"lena", "Lento %", 600};

    (void)state;
    google_bulk("lena", 600, "Lento", NULL);
    assert_int_equal(
        stack_db_exec(&S, stack_mysql()
                              ? "CREATE TRIGGER it_slow_import AFTER INSERT ON appointments FOR "
                                "EACH ROW SET @it_slow = IF(NEW.title LIKE 'Lento %', "
                                "SLEEP(0.008), 0)"
                              : "CREATE TRIGGER it_slow_import AFTER INSERT ON appointments WHEN "
                                "NEW.title LIKE 'Lento %' BEGIN SELECT "
                                "length(hex(randomblob(400000))); END"),
        0);
    assert_int_equal(stack_connect_start(&S, &c, "lena", NULL), 0);
    /* slow on purpose, and slower on a loaded machine: more than the usual 10 s */
    assert_true(wait_until(has_local, &w, 90000));
    assert_int_equal(stack_wait_jobs(&S, 30000), 0);
    assert_int_equal(stack_db_exec(&S, "DROP TRIGGER it_slow_import"), 0);
    assert_int_equal(local_count("lena", "Lento %"), 600);
    /* one run did it all, and no run ended short */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM sync_runs r JOIN users u ON u.id = "
                                      "r.user_id WHERE u.email = 'lena@example.com' AND "
                                      "r.pulled > 0"),
                     1);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM sync_runs r JOIN users u ON u.id = "
                                      "r.user_id WHERE u.email = 'lena@example.com' AND "
                                      "(r.ok IS NULL OR r.ok = 0)"),
                     0);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(disconnect_after_revoke),
                                       cmocka_unit_test(retry_after_honoured),
                                       cmocka_unit_test(killed_worker_mid_import),
                                       cmocka_unit_test(outage_then_recovery),
                                       cmocka_unit_test(disconnect_right_after_connect),
                                       cmocka_unit_test(long_fields_round_trip),
                                       cmocka_unit_test(oversized_pages),
                                       cmocka_unit_test(idempotent_create),
                                       cmocka_unit_test(sync_now_joins),
                                       cmocka_unit_test(initial_push_drains),
                                       cmocka_unit_test(slow_page_keeps_lease)};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
