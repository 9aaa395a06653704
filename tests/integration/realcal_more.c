/* realcal_more.c: it_realcal's scenarios of split series, usage limits, guests, listing quirks
 * and batches whose parts answer differently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gapi.h"
#include "realcal_util.h"

/* A series split by "this and following" on Google: the old series ends, a new one with
 * another id carries the rest, the old later instances arrive cancelled. No duplicate (not
 * even of an instance edited here meanwhile), none lost; instances keep their appointments
 * when Google changes the format of instance ids. */
void realcal_split(void **state)
{
    struct client c;
    char *sid, *at = "{\"at\":\"2026-10-12T08:00:00Z\",\"summary\":\"Reunión equipo (nuevo)\"}";
    char path[1200];
    cJSON *l, *it, *g;
    long long ids[16], edited = 0;
    int n = 0, olds = 0, news = 0;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "sara", "Europe/Madrid"), 0);
    sid = rc_google_post("sara", "{\"summary\":\"Reunión equipo\",\"start\":{\"dateTime\":\"2026-"
                                 "09-07T10:00:00+02:00\",\"timeZone\":\"Europe/Madrid\"},\"end\":{"
                                 "\"dateTime\":\"2026-09-07T11:00:00+02:00\",\"timeZone\":"
                                 "\"Europe/Madrid\"},\"recurrence\":[\"RRULE:FREQ=WEEKLY;COUNT="
                                 "10\"]}");
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-09-01", "2026-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 10);
    cJSON_ArrayForEach(it, l)
    {
        if (strcmp(jstr(it, "start"), "2026-10-19T08:00:00Z") == 0)
            edited = (long long)jnum(it, "id");
    }
    cJSON_Delete(l);
    assert_true(edited > 0);
    /* an instance after the split point edited here before the split reaches us */
    snprintf(path, sizeof path, "/api/appointments/%lld", edited);
    assert_int_equal(
        client_json(&c, "PATCH", path, "{\"title\":\"Reunión equipo (sala 2)\"}", NULL), 200);
    snprintf(path, sizeof path, "events/%s/split?account=sara@gmail.test", sid);
    assert_int_equal(emu_ctl(&S, "POST", path, at, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-09-01", "2026-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 10);
    cJSON_ArrayForEach(it, l)
    {
        olds += strcmp(jstr(it, "title"), "Reunión equipo") == 0;
        news += strcmp(jstr(it, "title"), "Reunión equipo (nuevo)") == 0;
        if (n < 16)
            ids[n++] = (long long)jnum(it, "id");
    }
    assert_int_equal(olds, 5);
    assert_int_equal(news, 5);
    cJSON_Delete(l);
    /* the old series' instance edited here was not brought back beside the new series */
    g = rc_google("sara", 1);
    cJSON_ArrayForEach(it, g)
    {
        if (jstr(it, "recurringEventId") && strcmp(jstr(it, "recurringEventId"), sid) == 0)
            assert_string_equal(jstr(it, "status"), "cancelled");
    }
    cJSON_Delete(g);
    /* instance ids change format; a full listing finds every instance under its key */
    rc_emu("config", "{\"instanceIds\":\"v2\"}");
    assert_int_equal(emu_ctl(&S, "POST", "sync-tokens/invalidate", NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    rc_emu("config", "{\"instanceIds\":\"v1\"}");
    l = rc_local(&c, "2026-09-01", "2026-12-01");
    assert_int_equal(cJSON_GetArraySize(l), 10);
    for (int i = 0; i < n; i++) {
        int found = 0;
        cJSON_ArrayForEach(it, l) found += (long long)jnum(it, "id") == ids[i];
        assert_int_equal(found, 1);
    }
    cJSON_ArrayForEach(it, l) assert_non_null(strstr(jstr(it, "googleEventId"), "v2"));
    cJSON_Delete(l);
    free(sid);
    client_free(&c);
}

static int pushed_both(void *arg)
{
    (void)arg;
    return rc_count_summary("ulises", "Visita Retiro") == 1 &&
           rc_count_summary("ulises", "Visita Lavapiés") == 1;
}

/* Usage limits are not rate limits: 403 quotaExceeded pauses the user's writes (stored, in the
 * status with the reason), pulls go on, the writes resume by themselves; rate limits keep the
 * backoff; dailyLimitExceeded waits for the next quota day. */
void realcal_limits(void **state)
{
    struct client c;
    struct resp r;
    size_t mark;
    int pushed, pulled;
    const cJSON *w;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "ulises", "Europe/Madrid"), 0);
    rc_create(&c, "{\"title\":\"Visita Retiro\",\"start\":\"2026-10-01T10:00:00Z\","
                  "\"end\":\"2026-10-01T11:00:00Z\"}");
    rc_emu("faults", "{\"status\":403,\"reason\":\"quotaExceeded\",\"path\":\"/events\","
                     "\"method\":\"POST\",\"count\":1}");
    rc_sync(&c, &pushed, NULL, NULL); /* the run succeeds: its pull went on */
    assert_int_equal(pushed, 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    w = cJSON_GetObjectItem(r.json, "writesPaused");
    assert_true(cJSON_IsObject(w));
    assert_non_null(strstr(jstr(w, "reason"), "usage limits"));
    assert_non_null(jstr(w, "until"));
    resp_free(&r);
    assert_true(rc_count("ulises", "SELECT writes_paused_until FROM user_integrations WHERE "
                                   "user_id = $U") > 0);
    /* during the pause: Google's changes come in, nothing goes out */
    free(rc_google_post("ulises",
                        "{\"summary\":\"Llamada notaría\",\"start\":{\"dateTime\":\"2026-"
                        "10-02T10:00:00Z\"},\"end\":{\"dateTime\":\"2026-10-02T10:30:00Z\"}}"));
    rc_create(&c, "{\"title\":\"Visita Lavapiés\",\"start\":\"2026-10-03T10:00:00Z\","
                  "\"end\":\"2026-10-03T11:00:00Z\"}");
    mark = emu_log_mark(&S);
    rc_sync(&c, &pushed, &pulled, NULL);
    assert_int_equal(pulled, 1);
    assert_int_equal(pushed, 0);
    assert_int_equal(emu_count_calls_for(&S, "ulises@gmail.test", "POST", "/events", mark), 0);
    /* the pause ends (3 s here): the writes go out by themselves, without a Sync now */
    assert_true(wait_until(pushed_both, NULL, 20000));
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "writesPaused")));
    resp_free(&r);

    /* a rate limit is waited out within the run, as before */
    rc_emu("faults", "{\"status\":429,\"path\":\"/events\",\"method\":\"POST\",\"count\":2,"
                     "\"retryAfter\":1}");
    rc_create(&c, "{\"title\":\"Visita Sol\",\"start\":\"2026-10-04T10:00:00Z\","
                  "\"end\":\"2026-10-04T11:00:00Z\"}");
    rc_sync(&c, &pushed, NULL, NULL);
    assert_int_equal(pushed, 1);

    /* the project's daily quota: every call of the user waits for midnight Pacific time */
    rc_emu("faults", "{\"status\":403,\"reason\":\"dailyLimitExceeded\",\"path\":\"/events\","
                     "\"method\":\"GET\",\"count\":1}");
    client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL);
    {
        long long until = rc_count("ulises", "SELECT backoff_until FROM user_integrations "
                                             "WHERE user_id = $U");
        struct timespec ts;
        long long want;
        clock_gettime(CLOCK_REALTIME, &ts);
        want = gapi_next_quota_day_ms((long long)ts.tv_sec * 1000);
        assert_true(until > want - 60000 && until < want + 60000);
    }
    assert_int_equal(stack_db_exec(&S, "UPDATE user_integrations SET backoff_until = 0, "
                                       "backoff_attempts = 0"),
                     0);
    assert_int_equal(stack_db_exec(&S, "UPDATE sync_jobs SET not_before = 0"), 0);
    assert_int_equal(stack_wait_jobs(&S, 20000), 0);
    client_free(&c);
}

