/* it_sync: the two-way sync engine against the emulator, through nginx (sync rules 1-9). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

static struct stack S;

static int setup(void **state)
{
    /* local changes wait (an hour) for an explicit sync here, so each scenario controls
     * exactly what each side has seen */
    static const char *const env[] = {"CALSYNC_PUSH_DELAY_MS=3600000", NULL};
    static const struct stack_opts o = {.webhooks = 0, .env = env};

    (void)state;
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static long sync_now(struct client *c, struct resp *r)
{
    return client_json(c, "POST", "/api/google/calendar/sync", "{}", r);
}

static void connect_user(struct client *c, const char *who, const char *tz)
{
    assert_int_equal(stack_connect_user(&S, c, who, tz), 0);
}

static void sync_ok(struct client *c, int *pushed, int *pulled, int *deleted, int *conflicts)
{
    struct resp r;
    long st = sync_now(c, &r);

    if (st != 200)
        fail_msg("sync answered %ld: %s", st, r.body);
    assert_true(jbool(r.json, "success"));
    if (pushed)
        *pushed = (int)jnum(r.json, "pushed");
    if (pulled)
        *pulled = (int)jnum(r.json, "pulled");
    if (deleted)
        *deleted = (int)jnum(r.json, "deleted");
    if (conflicts)
        *conflicts = (int)jnum(r.json, "conflicts");
    assert_int_equal(
        (int)jnum(r.json, "syncedEvents"),
        (int)(jnum(r.json, "pushed") + jnum(r.json, "pulled") + jnum(r.json, "deleted")));
    resp_free(&r);
}

/* Google events of an account (live ones unless all). */
static cJSON *google_events(const char *who, int all)
{
    struct resp r;
    char path[128];
    cJSON *out = cJSON_CreateArray(), *it;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (all || strcmp(jstr(it, "status"), "cancelled") != 0)
            cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
    }
    resp_free(&r);
    return out;
}

static cJSON *find_by(cJSON *arr, const char *key, const char *val)
{
    cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (jstr(it, key) && strcmp(jstr(it, key), val) == 0)
            return it;
    }
    return NULL;
}

static cJSON *local(struct client *c, const char *from, const char *to)
{
    struct resp r;
    char path[256];
    cJSON *out;

    snprintf(path, sizeof path, "/api/appointments?from=%s&to=%s", from, to);
    assert_int_equal(client_req(c, "GET", path, NULL, NULL, &r), 200);
    out = cJSON_Duplicate(cJSON_GetObjectItem(r.json, "appointments"), 1);
    resp_free(&r);
    return out;
}

static long long create(struct client *c, const char *json)
{
    struct resp r;
    long long id;

    assert_int_equal(client_json(c, "POST", "/api/appointments", json, &r), 201);
    id = (long long)jnum(r.json, "id");
    assert_string_equal(jstr(r.json, "syncState"), "pending");
    resp_free(&r);
    return id;
}

static char *google_post(const char *who, const char *json)
{
    struct resp r;
    char path[128], *id;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "POST", path, json, &r), 200);
    id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    return id;
}

static void google_edit(const char *who, const char *id, const char *method, const char *json)
{
    char path[256];

    snprintf(path, sizeof path, "events/%s?account=%s@gmail.test", id, who);
    assert_int_equal(emu_ctl(&S, method, path, json, NULL),
                     strcmp(method, "DELETE") == 0 ? 204 : 200);
}

