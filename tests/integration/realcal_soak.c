/* realcal_soak.c: it_realcal's converge check, a small version of scripts/bench's soak: a
 * seeded agent's account, a randomized workload on both sides under usage-limit and rate-limit
 * faults, then 0 lost, 0 duplicates, 0 writes to non-default or others' events, 0 guest mails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "realcal_util.h"

#define ROUNDS 6
#define RANGE "2026-06-01", "2026-10-15"

static unsigned soak_rand(unsigned *s, unsigned mod)
{
    *s = *s * 1103515245u + 12345u;
    return mod ? (*s >> 8) % mod : 0;
}

/* An own (writable) appointment at random from the list, or NULL. */
static cJSON *soak_pick(cJSON *l, unsigned *seed, const char *prefix)
{
    int n = cJSON_GetArraySize(l);

    for (int tries = 0; n > 0 && tries < 50; tries++) {
        cJSON *a = cJSON_GetArrayItem(l, (int)soak_rand(seed, (unsigned)n));
        /* not Google's own G-: the Google side may delete one, which an edit here would
         * restore (the newer local edit wins), and the counts below assume it gone */
        if (!jbool(a, "readOnly") && strncmp(jstr(a, "title"), prefix, strlen(prefix)) == 0 &&
            strncmp(jstr(a, "title"), "G-", 2) != 0)
            return a;
    }
    return NULL;
}

static int soak_writes_flow(void *arg)
{
    struct client *c = arg;
    struct resp r;
    int paused;

    client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r);
    paused = !cJSON_IsNull(cJSON_GetObjectItem(r.json, "writesPaused"));
    resp_free(&r);
    return !paused;
}

