/* test_gmap: event mapping both ways, deterministic ids, and the three-way merge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypt.h"
#include "cs.h"
#include "gevent.h"
#include "gmap.h"

static void fill(struct appt *a, const char *title, const char *loc)
{
    memset(a, 0, sizeof *a);
    a->id = 12;
    snprintf(a->user_id, sizeof a->user_id, "u1");
    a->title = strdup(title);
    a->description = strdup("d");
    a->location = strdup(loc);
    snprintf(a->start, sizeof a->start, "2026-10-25T09:00:00Z");
    snprintf(a->end, sizeof a->end, "2026-10-25T10:00:00Z");
    snprintf(a->type, sizeof a->type, "Visita");
    snprintf(a->status, sizeof a->status, "Scheduled");
    a->created_at = 1000;
}

static void to_event_timed_and_all_day(void **state)
{
    struct appt a;
    cJSON *ev;

    (void)state;
    fill(&a, "Visita", "Calle 1");
    ev = gmap_to_event(&a, "Europe/Madrid", "abcde12345");
    assert_string_equal(cJSON_GetObjectItem(ev, "id")->valuestring, "abcde12345");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "start"), "dateTime")->valuestring,
        "2026-10-25T10:00:00+01:00"); /* after the DST change */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "start"), "timeZone")->valuestring,
        "Europe/Madrid");
    assert_string_equal(gmap_private(ev, "vestaAppointmentId"), "12");
    assert_string_equal(gmap_private(ev, "vestaType"), "Visita");
    assert_null(gmap_private(ev, "vestaContactId"));
    cJSON_Delete(ev);
    a.all_day = 1;
    snprintf(a.start, sizeof a.start, "2026-10-25T00:00:00Z");
    snprintf(a.end, sizeof a.end, "2026-10-26T00:00:00Z");
    ev = gmap_to_event(&a, "America/Winnipeg", NULL);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "start"), "date")->valuestring,
                        "2026-10-25");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "end"), "date")->valuestring,
                        "2026-10-26");
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "start"), "dateTime"));
    assert_null(cJSON_GetObjectItem(ev, "id"));
    cJSON_Delete(ev);
    appt_free(&a);
}

static void from_event(void **state)
{
    struct appt a;
    cJSON *ev = cJSON_Parse(
        "{\"id\":\"x\",\"summary\":\"From "
        "Google\",\"start\":{\"dateTime\":\"2026-03-08T03:00:00-05:00\"},"
        "\"end\":{\"dateTime\":\"2026-03-08T04:00:00-05:00\"},\"extendedProperties\":{\"private\":"
        "{\"vestaType\":\"Cierre\",\"vestaStatus\":\"Completed\",\"vestaContactId\":\"9\"}}}");
    cJSON *bad = cJSON_Parse(
        "{\"summary\":\"\",\"start\":{\"date\":\"2026-01-02\"},\"end\":{\"date\":\"2026-01-01\"}}");
    cJSON *plain =
        cJSON_Parse("{\"start\":{\"date\":\"2026-01-01\"},\"end\":{\"date\":\"2026-01-02\"},"
                    "\"extendedProperties\":{\"private\":{\"vestaType\":\"Bogus\"}}}");

    (void)state;
    memset(&a, 0, sizeof a);
    assert_int_equal(gmap_from_event(ev, "UTC", &a), CS_OK);
    assert_string_equal(a.title, "From Google");
    assert_string_equal(a.start, "2026-03-08T08:00:00Z");
    assert_string_equal(a.type, "Cierre");
    assert_string_equal(a.status, "Completed");
    assert_int_equal(a.contact_id, 9);
    assert_int_equal(gmap_from_event(bad, "UTC", &a), CS_ERR_INVAL);
    assert_int_equal(gmap_from_event(plain, "UTC", &a), CS_OK);
    assert_int_equal(a.all_day, 1);
    assert_string_equal(a.title, "(sin título)");
    assert_string_equal(a.type, "Reunión"); /* unknown types fall back */
    assert_string_equal(a.status, "Scheduled");
    appt_free(&a);
    cJSON_Delete(ev);
    cJSON_Delete(bad);
    cJSON_Delete(plain);
}