static void vesta_to_google(void **state)
{
    struct client c;
    cJSON *ev, *g;
    char path[64];
    long long id;
    int pushed;
    const cJSON *priv;

    (void)state;
    connect_user(&c, "ana", "Europe/Madrid");
    id = create(&c, "{\"title\":\"Visita "
                    "ático\",\"start\":\"2026-10-25T10:00:00+01:00\",\"end\":\"2026-10-25T11:00:00+"
                    "01:00\",\"type\":\"Visita\",\"location\":\"Gran Vía 1\",\"contactId\":77}");
    sync_ok(&c, &pushed, NULL, NULL, NULL);
    assert_int_equal(pushed, 1);
    g = google_events("ana", 0);
    assert_int_equal(cJSON_GetArraySize(g), 1);
    ev = cJSON_GetArrayItem(g, 0);
    assert_string_equal(jstr(ev, "summary"), "Visita ático");
    assert_string_equal(jstr(ev, "location"), "Gran Vía 1");
    assert_int_equal(strlen(jstr(ev, "id")), 26); /* our own id */
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-10-25T10:00:00+01:00");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "timeZone"), "Europe/Madrid");
    priv = cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "extendedProperties"), "private");
    snprintf(path, sizeof path, "%lld", id);
    assert_string_equal(jstr(priv, "vestaAppointmentId"), path);
    assert_string_equal(jstr(priv, "vestaType"), "Visita");
    assert_string_equal(jstr(priv, "vestaStatus"), "Scheduled");
    assert_string_equal(jstr(priv, "vestaContactId"), "77");
    cJSON_Delete(g);
    /* edit */
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(&c, "PATCH", path,
                                 "{\"title\":\"Visita ático (2ª)\",\"status\":\"Completed\"}",
                                 NULL),
                     200);
    sync_ok(&c, &pushed, NULL, NULL, NULL);
    assert_int_equal(pushed, 1);
    g = google_events("ana", 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "summary"), "Visita ático (2ª)");
    assert_string_equal(
        jstr(cJSON_GetObjectItem(
                 cJSON_GetObjectItem(cJSON_GetArrayItem(g, 0), "extendedProperties"), "private"),
             "vestaStatus"),
        "Completed");
    cJSON_Delete(g);
    {
        struct resp r;
        assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
        assert_string_equal(jstr(r.json, "syncState"), "synced");
        resp_free(&r);
    }
    /* delete */
    assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
    sync_ok(&c, &pushed, NULL, NULL, NULL);
    assert_int_equal(pushed, 1);
    g = google_events("ana", 0);
    assert_int_equal(cJSON_GetArraySize(g), 0);
    cJSON_Delete(g);
    client_free(&c);
}

static void google_to_vesta(void **state)
{
    struct client c;
    cJSON *l, *a;
    char *gid;
    int pulled, deleted;

    (void)state;
    connect_user(&c, "ben", "Europe/Madrid");
    gid = google_post(
        "ben",
        "{\"summary\":\"Llamada "
        "banco\",\"location\":\"Oficina\",\"start\":{\"dateTime\":\"2026-03-29T09:30:00+02:00\","
        "\"timeZone\":\"Europe/Madrid\"},\"end\":{\"dateTime\":\"2026-03-29T10:00:00+02:00\"}}");
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 1);
    l = local(&c, "2026-03-01", "2026-04-30");
    assert_int_equal(cJSON_GetArraySize(l), 1);
    a = cJSON_GetArrayItem(l, 0);
    assert_string_equal(jstr(a, "title"), "Llamada banco");
    assert_string_equal(jstr(a, "start"), "2026-03-29T07:30:00Z");
    assert_string_equal(jstr(a, "type"), "Reunión");
    assert_string_equal(jstr(a, "status"), "Scheduled");
    assert_string_equal(jstr(a, "syncState"), "synced");
    assert_string_equal(jstr(a, "googleEventId"), gid);
    cJSON_Delete(l);
    google_edit("ben", gid, "PATCH",
                "{\"summary\":\"Llamada banco "
                "(movida)\",\"start\":{\"dateTime\":\"2026-03-30T09:30:00+02:00\"},\"end\":{"
                "\"dateTime\":\"2026-03-30T10:30:00+02:00\"}}");
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 1);
    l = local(&c, "2026-03-01", "2026-04-30");
    assert_int_equal(cJSON_GetArraySize(l), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "title"), "Llamada banco (movida)");
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "end"), "2026-03-30T08:30:00Z");
    cJSON_Delete(l);
    google_edit("ben", gid, "DELETE", NULL);
    sync_ok(&c, NULL, &pulled, &deleted, NULL);
    assert_int_equal(deleted, 1);
    l = local(&c, "2026-03-01", "2026-04-30");
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    /* special event types are not appointments */
    free(google_post(
        "ben",
        "{\"summary\":\"Oficina\",\"eventType\":\"workingLocation\",\"start\":{\"dateTime\":\"2026-"
        "03-31T09:00:00+02:00\"},\"end\":{\"dateTime\":\"2026-03-31T17:00:00+02:00\"}}"));
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 0);
    l = local(&c, "2026-03-01", "2026-04-30");
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    free(gid);
    client_free(&c);
}

