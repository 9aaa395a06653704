/* it_host_vesta: calsync on Vesta's own database and logins (CALSYNC_HOST=vesta): sessions
 * signed by the real better-auth library, appointments written by Vesta's app straight into its
 * table found by the change feed, Google's events in Vesta's rows with the agent's own contacts,
 * edits racing on both sides, and the schema calsync adds. Runs with CALSYNC_TEST_HOST=vesta. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "harness.h"
#include "cfg.h"
#include "cs.h"
#include "db.h"
#include "store.h"

static struct stack S;

static int setup(void **state)
{
    static const struct stack_opts o = {.webhooks = 1};

    (void)state;
    if (!stack_vesta() || !stack_mysql()) {
        fprintf(stderr, "it_host_vesta runs with CALSYNC_TEST_HOST=vesta and the MySQL test "
                        "server (ctest sets both)\n");
        return -1;
    }
    return stack_start(&S, &o);
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

/* The id of WHO@example.com in Vesta's users. */
static void uid(const char *who, char out[33])
{
    char email[80];

    snprintf(email, sizeof email, "%s@example.com", who);
    stack_vesta_user_id(email, out);
}

static cJSON *google_events(const char *who)
{
    struct resp r;
    char path[128];
    cJSON *out = cJSON_CreateArray(), *it;

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

/* The live Google event of Vesta appointment id, or NULL (cJSON_Delete the array *keep). */
static const cJSON *google_event_of(const char *who, long long id, cJSON **keep)
{
    char want[32];
    const cJSON *it;

    *keep = google_events(who);
    snprintf(want, sizeof want, "%lld", id);
    cJSON_ArrayForEach(it, *keep)
    {
        const cJSON *priv =
            cJSON_GetObjectItem(cJSON_GetObjectItem(it, "extendedProperties"), "private");
        const char *v = priv ? jstr(priv, "vestaAppointmentId") : NULL;
        if (v != NULL && strcmp(v, want) == 0)
            return it;
    }
    return NULL;
}

struct want_event {
    const char *who;
    long long id;
    const char *field, *value; /* NULL field: the event exists; NULL value: it does not */
};

static int event_is(void *arg)
{
    struct want_event *w = arg;
    cJSON *keep;
    const cJSON *ev = google_event_of(w->who, w->id, &keep);
    int ok;

    if (w->field == NULL)
        ok = w->value == NULL ? ev == NULL : ev != NULL;
    else
        ok = ev != NULL && jstr(ev, w->field) != NULL && strcmp(jstr(ev, w->field), w->value) == 0;
    cJSON_Delete(keep);
    return ok;
}

/* Vesta's app writes a row the way its server actions do: plain SQL, updated_at by the server. */
static long long vesta_insert(const char *who, long long contact, const char *start,
                              const char *end, const char *type, const char *notes)
{
    char id[33], sql[1024];

    uid(who, id);
    snprintf(sql, sizeof sql,
             "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
             "status, notes, type) VALUES ('%s', %lld, '%s', '%s', 'Scheduled', '%s', '%s')",
             id, contact, start, end, notes, type);
    assert_int_equal(stack_db_exec(&S, sql), 0);
    return stack_db_int(&S, "SELECT max(appointment_id) FROM `appointments`");
}

/* Vesta's app changes row id: "UPDATE `appointments` SET <set> WHERE appointment_id = id". */
static void vesta_set(long long id, const char *set)
{
    char sql[512];

    snprintf(sql, sizeof sql, "UPDATE `appointments` SET %s WHERE appointment_id = %lld", set, id);
    assert_int_equal(stack_db_exec(&S, sql), 0);
}

static void vesta_delete(long long id)
{
    char sql[128];

    snprintf(sql, sizeof sql, "DELETE FROM `appointments` WHERE appointment_id = %lld", id);
    assert_int_equal(stack_db_exec(&S, sql), 0);
}

/* The real library's cookie is accepted; changed, expired or account-less it is refused. */
static void better_auth_cookie(void **state)
{
    char cmd[1600], out[2048], hdr[1200], sql[300];
    const char *v, *name;
    struct client c;
    struct resp r;
    cJSON *j;
    FILE *p;
    size_t n;

    (void)state;
    snprintf(cmd, sizeof cmd,
             "cd '" CALSYNC_SOURCE_DIR "/tests/vesta/bauth' && VESTA_DB_URL='%s' "
             "BETTER_AUTH_SECRET='" STACK_BAUTH_SECRET "' SIGNUP_EMAIL=real@example.com "
             "SIGNUP_PASSWORD=correct-horse-9 SIGNUP_NAME='Rita Real' node signup.mjs",
             S.db_url);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    name = jstr(j, "cookieName");
    v = jstr(j, "cookieValue");
    assert_string_equal(name, "better-auth.session_token");
    client_init(&c, &S);
    snprintf(hdr, sizeof hdr, "Cookie: %s=%s", name, v);
    const char *h[] = {hdr, NULL};
    /* Vesta refuses a user without an agency: so does calsync */
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", h, NULL, &r), 401);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    snprintf(sql, sizeof sql, "UPDATE `users` SET account_id = 1 WHERE id = '%s'",
             jstr(j, "userId"));
    assert_int_equal(stack_db_exec(&S, sql), 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", h, NULL, &r), 200);
    assert_false(jbool(r.json, "connected"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/auth/me", h, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "email"), "real@example.com");
    resp_free(&r);
    /* one character of the signature changed */
    {
        char bad[1200];
        size_t len = strlen(hdr);
        snprintf(bad, sizeof bad, "%s", hdr);
        bad[len - 5] = bad[len - 5] == 'A' ? 'B' : 'A';
        const char *hb[] = {bad, NULL};
        assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", hb, NULL, &r), 401);
        resp_free(&r);
    }
    /* an inactive user */
    snprintf(sql, sizeof sql, "UPDATE `users` SET is_active = 0 WHERE id = '%s'",
             jstr(j, "userId"));
    assert_int_equal(stack_db_exec(&S, sql), 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", h, NULL, &r), 401);
    resp_free(&r);
    snprintf(sql, sizeof sql, "UPDATE `users` SET is_active = 1 WHERE id = '%s'",
             jstr(j, "userId"));
    assert_int_equal(stack_db_exec(&S, sql), 0);
    /* after expires_at */
    snprintf(sql, sizeof sql,
             "UPDATE `sessions` SET expires_at = UTC_TIMESTAMP() - INTERVAL 1 SECOND "
             "WHERE user_id = '%s'",
             jstr(j, "userId"));
    assert_int_equal(stack_db_exec(&S, sql), 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", h, NULL, &r), 401);
    resp_free(&r);
    /* calsync never wrote Vesta's sessions or users beyond what the test did */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM `sessions`"), 1);
    /* its own login routes are Vesta's business */
    assert_int_equal(client_json(&c, "POST", "/api/auth/login",
                                 "{\"email\":\"real@example.com\",\"password\":\"x\"}", &r),
                     404);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    client_free(&c);
    cJSON_Delete(j);
}

/* Rows Vesta's app writes behind calsync's back reach Google: insert, update, soft delete,
 * outright delete; calsync's own writes and no-op updates are not pushed back. */
static void vesta_writes_reach_google(void **state)
{
    struct client c;
    struct want_event w = {"vera", 0, NULL, "x"};
    long long id, id2, mark;
    cJSON *keep;
    const cJSON *ev;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "vera", "Europe/Madrid"), 0);
    id = vesta_insert("vera", 77, "2026-12-10 09:00:00", "2026-12-10 10:00:00", "Visita",
                      "Llevar llaves");
    w.id = id;
    assert_true(wait_until(event_is, &w, 5000));
    ev = google_event_of("vera", id, &keep);
    assert_string_equal(jstr(ev, "summary"), "Visita · Ana García");
    assert_string_equal(jstr(ev, "description"), "Llevar llaves");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-12-10T10:00:00+01:00");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "timeZone"), "Europe/Madrid");
    assert_non_null(strstr(jstr(cJSON_GetObjectItem(ev, "source"), "url"), "/calendario"));
    cJSON_Delete(keep);
    /* the link is in Vesta's row */
    {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM `appointments` WHERE appointment_id = %lld AND "
                 "google_event_id IS NOT NULL AND google_etag IS NOT NULL",
                 id);
        for (int i = 0; i < 50 && stack_db_int(&S, sql) != 1; i++)
            sleep_ms(100);
        assert_int_equal(stack_db_int(&S, sql), 1);
    }
    /* a no-op update and calsync's own link write push nothing */
    assert_int_equal(stack_wait_jobs(&S, 5000), 0);
    sleep_ms(500);
    mark = emu_log_mark(&S);
    vesta_set(id, "notes = notes");
    vesta_set(id, "edited_by = 'someone'");
    sleep_ms(1200);
    assert_int_equal(emu_count_calls(&S, "PATCH", "/events/", mark), 0);
    assert_int_equal(emu_count_calls(&S, "PUT", "/events/", mark), 0);
    /* an edit (a path of Vesta's that never called its own sync: marking it completed) */
    vesta_set(id, "status = 'Completed', datetime_start = '2026-12-10 09:30:00'");
    for (int i = 0; i < 50; i++) {
        ev = google_event_of("vera", id, &keep);
        const cJSON *priv =
            ev ? cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "extendedProperties"), "private")
               : NULL;
        int done = priv && strcmp(jstr(priv, "vestaStatus"), "Completed") == 0;
        cJSON_Delete(keep);
        if (done)
            break;
        sleep_ms(100);
    }
    ev = google_event_of("vera", id, &keep);
    assert_non_null(ev);
    assert_string_equal(
        jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "extendedProperties"), "private"),
             "vestaStatus"),
        "Completed");
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-12-10T10:30:00+01:00");
    assert_string_equal(jstr(ev, "summary"), "Visita · Ana García");
    cJSON_Delete(keep);
    /* a writer whose clock runs 10 minutes behind (the ORM writes updated_at itself): the
     * feed's wider look back finds it (forced here instead of waiting for its minute) */
    {
        char sql[600], vid[33];
        long long late;
        struct want_event lw = {"vera", 0, NULL, "x"};
        uid("vera", vid);
        snprintf(sql, sizeof sql,
                 "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
                 "status, notes, type, created_at, updated_at) VALUES ('%s', 77, "
                 "'2026-12-12 09:00:00', '2026-12-12 10:00:00', 'Scheduled', 'late', 'Cierre', "
                 "UTC_TIMESTAMP() - INTERVAL 10 MINUTE, UTC_TIMESTAMP() - INTERVAL 10 MINUTE)",
                 vid);
        assert_int_equal(stack_db_exec(&S, sql), 0);
        late = stack_db_int(&S, "SELECT max(appointment_id) FROM `appointments`");
        lw.id = late;
        assert_int_equal(stack_db_exec(&S, "UPDATE vesta_feed SET deep_s = 0"), 0);
        assert_true(wait_until(event_is, &lw, 5000));
    }
    /* Vesta's action may ask for the push at once (the feed finds it anyway) */
    {
        struct resp r;
        char body[64];
        snprintf(body, sizeof body, "{\"appointmentId\":%lld}", id);
        assert_int_equal(client_json(&c, "POST", "/api/google/calendar/notify", body, &r), 200);
        assert_true(jbool(r.json, "success"));
        resp_free(&r);
        assert_int_equal(
            client_json(&c, "POST", "/api/google/calendar/notify", "{\"appointmentId\":-1}", &r),
            400);
        assert_non_null(jstr(r.json, "error"));
        resp_free(&r);
        assert_int_equal(client_json(&c, "POST", "/api/google/calendar/notify",
                                     "{\"appointmentId\":999999}", &r),
                         404);
        resp_free(&r);
        assert_int_equal(client_json(&c, "POST", "/api/google/calendar/notify", "[1]", &r), 400);
        resp_free(&r);
    }
    /* soft delete */
    vesta_set(id, "is_active = 0");
    w.value = NULL;
    assert_true(wait_until(event_is, &w, 5000));
    /* deleted outright */
    id2 = vesta_insert("vera", 77, "2026-12-11 09:00:00", "2026-12-11 10:00:00", "Firma", "");
    w.id = id2;
    w.value = "x";
    assert_true(wait_until(event_is, &w, 5000));
    vesta_delete(id2);
    w.value = NULL;
    assert_true(wait_until(event_is, &w, 5000));
    client_free(&c);
}

