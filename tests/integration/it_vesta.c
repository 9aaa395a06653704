/* it_vesta: the dedicated "Vesta" calendar (calendar.app.created): created once, re-used, made
 * again when deleted, synced both ways with push notifications while primary is never touched;
 * colours by type, reminders, the cancelled mark, progress of a large import, /api/settings. */
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
    static const struct stack_opts o = {.webhooks = 1};

    (void)state;
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

/* The connect flow with ?calendar=which through the emulator's consent; final Location. */
static long connect_as(struct client *c, const char *which, char *loc, size_t len)
{
    struct resp r;
    char path[128], next[4096];
    long st;

    snprintf(path, sizeof path, "/api/google/calendar/connect?calendar=%s", which);
    st = client_req(c, "GET", path, NULL, NULL, &r);
    snprintf(next, sizeof next, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(c, "GET", next, NULL, NULL, &r);
    snprintf(next, sizeof next, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(c, "GET", next, NULL, NULL, &r);
    snprintf(loc, len, "%s", r.location);
    resp_free(&r);
    return st;
}

static void new_user(struct client *c, const char *who)
{
    char email[64], body[128];

    snprintf(email, sizeof email, "%s@example.com", who);
    assert_int_equal(stack_user(&S, email, "password-123", "Europe/Madrid"), 0);
    snprintf(body, sizeof body,
             "{\"account\":\"%s@gmail.test\",\"deny\":false,\"grantScope\":\"\"}", who);
    assert_int_equal(emu_ctl(&S, "POST", "config", body, NULL), 200);
    client_init(c, &S);
    assert_int_equal(client_login(c, email, "password-123"), 200);
}

static void connect_ok(struct client *c, const char *which)
{
    char loc[4096];

    assert_int_equal(connect_as(c, which, loc, sizeof loc), 302);
    if (strstr(loc, STACK_CONNECTED) == NULL)
        fail_msg("connect went to %s", loc);
    assert_int_equal(client_wait_synced(c), 0);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
}

static cJSON *status(struct client *c)
{
    struct resp r;
    cJSON *o;

    assert_int_equal(client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    o = cJSON_Duplicate(r.json, 1);
    resp_free(&r);
    return o;
}

/* The id of the connection's calendar (status calendarId), malloc'd. */
static char *calendar_id(struct client *c)
{
    cJSON *st = status(c);
    char *id = jstr(st, "calendarId") ? strdup(jstr(st, "calendarId")) : NULL;

    cJSON_Delete(st);
    return id;
}

/* Live calendars of an account other than primary. */
static int vesta_calendars(const char *who, char *first, size_t len)
{
    struct resp r;
    char path[128];
    const cJSON *it;
    int n = 0;

    snprintf(path, sizeof path, "calendars?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (jbool(it, "primary"))
            continue;
        assert_string_equal(jstr(it, "summary"), "Vesta");
        assert_string_equal(jstr(it, "timeZone"), "Europe/Madrid");
        if (n++ == 0 && first != NULL)
            snprintf(first, len, "%s", jstr(it, "id"));
    }
    resp_free(&r);
    return n;
}

/* Live events of a calendar (cal NULL: the account's primary). */
static cJSON *events_of(const char *who, const char *cal)
{
    struct resp r;
    char path[512];
    cJSON *out = cJSON_CreateArray(), *it;

    if (cal != NULL)
        snprintf(path, sizeof path, "events?account=%s@gmail.test&calendar=%s", who, cal);
    else
        snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (strcmp(jstr(it, "status"), "cancelled") != 0)
            cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
    }
    resp_free(&r);
    return out;
}

static cJSON *event_titled(const char *who, const char *cal, const char *title)
{
    cJSON *all = events_of(who, cal), *it, *out = NULL;

    cJSON_ArrayForEach(it, all)
    {
        if (jstr(it, "summary") && strcmp(jstr(it, "summary"), title) == 0) {
            out = cJSON_Duplicate(it, 1);
            break;
        }
    }
    cJSON_Delete(all);
    return out;
}

struct wait_ev {
    const char *who, *cal, *title, *key, *val;
};
static int ev_cond(void *arg)
{
    struct wait_ev *w = arg;
    cJSON *ev = event_titled(w->who, w->cal, w->title);
    int ok = ev != NULL &&
             (w->key == NULL || (jstr(ev, w->key) && strcmp(jstr(ev, w->key), w->val) == 0));

    cJSON_Delete(ev);
    return ok;
}
struct wait_default {
    const char *cal;
};
static int uses_default_reminders(void *arg)
{
    struct wait_default *w = arg;
    cJSON *ev = event_titled("rosa", w->cal, "Firma Olmo 2");
    int yes = ev != NULL && jbool(cJSON_GetObjectItem(ev, "reminders"), "useDefault");

    cJSON_Delete(ev);
    return yes;
}

static cJSON *wait_event(const char *who, const char *cal, const char *title, const char *key,
                         const char *val)
{
    struct wait_ev w = {who, cal, title, key, val};

    if (!wait_until(ev_cond, &w, 10000))
        fail_msg("no event '%s' (%s=%s) on %s", title, key ? key : "-", val ? val : "-",
                 cal ? cal : "primary");
    return event_titled(who, cal, title);
}

static long long create(struct client *c, const char *json)
{
    struct resp r;
    long long id;

    assert_int_equal(client_json(c, "POST", "/api/appointments", json, &r), 201);
    id = (long long)jnum(r.json, "id");
    resp_free(&r);
    return id;
}

static void patch_appt(struct client *c, long long id, const char *json)
{
    char path[64];

    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(c, "PATCH", path, json, NULL), 200);
}

static void disconnect(struct client *c)
{
    assert_int_equal(client_json(c, "POST", "/api/google/calendar/disconnect", "{}", NULL), 200);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
}

/* Calls on account's primary calendar since mark (either spelling of its id). */
static int primary_calls(const char *who, size_t mark)
{
    char acct[64], path[96];

    snprintf(acct, sizeof acct, "%s@gmail.test", who);
    snprintf(path, sizeof path, "/calendars/%s", acct);
    return emu_count_calls_for(&S, acct, NULL, "/calendars/primary", mark) +
           emu_count_calls_for(&S, acct, NULL, path, mark) +
           emu_count_calls_for(&S, acct, NULL, "/calendars/vera%40gmail.test", mark);
}

/* calendars.insert calls since mark (POST on exactly /calendar/v3/calendars). */
static int calendar_inserts(size_t mark)
{
    struct resp r;
    char q[64];
    const cJSON *e;
    int n = 0;

    snprintf(q, sizeof q, "log?since=%zu", mark);
    assert_int_equal(emu_ctl(&S, "GET", q, NULL, &r), 200);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
    {
        if (strcmp(jstr(e, "method"), "POST") == 0 &&
            strcmp(jstr(e, "path"), "/calendar/v3/calendars") == 0)
            n++;
    }
    resp_free(&r);
    return n;
}

static void vesta_created_reused_recreated(void **state)
{
    struct client c;
    struct resp r;
    char cal1[256], cal2[256], *id;
    cJSON *st, *ev, *rem;
    size_t mark;

    (void)state;
    new_user(&c, "vera");
    create(
        &c,
        "{\"title\":\"Visita Sol 1\",\"type\":\"Visita\",\"start\":\"2027-03-02T10:00:00+01:00\","
        "\"end\":\"2027-03-02T11:00:00+01:00\"}");
    mark = emu_log_mark(&S);
    connect_ok(&c, "vesta");
    /* the consent asked for calendar.app.created only */
    assert_int_equal(emu_count_calls(&S, "GET", "/o/oauth2/v2/auth", mark), 1);
    {
        char q[64];
        snprintf(q, sizeof q, "log?since=%zu", mark);
        assert_int_equal(emu_ctl(&S, "GET", q, NULL, &r), 200);
    }
    {
        const cJSON *e;
        int seen = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
        {
            if (strcmp(jstr(e, "path"), "/o/oauth2/v2/auth") != 0)
                continue;
            if (strstr(jstr(e, "query"), "calendar.app.created") != NULL) {
                assert_null(strstr(jstr(e, "query"), "calendar.events"));
                seen++;
            }
        }
        assert_int_equal(seen, 1);
    }
    resp_free(&r);
    st = status(&c);
    assert_string_equal(jstr(st, "calendar"), "vesta");
    assert_true(jbool(st, "connected"));
    assert_non_null(strstr(jstr(st, "calendarId"), "@group.calendar.google.com"));
    cJSON_Delete(st);
    assert_int_equal(vesta_calendars("vera", cal1, sizeof cal1), 1);
    id = calendar_id(&c);
    assert_string_equal(id, cal1);
    free(id);
    /* the appointment went to the Vesta calendar with its type's colour; primary is untouched */
    ev = wait_event("vera", cal1, "Visita Sol 1", NULL, NULL);
    assert_string_equal(jstr(ev, "colorId"), "9");
    rem = cJSON_GetObjectItem(ev, "reminders");
    assert_true(jbool(rem, "useDefault"));
    cJSON_Delete(ev);
    ev = events_of("vera", NULL);
    assert_int_equal(cJSON_GetArraySize(ev), 0);
    cJSON_Delete(ev);
    assert_int_equal(calendar_inserts(mark), 1);
    assert_int_equal(primary_calls("vera", mark), 0);
    /* the channel watches the Vesta calendar */
    assert_int_equal(emu_ctl(&S, "GET", "channels", NULL, &r), 200);
    {
        const cJSON *ch;
        int live = 0;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r.json, "channels"))
        {
            if (jbool(ch, "live") && strcmp(jstr(ch, "calendar"), cal1) == 0)
                live++;
            assert_null(strstr(jstr(ch, "calendar"), "vera@gmail.test"));
        }
        assert_int_equal(live, 1);
    }
    resp_free(&r);

    /* disconnect and connect again: the same calendar, nothing created, no twin */
    disconnect(&c);
    mark = emu_log_mark(&S);
    connect_ok(&c, "vesta");
    id = calendar_id(&c);
    assert_string_equal(id, cal1);
    free(id);
    assert_int_equal(vesta_calendars("vera", NULL, 0), 1);
    assert_int_equal(calendar_inserts(mark), 0);
    ev = events_of("vera", cal1);
    assert_int_equal(cJSON_GetArraySize(ev), 1);
    cJSON_Delete(ev);
    assert_int_equal(primary_calls("vera", mark), 0);

    /* the user deletes it on Google: the next connect makes another one */
    disconnect(&c);
    snprintf(cal2, sizeof cal2, "calendars/%s?account=vera@gmail.test", cal1);
    assert_int_equal(emu_ctl(&S, "DELETE", cal2, NULL, NULL), 204);
    mark = emu_log_mark(&S);
    connect_ok(&c, "vesta");
    assert_int_equal(vesta_calendars("vera", cal2, sizeof cal2), 1);
    assert_string_not_equal(cal1, cal2);
    id = calendar_id(&c);
    assert_string_equal(id, cal2);
    free(id);
    ev = wait_event("vera", cal2, "Visita Sol 1", "colorId", "9");
    cJSON_Delete(ev);
    assert_int_equal(primary_calls("vera", mark), 0);
    client_free(&c);
}