static void no_echo(void **state)
{
    struct client c;
    size_t mark;
    int pushed, pulled;

    (void)state;
    connect_user(&c, "cleo", NULL);
    create(
        &c,
        "{\"title\":\"Mía\",\"start\":\"2026-05-01T10:00:00Z\",\"end\":\"2026-05-01T11:00:00Z\"}");
    free(google_post("cleo", "{\"summary\":\"Suya\",\"start\":{\"dateTime\":\"2026-05-02T10:00:"
                             "00Z\"},\"end\":{\"dateTime\":\"2026-05-02T11:00:00Z\"}}"));
    sync_ok(&c, &pushed, &pulled, NULL, NULL);
    assert_int_equal(pushed, 1);
    assert_int_equal(pulled, 1);
    /* what we pushed is not re-imported, what we pulled is not pushed back */
    mark = emu_log_mark(&S);
    sync_ok(&c, &pushed, &pulled, NULL, NULL);
    assert_int_equal(pushed, 0);
    assert_int_equal(pulled, 0);
    sync_ok(&c, &pushed, &pulled, NULL, NULL);
    assert_int_equal(pushed + pulled, 0);
    assert_int_equal(emu_count_calls(&S, "POST", "/events", mark), 0);
    assert_int_equal(emu_count_calls(&S, "PATCH", "/events", mark), 0);
    assert_int_equal(emu_count_calls(&S, "PUT", "/events", mark), 0);
    assert_int_equal(emu_count_calls(&S, "DELETE", "/events", mark), 0);
    {
        cJSON *l = local(&c, "2026-04-01", "2026-06-01"), *g = google_events("cleo", 0);
        assert_int_equal(cJSON_GetArraySize(l), 2);
        assert_int_equal(cJSON_GetArraySize(g), 2);
        cJSON_Delete(l);
        cJSON_Delete(g);
    }
    client_free(&c);
}

static void conflicts(void **state)
{
    struct client c;
    char path[64], *gid;
    long long id;
    int n;
    cJSON *l, *g;

    (void)state;
    connect_user(&c, "dora", NULL);
    id = create(&c, "{\"title\":\"Firma\",\"location\":\"Notaría\",\"start\":\"2026-07-01T10:00:"
                    "00Z\",\"end\":\"2026-07-01T11:00:00Z\",\"type\":\"Firma\"}");
    sync_ok(&c, NULL, NULL, NULL, NULL);
    g = google_events("dora", 0);
    gid = strdup(jstr(cJSON_GetArrayItem(g, 0), "id"));
    cJSON_Delete(g);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    /* different fields on each side: both survive, no conflict */
    assert_int_equal(client_json(&c, "PATCH", path, "{\"title\":\"Firma hipoteca\"}", NULL), 200);
    google_edit("dora", gid, "PATCH", "{\"location\":\"Notaría López\"}");
    sync_ok(&c, NULL, NULL, NULL, &n);
    assert_int_equal(n, 0);
    l = local(&c, "2026-06-01", "2026-08-01");
    g = google_events("dora", 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "title"), "Firma hipoteca");
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "location"), "Notaría López");
    assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "summary"), "Firma hipoteca");
    assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "location"), "Notaría López");
    cJSON_Delete(l);
    cJSON_Delete(g);
    /* the same field on both sides: the later modification wins, recorded as a conflict */
    assert_int_equal(client_json(&c, "PATCH", path, "{\"title\":\"Local, earlier\"}", NULL), 200);
    sleep_ms(20);
    google_edit("dora", gid, "PATCH", "{\"summary\":\"Google, later\"}");
    sync_ok(&c, NULL, NULL, NULL, &n);
    assert_int_equal(n, 1);
    l = local(&c, "2026-06-01", "2026-08-01");
    g = google_events("dora", 0);
    assert_int_equal(cJSON_GetArraySize(l), 1);
    assert_int_equal(cJSON_GetArraySize(g), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "title"), "Google, later");
    assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "summary"), "Google, later");
    cJSON_Delete(l);
    cJSON_Delete(g);
    google_edit("dora", gid, "PATCH", "{\"summary\":\"Google, earlier\"}");
    sleep_ms(20);
    assert_int_equal(client_json(&c, "PATCH", path, "{\"title\":\"Local, later\"}", NULL), 200);
    sync_ok(&c, NULL, NULL, NULL, &n);
    assert_int_equal(n, 1);
    l = local(&c, "2026-06-01", "2026-08-01");
    g = google_events("dora", 0);
    assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "title"), "Local, later");
    assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "summary"), "Local, later");
    cJSON_Delete(l);
    cJSON_Delete(g);
    assert_true(stack_db_int(&S, "SELECT sum(conflicts) FROM sync_runs") >= 2);
    free(gid);
    client_free(&c);
}

