/* it_oauth: connect (OAuth 2.0 + PKCE) and disconnect through nginx against the emulator. */
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
    const char *users[] = {"alice", "bob",   "carol", "dave", "erin", "frank",
                           "grace", "heidi", "ivy",   "jack", "kim"};
    char email[64];

    (void)state;
    if (stack_start(&S, &o) != 0)
        return -1;
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        snprintf(email, sizeof email, "%s@example.com", users[i]);
        if (stack_user(&S, email, "password-123", NULL) != 0)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static void as_google_account(const char *account)
{
    char body[256];

    snprintf(body, sizeof body, "{\"account\":\"%s\",\"deny\":false}", account);
    assert_int_equal(emu_ctl(&S, "POST", "config", body, NULL), 200);
}

static void login(struct client *c, const char *who)
{
    char email[64];

    client_init(c, &S);
    snprintf(email, sizeof email, "%s@example.com", who);
    assert_int_equal(client_login(c, email, "password-123"), 200);
}

static void wait_synced(struct client *c)
{
    assert_int_equal(client_wait_synced(c), 0);
}

/* The status settles on state (a notification-driven sync may be finishing: up to 5 s). */
static void status_is(struct client *c, const char *state, int connected)
{
    struct resp r;

    for (int i = 0;; i++) {
        assert_int_equal(client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
        if (strcmp(jstr(r.json, "state"), state) == 0 || i == 100)
            break;
        resp_free(&r);
        sleep_ms(50);
    }
    assert_string_equal(jstr(r.json, "provider"), "google_calendar");
    if (strcmp(jstr(r.json, "state"), state) != 0)
        fail_msg("state %s, expected %s (%s)", jstr(r.json, "state"), state, r.body);
    assert_int_equal(jbool(r.json, "connected"), connected);
    resp_free(&r);
}

static void connect_flow(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];
    const char *want[] = {"client_id=calsync-emulator-client",
                          "response_type=code",
                          "scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcalendar.events",
                          "access_type=offline",
                          "prompt=consent",
                          "include_granted_scopes=true",
                          "state=",
                          "code_challenge=",
                          "code_challenge_method=S256",
                          "redirect_uri=http%3A%2F%2F127.0.0.1"};

    (void)state;
    as_google_account("alice@gmail.test");
    login(&c, "alice");
    status_is(&c, "not_connected", 0);
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Antes de "
                                 "conectar\",\"start\":\"2026-12-01T10:00:00+01:00\",\"end\":"
                                 "\"2026-12-01T11:00:00+01:00\"}",
                                 NULL),
                     201);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/connect", NULL, NULL, &r), 302);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (strstr(r.location, want[i]) == NULL)
            fail_msg("consent URL lacks %s: %s", want[i], r.location);
    assert_null(strstr(r.location, "secret"));
    assert_null(strstr(r.body, "secret"));
    resp_free(&r);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, "/calendario?"));
    assert_non_null(strstr(loc, STACK_CONNECTED));
    wait_synced(&c);
    status_is(&c, "connected", 1);
    /* the initial sync pushed the existing appointment */
    assert_int_equal(emu_ctl(&S, "GET", "events?account=alice@gmail.test", NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 1);
    resp_free(&r);
    /* tokens are sealed: unreadable in the database file without the key */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations WHERE is_active = 1 "
                                      "AND access_token LIKE 'v2:%' AND refresh_token LIKE 'v2:%'"),
                     1);
    assert_int_equal(emu_ctl(&S, "GET", "tokens", NULL, &r), 200);
    {
        const cJSON *t;
        int n = 0;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(r.json, "tokens"))
        {
            /* every token Google issued: in neither the database nor the logs */
            assert_false(stack_file_contains(&S, "calsync.db", t->valuestring));
            assert_false(stack_file_contains(&S, "calsync.db-wal", t->valuestring));
            assert_false(stack_file_contains(&S, "logs/calsync.log", t->valuestring));
            n++;
        }
        assert_true(n >= 2);
    }
    resp_free(&r);
    assert_false(stack_file_contains(&S, "logs/calsync.log", "code=4/0A"));
    assert_true(stack_file_contains(&S, "logs/access.log", "GET /api/google/calendar/callback"));
    assert_false(stack_file_contains(&S, "logs/access.log", "code="));
    assert_false(stack_file_contains(&S, "logs/access.log", "state="));
    /* a push channel was opened */
    assert_int_equal(
        stack_db_int(
            &S, "SELECT count(*) FROM user_integrations WHERE channel_id IS NOT NULL AND "
                "resource_id IS NOT NULL AND channel_token_hash IS NOT NULL AND is_active = 1"),
        1);
    /* reconnecting reuses the row */
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    wait_synced(&c);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations"), 1);
    assert_int_equal(emu_ctl(&S, "GET", "events?account=alice@gmail.test", NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 1); /* no twin */
    resp_free(&r);
    client_free(&c);
}