struct local_wait {
    struct client *c;
    const char *title;
    int want; /* 1 present, 0 gone */
};
static int local_cond(void *arg)
{
    struct local_wait *w = arg;
    struct resp r;
    const cJSON *it;
    int found = 0;

    client_req(w->c, "GET", "/api/appointments?from=2027-01-01&to=2027-12-31", NULL, NULL, &r);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "appointments"))
    {
        if (strcmp(jstr(it, "title"), w->title) == 0)
            found = 1;
    }
    resp_free(&r);
    return found == w->want;
}

static void vesta_two_way_with_push(void **state)
{
    struct client c;
    char cal[256], path[512], body[512];
    struct local_wait w;
    cJSON *ev;
    size_t mark;

    (void)state;
    new_user(&c, "tomas");
    connect_ok(&c, "vesta");
    assert_int_equal(vesta_calendars("tomas", cal, sizeof cal), 1);
    mark = emu_log_mark(&S);
    /* Google -> Vesta through the channel on the Vesta calendar */
    snprintf(path, sizeof path, "events?account=tomas@gmail.test&calendar=%s", cal);
    assert_int_equal(emu_ctl(&S, "POST", path,
                             "{\"summary\":\"Reunión banco\",\"start\":{\"dateTime\":"
                             "\"2027-04-01T09:00:00+02:00\"},\"end\":{\"dateTime\":"
                             "\"2027-04-01T10:00:00+02:00\"}}",
                             NULL),
                     200);
    w = (struct local_wait){&c, "Reunión banco", 1};
    assert_true(wait_until(local_cond, &w, 10000));
    /* Vesta -> Google */
    create(
        &c,
        "{\"title\":\"Firma notaría\",\"type\":\"Firma\",\"start\":\"2027-04-02T12:00:00+02:00\","
        "\"end\":\"2027-04-02T13:00:00+02:00\"}");
    ev = wait_event("tomas", cal, "Firma notaría", "colorId", "10");
    /* deleted on Google: deleted here */
    snprintf(path, sizeof path, "events/%s?account=tomas@gmail.test&calendar=%s", jstr(ev, "id"),
             cal);
    assert_int_equal(emu_ctl(&S, "DELETE", path, NULL, NULL), 204);
    w = (struct local_wait){&c, "Firma notaría", 0};
    assert_true(wait_until(local_cond, &w, 10000));
    cJSON_Delete(ev);
    assert_int_equal(primary_calls("tomas", mark), 0);
    (void)body;
    client_free(&c);
}