/* A Google event becomes Vesta's appointment with a contact of the agent's own agency: an
 * attendee's email; else the agency's "Google Calendar" contact, never another agency's. */
static void google_events_become_vesta_rows(void **state)
{
    struct client c;
    struct resp r;
    char id[33], sql[400];
    long long n;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "gema", "Europe/Madrid"), 0);
    uid("gema", id);
    assert_int_equal(emu_ctl(&S, "POST", "events?account=gema@gmail.test",
                             "{\"summary\":\"Firma notaría\",\"description\":\"Llevar DNI\","
                             "\"start\":{\"dateTime\":\"2026-12-15T10:00:00+01:00\"},"
                             "\"end\":{\"dateTime\":\"2026-12-15T11:00:00+01:00\"},"
                             "\"attendees\":[{\"email\":\"ANA.GARCIA@example.org\"},"
                             "{\"email\":\"gema@gmail.test\",\"self\":true}]}",
                             &r),
                     200);
    resp_free(&r);
    /* a same-email contact exists in agency 2 only: never linked */
    assert_int_equal(emu_ctl(&S, "POST", "events?account=gema@gmail.test",
                             "{\"summary\":\"Reunión banco\","
                             "\"start\":{\"dateTime\":\"2026-12-16T10:00:00+01:00\"},"
                             "\"end\":{\"dateTime\":\"2026-12-16T11:00:00+01:00\"},"
                             "\"attendees\":[{\"email\":\"otra@example.org\"}]}",
                             &r),
                     200);
    resp_free(&r);
    assert_int_equal(stack_db_exec(&S, "INSERT INTO `contacts`(account_id, first_name, last_name, "
                                       "email) VALUES (2, 'Otra', 'Agencia', 'otra@example.org')"),
                     0);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    resp_free(&r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `appointments` WHERE user_id = '%s' AND contact_id = 77 AND "
             "type = 'Firma' AND notes = 'Llevar DNI' AND "
             "datetime_start = '2026-12-15 09:00:00'",
             id);
    assert_int_equal(stack_db_int(&S, sql), 1);
    /* the other one: the agency's "Google Calendar" contact, made once */
    n = stack_db_int(&S, "SELECT count(*) FROM `contacts` WHERE account_id = 1 AND first_name = "
                         "'Google' AND last_name = 'Calendar'");
    assert_int_equal(n, 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `appointments` a JOIN `contacts` c ON c.contact_id = "
             "a.contact_id WHERE a.user_id = '%s' AND c.account_id = 1 AND c.first_name = "
             "'Google' AND a.type = 'Reunión' AND a.notes = 'Reunión banco'",
             id);
    assert_int_equal(stack_db_int(&S, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `appointments` a JOIN `contacts` c ON c.contact_id = "
             "a.contact_id WHERE a.user_id = '%s' AND c.account_id <> 1",
             id);
    assert_int_equal(stack_db_int(&S, sql), 0);
    /* the Google summary stays calsync's: no generated title went back to Google */
    {
        cJSON *g = google_events("gema");
        const cJSON *it;
        int firma = 0;
        cJSON_ArrayForEach(it, g) firma += strcmp(jstr(it, "summary"), "Firma notaría") == 0;
        assert_int_equal(firma, 1);
        cJSON_Delete(g);
    }
    client_free(&c);
}