static void event_ids(void **state)
{
    unsigned char k1[32] = {1}, k2[32] = {2};
    char a1[GMAP_IDLEN], a2[GMAP_IDLEN], b[GMAP_IDLEN];
    struct appt a;

    (void)state;
    fill(&a, "t", "l");
    gmap_event_id(k1, &a, a1);
    gmap_event_id(k1, &a, a2);
    gmap_event_id(k2, &a, b);
    assert_string_equal(a1, a2); /* deterministic: a retried insert collides */
    assert_string_not_equal(a1, b);
    assert_int_equal(strlen(a1), 26);
    assert_int_equal(strspn(a1, "0123456789abcdefghijklmnopqrstuv"), 26);
    a.id = 13;
    gmap_event_id(k1, &a, b);
    assert_string_not_equal(a1, b);
    appt_free(&a);
}

static void merge(void **state)
{
    struct appt base, local, remote;
    char *snap;

    (void)state;
    fill(&base, "Title", "Here");
    snap = gmap_snapshot(&base);
    /* different fields changed: both changes kept, no conflict */
    fill(&local, "Title (local)", "Here");
    fill(&remote, "Title", "There");
    assert_int_equal(gmap_merge(&local, &remote, snap, 0), 0);
    assert_string_equal(local.title, "Title (local)");
    assert_string_equal(local.location, "There");
    appt_free(&local);
    appt_free(&remote);
    /* same field changed on both sides: the later one wins, counted */
    fill(&local, "Local wins", "Here");
    fill(&remote, "Remote wins", "Here");
    assert_int_equal(gmap_merge(&local, &remote, snap, 0), 1);
    assert_string_equal(local.title, "Local wins");
    appt_free(&local);
    fill(&local, "Local wins", "Here");
    assert_int_equal(gmap_merge(&local, &remote, snap, 1), 1);
    assert_string_equal(local.title, "Remote wins");
    appt_free(&local);
    appt_free(&remote);
    /* times move together */
    fill(&local, "Title", "Here");
    fill(&remote, "Title", "Here");
    snprintf(remote.start, sizeof remote.start, "2026-10-25T11:00:00Z");
    snprintf(remote.end, sizeof remote.end, "2026-10-25T12:00:00Z");
    assert_int_equal(gmap_merge(&local, &remote, snap, 0), 0);
    assert_string_equal(local.start, "2026-10-25T11:00:00Z");
    assert_string_equal(local.end, "2026-10-25T12:00:00Z");
    assert_true(gmap_same(&local, &remote));
    appt_free(&local);
    appt_free(&remote);
    appt_free(&base);
    free(snap);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Colour on insert and on a type change only; reminders only when given. */
static void colour_and_reminders(void **state)
{
    struct appt a;
    struct gmap_extra x = {.color_id = "9", .reminders = "[10,60]"};
    cJSON *ev, *rem;
    char *snap;

    (void)state;
    fill(&a, "Visita", "Calle 1");
    ev = gmap_event_body(&a, "Europe/Madrid", "abcde12345", &x);
    assert_string_equal(str(ev, "colorId"), "9");
    rem = cJSON_GetObjectItem(ev, "reminders");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(rem, "useDefault")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rem, "overrides")), 2);
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(rem, "overrides"), 1), "method"),
                        "popup");
    assert_int_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(rem, "overrides"), 1)->child->next->valueint, 60);
    cJSON_Delete(ev);
    snap = gmap_snapshot(&a);
    /* a title edit: no colour, no reminders (what the user set on Google stays) */
    free(a.title);
    a.title = strdup("Visita 2");
    x.reminders = NULL;
    ev = gmap_patch_body(&a, "Europe/Madrid", snap, &x);
    assert_string_equal(str(ev, "summary"), "Visita 2");
    assert_null(cJSON_GetObjectItem(ev, "colorId"));
    assert_null(cJSON_GetObjectItem(ev, "reminders"));
    cJSON_Delete(ev);
    /* a type change: the new type's colour */
    snprintf(a.type, sizeof a.type, "Firma");
    x.color_id = "10";
    ev = gmap_patch_body(&a, "Europe/Madrid", snap, &x);
    assert_string_equal(str(ev, "colorId"), "10");
    cJSON_Delete(ev);
    /* the setting back to the defaults: overrides removed explicitly in a patch */
    x.reminders = "default";
    ev = gmap_patch_body(&a, "Europe/Madrid", snap, &x);
    rem = cJSON_GetObjectItem(ev, "reminders");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(rem, "useDefault")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(rem, "overrides")));
    cJSON_Delete(ev);
    free(snap);
    appt_free(&a);
    /* the setting's validation */
    {
        static const struct {
            const char *json;
            const char *canon; /* NULL: refused */
        } cases[] = {
            {"\"default\"", "default"},
            {"[]", "[]"},
            {"[0,40320]", "[0,40320]"},
            {"[10,60,5]", "[10,60,5]"},
            {"[1,2,3,4,5]", "[1,2,3,4,5]"},
            {"[1,2,3,4,5,6]", NULL},
            {"[-1]", NULL},
            {"[40321]", NULL},
            {"[1.5]", NULL},
            {"[\"10\"]", NULL},
            {"\"Default\"", NULL},
            {"null", NULL},
            {"{}", NULL},
            {"10", NULL},
        };
        char err[CS_ERRLEN], *canon;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            cJSON *v = cJSON_Parse(cases[i].json);
            int rc = gmap_reminders_canon(v, &canon, err, sizeof err);
            if (cases[i].canon != NULL) {
                assert_int_equal(rc, CS_OK);
                assert_string_equal(canon, cases[i].canon);
            } else {
                if (rc != CS_ERR_INVAL)
                    fail_msg("%s accepted", cases[i].json);
                assert_null(canon);
            }
            free(canon);
            cJSON_Delete(v);
        }
    }
}