static const cJSON *override0(const cJSON *ev)
{
    return cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "reminders"), "overrides"), 0);
}

static void colours_and_reminders_kept(void **state)
{
    struct client c;
    char cal[256], path[512];
    struct resp r;
    cJSON *ev;
    long long id;

    (void)state;
    new_user(&c, "rosa");
    assert_int_equal(client_json(&c, "PATCH", "/api/settings", "{\"reminders\":[10,60]}", &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "reminders")), 2);
    resp_free(&r);
    connect_ok(&c, "vesta");
    assert_int_equal(vesta_calendars("rosa", cal, sizeof cal), 1);
    id = create(
        &c, "{\"title\":\"Firma Olmo\",\"type\":\"Firma\",\"start\":\"2027-05-03T10:00:00+02:00\","
            "\"end\":\"2027-05-03T11:00:00+02:00\"}");
    ev = wait_event("rosa", cal, "Firma Olmo", "colorId", "10");
    assert_false(jbool(cJSON_GetObjectItem(ev, "reminders"), "useDefault"));
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "reminders"), "overrides")),
        2);
    assert_string_equal(jstr(override0(ev), "method"), "popup");
    assert_int_equal((int)jnum(override0(ev), "minutes"), 10);
    /* the Google user picks another colour and one reminder of 30 minutes */
    snprintf(path, sizeof path, "events/%s?account=rosa@gmail.test&calendar=%s", jstr(ev, "id"),
             cal);
    assert_int_equal(emu_ctl(&S, "PATCH", path,
                             "{\"colorId\":\"5\",\"reminders\":{\"useDefault\":false,\"overrides\":"
                             "[{\"method\":\"popup\",\"minutes\":30}]}}",
                             NULL),
                     200);
    cJSON_Delete(ev);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    sleep_ms(500); /* the notification's pull */
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    /* a local edit of the title keeps both */
    patch_appt(&c, id, "{\"title\":\"Firma Olmo 2\"}");
    ev = wait_event("rosa", cal, "Firma Olmo 2", NULL, NULL);
    assert_string_equal(jstr(ev, "colorId"), "5");
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "reminders"), "overrides")),
        1);
    assert_int_equal((int)jnum(override0(ev), "minutes"), 30);
    cJSON_Delete(ev);
    /* a new type brings its colour back; the reminders stay the user's */
    patch_appt(&c, id, "{\"type\":\"Visita\"}");
    ev = wait_event("rosa", cal, "Firma Olmo 2", "colorId", "9");
    assert_int_equal((int)jnum(override0(ev), "minutes"), 30);
    cJSON_Delete(ev);
    /* a new setting reaches the upcoming events: back to Google's defaults */
    assert_int_equal(client_json(&c, "PATCH", "/api/settings", "{\"reminders\":\"default\"}", &r),
                     200);
    assert_string_equal(jstr(r.json, "reminders"), "default");
    resp_free(&r);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    {
        /* the push may run as one more pass after the job that was running: wait for it */
        struct wait_default w = {cal};
        assert_true(wait_until(uses_default_reminders, &w, 10000));
    }
    ev = event_titled("rosa", cal, "Firma Olmo 2");
    assert_true(jbool(cJSON_GetObjectItem(ev, "reminders"), "useDefault"));
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "reminders"), "overrides")),
        0);
    assert_string_equal(jstr(ev, "colorId"), "9");
    cJSON_Delete(ev);
    client_free(&c);
}

