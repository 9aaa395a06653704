/* it_emulator: the Google emulator behaves like Google where calsync depends on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define CLIENT "calsync-emulator-client"
#define SECRET "calsync-emulator-secret"
#define VERIFIER "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
/* base64url(sha256(VERIFIER)), computed with openssl */
#define CHALLENGE "%s"

static struct stack S;
static char access_token[256], refresh_token[256];
static char challenge[64];

static int setup(void **state)
{
    FILE *p;

    (void)state;
    p = popen("printf %s '" VERIFIER
              "' | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'",
              "r");
    if (p == NULL || fgets(challenge, sizeof challenge, p) == NULL)
        return -1;
    pclose(p);
    return stack_start_emulator(&S, NULL);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static long req(const char *method, const char *path, const char *auth, const char *ctype,
                const char *body, const char *if_match, struct resp *r)
{
    struct client c;
    char url[4096], a[400], ct[200], im[200];
    const char *h[4] = {NULL, NULL, NULL, NULL};
    int n = 0;
    long st;

    if (auth) {
        snprintf(a, sizeof a, "Authorization: Bearer %s", auth);
        h[n++] = a;
    }
    if (ctype) {
        snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
        h[n++] = ct;
    }
    if (if_match) {
        snprintf(im, sizeof im, "If-Match: %s", if_match);
        h[n++] = im;
    }
    client_init(&c, &S);
    snprintf(url, sizeof url, "%s%s", S.emu, path);
    st = client_req(&c, method, url, h, body, r);
    client_free(&c);
    return st;
}

static long api(const char *method, const char *path, const char *body, const char *if_match,
                struct resp *r)
{
    char full[4096];

    snprintf(full, sizeof full, "/calendar/v3%s", path);
    return req(method, full, access_token, body ? "application/json" : NULL, body, if_match, r);
}

static const char *reason(const struct resp *r)
{
    const cJSON *e = cJSON_GetObjectItem(r->json, "error");
    const cJSON *errs = cJSON_GetObjectItem(e, "errors");
    return jstr(cJSON_GetArrayItem(errs, 0), "reason");
}

/* Runs consent + code exchange; returns the code exchange status. */
static long get_tokens(const char *verifier_for_exchange, int replay)
{
    struct resp r;
    char url[4096], code[512], body[2048], *p;
    long st;

    snprintf(url, sizeof url,
             "/o/oauth2/v2/auth?client_id=" CLIENT "&redirect_uri=%s/api/google/calendar/callback"
             "&response_type=code&scope=https://www.googleapis.com/auth/calendar.events&state=s1"
             "&access_type=offline&code_challenge=%s&code_challenge_method=S256",
             S.base, challenge);
    assert_int_equal(req("GET", url, NULL, NULL, NULL, NULL, &r), 302);
    assert_non_null(strstr(r.location, "state=s1"));
    p = strstr(r.location, "code=");
    assert_non_null(p);
    snprintf(code, sizeof code, "%.*s", (int)strcspn(p + 5, "&"), p + 5);
    resp_free(&r);
    snprintf(body, sizeof body,
             "grant_type=authorization_code&code=%s&client_id=" CLIENT "&client_secret=" SECRET
             "&redirect_uri=%s/api/google/calendar/callback&code_verifier=%s",
             code, S.base, verifier_for_exchange);
    st = req("POST", "/token", NULL, "application/x-www-form-urlencoded", body, NULL, &r);
    if (st == 200) {
        snprintf(access_token, sizeof access_token, "%s", jstr(r.json, "access_token"));
        snprintf(refresh_token, sizeof refresh_token, "%s", jstr(r.json, "refresh_token"));
        assert_string_equal(jstr(r.json, "token_type"), "Bearer");
        assert_true(jnum(r.json, "expires_in") > 0);
    } else {
        assert_string_equal(jstr(r.json, "error"), "invalid_grant");
    }
    resp_free(&r);
    if (replay) {
        /* replaying a code is refused, and what it produced is revoked */
        assert_int_equal(
            req("POST", "/token", NULL, "application/x-www-form-urlencoded", body, NULL, &r), 400);
        assert_string_equal(jstr(r.json, "error"), "invalid_grant");
        resp_free(&r);
    }
    return st;
}

static void oauth(void **state)
{
    struct resp r;
    char url[2048], body[1024];

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    snprintf(url, sizeof url,
             "/o/oauth2/v2/auth?client_id=nope&redirect_uri=%s/api/google/calendar/"
             "callback&response_type=code&scope=x&state=s",
             S.base);
    assert_int_equal(req("GET", url, NULL, NULL, NULL, NULL, &r), 401);
    assert_string_equal(jstr(r.json, "error"), "invalid_client");
    resp_free(&r);
    assert_int_equal(req("GET",
                         "/o/oauth2/v2/auth?client_id=" CLIENT
                         "&redirect_uri=https://evil.example/cb&response_type=code&scope=x&state=s",
                         NULL, NULL, NULL, NULL, &r),
                     400);
    assert_string_equal(jstr(r.json, "error"), "redirect_uri_mismatch");
    resp_free(&r);
    /* denied consent goes back with error=access_denied and the state */
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"deny\":true}", NULL), 200);
    snprintf(url, sizeof url,
             "/o/oauth2/v2/auth?client_id=" CLIENT
             "&redirect_uri=%s/api/google/calendar/callback&response_type=code&scope=https://"
             "www.googleapis.com/auth/calendar.events&state=st8",
             S.base);
    assert_int_equal(req("GET", url, NULL, NULL, NULL, NULL, &r), 302);
    assert_non_null(strstr(r.location, "error=access_denied"));
    assert_non_null(strstr(r.location, "state=st8"));
    assert_null(strstr(r.location, "code="));
    resp_free(&r);
    /* a wrong PKCE verifier is refused, the right one accepted */
    assert_int_equal(get_tokens("wrong-verifier-wrong-verifier-wrong-verifier-00", 1), 400);
    assert_int_equal(get_tokens(VERIFIER, 1), 200);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 401);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 200);
    /* refresh: a new access token, no new refresh token */
    snprintf(body, sizeof body,
             "grant_type=refresh_token&refresh_token=%s&client_id=" CLIENT "&client_secret=" SECRET,
             refresh_token);
    assert_int_equal(
        req("POST", "/token", NULL, "application/x-www-form-urlencoded", body, NULL, &r), 200);
    assert_non_null(jstr(r.json, "access_token"));
    assert_null(jstr(r.json, "refresh_token"));
    resp_free(&r);
    /* wrong client secret */
    assert_int_equal(req("POST", "/token", NULL, "application/x-www-form-urlencoded",
                         "grant_type=refresh_token&refresh_token=x&client_id=" CLIENT
                         "&client_secret=bad",
                         NULL, &r),
                     401);
    assert_string_equal(jstr(r.json, "error"), "invalid_client");
    resp_free(&r);
    /* revoke: the grant is gone */
    snprintf(body, sizeof body, "token=%s", refresh_token);
    assert_int_equal(
        req("POST", "/revoke", NULL, "application/x-www-form-urlencoded", body, NULL, NULL), 200);
    assert_int_equal(
        req("POST", "/revoke", NULL, "application/x-www-form-urlencoded", body, NULL, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "invalid_token");
    resp_free(&r);
    snprintf(body, sizeof body,
             "grant_type=refresh_token&refresh_token=%s&client_id=" CLIENT "&client_secret=" SECRET,
             refresh_token);
    assert_int_equal(
        req("POST", "/token", NULL, "application/x-www-form-urlencoded", body, NULL, &r), 400);
    assert_string_equal(jstr(r.json, "error"), "invalid_grant");
    resp_free(&r);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, &r), 401);
    assert_string_equal(reason(&r), "authError");
    resp_free(&r);
}