/* Vesta's app edits the row while a Google change is pulled: neither edit is lost. */
static void vesta_edit_races_google_pull(void **state)
{
    struct client c;
    struct resp r;
    struct want_event w = {"raul", 0, "description", "Nota de Vesta"};
    long long id;
    cJSON *keep;
    const cJSON *ev;
    char gid[256], path[400], sql[300];

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "raul", "Europe/Madrid"), 0);
    id = vesta_insert("raul", 77, "2026-12-20 09:00:00", "2026-12-20 10:00:00", "Visita", "");
    w.field = NULL;
    w.id = id;
    assert_true(wait_until(event_is, &w, 5000));
    assert_int_equal(stack_wait_jobs(&S, 5000), 0);
    ev = google_event_of("raul", id, &keep);
    snprintf(gid, sizeof gid, "%s", jstr(ev, "id"));
    cJSON_Delete(keep);
    /* both at once: Google moves it, Vesta writes its notes (the feed not yet run) */
    snprintf(path, sizeof path, "events/%s?account=raul@gmail.test", gid);
    assert_int_equal(emu_ctl(&S, "PATCH", path,
                             "{\"start\":{\"dateTime\":\"2026-12-20T12:00:00+01:00\"},"
                             "\"end\":{\"dateTime\":\"2026-12-20T13:00:00+01:00\"}}",
                             &r),
                     200);
    resp_free(&r);
    vesta_set(id, "notes = 'Nota de Vesta'");
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    resp_free(&r);
    w.field = "description";
    assert_true(wait_until(event_is, &w, 8000));
    ev = google_event_of("raul", id, &keep);
    assert_string_equal(jstr(cJSON_GetObjectItem(ev, "start"), "dateTime"),
                        "2026-12-20T12:00:00+01:00");
    cJSON_Delete(keep);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `appointments` WHERE appointment_id = %lld AND notes = "
             "'Nota de Vesta' AND datetime_start = '2026-12-20 11:00:00'",
             id);
    for (int i = 0; i < 50 && stack_db_int(&S, sql) != 1; i++)
        sleep_ms(100);
    assert_int_equal(stack_db_int(&S, sql), 1);
    client_free(&c);
}