/* A new reminders setting while the connect's first sync is under way (here: while it creates
 * the Vesta calendar): the first push sends the new setting, not the one the run read when it
 * started. The setting's change queues only events already linked, so an event pushed with the
 * old setting would have kept it. */
static void reminders_set_during_first_push(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096], cal[256];
    cJSON *ev;

    (void)state;
    new_user(&c, "nora");
    assert_int_equal(client_json(&c, "PATCH", "/api/settings", "{\"reminders\":[10,60]}", &r), 200);
    resp_free(&r);
    create(&c, "{\"title\":\"Visita previa\",\"start\":\"2027-06-07T10:00:00+02:00\",\"end\":"
               "\"2027-06-07T11:00:00+02:00\"}");
    /* the calendar's creation (the run's first POST) takes 2 s */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":2000,\"count\":1,\"method\":\"POST\","
                             "\"path\":\"/calendars\"}",
                             NULL),
                     200);
    assert_int_equal(connect_as(&c, "vesta", loc, sizeof loc), 302);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    sleep_ms(700);
    assert_int_equal(client_json(&c, "PATCH", "/api/settings", "{\"reminders\":\"default\"}", &r),
                     200);
    resp_free(&r);
    assert_int_equal(client_wait_synced(&c), 0);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    assert_int_equal(vesta_calendars("nora", cal, sizeof cal), 1);
    ev = event_titled("nora", cal, "Visita previa");
    assert_non_null(ev);
    assert_true(jbool(cJSON_GetObjectItem(ev, "reminders"), "useDefault"));
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "reminders"), "overrides")),
        0);
    cJSON_Delete(ev);
    client_free(&c);
}