static void pagination(void **state)
{
    struct client c;
    size_t mark;
    int pulled;
    cJSON *l;

    (void)state;
    connect_user(&c, "eva", NULL);
    for (int i = 0; i < 2600; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"summary\":\"Evento "
                 "%d\",\"start\":{\"dateTime\":\"2026-08-%02dT%02d:%02d:00Z\"},\"end\":{"
                 "\"dateTime\":\"2026-08-%02dT%02d:%02d:30Z\"}}",
                 i, 1 + i % 28, (i / 28) % 24, i % 60, 1 + i % 28, (i / 28) % 24, i % 60);
        assert_int_equal(emu_ctl(&S, "POST", "events?account=eva@gmail.test", body, NULL), 200);
    }
    mark = emu_log_mark(&S);
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 2600);
    assert_true(emu_count_calls(&S, "GET", "/events", mark) >= 2); /* more than one page */
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id "
                         "WHERE u.email = 'eva@example.com' AND is_active = 1"),
        2600);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(DISTINCT google_event_id) FROM appointments a JOIN users u "
                         "ON u.id = a.user_id WHERE u.email = 'eva@example.com'"),
        2600);
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 0);
    l = local(&c, "2026-08-01", "2026-08-02");
    assert_true(cJSON_GetArraySize(l) > 50);
    cJSON_Delete(l);
    client_free(&c);
}

static void full_sync_after_410(void **state)
{
    struct client c;
    char *gone, *kept;
    int pulled, deleted;
    cJSON *l;
    size_t mark;

    (void)state;
    connect_user(&c, "fede", NULL);
    gone = google_post("fede", "{\"summary\":\"Se "
                               "va\",\"start\":{\"dateTime\":\"2026-09-01T10:00:00Z\"},\"end\":{"
                               "\"dateTime\":\"2026-09-01T11:00:00Z\"}}");
    kept = google_post("fede", "{\"summary\":\"Se "
                               "queda\",\"start\":{\"dateTime\":\"2026-09-02T10:00:00Z\"},\"end\":{"
                               "\"dateTime\":\"2026-09-02T11:00:00Z\"}}");
    sync_ok(&c, NULL, &pulled, NULL, NULL);
    assert_int_equal(pulled, 2);
    /* the event goes while our sync token expires: only a full listing can tell */
    google_edit("fede", gone, "DELETE", NULL);
    free(google_post("fede", "{\"summary\":\"Nuevo\",\"start\":{\"dateTime\":\"2026-09-03T10:00:"
                             "00Z\"},\"end\":{\"dateTime\":\"2026-09-03T11:00:00Z\"}}"));
    emu_ctl(&S, "POST", "sync-tokens/invalidate", "{}", NULL);
    mark = emu_log_mark(&S);
    sync_ok(&c, NULL, &pulled, &deleted, NULL);
    assert_int_equal(deleted, 1);
    assert_int_equal(pulled, 1);
    assert_int_equal(emu_count_calls(&S, "GET", "/events", mark), 2); /* 410, then the full list */
    l = local(&c, "2026-08-31", "2026-09-30");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_non_null(find_by(l, "googleEventId", kept));
    assert_null(find_by(l, "googleEventId", gone));
    assert_non_null(find_by(l, "title", "Nuevo"));
    cJSON_Delete(l);
    free(gone);
    free(kept);
    client_free(&c);
}

static void mass_delete_guard(void **state)
{
    struct client c;
    struct resp r;
    cJSON *g, *it;

    (void)state;
    connect_user(&c, "gus", NULL);
    for (int i = 0; i < 12; i++) {
        char body[200];
        snprintf(body, sizeof body,
                 "{\"title\":\"Cita "
                 "%d\",\"start\":\"2026-11-%02dT10:00:00Z\",\"end\":\"2026-11-%02dT11:00:00Z\"}",
                 i, i + 1, i + 1);
        create(&c, body);
    }
    sync_ok(&c, NULL, NULL, NULL, NULL);
    /* everything vanishes from Google and the token is gone: refuse to mirror that */
    g = google_events("gus", 0);
    cJSON_ArrayForEach(it, g) google_edit("gus", jstr(it, "id"), "DELETE", NULL);
    cJSON_Delete(g);
    emu_ctl(&S, "POST", "sync-tokens/invalidate", "{}", NULL);
    assert_int_equal(sync_now(&c, &r), 502);
    assert_non_null(strstr(jstr(r.json, "error"), "safety stop"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "state"), "error");
    assert_non_null(strstr(jstr(r.json, "lastError"), "safety stop"));
    resp_free(&r);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id "
                         "WHERE u.email = 'gus@example.com' AND is_active = 1"),
        12);
    client_free(&c);
}