/* What calsync adds to Vesta's database: its own calsync_ tables, the link columns and two
 * indexes of appointments; again and again without change; Vesta's columns keep their types. */
static void schema_added_idempotently(void **state)
{
    char out[4096];
    const char *args[] = {"migrate", NULL};
    long long before, after;

    (void)state;
    /* the programs may still be migrating as they start: one run waits for them */
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    before = stack_db_int(&S, "SELECT count(*) FROM information_schema.columns WHERE "
                              "table_schema = DATABASE()");
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    after = stack_db_int(&S, "SELECT count(*) FROM information_schema.columns WHERE "
                             "table_schema = DATABASE()");
    assert_int_equal(before, after);
    /* every table calsync made is prefixed; Vesta's are those of the fixture */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM information_schema.tables WHERE "
                                      "table_schema = DATABASE() AND table_name NOT LIKE "
                                      "'calsync\\_%' AND table_name NOT IN ('users', 'sessions', "
                                      "'account', 'verification', 'accounts', 'contacts', "
                                      "'locations', 'properties', 'listings', 'appointments', "
                                      "'user_integrations')"),
                     0);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM information_schema.statistics WHERE "
                                      "table_schema = DATABASE() AND table_name = 'appointments' "
                                      "AND column_name IN ('google_event_id', 'updated_at') AND "
                                      "seq_in_index = 1"),
                     2);
    /* doctor says all of it is there, never the secret */
    {
        const char *doc[] = {"doctor", NULL};
        stack_run(&S, "cgi/calsync-admin", doc, NULL, out, sizeof out);
        assert_non_null(strstr(out, "BetterAuth secret set"));
        assert_non_null(strstr(out, "change feed's index"));
        assert_null(strstr(out, STACK_BAUTH_SECRET));
    }
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM information_schema.columns WHERE "
                                      "table_schema = DATABASE() AND table_name = 'appointments' "
                                      "AND column_name = 'google_event_id' AND data_type = "
                                      "'varchar' AND character_maximum_length = 255"),
                     1);
}