static void cancelled_mapping(void **state)
{
    struct client c;
    char path[512];
    struct resp r;
    cJSON *ev;
    long long id;

    (void)state;
    new_user(&c, "nuria");
    connect_ok(&c, "primary");
    id = create(&c, "{\"title\":\"Visita "
                    "Mar\",\"status\":\"Cancelled\",\"start\":\"2027-06-01T10:00:00+02:00\","
                    "\"end\":\"2027-06-01T11:00:00+02:00\"}");
    ev = wait_event("nuria", NULL, "[Cancelada] Visita Mar", NULL, NULL);
    assert_string_equal(jstr(ev, "status"), "confirmed"); /* stays visible */
    /* an edit on Google comes back without the mark in the title */
    snprintf(path, sizeof path, "events/%s?account=nuria@gmail.test", jstr(ev, "id"));
    assert_int_equal(emu_ctl(&S, "PATCH", path, "{\"description\":\"de Google\"}", NULL), 200);
    cJSON_Delete(ev);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    sleep_ms(500);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "title"), "Visita Mar");
    assert_string_equal(jstr(r.json, "description"), "de Google");
    assert_string_equal(jstr(r.json, "status"), "Cancelled");
    resp_free(&r);
    /* a later local edit does not mark it twice */
    patch_appt(&c, id, "{\"location\":\"Calle Mar 2\"}");
    ev = wait_event("nuria", NULL, "[Cancelada] Visita Mar", "location", "Calle Mar 2");
    cJSON_Delete(ev);
    /* scheduled again: the mark goes */
    patch_appt(&c, id, "{\"status\":\"Scheduled\"}");
    ev = wait_event("nuria", NULL, "Visita Mar", NULL, NULL);
    snprintf(path, sizeof path, "events/%s?account=nuria@gmail.test", jstr(ev, "id"));
    cJSON_Delete(ev);
    /* Google's status cancelled still means deleted */
    assert_int_equal(emu_ctl(&S, "DELETE", path, NULL, NULL), 204);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    sleep_ms(500);
    assert_int_equal(stack_wait_jobs(&S, 10000), 0);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, NULL), 404);
    client_free(&c);
}