static void recurring_and_all_day(void **state)
{
    struct client c;
    cJSON *l, *a, *g, *ev;
    int n = 0;

    (void)state;
    connect_user(&c, "hugo", "Europe/Madrid");
    free(google_post(
        "hugo",
        "{\"id\":\"rec0hugo1\",\"summary\":\"Semanal\",\"recurrence\":[\"RRULE:FREQ=WEEKLY;COUNT="
        "3\"],\"start\":{\"dateTime\":\"2026-10-20T10:00:00+02:00\",\"timeZone\":\"Europe/"
        "Madrid\"},\"end\":{\"dateTime\":\"2026-10-20T11:00:00+02:00\",\"timeZone\":\"Europe/"
        "Madrid\"}}"));
    free(google_post("hugo", "{\"summary\":\"Puente\",\"start\":{\"date\":\"2026-12-07\"},\"end\":{"
                             "\"date\":\"2026-12-09\"}}"));
    sync_ok(&c, NULL, NULL, NULL, NULL);
    l = local(&c, "2026-10-01", "2026-12-31");
    assert_int_equal(cJSON_GetArraySize(l), 4);
    cJSON_ArrayForEach(a, l)
    {
        if (strcmp(jstr(a, "title"), "Semanal") == 0) {
            n++;
            assert_non_null(strstr(jstr(a, "googleEventId"), "rec0hugo1_"));
        }
    }
    assert_int_equal(n, 3);
    /* the instance after the DST change keeps its 10:00 wall time: 09:00Z */
    assert_non_null(find_by(l, "start", "2026-10-27T09:00:00Z"));
    assert_non_null(find_by(l, "start", "2026-10-20T08:00:00Z"));
    a = find_by(l, "title", "Puente");
    assert_non_null(a);
    assert_true(jbool(a, "allDay"));
    assert_string_equal(jstr(a, "start"), "2026-12-07");
    assert_string_equal(jstr(a, "end"), "2026-12-09");
    cJSON_Delete(l);
    /* an instance edited here becomes an exception on Google */
    l = local(&c, "2026-10-26", "2026-10-28");
    {
        char path[64];
        snprintf(path, sizeof path, "/api/appointments/%d",
                 (int)jnum(cJSON_GetArrayItem(l, 0), "id"));
        assert_int_equal(
            client_json(&c, "PATCH", path, "{\"title\":\"Semanal (excepción)\"}", NULL), 200);
    }
    cJSON_Delete(l);
    sync_ok(&c, NULL, NULL, NULL, NULL);
    g = google_events("hugo", 0);
    ev = find_by(g, "summary", "Semanal (excepción)");
    assert_non_null(ev);
    assert_string_equal(jstr(ev, "recurringEventId"), "rec0hugo1");
    cJSON_Delete(g);
    /* an all-day appointment goes out in date form with an exclusive end */
    create(&c,
           "{\"title\":\"Feria\",\"allDay\":true,\"start\":\"2026-12-20\",\"end\":\"2026-12-22\"}");
    sync_ok(&c, NULL, NULL, NULL, NULL);
    g = google_events("hugo", 0);
    ev = find_by(g, "summary", "Feria");
    assert_non_null(ev);
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "date"), "2026-12-20");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "end"), "date"), "2026-12-22");
    cJSON_Delete(g);
    /* a second sync changes nothing */
    {
        int pushed, pulled;
        sync_ok(&c, &pushed, &pulled, NULL, NULL);
        assert_int_equal(pushed + pulled, 0);
    }
    client_free(&c);
}