static void calendar_auth(void **state)
{
    struct resp r;

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    assert_int_equal(
        req("GET", "/calendar/v3/calendars/primary/events", NULL, NULL, NULL, NULL, &r), 401);
    assert_int_equal((int)jnum(cJSON_GetObjectItem(r.json, "error"), "code"), 401);
    resp_free(&r);
    assert_int_equal(api("GET", "/calendars/someone-else@example.com/events", NULL, NULL, NULL),
                     404);
    emu_ctl(&S, "POST", "tokens/expire", "{}", NULL);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, &r), 401);
    resp_free(&r);
}

static void events_crud(void **state)
{
    struct resp r;
    char etag[64], etag2[64];

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    assert_int_equal(api("POST", "/calendars/primary/events",
                         "{\"id\":\"abcdef0123\",\"summary\":\"A\",\"start\":{\"dateTime\":\"2026-"
                         "01-01T10:00:00Z\"},\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"},"
                         "\"extendedProperties\":{\"private\":{\"k\":\"v\"}}}",
                         NULL, &r),
                     200);
    assert_string_equal(jstr(r.json, "id"), "abcdef0123");
    assert_string_equal(jstr(r.json, "status"), "confirmed");
    snprintf(etag, sizeof etag, "%s", jstr(r.json, "etag"));
    assert_non_null(jstr(r.json, "updated"));
    resp_free(&r);
    assert_int_equal(api("POST", "/calendars/primary/events",
                         "{\"id\":\"abcdef0123\",\"summary\":\"B\",\"start\":{\"dateTime\":\"2026-"
                         "01-01T10:00:00Z\"},\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                         NULL, &r),
                     409);
    assert_string_equal(reason(&r), "duplicate");
    resp_free(&r);
    assert_int_equal(api("POST", "/calendars/primary/events",
                         "{\"id\":\"WXYZ-bad\",\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},"
                         "\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                         NULL, NULL),
                     400);
    assert_int_equal(
        api("POST", "/calendars/primary/events", "{\"summary\":\"no times\"}", NULL, NULL), 400);
    assert_int_equal(api("POST", "/calendars/primary/events",
                         "{\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},\"end\":{\"dateTime\":"
                         "\"2026-01-01T09:00:00Z\"}}",
                         NULL, NULL),
                     400);
    /* patch merges, etag changes */
    assert_int_equal(
        api("PATCH", "/calendars/primary/events/abcdef0123",
            "{\"summary\":\"A2\",\"extendedProperties\":{\"private\":{\"k2\":\"v2\"}}}", etag, &r),
        200);
    assert_string_equal(jstr(r.json, "summary"), "A2");
    snprintf(etag2, sizeof etag2, "%s", jstr(r.json, "etag"));
    assert_string_not_equal(etag, etag2);
    {
        const cJSON *priv =
            cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "extendedProperties"), "private");
        assert_string_equal(jstr(priv, "k"), "v");
        assert_string_equal(jstr(priv, "k2"), "v2");
    }
    resp_free(&r);
    /* a stale etag: 412 */
    assert_int_equal(
        api("PATCH", "/calendars/primary/events/abcdef0123", "{\"summary\":\"A3\"}", etag, &r),
        412);
    assert_string_equal(reason(&r), "conditionNotMet");
    resp_free(&r);
    /* update replaces */
    assert_int_equal(api("PUT", "/calendars/primary/events/abcdef0123",
                         "{\"summary\":\"U\",\"start\":{\"date\":\"2026-01-02\"},\"end\":{\"date\":"
                         "\"2026-01-03\"}}",
                         etag2, &r),
                     200);
    assert_null(cJSON_GetObjectItem(r.json, "extendedProperties"));
    assert_string_equal(jstr(cJSON_GetObjectItem(r.json, "start"), "date"), "2026-01-02");
    resp_free(&r);
    assert_int_equal(api("GET", "/calendars/primary/events/abcdef0123", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "summary"), "U");
    resp_free(&r);
    assert_int_equal(api("DELETE", "/calendars/primary/events/abcdef0123", NULL, NULL, NULL), 204);
    assert_int_equal(api("DELETE", "/calendars/primary/events/abcdef0123", NULL, NULL, &r), 410);
    assert_string_equal(reason(&r), "deleted");
    resp_free(&r);
    assert_int_equal(api("GET", "/calendars/primary/events/nosuchevent1", NULL, NULL, &r), 404);
    assert_string_equal(reason(&r), "notFound");
    resp_free(&r);
    /* the id stays taken after a delete */
    assert_int_equal(api("POST", "/calendars/primary/events",
                         "{\"id\":\"abcdef0123\",\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},"
                         "\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                         NULL, NULL),
                     409);
}

