/* bench_realcal.c: a real agent's calendar (issue 24): the import of an account seeded like
 * one (2,000 birthdays, weekly working locations, 300 invitations of which 40 declined, 20
 * split series, 5,000 ordinary events over two years) against the 10k-import goal, then a
 * randomized two-sided soak under usage-limit and rate-limit faults that must converge with
 * 0 lost, 0 duplicates, 0 writes to non-default or others' events and 0 guest mails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define AGENT "bench-agent"
#define ACCT AGENT "@gmail.test"
#define EMAIL AGENT "@example.com"
#define ROUNDS 30
#define MONTH "2026-03"
#define TYPES "&eventTypes=default&eventTypes=outOfOffice&eventTypes=fromGmail"

/* The ceiling: the same listing (the types calsync asks for) with libcurl and a token of the
 * account; its items and pages. 0, or -1 when no token lists this account. */
static int listing(struct stack *s, struct client *c, int *items, int *pages, long long *ms)
{
    struct resp tr;
    const cJSON *tok;
    int rc = -1;

    emu_ctl(s, "GET", "tokens", NULL, &tr);
    cJSON_ArrayForEach(tok, cJSON_GetObjectItem(tr.json, "tokens"))
    {
        char auth[512], url[1024], page[256] = "";
        long long t0 = now_ms();
        const char *h[] = {auth, NULL};
        int ok = 1;
        *items = *pages = 0;
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok->valuestring);
        for (;;) {
            struct resp pr;
            const char *next;
            snprintf(url, sizeof url,
                     "%s/calendar/v3/calendars/primary/events?singleEvents=true" TYPES
                     "&maxResults=2500%s%s",
                     s->emu, page[0] ? "&pageToken=" : "", page);
            if (client_req(c, "GET", url, h, NULL, &pr) != 200 ||
                jstr(pr.json, "summary") == NULL || strcmp(jstr(pr.json, "summary"), ACCT) != 0) {
                ok = 0;
                resp_free(&pr);
                break;
            }
            (*pages)++;
            *items += cJSON_GetArraySize(cJSON_GetObjectItem(pr.json, "items"));
            next = jstr(pr.json, "nextPageToken");
            snprintf(page, sizeof page, "%s", next ? next : "");
            resp_free(&pr);
            if (!next)
                break;
        }
        if (ok) {
            *ms = now_ms() - t0;
            rc = 0;
            break;
        }
    }
    resp_free(&tr);
    return rc;
}

static long long stat_of(struct stack *s, const char *name)
{
    struct resp r;
    long long v = -1;

    if (emu_ctl(s, "GET", "stats", NULL, &r) == 200)
        v = (long long)jnum(r.json, name);
    resp_free(&r);
    return v;
}

static void google_post(struct stack *s, const char *json)
{
    emu_ctl(s, "POST", "events?account=" ACCT, json, NULL);
}

static int quiet_sync(struct client *c)
{
    struct resp r;
    int moved = -1;

    if (client_json(c, "POST", "/api/google/calendar/sync", "{}", &r) == 200 &&
        jbool(r.json, "success"))
        moved = (int)(jnum(r.json, "pushed") + jnum(r.json, "pulled") + jnum(r.json, "deleted"));
    resp_free(&r);
    return moved;
}

static int writes_flow(struct client *c)
{
    struct resp r;
    int ok;

    client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r);
    ok = cJSON_IsNull(cJSON_GetObjectItem(r.json, "writesPaused"));
    resp_free(&r);
    return ok;
}