static void switching_calendars(void **state)
{
    struct client c;
    char cal[256];
    cJSON *ev;

    (void)state;
    new_user(&c, "saul");
    connect_ok(&c, "primary");
    create(&c,
           "{\"title\":\"Cierre Pino\",\"type\":\"Cierre\",\"start\":\"2027-07-01T10:00:00+02:00\","
           "\"end\":\"2027-07-01T11:00:00+02:00\"}");
    ev = wait_event("saul", NULL, "Cierre Pino", "colorId", "6");
    cJSON_Delete(ev);
    disconnect(&c);
    /* to the Vesta calendar: pushed there, the primary event stays where it is */
    connect_ok(&c, "vesta");
    assert_int_equal(vesta_calendars("saul", cal, sizeof cal), 1);
    ev = wait_event("saul", cal, "Cierre Pino", NULL, NULL);
    cJSON_Delete(ev);
    ev = events_of("saul", NULL);
    assert_int_equal(cJSON_GetArraySize(ev), 1);
    cJSON_Delete(ev);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON "
                                      "u.id = a.user_id WHERE u.email = 'saul@example.com' "
                                      "AND a.is_active = 1"),
                     1);
    /* and back: no twin on either calendar */
    disconnect(&c);
    connect_ok(&c, "primary");
    ev = events_of("saul", NULL);
    assert_int_equal(cJSON_GetArraySize(ev), 1);
    cJSON_Delete(ev);
    ev = events_of("saul", cal);
    assert_int_equal(cJSON_GetArraySize(ev), 1);
    cJSON_Delete(ev);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON "
                                      "u.id = a.user_id WHERE u.email = 'saul@example.com' "
                                      "AND a.is_active = 1"),
                     1);
    client_free(&c);
}

static void connect_choice_and_scope(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];
    size_t mark;

    (void)state;
    new_user(&c, "ines");
    assert_int_equal(
        client_req(&c, "GET", "/api/google/calendar/connect?calendar=work", NULL, NULL, &r), 400);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    /* the user grants only calendar.events where app.created was asked: refused and revoked */
    assert_int_equal(emu_ctl(&S, "POST", "config",
                             "{\"grantScope\":\"https://www.googleapis.com/auth/calendar.events\"}",
                             NULL),
                     200);
    mark = emu_log_mark(&S);
    assert_int_equal(connect_as(&c, "vesta", loc, sizeof loc), 302);
    assert_non_null(strstr(loc, "reason=insufficient_scope"));
    assert_int_equal(emu_count_calls(&S, "POST", "/revoke", mark), 1);
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"grantScope\":\"\"}", NULL), 200);
    client_free(&c);
}