/* A Cancelled appointment keeps its event, marked in the title; read back without the mark. */
static void cancelled_title(void **state)
{
    struct appt a, back;
    cJSON *ev;
    char *snap;

    (void)state;
    fill(&a, "Visita Luna", "");
    snprintf(a.status, sizeof a.status, "Cancelled");
    ev = gmap_to_event(&a, "UTC", NULL);
    assert_string_equal(str(ev, "summary"), "[Cancelada] Visita Luna");
    assert_string_equal(str(ev, "status"), "confirmed");
    memset(&back, 0, sizeof back);
    assert_int_equal(gmap_from_event(ev, "UTC", &back), CS_OK);
    assert_string_equal(back.title, "Visita Luna");
    assert_string_equal(back.status, "Cancelled");
    assert_true(gmap_same(&a, &back));
    cJSON_Delete(ev);
    /* pushed again after a pull: one mark, and none sent at all when nothing changed */
    snap = gmap_snapshot(&back);
    ev = gmap_to_patch(&back, "UTC", snap);
    assert_null(cJSON_GetObjectItem(ev, "summary"));
    cJSON_Delete(ev);
    ev = gmap_to_event(&back, "UTC", NULL);
    assert_string_equal(str(ev, "summary"), "[Cancelada] Visita Luna");
    cJSON_Delete(ev);
    /* scheduled again: the title goes out without the mark */
    snprintf(back.status, sizeof back.status, "Scheduled");
    ev = gmap_to_patch(&back, "UTC", snap);
    assert_string_equal(str(ev, "summary"), "Visita Luna");
    cJSON_Delete(ev);
    /* the prefix on an event that is not Cancelled is the user's own text */
    cJSON *plain = cJSON_Parse("{\"summary\":\"[Cancelada] nota\",\"start\":{\"date\":"
                               "\"2026-01-01\"},\"end\":{\"date\":\"2026-01-02\"}}");
    appt_free(&back);
    memset(&back, 0, sizeof back);
    assert_int_equal(gmap_from_event(plain, "UTC", &back), CS_OK);
    assert_string_equal(back.title, "[Cancelada] nota");
    cJSON_Delete(plain);
    free(snap);
    appt_free(&back);
    appt_free(&a);
}

/* What an event is (issue 24): type, whose, the user's answer, the instance key; table-driven.
 * A type is never an error, whatever the event holds. */