static int list_page(const char *query, struct resp *r)
{
    char path[2048];

    snprintf(path, sizeof path, "/calendars/primary/events?%s", query);
    return (int)api("GET", path, NULL, NULL, r);
}

static void list_pages_and_sync_tokens(void **state)
{
    struct resp r;
    char q[1024], sync[128], id3[64] = "", id4[64] = "";
    int total = 0, pages = 0;

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    for (int i = 0; i < 7; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"summary\":\"E%d\",\"start\":{\"dateTime\":\"2026-02-0%dT10:00:00Z\"},\"end\":{"
                 "\"dateTime\":\"2026-02-0%dT11:00:00Z\"}}",
                 i, i + 1, i + 1);
        assert_int_equal(api("POST", "/calendars/primary/events", body, NULL, &r), 200);
        if (i == 3)
            snprintf(id3, sizeof id3, "%s", jstr(r.json, "id"));
        if (i == 4)
            snprintf(id4, sizeof id4, "%s", jstr(r.json, "id"));
        resp_free(&r);
    }
    snprintf(q, sizeof q, "maxResults=3");
    for (;;) {
        assert_int_equal(list_page(q, &r), 200);
        total += cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items"));
        pages++;
        if (jstr(r.json, "nextPageToken")) {
            assert_null(jstr(r.json, "nextSyncToken"));
            snprintf(q, sizeof q, "maxResults=3&pageToken=%s", jstr(r.json, "nextPageToken"));
            resp_free(&r);
            continue;
        }
        snprintf(sync, sizeof sync, "%s", jstr(r.json, "nextSyncToken"));
        resp_free(&r);
        break;
    }
    assert_int_equal(total, 7);
    assert_int_equal(pages, 3);
    /* nothing changed: an empty incremental page */
    snprintf(q, sizeof q, "syncToken=%s", sync);
    assert_int_equal(list_page(q, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 0);
    resp_free(&r);
    /* an edit and a delete: exactly those two, the deleted one as cancelled */
    {
        char p[256];
        snprintf(p, sizeof p, "/calendars/primary/events/%s", id3);
        assert_int_equal(api("PATCH", p, "{\"summary\":\"E3 edited\"}", NULL, NULL), 200);
        snprintf(p, sizeof p, "/calendars/primary/events/%s", id4);
        assert_int_equal(api("DELETE", p, NULL, NULL, NULL), 204);
    }
    assert_int_equal(list_page(q, &r), 200);
    {
        const cJSON *items = cJSON_GetObjectItem(r.json, "items"), *it;
        int cancelled = 0, edited = 0;
        assert_int_equal(cJSON_GetArraySize(items), 2);
        cJSON_ArrayForEach(it, items)
        {
            if (strcmp(jstr(it, "status"), "cancelled") == 0 && strcmp(jstr(it, "id"), id4) == 0)
                cancelled++;
            if (jstr(it, "summary") && strcmp(jstr(it, "summary"), "E3 edited") == 0)
                edited++;
        }
        assert_int_equal(cancelled, 1);
        assert_int_equal(edited, 1);
    }
    resp_free(&r);
    /* parameters Google forbids with syncToken */
    snprintf(q, sizeof q, "syncToken=%s&timeMin=2026-01-01T00:00:00Z", sync);
    assert_int_equal(list_page(q, NULL), 400);
    assert_int_equal(list_page("maxResults=0", NULL), 400);
    /* a full list without showDeleted hides the deleted event; with it, shows it */
    assert_int_equal(list_page("", &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 6);
    resp_free(&r);
    assert_int_equal(list_page("showDeleted=true", &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 7);
    resp_free(&r);
    assert_int_equal(list_page("timeMin=2026-02-03T00:00:00Z&timeMax=2026-02-05T00:00:00Z", &r),
                     200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 2);
    resp_free(&r);
    /* an invalidated token: 410 fullSyncRequired */
    emu_ctl(&S, "POST", "sync-tokens/invalidate", "{}", NULL);
    snprintf(q, sizeof q, "syncToken=%s", sync);
    assert_int_equal(list_page(q, &r), 410);
    assert_string_equal(reason(&r), "fullSyncRequired");
    resp_free(&r);
}

static void recurring_and_all_day(void **state)
{
    struct resp r;
    const cJSON *items, *it;
    int n = 0;

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    assert_int_equal(
        emu_ctl(
            &S, "POST", "events",
            "{\"id\":\"rec0001\",\"summary\":\"Weekly\",\"recurrence\":[\"RRULE:FREQ=WEEKLY;COUNT="
            "3\"],\"start\":{\"dateTime\":\"2026-10-20T10:00:00+02:00\",\"timeZone\":\"Europe/"
            "Madrid\"},\"end\":{\"dateTime\":\"2026-10-20T11:00:00+02:00\",\"timeZone\":\"Europe/"
            "Madrid\"}}",
            NULL),
        200);
    assert_int_equal(emu_ctl(&S, "POST", "events",
                             "{\"id\":\"dai0001\",\"summary\":\"Daily "
                             "all-day\",\"recurrence\":[\"RRULE:FREQ=DAILY;COUNT=2\"],\"start\":{"
                             "\"date\":\"2026-12-24\"},\"end\":{\"date\":\"2026-12-25\"}}",
                             NULL),
                     200);
    assert_int_equal(list_page("singleEvents=true", &r), 200);
    items = cJSON_GetObjectItem(r.json, "items");
    assert_int_equal(cJSON_GetArraySize(items), 5);
    cJSON_ArrayForEach(it, items)
    {
        const char *id = jstr(it, "id");
        if (strcmp(id, "rec0001_20261027T090000Z") == 0) {
            /* across the DST change the wall time stays 10:00 */
            assert_string_equal(jstr(cJSON_GetObjectItem(it, "start"), "dateTime"),
                                "2026-10-27T10:00:00+01:00");
            assert_string_equal(jstr(it, "recurringEventId"), "rec0001");
            assert_non_null(cJSON_GetObjectItem(it, "originalStartTime"));
            n++;
        }
        if (strcmp(id, "dai0001_20261225") == 0) {
            assert_string_equal(jstr(cJSON_GetObjectItem(it, "start"), "date"), "2026-12-25");
            n++;
        }
        assert_null(cJSON_GetObjectItem(it, "recurrence"));
    }
    assert_int_equal(n, 2);
    resp_free(&r);
    /* without singleEvents the series come as themselves */
    assert_int_equal(list_page("", &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 2);
    resp_free(&r);
}

static void push_notifications(void **state)
{
    struct receiver rv;
    struct resp r;
    char body[512], v[256], chan_rid[128];

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    assert_int_equal(receiver_start(&rv), 0);
    snprintf(body, sizeof body,
             "{\"id\":\"chan-1\",\"type\":\"web_hook\",\"address\":\"http://127.0.0.1:%d/"
             "hook\",\"token\":\"tok-1\",\"expiration\":%lld}",
             rv.port, 4102444800000LL);
    assert_int_equal(api("POST", "/calendars/primary/events/watch", body, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "kind"), "api#channel");
    assert_string_equal(jstr(r.json, "id"), "chan-1");
    assert_non_null(jstr(r.json, "resourceUri"));
    /* Google shortens a too-long expiration: read it back */
    assert_true(atoll(jstr(r.json, "expiration")) < 4102444800000LL);
    snprintf(chan_rid, sizeof chan_rid, "%s", jstr(r.json, "resourceId"));
    resp_free(&r);
    assert_int_equal(api("POST", "/calendars/primary/events/watch", body, NULL, &r),
                     400); /* id reused */
    resp_free(&r);
    for (int i = 0; i < 100 && receiver_count(&rv) < 1; i++)
        sleep_ms(20);
    assert_int_equal(receiver_count(&rv), 1);
    assert_int_equal(receiver_header(&rv, 0, "X-Goog-Resource-State", v, sizeof v), 0);
    assert_string_equal(v, "sync");
    assert_int_equal(receiver_header(&rv, 0, "X-Goog-Channel-Token", v, sizeof v), 0);
    assert_string_equal(v, "tok-1");
    assert_int_equal(receiver_header(&rv, 0, "X-Goog-Resource-ID", v, sizeof v), 0);
    assert_string_equal(v, chan_rid);
    /* a change by the Google user: "exists", message number 2 */
    assert_int_equal(emu_ctl(&S, "POST", "events",
                             "{\"summary\":\"x\",\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},"
                             "\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                             NULL),
                     200);
    for (int i = 0; i < 100 && receiver_count(&rv) < 2; i++)
        sleep_ms(20);
    assert_int_equal(receiver_count(&rv), 2);
    assert_int_equal(receiver_header(&rv, 1, "X-Goog-Resource-State", v, sizeof v), 0);
    assert_string_equal(v, "exists");
    assert_int_equal(receiver_header(&rv, 1, "X-Goog-Message-Number", v, sizeof v), 0);
    assert_string_equal(v, "2");
    assert_int_equal(receiver_header(&rv, 1, "X-Goog-Channel-ID", v, sizeof v), 0);
    assert_string_equal(v, "chan-1");
    assert_int_equal(receiver_header(&rv, 1, "X-Goog-Channel-Expiration", v, sizeof v), 0);
    assert_non_null(strstr(v, "GMT"));
    /* stopped channels are quiet */
    snprintf(body, sizeof body, "{\"id\":\"chan-1\",\"resourceId\":\"%s\"}", chan_rid);
    assert_int_equal(api("POST", "/channels/stop", body, NULL, NULL), 204);
    assert_int_equal(api("POST", "/channels/stop", body, NULL, NULL), 404);
    assert_int_equal(emu_ctl(&S, "POST", "events",
                             "{\"summary\":\"y\",\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},"
                             "\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                             NULL),
                     200);
    /* and so are expired ones */
    snprintf(body, sizeof body,
             "{\"id\":\"chan-2\",\"type\":\"web_hook\",\"address\":\"http://127.0.0.1:%d/hook\"}",
             rv.port);
    assert_int_equal(api("POST", "/calendars/primary/events/watch", body, NULL, NULL), 200);
    for (int i = 0; i < 100 && receiver_count(&rv) < 3; i++)
        sleep_ms(20);
    assert_int_equal(receiver_count(&rv), 3); /* chan-2's sync */
    emu_ctl(&S, "POST", "channels/expire", "{}", NULL);
    assert_int_equal(emu_ctl(&S, "POST", "events",
                             "{\"summary\":\"z\",\"start\":{\"dateTime\":\"2026-01-01T10:00:00Z\"},"
                             "\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}",
                             NULL),
                     200);
    sleep_ms(300);
    assert_int_equal(receiver_count(&rv), 3);
    receiver_stop(&rv);
}

static void faults_and_log(void **state)
{
    struct resp r;
    struct client c;
    char url[512];
    long long t0;
    size_t mark;

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    mark = emu_log_mark(&S);
    assert_int_equal(
        emu_ctl(&S, "POST", "faults", "{\"status\":503,\"count\":2,\"path\":\"/events\"}", NULL),
        200);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, &r), 503);
    assert_string_equal(reason(&r), "backendError");
    resp_free(&r);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 503);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 200);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"status\":429,\"retryAfter\":3}", NULL), 200);
    {
        const char *h[] = {NULL};
        (void)h;
    }
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, &r), 429);
    assert_string_equal(reason(&r), "rateLimitExceeded");
    resp_free(&r);
    assert_int_equal(emu_ctl(&S, "POST", "faults",
                             "{\"status\":403,\"reason\":\"userRateLimitExceeded\"}", NULL),
                     200);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, &r), 403);
    assert_string_equal(reason(&r), "userRateLimitExceeded");
    resp_free(&r);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"kind\":\"drop\"}", NULL), 200);
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 0);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"kind\":\"delay\",\"ms\":400}", NULL), 200);
    t0 = now_ms();
    assert_int_equal(api("GET", "/calendars/primary/events", NULL, NULL, NULL), 200);
    assert_true(now_ms() - t0 >= 400);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"status\":42}", NULL), 400);
    /* the log has what was received: method, path, query, status */
    assert_int_equal(emu_count_calls(&S, "GET", "/calendar/v3/calendars/primary/events", mark), 7);
    snprintf(url, sizeof url, "log?since=%zu", mark);
    assert_int_equal(emu_ctl(&S, "GET", url, NULL, &r), 200);
    {
        const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "entries"), 0);
        assert_int_equal((int)jnum(first, "status"), 503);
    }
    resp_free(&r);
    /* Retry-After travels as a header */
    client_init(&c, &S);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"status\":429,\"retryAfter\":7}", NULL), 200);
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/primary/events", S.emu);
    {
        char auth[400];
        const char *h[] = {auth, NULL};
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", access_token);
        curl_easy_setopt(c.c, CURLOPT_HEADER, 1L);
        assert_int_equal(client_req(&c, "GET", url, h, NULL, &r), 429);
        assert_non_null(strstr(r.body, "Retry-After: 7"));
        resp_free(&r);
    }
    client_free(&c);
}