/* the emulator itself: an app.created grant reaches only calendars the app made */
static void emulator_scope_enforcement(void **state)
{
    struct client c;
    struct resp r;
    char cal[256], url[512], auth[300];
    const char *h[] = {auth, "Content-Type: application/json", NULL};

    (void)state;
    new_user(&c, "eloy");
    connect_ok(&c, "vesta");
    assert_int_equal(vesta_calendars("eloy", cal, sizeof cal), 1);
    assert_int_equal(emu_ctl(&S, "GET", "tokens", NULL, &r), 200);
    {
        const cJSON *t, *last = NULL;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(r.json, "tokens"))
        {
            if (strncmp(t->valuestring, "ya29.", 5) == 0)
                last = t;
        }
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", last->valuestring);
    }
    resp_free(&r);
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/primary/events", S.emu);
    assert_int_equal(client_req(&c, "GET", url, h, NULL, &r), 403);
    assert_string_equal(jstr(cJSON_GetObjectItem(r.json, "error"), "message"),
                        "Request had insufficient authentication scopes.");
    assert_string_equal(
        jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "errors"),
                                0),
             "reason"),
        "insufficientPermissions");
    resp_free(&r);
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/primary", S.emu);
    assert_int_equal(client_req(&c, "GET", url, h, NULL, &r), 403);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/%s", S.emu, cal);
    assert_int_equal(client_req(&c, "GET", url, h, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "summary"), "Vesta");
    resp_free(&r);
    /* reminders are checked as Google checks them */
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/%s/events", S.emu, cal);
    assert_int_equal(client_req(&c, "POST", url, h,
                                "{\"summary\":\"x\",\"start\":{\"date\":\"2027-01-01\"},\"end\":{"
                                "\"date\":\"2027-01-02\"},\"reminders\":{\"useDefault\":true,"
                                "\"overrides\":[{\"method\":\"popup\",\"minutes\":5}]}}",
                                &r),
                     400);
    assert_string_equal(
        jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "error"), "errors"),
                                0),
             "reason"),
        "cannotUseDefaultRemindersAndSpecifyOverride");
    resp_free(&r);
    assert_int_equal(client_req(&c, "POST", url, h,
                                "{\"summary\":\"x\",\"start\":{\"date\":\"2027-01-01\"},\"end\":{"
                                "\"date\":\"2027-01-02\"},\"reminders\":{\"useDefault\":false,"
                                "\"overrides\":[{\"method\":\"sms\",\"minutes\":5}]}}",
                                NULL),
                     400);
    assert_int_equal(client_req(&c, "POST", url, h,
                                "{\"summary\":\"x\",\"start\":{\"date\":\"2027-01-01\"},\"end\":{"
                                "\"date\":\"2027-01-02\"},\"reminders\":{\"useDefault\":false,"
                                "\"overrides\":[{\"method\":\"popup\",\"minutes\":40321}]}}",
                                NULL),
                     400);
    assert_int_equal(client_req(&c, "POST", url, h,
                                "{\"summary\":\"x\",\"start\":{\"date\":\"2027-01-01\"},\"end\":{"
                                "\"date\":\"2027-01-02\"},\"colorId\":\"12\"}",
                                NULL),
                     400);
    client_free(&c);
}

struct progress_seen {
    struct client *c;
    int max_done;
};
static int progress_cond(void *arg)
{
    struct progress_seen *p = arg;
    cJSON *st = status(p->c), *pr = cJSON_GetObjectItem(st, "progress");

    if (cJSON_IsObject(pr) && jstr(pr, "phase") && strcmp(jstr(pr, "phase"), "import") == 0 &&
        jnum(pr, "done") > p->max_done)
        p->max_done = (int)jnum(pr, "done");
    cJSON_Delete(st);
    return p->max_done >= 2500;
}