static const char *env_get(const char *key, void *ctx)
{
    (void)ctx;
    return getenv(key);
}

/* Every statement calsync has (its own, prefixed, and the vesta host's) prepares on Vesta's
 * database as calsync lays it out there. */
static void every_statement_prepares(void **state)
{
    struct cfg cfg;
    struct db *db = NULL;
    char err[CS_ERRLEN];

    (void)state;
    assert_int_equal(cfg_load_from(&cfg, env_get, NULL, err, sizeof err), CS_OK);
    assert_int_equal(store_open(&cfg, 1, &db, err, sizeof err), CS_OK);
    assert_int_equal(db_exec(db, db_stmt(db, DB_SEEN_CREATE)), CS_OK);
    for (int id = 0; id < DB__MAX; id++)
        if (db_stmt(db, (enum db_stmt_id)id) == NULL)
            fail_msg("statement %d does not prepare: %s", id, db_sql_text(db, (enum db_stmt_id)id));
    db_close(db);
    cfg_free(&cfg);
}

/* Configuration mistakes stop every program at start-up, saying what is wrong. */
static void refused_configurations(void **state)
{
    char out[4096], path[512];
    const char *args[] = {"migrate", NULL};
    const char *db = getenv("CALSYNC_DB");
    char *saved = strdup(db ? db : "");

    (void)state;
    stack_path(&S, "x.db", path, sizeof path);
    setenv("CALSYNC_DB", path, 1);
    assert_int_not_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    setenv("CALSYNC_DB", saved, 1);
    unsetenv("BETTER_AUTH_SECRET");
    assert_int_not_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    setenv("BETTER_AUTH_SECRET", STACK_BAUTH_SECRET, 1);
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    free(saved);
}

