/* it_realcal: a real agent's calendar (issue 24) against the emulator taught Google's ways:
 * invitations, special event types, ids Google keeps deleted, split series, usage limits,
 * guests never mailed, listing quirks, mixed batch answers, and a converge check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gapi.h"
#include "realcal_util.h"

struct stack S;

static int setup(void **state)
{
    /* local changes wait for an explicit sync (each scenario controls what each side has
     * seen); a usage-limit pause lasts 3 s here instead of hours */
    static const char *const env[] = {"CALSYNC_PUSH_DELAY_MS=3600000", "CALSYNC_USAGE_PAUSE_S=3",
                                      NULL};
    static const struct stack_opts o = {.webhooks = 0, .env = env};

    (void)state;
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

#define WHEN(d, h1, h2)                                                                            \
    "\"start\":{\"dateTime\":\"" d "T" h1 ":00:00+01:00\"},\"end\":{\"dateTime\":\"" d "T" h2      \
    ":00:00+01:00\"}"
#define INVITE(who, answer)                                                                        \
    "\"organizer\":{\"email\":\"notaria@example.net\"},\"attendees\":[{\"email\":\"notaria@"       \
    "example.net\",\"organizer\":true,\"responseStatus\":\"accepted\"},{\"email\":\"" who          \
    "@gmail.test\",\"responseStatus\":\"" answer "\"}]"

static void patch_appt(struct client *c, long long id, const char *json)
{
    char path[64];

    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(c, "PATCH", path, json, NULL), 200);
}

/* Invitations: imported read-only with their organizer; a local edit stays here with the
 * reason and never reaches Google (no 403 loop); declined ones are not appointments and go
 * when declined later; a delete here leaves the organizer's event alone and does not return. */