static void winnipeg_user(void **state)
{
    struct client c;
    cJSON *g, *ev;

    (void)state;
    connect_user(&c, "ivan", "America/Winnipeg");
    create(&c, "{\"title\":\"Showing\",\"start\":\"2026-03-08T10:00:00-05:00\",\"end\":\"2026-03-"
               "08T11:00:00-05:00\"}");
    create(&c,
           "{\"title\":\"Before "
           "DST\",\"start\":\"2026-03-07T10:00:00-06:00\",\"end\":\"2026-03-07T11:00:00-06:00\"}");
    sync_ok(&c, NULL, NULL, NULL, NULL);
    g = google_events("ivan", 0);
    ev = find_by(g, "summary", "Showing");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-03-08T10:00:00-05:00");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "timeZone"), "America/Winnipeg");
    ev = find_by(g, "summary", "Before DST");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-03-07T10:00:00-06:00");
    cJSON_Delete(g);
    client_free(&c);
}

/* Counts local vs Google and checks the two sides name the same events, no twins. */
static void assert_converged(struct client *c, const char *who, int expect)
{
    cJSON *l = local(c, "2026-01-01", "2026-12-31"), *g = google_events(who, 0), *a;

    assert_int_equal(cJSON_GetArraySize(l), expect);
    assert_int_equal(cJSON_GetArraySize(g), expect);
    cJSON_ArrayForEach(a, l)
    {
        const char *gid = jstr(a, "googleEventId");
        if (gid == NULL || find_by(g, "id", gid) == NULL)
            fail_msg("appointment %s not linked to a live Google event", jstr(a, "title"));
        assert_string_equal(jstr(a, "syncState"), "synced");
    }
    cJSON_Delete(l);
    cJSON_Delete(g);
}

static void faults_everywhere(void **state)
{
    static const char *const faults[] = {
        "{\"status\":503,\"count\":2,\"path\":\"/events\"}",
        "{\"status\":500,\"count\":1}",
        "{\"status\":429,\"retryAfter\":1,\"count\":1,\"path\":\"/events\"}",
        "{\"status\":403,\"reason\":\"rateLimitExceeded\",\"count\":2}",
        "{\"kind\":\"drop\",\"count\":1,\"path\":\"/events\"}",
        "{\"kind\":\"drop_after\",\"count\":2,\"path\":\"/events\"}",
        "{\"status\":503,\"count\":1,\"path\":\"/token\"}",
    };
    struct client c;
    char path[64];
    long long first = 0;
    int n = 0;

    (void)state;
    connect_user(&c, "juan", NULL);
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        char body[256];
        /* each round: a local create, a local edit, a Google create, under one fault */
        snprintf(body, sizeof body,
                 "{\"title\":\"Local "
                 "%zu\",\"start\":\"2026-04-%02zuT10:00:00Z\",\"end\":\"2026-04-%02zuT11:00:00Z\"}",
                 f, f + 1, f + 1);
        {
            long long id = create(&c, body);
            if (f == 0)
                first = id;
        }
        n++;
        snprintf(path, sizeof path, "/api/appointments/%lld", first);
        snprintf(body, sizeof body, "{\"description\":\"round %zu\"}", f);
        assert_int_equal(client_json(&c, "PATCH", path, body, NULL), 200);
        snprintf(body, sizeof body,
                 "{\"summary\":\"Google "
                 "%zu\",\"start\":{\"dateTime\":\"2026-05-%02zuT10:00:00Z\"},\"end\":{\"dateTime\":"
                 "\"2026-05-%02zuT11:00:00Z\"}}",
                 f, f + 1, f + 1);
        assert_int_equal(emu_ctl(&S, "POST", "events?account=juan@gmail.test", body, NULL), 200);
        n++;
        if (f == sizeof faults / sizeof faults[0] - 1)
            emu_ctl(&S, "POST", "tokens/expire", "{}", NULL); /* the token fault needs a refresh */
        assert_int_equal(emu_ctl(&S, "POST", "faults", faults[f], NULL), 200);
        sync_ok(&c, NULL, NULL, NULL, NULL);
        emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    }
    sync_ok(&c, NULL, NULL, NULL, NULL);
    assert_converged(&c, "juan", n);
    {
        cJSON *g = google_events("juan", 0);
        assert_string_equal(jstr(find_by(g, "summary", "Local 0"), "description"), "round 6");
        cJSON_Delete(g);
    }
    /* a delete, and a conflict (412: re-read, merge, write again), each under faults */
    {
        cJSON *l = local(&c, "2026-01-01", "2026-12-31"), *g;
        char gid[64];
        snprintf(path, sizeof path, "/api/appointments/%d",
                 (int)jnum(find_by(l, "title", "Local 1"), "id"));
        assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
        n--;
        snprintf(path, sizeof path, "/api/appointments/%lld", first);
        assert_int_equal(
            client_json(&c, "PATCH", path, "{\"title\":\"Local 0, both sides\"}", NULL), 200);
        snprintf(gid, sizeof gid, "%s", jstr(find_by(l, "title", "Local 0"), "googleEventId"));
        cJSON_Delete(l);
        google_edit("juan", gid, "PATCH", "{\"location\":\"moved on Google\"}");
        assert_int_equal(emu_ctl(&S, "POST", "faults",
                                 "{\"status\":503,\"count\":3,\"path\":\"/events/\"}", NULL),
                         200);
        sync_ok(&c, NULL, NULL, NULL, NULL);
        emu_ctl(&S, "DELETE", "faults", NULL, NULL);
        sync_ok(&c, NULL, NULL, NULL, NULL);
        assert_converged(&c, "juan", n);
        g = google_events("juan", 0);
        assert_null(find_by(g, "summary", "Local 1"));
        assert_string_equal(jstr(find_by(g, "summary", "Local 0, both sides"), "location"),
                            "moved on Google");
        cJSON_Delete(g);
    }
    client_free(&c);
}