static void batch(void **state)
{
    struct resp r;
    char auth[400], url[256], body[2048];
    const char *h[] = {auth, "Content-Type: multipart/mixed; boundary=XyZ", NULL};
    struct client c;
    const char *p1, *p2, *p3;

    (void)state;
    emu_ctl(&S, "POST", "reset", "{}", NULL);
    assert_int_equal(get_tokens(VERIFIER, 0), 200);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", access_token);
    snprintf(body, sizeof body,
             "--XyZ\r\nContent-Type: application/http\r\nContent-ID: <a1>\r\n\r\n"
             "POST /calendar/v3/calendars/primary/events HTTP/1.1\r\nContent-Type: "
             "application/json\r\n\r\n"
             "{\"id\":\"batch00001\",\"summary\":\"B1\",\"start\":{\"dateTime\":\"2026-01-01T10:00:"
             "00Z\"},\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}\r\n"
             "--XyZ\r\nContent-Type: application/http\r\nContent-ID: <a2>\r\n\r\n"
             "POST /calendar/v3/calendars/primary/events HTTP/1.1\r\nContent-Type: "
             "application/json\r\n\r\n"
             "{\"id\":\"batch00001\",\"summary\":\"twin\",\"start\":{\"dateTime\":\"2026-01-01T10:"
             "00:00Z\"},\"end\":{\"dateTime\":\"2026-01-01T11:00:00Z\"}}\r\n"
             "--XyZ\r\nContent-Type: application/http\r\nContent-ID: <a3>\r\n\r\n"
             "GET /calendar/v3/calendars/primary/events/batch00001 HTTP/1.1\r\n\r\n\r\n"
             "--XyZ--\r\n");
    client_init(&c, &S);
    snprintf(url, sizeof url, "%s/batch/calendar/v3", S.emu);
    assert_int_equal(client_req(&c, "POST", url, h, body, &r), 200);
    assert_non_null(strstr(r.content_type, "multipart/mixed; boundary="));
    /* the answers, in order: created, duplicate, read back */
    p1 = strstr(r.body, "HTTP/1.1 200");
    p2 = p1 ? strstr(p1 + 1, "HTTP/1.1 409") : NULL;
    p3 = p2 ? strstr(p2 + 1, "HTTP/1.1 200") : NULL;
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_non_null(strstr(r.body, "Content-ID: <response-a1>"));
    assert_non_null(strstr(p3, "\"summary\":\"B1\""));
    resp_free(&r);
    /* no boundary: refused */
    {
        const char *bad[] = {auth, "Content-Type: application/json", NULL};
        assert_int_equal(client_req(&c, "POST", url, bad, "{}", NULL), 400);
    }
    client_free(&c);
}

static void control_page(void **state)
{
    struct resp r;
    struct client c;
    char url[256];

    (void)state;
    client_init(&c, &S);
    snprintf(url, sizeof url, "%s/_emulator/", S.emu);
    assert_int_equal(client_req(&c, "GET", url, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.content_type, "text/html"));
    assert_non_null(strstr(r.body, "Create event"));
    resp_free(&r);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oauth),
        cmocka_unit_test(calendar_auth),
        cmocka_unit_test(events_crud),
        cmocka_unit_test(list_pages_and_sync_tokens),
        cmocka_unit_test(recurring_and_all_day),
        cmocka_unit_test(push_notifications),
        cmocka_unit_test(faults_and_log),
        cmocka_unit_test(batch),
        cmocka_unit_test(control_page),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