static void progress_during_import(void **state)
{
    struct client c;
    struct progress_seen p;
    char loc[4096], *bulk;
    size_t cap = 6000 * 160, used = 0;
    cJSON *st;

    (void)state;
    new_user(&c, "pia");
    bulk = malloc(cap);
    used += (size_t)snprintf(bulk + used, cap - used, "[");
    for (int i = 0; i < 6000; i++)
        used += (size_t)snprintf(
            bulk + used, cap - used,
            "%s{\"summary\":\"E%d\",\"start\":{\"dateTime\":\"2027-02-%02dT10:00:00Z\"},"
            "\"end\":{\"dateTime\":\"2027-02-%02dT11:00:00Z\"}}",
            i ? "," : "", i, 1 + i % 28, 1 + i % 28);
    snprintf(bulk + used, cap - used, "]");
    assert_int_equal(emu_ctl(&S, "POST", "events?account=pia@gmail.test", bulk, NULL), 200);
    free(bulk);
    /* a slow Google: every list page takes 1.5 s */
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"kind\":\"delay\",\"ms\":1500,\"count\":3,\"path\":\"/events\","
                             "\"method\":\"GET\"}",
                             NULL),
                     200);
    assert_int_equal(connect_as(&c, "primary", loc, sizeof loc), 302);
    p = (struct progress_seen){&c, -1};
    assert_true(wait_until(progress_cond, &p, 15000));
    assert_true(p.max_done >= 2500);
    assert_int_equal(client_wait_synced(&c), 0);
    st = status(&c);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(st, "progress")));
    cJSON_Delete(st);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON "
                                      "u.id = a.user_id WHERE u.email = 'pia@example.com'"),
                     6000);
    client_free(&c);
}

static void settings_route(void **state)
{
    struct client c, anon;
    struct resp r;
    const char *text[] = {"Content-Type: text/plain", NULL};
    const char *bad[] = {"{\"reminders\":[1,2,3,4,5,6]}",
                         "{\"reminders\":[-1]}",
                         "{\"reminders\":[40321]}",
                         "{\"reminders\":[1.5]}",
                         "{\"reminders\":\"x\"}",
                         "{\"reminders\":null}",
                         "{\"other\":1}",
                         "[1]"};

    (void)state;
    new_user(&c, "sara");
    client_init(&anon, &S);
    assert_int_equal(client_req(&anon, "GET", "/api/settings", NULL, NULL, NULL), 401);
    assert_int_equal(
        client_json(&anon, "PATCH", "/api/settings", "{\"reminders\":\"default\"}", NULL), 401);
    assert_int_equal(client_json(&c, "POST", "/api/settings", "{}", &r), 405);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(
        client_req(&c, "PATCH", "/api/settings", text, "{\"reminders\":\"default\"}", NULL), 415);
    assert_int_equal(client_req(&c, "GET", "/api/settings", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "reminders"), "default");
    resp_free(&r);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long st = client_json(&c, "PATCH", "/api/settings", bad[i], &r);
        if (st != 400)
            fail_msg("%s answered %ld", bad[i], st);
        assert_non_null(jstr(r.json, "error"));
        resp_free(&r);
    }
    assert_int_equal(
        client_json(&c, "PATCH", "/api/settings", "{\"reminders\":[0,40320,15]}", NULL), 200);
    assert_int_equal(client_req(&c, "GET", "/api/settings", NULL, NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "reminders")), 3);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "reminders"), 1)->valueint,
                     40320);
    resp_free(&r);
    client_free(&anon);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(settings_route),
        cmocka_unit_test(connect_choice_and_scope),
        cmocka_unit_test(vesta_created_reused_recreated),
        cmocka_unit_test(vesta_two_way_with_push),
        cmocka_unit_test(colours_and_reminders_kept),
        cmocka_unit_test(reminders_set_during_first_push),
        cmocka_unit_test(cancelled_mapping),
        cmocka_unit_test(switching_calendars),
        cmocka_unit_test(emulator_scope_enforcement),
        cmocka_unit_test(progress_during_import),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