static void invitations(void **state)
{
    struct client c;
    char *inv, *inv2, *inv3, path[64];
    cJSON *l, *a;
    long long inv_id, inv2_id, inv3_id;
    size_t mark;
    int deleted;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "ines", "Europe/Madrid"), 0);
    inv =
        rc_google_post("ines", "{\"summary\":\"Firma notaría Goya\"," WHEN(
                                   "2026-11-10", "10", "11") "," INVITE("ines", "needsAction") "}");
    free(rc_google_post("ines", "{\"summary\":\"Tasación banco\"," WHEN(
                                    "2026-11-11", "10", "11") "," INVITE("ines", "declined") "}"));
    inv2 = rc_google_post("ines", "{\"summary\":\"Reunión agencia Sol\"," WHEN(
                                      "2026-11-12", "10", "11") "," INVITE("ines", "accepted") "}");
    free(rc_google_post("ines",
                        "{\"summary\":\"Visita Serrano\"," WHEN("2026-11-13", "10", "11") "}"));
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-11-01", "2026-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 3);
    assert_null(rc_find(l, "title", "Tasación banco")); /* declined: not an appointment */
    a = rc_find(l, "title", "Firma notaría Goya");
    assert_non_null(a);
    assert_true(jbool(a, "readOnly"));
    assert_string_equal(jstr(a, "organizer"), "notaria@example.net");
    inv_id = (long long)jnum(a, "id");
    inv2_id = (long long)jnum(rc_find(l, "title", "Reunión agencia Sol"), "id");
    assert_false(jbool(rc_find(l, "title", "Visita Serrano"), "readOnly"));
    cJSON_Delete(l);
    /* the page says so before an edit: its editor shows whose event it is */
    {
        struct resp p1, p2;
        assert_int_equal(client_req(&c, "GET", "/calendario", NULL, NULL, &p1), 200);
        assert_int_equal(client_req(&c, "GET", "/calendario/app.js", NULL, NULL, &p2), 200);
        assert_non_null(strstr(p1.body, "id=\"readonlynote\""));
        assert_non_null(strstr(p2.body, "a.readOnly"));
        assert_non_null(strstr(p2.body, "a.organizer"));
        resp_free(&p1);
        resp_free(&p2);
    }

    /* edited here: kept here with the reason, nothing sent, nothing retried */
    mark = emu_log_mark(&S);
    patch_appt(&c, inv_id, "{\"title\":\"Firma notaría Goya (llevar DNI)\"}");
    rc_sync(&c, NULL, NULL, NULL);
    rc_sync(&c, NULL, NULL, NULL);
    assert_int_equal(
        emu_count_calls(&S, "PATCH", inv, mark) + emu_count_calls(&S, "PUT", inv, mark), 0);
    a = rc_appt(&c, inv_id);
    assert_string_equal(jstr(a, "title"), "Firma notaría Goya (llevar DNI)");
    assert_string_equal(jstr(a, "syncState"), "error");
    assert_non_null(strstr(jstr(a, "syncError"), "notaria@example.net"));
    cJSON_Delete(a);
    assert_int_equal(rc_count("ines", "SELECT count(*) FROM outbox WHERE user_id = $U"), 0);
    /* the organizer moves it: the organizer's version is the appointment again */
    rc_google_edit("ines", inv, "PATCH", "{\"summary\":\"Firma notaría Goya (12:00)\"}");
    rc_sync(&c, NULL, NULL, NULL);
    a = rc_appt(&c, inv_id);
    assert_string_equal(jstr(a, "title"), "Firma notaría Goya (12:00)");
    assert_string_equal(jstr(a, "syncState"), "synced");
    cJSON_Delete(a);
    /* declined later on Google: it leaves Vesta */
    rc_google_edit("ines", inv, "PATCH", "{" INVITE("ines", "declined") "}");
    rc_sync(&c, NULL, NULL, &deleted);
    assert_int_equal(deleted, 1);
    l = rc_local(&c, "2026-11-01", "2026-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);

    /* deleted here: gone from Vesta only; the organizer's event stays as it was, and a full
     * listing does not bring it back */
    mark = emu_log_mark(&S);
    snprintf(path, sizeof path, "/api/appointments/%lld", inv2_id);
    assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    assert_int_equal(emu_count_calls(&S, "DELETE", inv2, mark), 0);
    assert_int_equal(emu_count_calls(&S, "PATCH", inv2, mark), 0);
    assert_int_equal(rc_count_summary("ines", "Reunión agencia Sol"), 1);
    assert_int_equal(emu_ctl(&S, "POST", "sync-tokens/invalidate", NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-11-01", "2026-12-01");
    assert_null(rc_find(l, "title", "Reunión agencia Sol"));
    cJSON_Delete(l);

    /* a link made before calsync knew whose event it was: Google's refusal is final and
     * teaches it (no retry, the organizer shown from then on) */
    inv3 = rc_google_post("ines", "{\"summary\":\"Hipoteca banco\"," WHEN(
                                      "2026-11-20", "10", "11") "," INVITE("ines", "accepted") "}");
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-11-01", "2026-12-01");
    inv3_id = (long long)jnum(rc_find(l, "title", "Hipoteca banco"), "id");
    cJSON_Delete(l);
    {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "UPDATE appointments SET google_organizer = NULL WHERE appointment_id = %lld",
                 inv3_id);
        assert_int_equal(stack_db_exec(&S, sql), 0);
    }
    patch_appt(&c, inv3_id, "{\"location\":\"Oficina central\"}");
    mark = emu_log_mark(&S);
    rc_sync(&c, NULL, NULL, NULL);
    rc_sync(&c, NULL, NULL, NULL);
    assert_int_equal(emu_count_calls(&S, "PATCH", inv3, mark), 1); /* once, never again */
    a = rc_appt(&c, inv3_id);
    assert_string_equal(jstr(a, "organizer"), "notaria@example.net");
    assert_string_equal(jstr(a, "syncState"), "error");
    assert_string_equal(jstr(a, "location"), "Oficina central");
    cJSON_Delete(a);
    assert_int_equal(rc_stat("inviteDeletes"), 0);
    free(inv);
    free(inv2);
    free(inv3);
    client_free(&c);
}

/* Event types: only default, out-of-office and Gmail's events are listed and become
 * appointments (out of office read-only, as busy time); birthdays, working locations, focus
 * time and unknown types never; nothing is ever written to a non-default event. */
static void event_types(void **state)
{
    struct client c;
    cJSON *l, *a;
    size_t mark;
    char path[64];
    long long ooo_id, gmail_id;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "tomas", "Europe/Madrid"), 0);
    free(rc_google_post("tomas", "{\"summary\":\"Cumpleaños de Ana\",\"eventType\":\"birthday\","
                                 "\"start\":{\"date\":\"2026-12-01\"},\"end\":{\"date\":\"2026-12-"
                                 "02\"},\"recurrence\":[\"RRULE:FREQ=YEARLY\"]}"));
    free(rc_google_post("tomas", "{\"summary\":\"Oficina\",\"eventType\":\"workingLocation\","
                                 "\"start\":{\"date\":\"2026-12-01\"},\"end\":{\"date\":\"2026-12-"
                                 "02\"},\"recurrence\":[\"RRULE:FREQ=WEEKLY;COUNT=20\"]}"));
    free(rc_google_post("tomas", "{\"summary\":\"Concentración\",\"eventType\":\"focusTime\"," WHEN(
                                     "2026-12-02", "09", "11") "}"));
    free(rc_google_post("tomas", "{\"summary\":\"Vacaciones\",\"eventType\":\"outOfOffice\"," WHEN(
                                     "2026-12-03", "08", "18") "}"));
    free(rc_google_post("tomas", "{\"summary\":\"Vuelo IB3166\",\"eventType\":\"fromGmail\"," WHEN(
                                     "2026-12-04", "07", "09") "}"));
    /* a type Google adds later, with fields nobody knows yet */
    free(rc_google_post(
        "tomas", "{\"summary\":\"?\",\"eventType\":\"somethingNew\",\"somethingNewProperties\":{"
                 "\"x\":[1,{\"y\":null}]}," WHEN("2026-12-05", "09", "10") "}"));
    free(rc_google_post("tomas",
                        "{\"summary\":\"Visita Goya\"," WHEN("2026-12-05", "10", "11") "}"));
    mark = emu_log_mark(&S);
    rc_sync(&c, NULL, NULL, NULL);
    /* the listing asks for those types only */
    {
        struct resp r;
        const cJSON *e;
        int lists = 0;
        char lp[64];
        snprintf(lp, sizeof lp, "log?since=%zu", mark);
        assert_int_equal(emu_ctl(&S, "GET", lp, NULL, &r), 200);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
        {
            if (strcmp(jstr(e, "method"), "GET") == 0 && strstr(jstr(e, "path"), "/events")) {
                lists++;
                assert_non_null(strstr(jstr(e, "query"), "eventTypes=default"));
                assert_non_null(strstr(jstr(e, "query"), "eventTypes=outOfOffice"));
                assert_null(strstr(jstr(e, "query"), "birthday"));
            }
        }
        assert_true(lists > 0);
        resp_free(&r);
    }
    l = rc_local(&c, "2026-11-01", "2027-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 3);
    a = rc_find(l, "title", "Vacaciones");
    assert_non_null(a);
    assert_true(jbool(a, "readOnly"));
    assert_string_equal(jstr(a, "eventType"), "outOfOffice");
    ooo_id = (long long)jnum(a, "id");
    a = rc_find(l, "title", "Vuelo IB3166");
    assert_non_null(a);
    assert_true(jbool(a, "readOnly"));
    gmail_id = (long long)jnum(a, "id");
    assert_non_null(rc_find(l, "title", "Visita Goya"));
    cJSON_Delete(l);
    /* never written: an edit stays here, a delete leaves Vesta only and does not return */
    patch_appt(&c, ooo_id, "{\"title\":\"Vacaciones (Cádiz)\"}");
    snprintf(path, sizeof path, "/api/appointments/%lld", gmail_id);
    assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    a = rc_appt(&c, ooo_id);
    assert_string_equal(jstr(a, "syncState"), "error");
    assert_non_null(strstr(jstr(a, "syncError"), "outOfOffice"));
    cJSON_Delete(a);
    assert_int_equal(emu_ctl(&S, "POST", "sync-tokens/invalidate", NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-11-01", "2027-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_null(rc_find(l, "title", "Vuelo IB3166"));
    cJSON_Delete(l);
    assert_int_equal(rc_count_summary("tomas", "Vuelo IB3166"), 1);
    /* a listing that brings every type anyway (a birthday series' instances, a type nobody
     * knows yet): skipped item by item, the page applied, nothing new */
    rc_emu("config", "{\"ignoreEventTypes\":true}");
    assert_int_equal(emu_ctl(&S, "POST", "sync-tokens/invalidate", NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    rc_emu("config", "{\"ignoreEventTypes\":false}");
    l = rc_local(&c, "2026-11-01", "2027-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    cJSON_Delete(l);
    assert_int_equal(rc_count("tomas", "SELECT count(*) FROM appointments WHERE user_id = $U AND "
                                       "is_active = 1"),
                     2);
    assert_int_equal(rc_stat("nonDefaultWrites"), 0);
    client_free(&c);
}

/* An id Google keeps for a deleted event: the re-push (here: a reconnect after the agent
 * deleted the event on Google) answers 409, and the event must be visible afterwards: brought
 * back, or (when Google will not) under the appointment's next id. */
static void deleted_id(void **state)
{
    struct client c;
    cJSON *g, *a;
    long long id;
    char gid[64];

    (void)state;
    for (int round = 0; round < 2; round++) {
        const char *who = round == 0 ? "dora" : "dario";
        rc_emu("config", round == 0 ? "{\"restoreDeleted\":true}" : "{\"restoreDeleted\":false}");
        assert_int_equal(stack_connect_user(&S, &c, who, "Europe/Madrid"), 0);
        id = rc_create(&c, "{\"title\":\"Visita Chamberí\",\"start\":\"2026-10-20T10:00:00Z\","
                           "\"end\":\"2026-10-20T11:00:00Z\"}");
        rc_sync(&c, NULL, NULL, NULL);
        a = rc_appt(&c, id);
        snprintf(gid, sizeof gid, "%s", jstr(a, "googleEventId"));
        cJSON_Delete(a);
        assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", NULL),
                         200);
        rc_google_edit(who, gid, "DELETE", NULL);
        assert_int_equal(rc_connect(&c, who), 0);
        rc_sync(&c, NULL, NULL, NULL);
        g = rc_google(who, 0);
        assert_int_equal(cJSON_GetArraySize(g), 1); /* visible, once */
        assert_string_equal(jstr(cJSON_GetArrayItem(g, 0), "summary"), "Visita Chamberí");
        a = rc_appt(&c, id);
        assert_string_equal(jstr(a, "syncState"), "synced");
        assert_string_equal(jstr(a, "googleEventId"), jstr(cJSON_GetArrayItem(g, 0), "id"));
        if (round == 0)
            assert_string_equal(jstr(a, "googleEventId"), gid); /* brought back */
        else
            assert_string_not_equal(jstr(a, "googleEventId"), gid); /* its next id */
        cJSON_Delete(a);
        cJSON_Delete(g);
        client_free(&c);
    }
    rc_emu("config", "{\"restoreDeleted\":true}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(invitations),      cmocka_unit_test(event_types),
        cmocka_unit_test(deleted_id),       cmocka_unit_test(realcal_split),
        cmocka_unit_test(realcal_limits),   cmocka_unit_test(realcal_guests),
        cmocka_unit_test(realcal_listing),  cmocka_unit_test(realcal_batch),
        cmocka_unit_test(realcal_converge),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