static void per_event_refusal(void **state)
{
    struct client c;
    struct resp r;
    char path[64];
    long long bad;

    (void)state;
    connect_user(&c, "kira", NULL);
    bad = create(&c, "{\"title\":\"Rechazada\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-"
                     "06-01T11:00:00Z\"}");
    create(&c, "{\"title\":\"Aceptada\",\"start\":\"2026-06-02T10:00:00Z\",\"end\":\"2026-06-02T11:"
               "00:00Z\"}");
    /* the first insert is refused by Google; the other goes on */
    assert_int_equal(
        emu_ctl(&S, "POST", "faults",
                "{\"status\":400,\"reason\":\"invalid\",\"count\":1,\"path\":\"/events\"}", NULL),
        200);
    assert_int_equal(sync_now(&c, &r), 200);
    assert_int_equal((int)jnum(r.json, "errors"), 1);
    assert_int_equal((int)jnum(r.json, "pushed"), 1);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/appointments/%lld", bad);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "syncState"), "error");
    assert_non_null(strstr(jstr(r.json, "syncError"), "400"));
    resp_free(&r);
    /* an edit requeues it at once */
    assert_int_equal(client_json(&c, "PATCH", path, "{\"title\":\"Rechazada, corregida\"}", NULL),
                     200);
    sync_ok(&c, NULL, NULL, NULL, NULL);
    assert_converged(&c, "kira", 2);
    client_free(&c);
}

static void reconnect_without_twins(void **state)
{
    struct client c;
    char loc[4096], path[64], *gid;
    long long id;
    cJSON *g, *l;

    (void)state;
    connect_user(&c, "rita", NULL);
    id = create(&c, "{\"title\":\"Cita de "
                    "Vesta\",\"start\":\"2026-10-01T10:00:00Z\",\"end\":\"2026-10-01T11:00:00Z\"}");
    gid = google_post("rita", "{\"summary\":\"Cita de "
                              "Google\",\"start\":{\"dateTime\":\"2026-10-02T10:00:00Z\"},\"end\":{"
                              "\"dateTime\":\"2026-10-02T11:00:00Z\"}}");
    sync_ok(&c, NULL, NULL, NULL, NULL);
    assert_converged(&c, "rita", 2);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", NULL), 200);
    /* both sides change while disconnected */
    google_edit("rita", gid, "PATCH", "{\"summary\":\"Cita de Google (editada allí)\"}");
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(
        client_json(&c, "PATCH", path, "{\"title\":\"Cita de Vesta (editada aquí)\"}", NULL), 200);
    /* the same Google account again: everything re-links, nothing is doubled */
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    assert_int_equal(client_wait_synced(&c), 0);
    sync_ok(&c, NULL, NULL, NULL, NULL);
    assert_converged(&c, "rita", 2);
    g = google_events("rita", 0);
    l = local(&c, "2026-01-01", "2026-12-31");
    assert_non_null(find_by(g, "summary", "Cita de Google (editada allí)"));
    assert_non_null(find_by(g, "summary", "Cita de Vesta (editada aquí)"));
    assert_non_null(find_by(l, "title", "Cita de Google (editada allí)"));
    assert_non_null(find_by(l, "title", "Cita de Vesta (editada aquí)"));
    assert_string_equal(jstr(find_by(l, "title", "Cita de Google (editada allí)"), "googleEventId"),
                        gid);
    cJSON_Delete(g);
    cJSON_Delete(l);
    free(gid);
    client_free(&c);
}