/* The calls Vesta's calendar page makes, and the shapes it reads (../shared/VESTA.md). */
static void vesta_page_contract(void **state)
{
    static const struct {
        const char *method, *path;
    } calls[] = {{"GET", "/api/google/calendar/status"},
                 {"POST", "/api/google/calendar/disconnect"},
                 {"POST", "/api/google/calendar/sync"},
                 {"GET", "/api/google/calendar/connect"}};
    struct client c, anon;
    struct resp r;
    char loc[4096];
    const cJSON *v;

    (void)state;
    /* without a session: 401 and {"error"} (never a 500 or a redirect to a login page) */
    client_init(&anon, &S);
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        long st = strcmp(calls[i].method, "GET") == 0
                      ? client_req(&anon, "GET", calls[i].path, NULL, NULL, &r)
                      : client_json(&anon, "POST", calls[i].path, "{}", &r);
        assert_int_equal(st, 401);
        assert_non_null(jstr(r.json, "error"));
        resp_free(&r);
    }
    /* the callback without a session ends on Vesta's page with Vesta's code */
    assert_int_equal(
        client_req(&anon, "GET", "/api/google/calendar/callback?code=x&state=y", NULL, NULL, &r),
        302);
    assert_non_null(strstr(r.location, "/calendario?error="));
    resp_free(&r);
    client_free(&anon);
    /* not connected */
    assert_int_equal(stack_user(&S, "page@example.com", "password-123", NULL), 0);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "page@example.com", "password-123"), 200);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "connected")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "lastSync")));
    assert_string_equal(jstr(r.json, "syncDirection"), "bidirectional");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "error")));
    resp_free(&r);
    /* connect: consent, back on Vesta's page with its success code */
    assert_int_equal(
        emu_ctl(&S, "POST", "config", "{\"account\":\"page@gmail.test\",\"deny\":false}", NULL),
        200);
    assert_int_equal(client_connect(&c, loc, sizeof loc), 302);
    assert_non_null(strstr(loc, "/calendario?success=google_connected"));
    assert_int_equal(client_wait_synced(&c), 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "connected")));
    v = cJSON_GetObjectItem(r.json, "lastSync"); /* the real time of the last sync */
    assert_true(cJSON_IsString(v));
    assert_int_equal(strlen(v->valuestring), 20);
    assert_int_equal(v->valuestring[19], 'Z');
    resp_free(&r);
    /* Sync now */
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "success")));
    assert_non_null(jstr(r.json, "message"));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(r.json, "syncedEvents")));
    resp_free(&r);
    /* a state the callback refuses: Vesta's invalid_state */
    assert_int_equal(
        client_req(&c, "GET", "/api/google/calendar/callback?code=x&state=forged", NULL, NULL, &r),
        302);
    assert_non_null(strstr(r.location, "/calendario?error=invalid_state"));
    resp_free(&r);
    /* disconnect */
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/disconnect", "{}", &r), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "success")));
    assert_non_null(jstr(r.json, "message"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "connected")));
    resp_free(&r);
    client_free(&c);
}