/* The callback's redirect names the reason: standalone's own (reason=...), or the code Vesta's
 * page knows (error=...) for it on the vesta host. */
static void assert_reason(const char *loc, const char *reason)
{
    static const struct {
        const char *ours, *vesta;
    } codes[] = {
        {"invalid_state", "invalid_state"},   {"expired_state", "invalid_state"},
        {"state_mismatch", "invalid_state"},  {"not_logged_in", "unauthorized"},
        {"missing_code", "invalid_callback"}, {"insufficient_scope", "oauth_failed"},
        {"no_refresh_token", "oauth_failed"}, {"token_exchange_failed", "token_exchange_failed"},
        {"server_error", "callback_failed"}};
    char want[96];

    if (!stack_vesta()) {
        snprintf(want, sizeof want, "reason=%s", reason);
    } else {
        const char *code = "oauth_failed";
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            if (strcmp(codes[i].ours, reason) == 0)
                code = codes[i].vesta;
        snprintf(want, sizeof want, "/calendario?error=%s", code);
    }
    if (strstr(loc, want) == NULL)
        fail_msg("redirect %s lacks %s", loc, want);
}

static void denied_consent(void **state)
{
    struct client c;
    char loc[4096];

    (void)state;
    as_google_account("bob@gmail.test");
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"deny\":true}", NULL), 200);
    login(&c, "bob");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, stack_vesta() ? "/calendario?error=oauth_failed"
                                              : "/calendario?google=error&reason=access_denied"));
    status_is(&c, "not_connected", 0);
    client_free(&c);
}

/* Starts a connect and runs the consent, returning the callback URL (not yet followed). */
static void consent_url(struct client *c, char *out, size_t len)
{
    struct resp r;
    char consent[4096];

    assert_int_equal(client_req(c, "GET", "/api/google/calendar/connect", NULL, NULL, &r), 302);
    snprintf(consent, sizeof consent, "%s", r.location);
    resp_free(&r);
    assert_int_equal(client_req(c, "GET", consent, NULL, NULL, &r), 302);
    snprintf(out, len, "%s", r.location);
    resp_free(&r);
}

static const char *follow(struct client *c, const char *url, char *loc, size_t len)
{
    struct resp r;

    assert_int_equal(client_req(c, "GET", url, NULL, NULL, &r), 302);
    snprintf(loc, len, "%s", r.location);
    resp_free(&r);
    return loc;
}