static void killed_half_way(void **state)
{
    struct client c;
    const char *none[] = {NULL};
    pid_t pid;
    int st;

    (void)state;
    connect_user(&c, "luis", NULL);
    for (int i = 0; i < 120; i++) {
        char body[200];
        snprintf(
            body, sizeof body,
            "{\"title\":\"Lote "
            "%d\",\"start\":\"2026-02-%02dT%02d:00:00Z\",\"end\":\"2026-02-%02dT%02d:30:00Z\"}",
            i, 1 + i % 28, i % 24, 1 + i % 28, i % 24);
        create(&c, body);
    }
    /* slow batches, and the syncing process is killed while one is on its way: Google goes on
     * to create those events, whose answers nobody reads */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":800,\"count\":1000,\"path\":\"/batch\"}",
                             NULL),
                     200);
    assert_int_equal(stack_db_exec(&S, "UPDATE user_integrations SET next_poll_at = 0"), 0);
    {
        size_t mark = emu_log_mark(&S);
        pid = stack_spawn(&S, "cgi/calsync-renew", none);
        assert_true(pid > 0);
        for (int i = 0;
             i < 400 && emu_count_calls_for(&S, "luis@gmail.test", "POST", "/events", mark) < 50;
             i++)
            sleep_ms(25);
        assert_true(emu_count_calls_for(&S, "luis@gmail.test", "POST", "/events", mark) >= 50);
        sleep_ms(300); /* the second batch is in flight */
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    sleep_ms(1000); /* Google finishes what it was sent */
    emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    /* its lease lapses (time passes), then a new sync picks up where it stopped */
    assert_int_equal(stack_db_exec(&S, "UPDATE user_integrations SET lease_until = 0"), 0);
    sync_ok(&c, NULL, NULL, NULL, NULL);
    sync_ok(&c, NULL, NULL, NULL, NULL);
    assert_converged(&c, "luis", 120);
    client_free(&c);
}

static void initial_push_in_batches(void **state)
{
    struct client c;
    char email[64], loc[4096];
    size_t mark;

    (void)state;
    /* a user with 120 appointments connects for the first time */
    snprintf(email, sizeof email, "mara@example.com");
    assert_int_equal(stack_user(&S, email, "password-123", NULL), 0);
    assert_int_equal(
        emu_ctl(&S, "POST", "config", "{\"account\":\"mara@gmail.test\",\"deny\":false}", NULL),
        200);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, email, "password-123"), 200);
    for (int i = 0; i < 120; i++) {
        char body[200];
        snprintf(
            body, sizeof body,
            "{\"title\":\"Cartera "
            "%d\",\"start\":\"2026-03-%02dT%02d:00:00Z\",\"end\":\"2026-03-%02dT%02d:30:00Z\"}",
            i, 1 + i % 28, i % 24, 1 + i % 28, i % 24);
        assert_int_equal(client_json(&c, "POST", "/api/appointments", body, NULL), 201);
    }
    /* and the first batch fails as a whole: its events go one by one */
    assert_int_equal(
        emu_ctl(&S, "POST", "faults", "{\"status\":503,\"count\":1,\"path\":\"/batch\"}", NULL),
        200);
    mark = emu_log_mark(&S);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_int_equal(client_wait_synced(&c), 0);
    assert_converged(&c, "mara", 120);
    /* 120 rows: a first batch of 50 refused (those went one by one), then 50 and 20 */
    assert_int_equal(emu_count_calls(&S, "POST", "/batch/", mark), 4);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vesta_to_google),
        cmocka_unit_test(google_to_vesta),
        cmocka_unit_test(no_echo),
        cmocka_unit_test(conflicts),
        cmocka_unit_test(pagination),
        cmocka_unit_test(full_sync_after_410),
        cmocka_unit_test(mass_delete_guard),
        cmocka_unit_test(recurring_and_all_day),
        cmocka_unit_test(winnipeg_user),
        cmocka_unit_test(faults_everywhere),
        cmocka_unit_test(per_event_refusal),
        cmocka_unit_test(killed_half_way),
        cmocka_unit_test(reconnect_without_twins),
        cmocka_unit_test(initial_push_in_batches),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