/* Guests never get mail from calsync: every write says sendUpdates=none. */
void realcal_guests(void **state)
{
    struct client c;
    cJSON *l;
    long long id;
    size_t mark = emu_log_mark(&S);
    char path[64];
    long long mails = rc_stat("guestMails");

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "gus", "Europe/Madrid"), 0);
    free(rc_google_post("gus",
                        "{\"summary\":\"Visita con clientes\",\"start\":{\"dateTime\":\"2026-"
                        "10-05T10:00:00Z\"},\"end\":{\"dateTime\":\"2026-10-05T11:00:00Z\"},"
                        "\"attendees\":[{\"email\":\"gus@gmail.test\"},{\"email\":\"cliente@"
                        "example.org\"},{\"email\":\"pareja@example.org\"}]}"));
    rc_sync(&c, NULL, NULL, NULL);
    l = rc_local(&c, "2026-10-01", "2026-11-01");
    id = (long long)jnum(cJSON_GetArrayItem(l, 0), "id");
    cJSON_Delete(l);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_json(&c, "PATCH", path, "{\"location\":\"Calle Mayor 3\"}", NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
    rc_sync(&c, NULL, NULL, NULL);
    assert_int_equal(rc_stat("guestMails"), mails);
    assert_int_equal(rc_writes_without_none(mark), 0);
    client_free(&c);
}