static void event_kinds(void **state)
{
    static const struct {
        const char *json;
        enum gevent_class cls;
        const char *type, *organizer, *recurring, *original;
        int read_only;
    } cases[] = {
        {"{\"id\":\"a\"}", GEVENT_APPT, NULL, NULL, NULL, "", 0},
        {"{\"eventType\":\"default\",\"organizer\":{\"email\":\"me@x\",\"self\":true}}",
         GEVENT_APPT, NULL, NULL, NULL, "", 0},
        {"{\"eventType\":\"outOfOffice\"}", GEVENT_APPT, "outOfOffice", NULL, NULL, "", 1},
        {"{\"eventType\":\"fromGmail\"}", GEVENT_APPT, "fromGmail", NULL, NULL, "", 1},
        {"{\"eventType\":\"birthday\",\"birthdayProperties\":{}}", GEVENT_IGNORED, "birthday", NULL,
         NULL, "", 1},
        {"{\"eventType\":\"workingLocation\"}", GEVENT_IGNORED, "workingLocation", NULL, NULL, "",
         1},
        {"{\"eventType\":\"focusTime\"}", GEVENT_IGNORED, "focusTime", NULL, NULL, "", 1},
        {"{\"eventType\":\"somethingNew\",\"somethingNewProperties\":[1,{}]}", GEVENT_IGNORED,
         "somethingNew", NULL, NULL, "", 1},
        {"{\"eventType\":42}", GEVENT_IGNORED, NULL, NULL, NULL, "", 0},
        {"{\"organizer\":{\"email\":\"notaria@x\"}}", GEVENT_APPT, NULL, "notaria@x", NULL, "", 1},
        {"{\"organizer\":{\"email\":\"notaria@x\",\"self\":false},\"attendees\":[{\"email\":"
         "\"me@x\",\"self\":true,\"responseStatus\":\"declined\"}]}",
         GEVENT_DECLINED, NULL, "notaria@x", NULL, "", 1},
        {"{\"attendees\":[{\"email\":\"o@x\",\"responseStatus\":\"declined\"}]}", GEVENT_APPT, NULL,
         NULL, NULL, "", 0},
        {"{\"recurringEventId\":\"s1\",\"originalStartTime\":{\"dateTime\":\"2026-10-12T10:00:"
         "00+02:00\"}}",
         GEVENT_APPT, NULL, NULL, "s1", "2026-10-12T08:00:00Z", 0},
        {"{\"recurringEventId\":\"s2\",\"originalStartTime\":{\"date\":\"2026-10-12\"}}",
         GEVENT_APPT, NULL, NULL, "s2", "2026-10-12T00:00:00Z", 0},
        {"{\"recurringEventId\":\"s3\"}", GEVENT_APPT, NULL, NULL, NULL, "", 0},
        {"[1,2]", GEVENT_APPT, NULL, NULL, NULL, "", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *ev = cJSON_Parse(cases[i].json);
        struct gevent g;
        gevent_read(ev, &g);
        assert_int_equal(g.cls, cases[i].cls);
        if (cases[i].type)
            assert_string_equal(g.type, cases[i].type);
        else
            assert_null(g.type);
        if (cases[i].organizer)
            assert_string_equal(g.organizer, cases[i].organizer);
        else
            assert_null(g.organizer);
        if (cases[i].recurring)
            assert_string_equal(g.recurring_id, cases[i].recurring);
        else
            assert_null(g.recurring_id);
        assert_string_equal(g.original_start, cases[i].original);
        assert_int_equal(g.read_only, cases[i].read_only);
        cJSON_Delete(ev);
    }
}

/* Renamed zones both ways; a zone refusal is told from other 400s. Ids of later generations
 * differ from the first and from each other, and stay derived. */
static void zones_and_id_generations(void **state)
{
    unsigned char key[32] = {1, 2, 3};
    char ids[GMAP_ID_GENERATIONS][GMAP_IDLEN], again[GMAP_IDLEN];
    struct appt a;

    (void)state;
    assert_string_equal(gevent_zone_alias("Europe/Kyiv"), "Europe/Kiev");
    assert_string_equal(gevent_zone_alias("Europe/Kiev"), "Europe/Kyiv");
    assert_string_equal(gevent_zone_alias("Asia/Calcutta"), "Asia/Kolkata");
    assert_null(gevent_zone_alias("Europe/Madrid"));
    assert_true(gevent_zone_refused(400, "Invalid time zone definition for start time."));
    assert_false(gevent_zone_refused(400, "Invalid value for: colorId"));
    assert_false(gevent_zone_refused(403, "Invalid time zone definition for start time."));
    fill(&a, "Visita", "x");
    gmap_event_id(key, &a, again);
    for (int g = 0; g < GMAP_ID_GENERATIONS; g++) {
        gmap_event_id_gen(key, &a, g, ids[g]);
        assert_int_equal(strlen(ids[g]), 26);
        assert_int_equal(strspn(ids[g], "0123456789abcdefghijklmnopqrstuv"), 26);
        for (int h = 0; h < g; h++)
            assert_string_not_equal(ids[g], ids[h]);
    }
    assert_string_equal(again, ids[0]);
    appt_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(to_event_timed_and_all_day),
                                       cmocka_unit_test(from_event),
                                       cmocka_unit_test(event_ids),
                                       cmocka_unit_test(merge),
                                       cmocka_unit_test(colour_and_reminders),
                                       cmocka_unit_test(cancelled_title),
                                       cmocka_unit_test(event_kinds),
                                       cmocka_unit_test(zones_and_id_generations)};
    if (crypt_init() != CS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