/* One round of the two-sided workload in MONTH, faults on some rounds. */
static void soak_round(struct stack *s, struct client *c, int round, unsigned *seed, int *vesta,
                       int *google)
{
    char json[400], path[1200];
    struct resp r;
    cJSON *l, *a;
    int n;

    if (round % 7 == 3)
        emu_ctl(s, "POST", "faults",
                "{\"status\":403,\"reason\":\"quotaExceeded\",\"path\":\"/events\",\"method\":"
                "\"POST\",\"count\":1}",
                NULL);
    if (round % 5 == 1)
        emu_ctl(s, "POST", "faults",
                "{\"status\":429,\"path\":\"/events\",\"count\":3,\"retryAfter\":1}", NULL);
    if (round % 11 == 6)
        emu_ctl(
            s, "POST", "faults",
            "{\"status\":403,\"reason\":\"userRateLimitExceeded\",\"path\":\"/events\",\"count\":"
            "2}",
            NULL);
    for (int i = 0; i < 3; i++, (*vesta)++) {
        int d = 1 + (int)(rand_r(seed) % 28), h = 7 + (int)(rand_r(seed) % 12);
        snprintf(json, sizeof json,
                 "{\"title\":\"S-%d-%d\",\"start\":\"" MONTH "-%02dT%02d:05:00Z\",\"end\":\"" MONTH
                 "-%02dT%02d:50:00Z\"}",
                 round, i, d, h, d, h);
        client_json(c, "POST", "/api/appointments", json, NULL);
    }
    client_req(c, "GET", "/api/appointments?from=" MONTH "-01&to=2026-04-01", NULL, NULL, &r);
    l = cJSON_GetObjectItem(r.json, "appointments");
    n = cJSON_GetArraySize(l);
    for (int i = 0; i < 6 && n > 0; i++) {
        a = cJSON_GetArrayItem(l, (int)(rand_r(seed) % (unsigned)n));
        snprintf(path, sizeof path, "/api/appointments/%lld", (long long)jnum(a, "id"));
        if (strncmp(jstr(a, "title"), "H-", 2) == 0)
            continue; /* Google's own may be deleted there: an edit here would restore it */
        if (jbool(a, "readOnly")) /* an invitation: kept here, never sent */
            client_json(c, "PATCH", path, "{\"description\":\"llevar DNI\"}", NULL);
        else if (i == 5 && strncmp(jstr(a, "title"), "S-", 2) == 0 &&
                 client_json(c, "DELETE", path, NULL, NULL) == 200)
            (*vesta)--;
        else if (i < 5) {
            snprintf(json, sizeof json, "{\"location\":\"Sala %d\"}", round * 10 + i);
            client_json(c, "PATCH", path, json, NULL);
        }
    }
    resp_free(&r);
    for (int i = 0; i < 2; i++, (*google)++) {
        int d = 1 + (int)(rand_r(seed) % 28);
        snprintf(json, sizeof json,
                 "{\"summary\":\"H-%d-%d\",\"start\":{\"dateTime\":\"" MONTH
                 "-%02dT20:00:00Z\"},\"end\":{\"dateTime\":\"" MONTH "-%02dT20:30:00Z\"}}",
                 round, i, d, d);
        google_post(s, json);
    }
    if (round > 0) { /* the Google user deletes one it made in the previous round */
        snprintf(json, sizeof json, "H-%d-0", round - 1);
        emu_ctl(s, "GET", "events?account=" ACCT, NULL, &r);
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(r.json, "items"))
        {
            if (jstr(a, "summary") && strcmp(jstr(a, "summary"), json) == 0 &&
                strcmp(jstr(a, "status"), "cancelled") != 0) {
                snprintf(path, sizeof path, "events/%s?account=" ACCT, jstr(a, "id"));
                if (emu_ctl(s, "DELETE", path, NULL, NULL) == 204)
                    (*google)--;
                break;
            }
        }
        resp_free(&r);
    }
    sleep_ms(150);
}

/* After the soak: how many of what each side made are missing or doubled on the other side,
 * and how many events are linked twice. */
static void soak_audit(struct stack *s, long long *lost, long long *dups)
{
    struct resp r;
    const cJSON *e;

    *lost = *dups = 0;
    emu_ctl(s, "GET", "events?account=" ACCT, NULL, &r);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "items"))
    {
        const char *t = jstr(e, "summary");
        long long n;
        if (t == NULL || strcmp(jstr(e, "status"), "cancelled") == 0)
            continue;
        if (strncmp(t, "H-", 2) == 0) { /* Google's: one active appointment */
            n = user_int(s,
                         "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id "
                         "WHERE u.email = '" EMAIL "' AND a.is_active = 1 AND a.title = '%s'",
                         t);
            *lost += n == 0;
            *dups += n > 1;
        }
    }
    resp_free(&r);
    /* Vesta's: each on Google once (its event linked, live) */
    *lost += user_int(s, "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id "
                         "WHERE u.email = '" EMAIL "' AND a.is_active = 1 AND a.title LIKE 'S-%%' "
                         "AND (a.google_event_id IS NULL OR a.sync_state <> 'synced')");
    *dups += user_int(s, "SELECT count(*) FROM (SELECT a.google_event_id FROM appointments a JOIN "
                         "users u ON u.id = a.user_id WHERE u.email = '" EMAIL "' AND "
                         "a.is_active = 1 GROUP BY a.google_event_id HAVING count(*) > 1) d");
}