static void bad_states(void **state)
{
    struct client carol, dave, anon;
    char url[4096], loc[4096];

    (void)state;
    as_google_account("carol@gmail.test");
    login(&carol, "carol");
    login(&dave, "dave");
    client_init(&anon, &S);
    /* forged */
    follow(&carol, "/api/google/calendar/callback?state=forged-state&code=4/0Afake", loc,
           sizeof loc);
    assert_reason(loc, "invalid_state");
    follow(&carol, "/api/google/calendar/callback?code=4/0Afake", loc, sizeof loc);
    assert_reason(loc, "invalid_state");
    /* another user's state: refused, and the state is spent */
    consent_url(&carol, url, sizeof url);
    follow(&dave, url, loc, sizeof loc);
    assert_reason(loc, "state_mismatch");
    follow(&carol, url, loc, sizeof loc);
    assert_reason(loc, "invalid_state");
    status_is(&carol, "not_connected", 0);
    status_is(&dave, "not_connected", 0);
    /* no session */
    consent_url(&carol, url, sizeof url);
    follow(&anon, url, loc, sizeof loc);
    assert_reason(loc, "not_logged_in");
    /* expired */
    consent_url(&carol, url, sizeof url);
    assert_int_equal(stack_db_exec(&S, "UPDATE oauth_states SET expires_at = 1"), 0);
    follow(&carol, url, loc, sizeof loc);
    assert_reason(loc, "expired_state");
    /* replayed: the first use connects, the second is refused */
    consent_url(&carol, url, sizeof url);
    follow(&carol, url, loc, sizeof loc);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    follow(&carol, url, loc, sizeof loc);
    assert_reason(loc, "invalid_state");
    wait_synced(&carol);
    status_is(&carol, "connected", 1);
    /* connect needs a session */
    assert_int_equal(client_req(&anon, "GET", "/api/google/calendar/connect", NULL, NULL, NULL),
                     401);
    client_free(&carol);
    client_free(&dave);
    client_free(&anon);
}

static void scope_not_granted(void **state)
{
    struct client c;
    char loc[4096];
    size_t mark;

    (void)state;
    as_google_account("ivy@gmail.test");
    /* the user unticked the calendar permission on the consent screen */
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"grantScope\":\"openid email\"}", NULL), 200);
    login(&c, "ivy");
    mark = emu_log_mark(&S);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_reason(loc, "insufficient_scope");
    assert_int_equal(emu_count_calls(&S, "POST", "/revoke", mark), 1); /* nothing kept */
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"grantScope\":\"\"}", NULL), 200);
    status_is(&c, "not_connected", 0);
    client_free(&c);
}

static void refresh_before_expiry(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];
    size_t mark;

    (void)state;
    as_google_account("jack@gmail.test");
    /* tokens that live 60 s: inside calsync's refresh margin, so every call refreshes first */
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"tokenTtl\":60}", NULL), 200);
    login(&c, "jack");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    mark = emu_log_mark(&S);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    resp_free(&r);
    assert_true(emu_count_calls(&S, "POST", "/token", mark) >= 1);
    {
        /* and never a 401 on the way */
        struct resp lr;
        char path[64];
        snprintf(path, sizeof path, "log?since=%zu", mark);
        assert_int_equal(emu_ctl(&S, "GET", path, NULL, &lr), 200);
        assert_null(strstr(lr.body, "\"status\":401"));
        resp_free(&lr);
    }
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"tokenTtl\":3599}", NULL), 200);
    client_free(&c);
}

static void refresh_on_expiry(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];
    size_t mark;

    (void)state;
    as_google_account("erin@gmail.test");
    login(&c, "erin");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    /* every access token expires at Google; the next call refreshes once and goes on */
    emu_ctl(&S, "POST", "tokens/expire", "{}", NULL);
    mark = emu_log_mark(&S);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    assert_true(jbool(r.json, "success"));
    resp_free(&r);
    assert_true(emu_count_calls(&S, "POST", "/token", mark) >= 1);
    status_is(&c, "connected", 1);
    client_free(&c);
}

static void client_credentials_refused(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];

    (void)state;
    as_google_account("kim@gmail.test");
    login(&c, "kim");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    /* Google stops accepting calsync's client secret (rotated in the console, say) */
    assert_int_equal(emu_ctl(&S, "POST", "config", "{\"clientSecret\":\"rotated-secret\"}", NULL),
                     200);
    emu_ctl(&S, "POST", "tokens/expire", "{}", NULL);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 502);
    resp_free(&r);
    status_is(&c, "error", 1);
    /* the user's grant is not thrown away for a server-side problem */
    assert_int_equal(
        stack_db_int(
            &S, "SELECT count(*) FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE "
                "u.email = 'kim@example.com' AND refresh_token IS NOT NULL AND is_active = 1"),
        1);
    assert_int_equal(
        emu_ctl(&S, "POST", "config", "{\"clientSecret\":\"calsync-emulator-secret\"}", NULL), 200);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL), 200);
    status_is(&c, "connected", 1);
    client_free(&c);
}