/* Listings: pages that are empty but lead on, a 410 on a page token in the middle of the first
 * full listing, items without start.timeZone, zones Google names otherwise. */
void realcal_listing(void **state)
{
    struct client c;
    cJSON *l, *g;

    (void)state;
    free(rc_google_post("lia",
                        "{\"summary\":\"Sin zona\",\"start\":{\"dateTime\":\"2026-08-10T10:"
                        "00:00+03:00\"},\"end\":{\"dateTime\":\"2026-08-10T11:00:00+03:00\"}}"));
    free(rc_google_post("lia", "{\"summary\":\"Todo el día\",\"start\":{\"date\":\"2026-08-11\"},"
                               "\"end\":{\"date\":\"2026-08-12\"}}"));
    rc_emu("config", "{\"emptyPages\":1}");
    rc_emu("faults", "{\"status\":410,\"reason\":\"fullSyncRequired\",\"path\":\"/events\","
                     "\"query\":\"pageToken\",\"method\":\"GET\",\"count\":1}");
    assert_int_equal(stack_connect_user(&S, &c, "lia", "Europe/Madrid"), 0);
    rc_emu("config", "{\"emptyPages\":0}");
    assert_int_equal(emu_ctl(&S, "DELETE", "faults", NULL, NULL), 200);
    /* in the run itself: no failed run (and its retry later) was needed */
    assert_int_equal(
        rc_count("lia", "SELECT count(*) FROM sync_runs WHERE user_id = $U AND ok = 0"), 0);
    l = rc_local(&c, "2026-08-01", "2026-09-01");
    assert_int_equal(cJSON_GetArraySize(l), 2);
    assert_string_equal(jstr(rc_find(l, "title", "Sin zona"), "start"), "2026-08-10T07:00:00Z");
    cJSON_Delete(l);
    client_free(&c);

    /* Europe/Kyiv (IANA 2022) where "Google" still knows Europe/Kiev, and the other way */
    for (int way = 0; way < 2; way++) {
        const char *who = way ? "yana" : "yuri", *mine = way ? "Europe/Kiev" : "Europe/Kyiv";
        const char *other = way ? "Europe/Kyiv" : "Europe/Kiev";
        char cfg[96];
        snprintf(cfg, sizeof cfg, "{\"unknownZones\":[\"%s\"]}", mine);
        rc_emu("config", cfg);
        assert_int_equal(stack_connect_user(&S, &c, who, mine), 0);
        rc_create(&c, "{\"title\":\"Visita Podil\",\"start\":\"2026-08-20T07:00:00Z\","
                      "\"end\":\"2026-08-20T08:00:00Z\"}");
        free(
            rc_google_post(who, way ? "{\"summary\":\"Zona nueva\",\"start\":{\"dateTime\":"
                                      "\"2026-08-21T10:00:00+03:00\",\"timeZone\":\"Europe/Kyiv\"},"
                                      "\"end\":{\"dateTime\":\"2026-08-21T11:00:00+03:00\","
                                      "\"timeZone\":\"Europe/Kyiv\"}}"
                                    : "{\"summary\":\"Zona vieja\",\"start\":{\"dateTime\":"
                                      "\"2026-08-21T10:00:00+03:00\",\"timeZone\":\"Europe/Kiev\"},"
                                      "\"end\":{\"dateTime\":\"2026-08-21T11:00:00+03:00\","
                                      "\"timeZone\":\"Europe/Kiev\"}}"));
        rc_sync(&c, NULL, NULL, NULL);
        g = rc_google(who, 0);
        {
            cJSON *ev = rc_find(g, "summary", "Visita Podil"), *st;
            assert_non_null(ev);
            st = cJSON_GetObjectItem(ev, "start");
            assert_string_equal(jstr(st, "timeZone"), other);
            assert_string_equal(jstr(st, "dateTime"), "2026-08-20T10:00:00+03:00");
        }
        cJSON_Delete(g);
        l = rc_local(&c, "2026-08-01", "2026-09-01");
        assert_int_equal(cJSON_GetArraySize(l), 2);
        assert_string_equal(jstr(cJSON_GetArrayItem(l, 1), "start"), "2026-08-21T07:00:00Z");
        assert_string_equal(jstr(cJSON_GetArrayItem(l, 0), "syncState"), "synced");
        cJSON_Delete(l);
        client_free(&c);
    }
    rc_emu("config", "{\"unknownZones\":[]}");
}