void realcal_converge(void **state)
{
    struct client c;
    struct resp r;
    unsigned seed = 24;
    int expect, vcreated = 0, gcreated = 0, quiet = 0;
    long long mails = rc_stat("guestMails"), nd = rc_stat("nonDefaultWrites");
    long long fw = rc_stat("foreignWrites"), idel = rc_stat("inviteDeletes");
    size_t mark = emu_log_mark(&S);
    char json[400], path[1200];
    cJSON *l, *g, *a, *it;

    (void)state;
    assert_int_equal(emu_ctl(&S, "POST", "seed?account=soak@gmail.test",
                             "{\"birthdays\":40,\"workingLocationWeeks\":8,\"outOfOffice\":3,"
                             "\"invitations\":20,\"declined\":4,\"splitSeries\":2,\"ordinary\":"
                             "120,\"from\":\"2026-06-01\",\"days\":120}",
                             &r),
                     200);
    expect = (int)jnum(r.json, "appointments");
    resp_free(&r);
    assert_int_equal(stack_connect_user(&S, &c, "soak", "Europe/Madrid"), 0);
    assert_int_equal(rc_count("soak", "SELECT count(*) FROM appointments WHERE user_id = $U AND "
                                      "is_active = 1"),
                     expect);
    for (int round = 0; round < ROUNDS; round++) {
        if (round == 1)
            rc_emu("faults", "{\"status\":403,\"reason\":\"quotaExceeded\",\"path\":\"/events\","
                             "\"method\":\"PATCH\",\"count\":1}");
        if (round == 2)
            rc_emu("faults", "{\"status\":429,\"path\":\"/events\",\"count\":2,\"retryAfter\":1}");
        if (round == 3)
            rc_emu("faults", "{\"status\":403,\"reason\":\"userRateLimitExceeded\",\"path\":"
                             "\"/events\",\"count\":2}");
        l = rc_local(&c, RANGE);
        /* Vesta's side: new ones, edits of own ones, a delete, an edit of an invitation */
        for (int i = 0; i < 2; i++) {
            int d = 1 + (int)soak_rand(&seed, 28), h = 8 + (int)soak_rand(&seed, 10);
            snprintf(json, sizeof json,
                     "{\"title\":\"V-%d-%d\",\"start\":\"2026-07-%02dT%02d:00:00Z\","
                     "\"end\":\"2026-07-%02dT%02d:30:00Z\"}",
                     round, i, d, h, d, h);
            rc_create(&c, json);
            vcreated++;
        }
        for (int i = 0; i < 2 && (a = soak_pick(l, &seed, "")) != NULL; i++) {
            snprintf(path, sizeof path, "/api/appointments/%lld", (long long)jnum(a, "id"));
            snprintf(json, sizeof json, "{\"location\":\"Sala %d\"}", round * 10 + i);
            assert_int_equal(client_json(&c, "PATCH", path, json, NULL), 200);
        }
        if ((a = soak_pick(l, &seed, "V-")) != NULL) {
            snprintf(path, sizeof path, "/api/appointments/%lld", (long long)jnum(a, "id"));
            assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 200);
            vcreated--;
        }
        cJSON_ArrayForEach(it, l) if (jstr(it, "organizer") != NULL)
        {
            snprintf(path, sizeof path, "/api/appointments/%lld", (long long)jnum(it, "id"));
            assert_int_equal(
                client_json(&c, "PATCH", path, "{\"description\":\"traer DNI\"}", NULL), 200);
            break;
        }
        cJSON_Delete(l);
        /* Google's side: a new event, an edit, a delete of one it made */
        snprintf(json, sizeof json,
                 "{\"summary\":\"G-%d\",\"start\":{\"dateTime\":\"2026-08-%02dT09:00:00Z\"},"
                 "\"end\":{\"dateTime\":\"2026-08-%02dT10:00:00Z\"}}",
                 round, round + 1, round + 1);
        free(rc_google_post("soak", json));
        gcreated++;
        g = rc_google("soak", 0);
        cJSON_ArrayForEach(it, g)
        {
            const cJSON *org = cJSON_GetObjectItem(it, "organizer");
            if (jstr(it, "eventType") == NULL && cJSON_IsTrue(cJSON_GetObjectItem(org, "self")) &&
                !cJSON_GetObjectItem(it, "recurrence") && soak_rand(&seed, 4) == 0) {
                snprintf(json, sizeof json, "{\"description\":\"cambio %d en Google\"}", round);
                rc_google_edit("soak", jstr(it, "id"), "PATCH", json);
                break;
            }
        }
        if (round == 3 && (it = rc_find(g, "summary", "G-0")) != NULL) {
            rc_google_edit("soak", jstr(it, "id"), "DELETE", NULL);
            gcreated--;
        }
        cJSON_Delete(g);
        client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL);
    }
    /* converge: faults gone, the pause over, syncs until nothing moves */
    assert_int_equal(emu_ctl(&S, "DELETE", "faults", NULL, NULL), 200);
    assert_true(wait_until(soak_writes_flow, &c, 20000));
    for (int i = 0; i < 20 && quiet < 2; i++) {
        int pushed, pulled, deleted;
        sleep_ms(500);
        rc_sync(&c, &pushed, &pulled, &deleted);
        quiet = pushed + pulled + deleted == 0 ? quiet + 1 : 0;
    }
    assert_int_equal(quiet, 2);
    assert_int_equal(rc_count("soak", "SELECT count(*) FROM outbox WHERE user_id = $U"), 0);
    /* 0 lost: each side holds what it should */
    assert_int_equal(rc_count("soak", "SELECT count(*) FROM appointments WHERE user_id = $U AND "
                                      "is_active = 1"),
                     expect + vcreated + gcreated);
    l = rc_local(&c, RANGE);
    g = rc_google("soak", 0);
    cJSON_ArrayForEach(it, l)
    {
        if (strncmp(jstr(it, "title"), "V-", 2) == 0) {
            snprintf(json, sizeof json, "%s", jstr(it, "title"));
            assert_int_equal(rc_count_summary("soak", json), 1); /* once on Google */
        }
        if (!jbool(it, "readOnly"))
            assert_string_equal(jstr(it, "syncState"), "synced");
    }
    cJSON_ArrayForEach(it, g)
    {
        if (strncmp(jstr(it, "summary"), "G-", 2) == 0)
            assert_non_null(rc_find(l, "title", jstr(it, "summary")));
    }
    cJSON_Delete(l);
    cJSON_Delete(g);
    /* 0 duplicates: one appointment per event */
    assert_int_equal(rc_count("soak", "SELECT count(*) FROM (SELECT google_event_id FROM "
                                      "appointments WHERE user_id = $U AND is_active = 1 GROUP BY "
                                      "google_event_id HAVING count(*) > 1) d"),
                     0);
    /* nothing written where it must not be, no guest mailed */
    assert_int_equal(rc_stat("nonDefaultWrites"), nd);
    assert_int_equal(rc_stat("foreignWrites"), fw);
    assert_int_equal(rc_stat("inviteDeletes"), idel);
    assert_int_equal(rc_stat("guestMails"), mails);
    assert_int_equal(rc_writes_without_none(mark), 0);
    client_free(&c);
}