static void revoked_grant(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];

    (void)state;
    as_google_account("frank@gmail.test");
    login(&c, "frank");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    /* the user removed calsync in their Google account */
    emu_ctl(&S, "POST", "tokens/revoke", "{}", NULL);
    emu_ctl(&S, "POST", "tokens/expire", "{}", NULL);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 409);
    assert_non_null(strstr(jstr(r.json, "error"), "reconnect"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "state"), "reauth_required");
    assert_false(jbool(r.json, "connected"));
    assert_non_null(jstr(r.json, "lastError"));
    resp_free(&r);
    assert_int_equal(
        stack_db_int(
            &S, "SELECT count(*) FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE "
                "u.email = 'frank@example.com' AND access_token IS NULL AND refresh_token IS NULL"),
        1);
    /* local saves still work */
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Sigue\",\"start\":\"2026-12-01T10:00:00Z\",\"end\":"
                                 "\"2026-12-01T11:00:00Z\"}",
                                 NULL),
                     201);
    /* reconnecting heals it */
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, STACK_CONNECTED));
    wait_synced(&c);
    status_is(&c, "connected", 1);
    client_free(&c);
}

static void disconnect_google_up(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];
    size_t mark;

    (void)state;
    as_google_account("grace@gmail.test");
    login(&c, "grace");
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Queda\",\"start\":\"2026-12-02T10:00:00Z\",\"end\":"
                                 "\"2026-12-02T11:00:00Z\"}",
                                 NULL),
                     201);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM appointments a JOIN users u ON u.id = a.user_id "
                         "WHERE u.email = 'grace@example.com' AND google_event_id IS NOT NULL"),
        1);
    mark = emu_log_mark(&S);
    assert_int_equal(client_req(&c, "POST", "/api/google/calendar/disconnect", NULL, NULL, NULL),
                     415);
    assert_int_equal(client_json(&c, "GET", "/api/google/calendar/disconnect", NULL, NULL), 405);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
    assert_true(jbool(r.json, "success"));
    assert_non_null(jstr(r.json, "message"));
    resp_free(&r);
    assert_int_equal(emu_count_calls(&S, "POST", "/channels/stop", mark), 1);
    assert_int_equal(emu_count_calls(&S, "POST", "/revoke", mark), 1);
    status_is(&c, "not_connected", 0);
    /* local appointments stay; their Google links are gone; nothing left queued */
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-12-01&to=2026-12-31", NULL, NULL, &r),
        200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "appointments"), 0), "googleEventId")));
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM outbox o JOIN users u ON u.id = "
                                      "o.user_id WHERE u.email = 'grace@example.com'"),
                     0);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM user_integrations i JOIN users u ON u.id = "
                         "i.user_id WHERE u.email = 'grace@example.com' AND (access_token IS NOT "
                         "NULL OR refresh_token IS NOT NULL OR is_active = 1)"),
        0);
    /* the event stays in Google (we only unlink) */
    assert_int_equal(emu_ctl(&S, "GET", "events?account=grace@gmail.test", NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "items")), 1);
    resp_free(&r);
    /* disconnecting twice is fine */
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", NULL), 200);
    client_free(&c);
}

static void disconnect_google_down(void **state)
{
    struct client c;
    struct resp r;
    char loc[4096];

    (void)state;
    as_google_account("heidi@gmail.test");
    login(&c, "heidi");
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    wait_synced(&c);
    assert_int_equal(emu_ctl(&S, "POST", "faults", "{\"status\":503,\"count\":50}", NULL), 200);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
    assert_true(jbool(r.json, "success"));
    resp_free(&r);
    emu_ctl(&S, "DELETE", "faults", NULL, NULL);
    status_is(&c, "not_connected", 0);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_flow),
        cmocka_unit_test(denied_consent),
        cmocka_unit_test(bad_states),
        cmocka_unit_test(scope_not_granted),
        cmocka_unit_test(refresh_before_expiry),
        cmocka_unit_test(refresh_on_expiry),
        cmocka_unit_test(client_credentials_refused),
        cmocka_unit_test(revoked_grant),
        cmocka_unit_test(disconnect_google_up),
        cmocka_unit_test(disconnect_google_down),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