/* Tokens as Vesta's own code got them: the OAuth dance with the emulator (plain text). */
static void legacy_grant(const char *who, char *access, size_t alen, char *refresh, size_t rlen)
{
    struct client c;
    struct resp r;
    char url[2048], body[1024], verifier[44] = "legacy-verifier-0123456789abcdefghijklmnop";
    unsigned char h[32];
    char chal[64], *code, *end;

    assert_int_equal(emu_ctl(&S, "POST", "config",
                             who[0] == 'a' ? "{\"account\":\"ada@gmail.test\",\"deny\":false}"
                                           : "{\"account\":\"rev@gmail.test\",\"deny\":false}",
                             NULL),
                     200);
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(chal, sizeof chal, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(url, sizeof url,
             "%s/o/oauth2/v2/auth?client_id=calsync-emulator-client&redirect_uri=%s"
             "%%2Fapi%%2Fgoogle%%2Fcalendar%%2Fcallback&response_type=code&scope=https%%3A%%2F%%2F"
             "www.googleapis.com%%2Fauth%%2Fcalendar.events&access_type=offline&prompt=consent&"
             "state=legacy&code_challenge=%s&code_challenge_method=S256",
             S.emu, S.base, chal);
    client_init(&c, &S);
    assert_int_equal(client_req(&c, "GET", url, NULL, NULL, &r), 302);
    code = strstr(r.location, "code=");
    assert_non_null(code);
    code += 5;
    end = strchr(code, '&');
    if (end)
        *end = '\0';
    snprintf(
        body, sizeof body,
        "grant_type=authorization_code&code=%s&client_id=calsync-emulator-client&"
        "client_secret=calsync-emulator-secret&redirect_uri=%s%%2Fapi%%2Fgoogle%%2Fcalendar%%2F"
        "callback&code_verifier=%s",
        code, S.base, verifier);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/token", S.emu);
    {
        const char *hd[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        assert_int_equal(client_req(&c, "POST", url, hd, body, &r), 200);
    }
    snprintf(access, alen, "%s", jstr(r.json, "access_token"));
    snprintf(refresh, rlen, "%s", jstr(r.json, "refresh_token"));
    resp_free(&r);
    client_free(&c);
}

/* Vesta's own attempt's connection moves into calsync: no new consent, no duplicate. */
static void vesta_adopt_legacy(void **state)
{
    char access[512], refresh[512], sql[2400], id[33], out[8192], url[600], hdr[600];
    const char *dry[] = {"vesta-adopt", "--dry-run", NULL}, *run[] = {"vesta-adopt", NULL};
    struct client c, g;
    struct resp r;
    char gids[3][128];

    (void)state;
    assert_int_equal(stack_user(&S, "ada@example.com", "password-123", "Europe/Madrid"), 0);
    uid("ada", id);
    legacy_grant("ada", access, sizeof access, refresh, sizeof refresh);
    /* its channel, opened without a token, and three events it had pushed itself */
    client_init(&g, &S);
    snprintf(url, sizeof url, "%s/calendar/v3/calendars/primary/events/watch", S.emu);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", access);
    {
        const char *hd[] = {hdr, "Content-Type: application/json", NULL};
        char b[300];
        snprintf(b, sizeof b,
                 "{\"id\":\"legacy-chan-ada\",\"type\":\"web_hook\",\"address\":"
                 "\"%s/api/google/calendar/webhook\"}",
                 S.base);
        assert_int_equal(client_req(&g, "POST", url, hd, b, &r), 200);
        snprintf(out, sizeof out, "%s", jstr(r.json, "resourceId"));
        resp_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        char b[300];
        snprintf(b, sizeof b,
                 "{\"summary\":\"Visita %d\",\"start\":{\"dateTime\":\"2026-12-2%dT10:00:00Z\"},"
                 "\"end\":{\"dateTime\":\"2026-12-2%dT11:00:00Z\"}}",
                 i, i, i);
        assert_int_equal(emu_ctl(&S, "POST", "events?account=ada@gmail.test", b, &r), 200);
        snprintf(gids[i], sizeof gids[i], "%s", jstr(r.json, "id"));
        resp_free(&r);
        snprintf(sql, sizeof sql,
                 "INSERT INTO `appointments`(user_id, contact_id, datetime_start, datetime_end, "
                 "notes, type, google_event_id) VALUES ('%s', 77, '2026-12-2%d 10:00:00', "
                 "'2026-12-2%d 11:00:00', '', 'Visita', '%s')",
                 id, i, i, gids[i]);
        assert_int_equal(stack_db_exec(&S, sql), 0);
    }
    client_free(&g);
    snprintf(sql, sizeof sql,
             "INSERT INTO `user_integrations`(user_id, provider, access_token, refresh_token, "
             "expiry_date, calendar_id, sync_token, channel_id, resource_id, channel_expiration, "
             "sync_direction, is_active) VALUES ('%s', 'google_calendar', '%s', '%s', "
             "UTC_TIMESTAMP() + INTERVAL 1 HOUR, 'primary', NULL, 'legacy-chan-ada', '%s', "
             "UTC_TIMESTAMP() + INTERVAL 1 DAY, 'google_to_vesta', 1)",
             id, access, refresh, out);
    assert_int_equal(stack_db_exec(&S, sql), 0);
    /* --dry-run: says what it would do, changes nothing */
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", dry, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "would adopt"));
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM `user_integrations` WHERE "
                                      "is_active = 1 AND access_token <> ''"),
                     1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM user_integrations WHERE user_id = '%s'", id);
    assert_int_equal(stack_db_int(&S, sql), 0);
    /* the real run */
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", run, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "adopted: calendar primary, direction google_to_vesta"));
    assert_non_null(strstr(out, "old channel stopped"));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `user_integrations` WHERE user_id = '%s' AND is_active = 0 "
             "AND access_token = '' AND refresh_token IS NULL",
             id);
    assert_int_equal(stack_db_int(&S, sql), 1);
    {
        char q[200], *v;
        snprintf(q, sizeof q, "SELECT count(*) FROM `user_integrations` WHERE access_token = '%s'",
                 access);
        assert_int_equal(stack_db_int(&S, q), 0);
        snprintf(q, sizeof q, "SELECT access_token FROM user_integrations WHERE user_id = '%s'",
                 id);
        v = stack_db_text(&S, q);
        assert_non_null(v);
        assert_null(strstr(v, access)); /* sealed */
        free(v);
    }
    /* connected without a new consent, direction kept, the old channel stopped, a verified one */
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "ada@example.com", "password-123"), 200);
    assert_int_equal(client_wait_synced(&c), 0);
    assert_int_equal(client_req(&c, "GET", "/api/google/calendar/status", NULL, NULL, &r), 200);
    assert_true(jbool(r.json, "connected"));
    assert_string_equal(jstr(r.json, "syncDirection"), "google_to_vesta");
    resp_free(&r);
    assert_int_equal(emu_ctl(&S, "GET", "channels", NULL, &r), 200);
    {
        const cJSON *ch;
        int old_stopped = 0, fresh = 0;
        cJSON_ArrayForEach(ch, cJSON_GetObjectItem(r.json, "channels"))
        {
            if (strcmp(jstr(ch, "id"), "legacy-chan-ada") == 0)
                old_stopped = jbool(ch, "stopped");
            else if (jbool(ch, "live") && strlen(jstr(ch, "token")) > 0)
                fresh++;
        }
        assert_true(old_stopped);
        assert_true(fresh >= 1);
    }
    resp_free(&r);
    /* the events Vesta had pushed are linked, none doubled */
    assert_int_equal(
        client_json(&c, "PATCH", "/api/settings", "{\"syncDirection\":\"bidirectional\"}", NULL),
        200);
    assert_int_equal(client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL), 200);
    {
        cJSON *ev = google_events("ada");
        assert_int_equal(cJSON_GetArraySize(ev), 3);
        cJSON_Delete(ev);
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `appointments` WHERE user_id = '%s' AND is_active = 1", id);
    assert_int_equal(stack_db_int(&S, sql), 3);
    client_free(&c);
    /* a second run changes nothing */
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", run, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "0 of 0"));
    /* a revoked grant: that user needs a new consent, the run does not fail */
    assert_int_equal(stack_user(&S, "rev@example.com", "password-123", NULL), 0);
    legacy_grant("rev", access, sizeof access, refresh, sizeof refresh);
    uid("rev", id);
    snprintf(sql, sizeof sql,
             "INSERT INTO `user_integrations`(user_id, provider, access_token, refresh_token) "
             "VALUES ('%s', 'google_calendar', '%s', '%s')",
             id, access, refresh);
    assert_int_equal(stack_db_exec(&S, sql), 0);
    assert_int_equal(emu_ctl(&S, "POST", "tokens/revoke", "{}", NULL), 200);
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", run, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "reauth_required"));
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM user_integrations WHERE user_id = '%s' AND state = "
             "'reauth_required' AND refresh_token IS NULL",
             id);
    assert_int_equal(stack_db_int(&S, sql), 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM `user_integrations` WHERE user_id = '%s' AND is_active = 0 "
             "AND access_token = ''",
             id);
    assert_int_equal(stack_db_int(&S, sql), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(better_auth_cookie),
        cmocka_unit_test(vesta_page_contract),
        cmocka_unit_test(vesta_adopt_legacy),
        cmocka_unit_test(vesta_writes_reach_google),
        cmocka_unit_test(google_events_become_vesta_rows),
        cmocka_unit_test(vesta_edit_races_google_pull),
        cmocka_unit_test(schema_added_idempotently),
        cmocka_unit_test(every_statement_prepares),
        cmocka_unit_test(refused_configurations),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