/* A first push in one batch whose parts answer 200, 403 (rate limit), 404, 412: each part on
 * its own; only the failed ones are sent again; every appointment ends on Google, once. */
void realcal_batch(void **state)
{
    struct client c;
    size_t mark;
    cJSON *g;
    char json[200];

    (void)state;
    assert_int_equal(rc_user(&c, "bea", "Europe/Madrid"), 0);
    for (int i = 0; i < 6; i++) {
        snprintf(json, sizeof json,
                 "{\"title\":\"Cita %d\",\"start\":\"2026-07-%02dT10:00:00Z\","
                 "\"end\":\"2026-07-%02dT11:00:00Z\"}",
                 i + 1, i + 1, i + 1);
        rc_create(&c, json);
    }
    /* parts 2, 3 and 4 of the batch: each fault counts the calls that reach it, and a call
     * another fault answered does not (so each one's 2nd is the next part) */
    rc_emu("faults", "{\"status\":403,\"reason\":\"rateLimitExceeded\",\"path\":\"/events\","
                     "\"method\":\"POST\",\"nth\":2}");
    rc_emu("faults", "{\"status\":404,\"reason\":\"notFound\",\"path\":\"/events\","
                     "\"method\":\"POST\",\"nth\":2}");
    rc_emu("faults", "{\"status\":412,\"reason\":\"conditionNotMet\",\"path\":\"/events\","
                     "\"method\":\"POST\",\"nth\":2}");
    mark = emu_log_mark(&S);
    assert_int_equal(rc_connect(&c, "bea"), 0);
    assert_int_equal(stack_wait_jobs(&S, 20000), 0);
    g = rc_google("bea", 0);
    assert_int_equal(cJSON_GetArraySize(g), 6);
    cJSON_Delete(g);
    assert_int_equal(rc_count("bea", "SELECT count(*) FROM appointments WHERE user_id = $U AND "
                                     "sync_state = 'synced' AND google_event_id IS NOT NULL"),
                     6);
    /* 6 parts, then the 3 that failed, alone (a part a fault answered names no account: all
     * calls are counted, nobody else is syncing) */
    assert_int_equal(emu_count_calls(&S, "POST", "/events", mark), 9);
    assert_int_equal(emu_ctl(&S, "DELETE", "faults", NULL, NULL), 200);
    client_free(&c);
}