void m_realcal(struct stack *s)
{
    struct row *r = row_add("import an agent's calendar", "<= 2000 ms, ceil(N/2500) lists");
    struct row *r2 =
        row_add("agent's calendar soak, 30 rounds, faults", "0 lost, dup, ND write, mail");
    struct client c;
    struct resp sr;
    long long t0, t, ceil_ms = 0, lost, dups, nd0, fw0, gm0, id0;
    int expect = 0, calls, done = 0, items = 0, pages = 0, vesta = 0, google = 0, quiet = 0;
    unsigned seed = 24;
    size_t mark;

    emu_ctl(s, "DELETE", "log", NULL, NULL); /* the soak audits every call it causes */
    if (emu_ctl(s, "POST", "seed?account=" ACCT,
                "{\"birthdays\":2000,\"workingLocationWeeks\":104,\"outOfOffice\":20,"
                "\"invitations\":300,\"declined\":40,\"splitSeries\":20,\"ordinary\":5000,"
                "\"from\":\"2026-01-05\",\"days\":730}",
                &sr) != 200 ||
        new_user(s, &c, AGENT) != 0) {
        resp_free(&sr);
        snprintf(r->value, sizeof r->value, "setup failed");
        return;
    }
    expect = (int)jnum(sr.json, "appointments");
    resp_free(&sr);
    nd0 = stat_of(s, "nonDefaultWrites");
    fw0 = stat_of(s, "foreignWrites");
    gm0 = stat_of(s, "guestMails");
    id0 = stat_of(s, "inviteDeletes");
    mark = emu_log_mark(s);
    t0 = now_ms();
    if (start_connect(s, &c, AGENT) != 302) {
        snprintf(r->value, sizeof r->value, "connect failed");
        client_free(&c);
        return;
    }
    while (now_ms() - t0 < 180000 && !(done = sync_reported_done(s, EMAIL)))
        sleep_ms(10);
    t = now_ms() - t0;
    calls = emu_count_calls_for(s, ACCT, "GET", "/events", mark);
    if (listing(s, &c, &items, &pages, &ceil_ms) == 0) {
        snprintf(r->ceiling, sizeof r->ceiling, "%lld ms", ceil_ms);
        snprintf(r->ratio, sizeof r->ratio, "%.2f", (double)ceil_ms / (double)(t ? t : 1));
    }
    {
        long long n = user_int(s, "SELECT count(*) FROM appointments a JOIN users u ON u.id = "
                                  "a.user_id WHERE u.email = '" EMAIL "' AND a.is_active = 1");
        snprintf(r->value, sizeof r->value, "%lld ms, %d lists, %d listed", t, calls, items);
        if (!done || n != expect) {
            snprintf(r->value, sizeof r->value, "%s: %lld of %d", done ? "done" : "timeout", n,
                     expect);
            client_free(&c);
            return;
        }
        r->v = worst(at_most((double)t, 2000),
                     calls == (items + 2499) / 2500 && pages == calls ? V_OK : V_MISS);
    }

    /* the soak: both sides at once, faults now and then, then everything must match */
    for (int round = 0; round < ROUNDS; round++)
        soak_round(s, &c, round, &seed, &vesta, &google);
    emu_ctl(s, "DELETE", "faults", NULL, NULL);
    for (int i = 0; i < 100 && !writes_flow(&c); i++)
        sleep_ms(200);
    for (int i = 0; i < 30 && quiet < 2; i++) {
        sleep_ms(300);
        quiet = quiet_sync(&c) == 0 ? quiet + 1 : 0;
    }
    stack_wait_jobs(s, 30000);
    soak_audit(s, &lost, &dups);
    {
        long long nd = stat_of(s, "nonDefaultWrites") - nd0 + stat_of(s, "foreignWrites") - fw0 +
                       stat_of(s, "inviteDeletes") - id0;
        long long mails = stat_of(s, "guestMails") - gm0;
        long long total = user_int(s, "SELECT count(*) FROM appointments a JOIN users u ON u.id = "
                                      "a.user_id WHERE u.email = '" EMAIL "' AND a.is_active = 1");
        snprintf(r2->value, sizeof r2->value, "%lld lost %lld dup %lld ND %lld mail", lost, dups,
                 nd, mails);
        snprintf(r2->ceiling, sizeof r2->ceiling, "%lld/%d rows", total, expect + vesta + google);
        r2->v = quiet >= 2 && lost == 0 && dups == 0 && nd == 0 && mails == 0 &&
                        total == expect + vesta + google
                    ? V_OK
                    : V_MISS;
    }
    client_free(&c);
}
