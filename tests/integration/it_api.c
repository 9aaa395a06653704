/* it_api: login, sessions, appointments CRUD, isolation, CSRF and bad input, through nginx. */
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
    (void)state;
    if (stack_start(&S, NULL) != 0)
        return -1;
    if (stack_user(&S, "alice@example.com", "alice-password", "Europe/Madrid") != 0 ||
        stack_user(&S, "bob@example.com", "bob-password-1", "America/Winnipeg") != 0 ||
        stack_user(&S, "carl@example.com", "carl-password", NULL) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

static void login_and_me(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(
        client_json(&c, "POST", "/api/auth/login",
                    "{\"email\":\"alice@example.com\",\"password\":\"alice-password\"}", &r),
        200);
    assert_non_null(strstr(r.set_cookie, "calsync_session="));
    assert_non_null(strstr(r.set_cookie, "HttpOnly"));
    assert_non_null(strstr(r.set_cookie, "SameSite=Lax"));
    assert_null(strstr(r.set_cookie, "Secure")); /* http base URL */
    assert_string_equal(jstr(r.json, "email"), "alice@example.com");
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/auth/me", NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "email"), "alice@example.com");
    assert_string_equal(jstr(r.json, "timezone"), "Europe/Madrid");
    assert_non_null(strstr(r.content_type, "application/json"));
    resp_free(&r);
    /* only a hash of the cookie is stored */
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM sessions WHERE length(token_hash) = 64"),
        stack_db_int(&S, "SELECT count(*) FROM sessions"));
    assert_int_equal(client_json(&c, "POST", "/api/auth/logout", "{}", NULL), 200);
    assert_int_equal(client_req(&c, "GET", "/api/auth/me", NULL, NULL, NULL), 401);
    client_free(&c);
}

static void login_refusals(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "alice@example.com", "wrong-password"), 401);
    assert_int_equal(client_json(&c, "POST", "/api/auth/login",
                                 "{\"email\":\"nobody@example.com\",\"password\":\"whatever1\"}",
                                 &r),
                     401);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(client_json(&c, "POST", "/api/auth/login", "{\"email\":", &r), 400);
    assert_string_equal(jstr(r.json, "error"), "malformed JSON");
    resp_free(&r);
    assert_int_equal(
        client_json(&c, "POST", "/api/auth/login", "{\"email\":1,\"password\":2}", NULL), 400);
    {
        const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        assert_int_equal(client_req(&c, "POST", "/api/auth/login", h, "email=a&password=b", NULL),
                         415);
    }
    assert_int_equal(client_req(&c, "GET", "/api/auth/login", NULL, NULL, NULL), 405);
    assert_int_equal(client_req(&c, "GET", "/api/auth/me", NULL, NULL, NULL), 401);
    assert_int_equal(client_req(&c, "GET", "/api/appointments", NULL, NULL, NULL), 401);
    assert_int_equal(client_req(&c, "GET", "/api/nothing-here", NULL, NULL, &r), 404);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    {
        const char *h[] = {"Cookie: calsync_session=forged-token-value-123456", NULL};
        assert_int_equal(client_req(&c, "GET", "/api/auth/me", h, NULL, NULL), 401);
    }
    client_free(&c);
}

static void login_lockout(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    client_init(&c, &S);
    for (int i = 0; i < 5; i++)
        assert_int_equal(client_login(&c, "carl@example.com", "guess-guess"), 401);
    /* the right password does not help while the address is locked */
    assert_int_equal(client_json(&c, "POST", "/api/auth/login",
                                 "{\"email\":\"carl@example.com\",\"password\":\"carl-password\"}",
                                 &r),
                     429);
    assert_non_null(strstr(jstr(r.json, "error"), "too many"));
    assert_true(atoi(r.retry_after) > 0 && atoi(r.retry_after) <= 30);
    resp_free(&r);
    assert_int_equal(stack_db_exec(&S, "UPDATE login_failures SET locked_until = 0"), 0);
    assert_int_equal(client_login(&c, "carl@example.com", "carl-password"), 200);
    client_free(&c);
}

static long long create(struct client *c, const char *body, struct resp *out)
{
    struct resp r;
    long long id = -1;

    if (client_json(c, "POST", "/api/appointments", body, &r) == 201)
        id = (long long)jnum(r.json, "id");
    if (out)
        *out = r;
    else
        resp_free(&r);
    return id;
}

static void crud(void **state)
{
    struct client c;
    struct resp r;
    char path[64];
    long long id, outbox0;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "alice@example.com", "alice-password"), 200);
    outbox0 = stack_db_int(&S, "SELECT count(*) FROM outbox");
    id = create(&c,
                "{\"title\":\"Visita Calle Mayor 5\",\"start\":\"2026-03-10T10:00:00+01:00\","
                "\"end\":\"2026-03-10T11:30:00+01:00\",\"type\":\"Visita\",\"location\":\"Calle "
                "Mayor 5\",\"description\":\"Llaves en portería\",\"contactId\":42}",
                &r);
    assert_true(id > 0);
    assert_string_equal(jstr(r.json, "start"), "2026-03-10T09:00:00Z");
    assert_string_equal(jstr(r.json, "end"), "2026-03-10T10:30:00Z");
    assert_string_equal(jstr(r.json, "type"), "Visita");
    assert_string_equal(jstr(r.json, "status"), "Scheduled");
    assert_string_equal(jstr(r.json, "syncState"), "local");
    assert_int_equal((int)jnum(r.json, "contactId"), 42);
    resp_free(&r);
    /* the change wrote its outbox row in the same transaction */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM outbox"), outbox0 + 1);

    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "title"), "Visita Calle Mayor 5");
    assert_string_equal(jstr(r.json, "description"), "Llaves en portería");
    resp_free(&r);

    assert_int_equal(client_json(&c, "PATCH", path,
                                 "{\"title\":\"Visita aplazada\",\"status\":\"Completed\"}", &r),
                     200);
    assert_string_equal(jstr(r.json, "title"), "Visita aplazada");
    assert_string_equal(jstr(r.json, "status"), "Completed");
    assert_string_equal(jstr(r.json, "location"), "Calle Mayor 5"); /* untouched */
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM outbox"),
                     outbox0 + 1); /* one row per appointment */

    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-03-01&to=2026-03-31", NULL, NULL, &r),
        200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 1);
    resp_free(&r);
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-04-01T00:00:00Z&to=2026-04-30T00:00:00Z",
                   NULL, NULL, &r),
        200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 0);
    resp_free(&r);

    assert_int_equal(client_json(&c, "DELETE", path, NULL, &r), 200);
    assert_true(jbool(r.json, "success"));
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM outbox WHERE op = 'delete'"), 1);
    assert_int_equal(client_req(&c, "GET", path, NULL, NULL, NULL), 404);
    assert_int_equal(client_json(&c, "DELETE", path, NULL, NULL), 404);
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-03-01&to=2026-03-31", NULL, NULL, &r),
        200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 0);
    resp_free(&r);
    client_free(&c);
}

static void all_day(void **state)
{
    struct client c;
    struct resp r;
    char path[64];
    long long id;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "alice@example.com", "alice-password"), 200);
    id = create(&c,
                "{\"title\":\"Firma "
                "notaría\",\"allDay\":true,\"start\":\"2026-05-04\",\"end\":\"2026-05-05\","
                "\"type\":\"Firma\"}",
                &r);
    assert_true(id > 0);
    assert_true(jbool(r.json, "allDay"));
    assert_string_equal(jstr(r.json, "start"), "2026-05-04");
    assert_string_equal(jstr(r.json, "end"), "2026-05-05");
    resp_free(&r);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    /* turning all-day off needs both times */
    assert_int_equal(client_json(&c, "PATCH", path, "{\"allDay\":false}", NULL), 400);
    assert_int_equal(client_json(&c, "PATCH", path,
                                 "{\"allDay\":false,\"start\":\"2026-05-04T09:00:00+02:00\","
                                 "\"end\":\"2026-05-04T10:00:00+02:00\"}",
                                 &r),
                     200);
    assert_false(jbool(r.json, "allDay"));
    assert_string_equal(jstr(r.json, "start"), "2026-05-04T07:00:00Z");
    resp_free(&r);
    client_free(&c);
}

static void isolation(void **state)
{
    struct client a, b;
    struct resp r;
    char path[64];
    long long id;

    (void)state;
    client_init(&a, &S);
    client_init(&b, &S);
    assert_int_equal(client_login(&a, "alice@example.com", "alice-password"), 200);
    assert_int_equal(client_login(&b, "bob@example.com", "bob-password-1"), 200);
    id = create(&a,
                "{\"title\":\"Privado de "
                "Alice\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}",
                NULL);
    assert_true(id > 0);
    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(&b, "GET", path, NULL, NULL, NULL), 404);
    assert_int_equal(client_json(&b, "PATCH", path, "{\"title\":\"hacked\"}", NULL), 404);
    assert_int_equal(client_json(&b, "DELETE", path, NULL, NULL), 404);
    assert_int_equal(
        client_req(&b, "GET", "/api/appointments?from=2026-05-25&to=2026-06-10", NULL, NULL, &r),
        200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 0);
    assert_string_equal(jstr(r.json, "timezone"), "America/Winnipeg");
    resp_free(&r);
    assert_int_equal(client_req(&a, "GET", path, NULL, NULL, &r), 200);
    assert_string_equal(jstr(r.json, "title"), "Privado de Alice");
    resp_free(&r);
    client_free(&a);
    client_free(&b);
}

static void csrf(void **state)
{
    struct client c;
    struct resp r;
    const char *evil[] = {"Content-Type: application/json", "Origin: http://evil.example", NULL};
    const char *form[] = {"Content-Type: text/plain", NULL};

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "alice@example.com", "alice-password"), 200);
    assert_int_equal(
        client_req(
            &c, "POST", "/api/appointments", evil,
            "{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}",
            &r),
        403);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(
        client_req(
            &c, "POST", "/api/appointments", form,
            "{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}",
            NULL),
        415);
    assert_int_equal(client_req(&c, "POST", "/api/auth/logout", evil, "{}", NULL), 403);
    assert_int_equal(client_req(&c, "GET", "/api/auth/me", NULL, NULL, NULL),
                     200); /* still logged in */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments WHERE title = 'x'"), 0);
    client_free(&c);
}

static void bad_inputs(void **state)
{
    static const struct {
        const char *body;
        const char *error_part;
    } cases[] = {
        {"{\"title\":\"x\",\"start\":", "malformed JSON"},
        {"[1,2]", "JSON object"},
        {"{\"title\":5,\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}",
         "title"},
        {"{\"title\":\"  \",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}",
         "title"},
        {"{\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\"}", "title"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\"}", "end"},
        {"{\"title\":\"x\",\"start\":\"2026-02-30T10:00:00Z\",\"end\":\"2026-03-01T11:00:00Z\"}",
         "start"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01 10:00\",\"end\":\"2026-06-01T11:00:00Z\"}",
         "start"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T09:00:00Z\"}",
         "after start"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\","
         "\"type\":\"Fiesta\"}",
         "type"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\","
         "\"status\":1}",
         "status"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\","
         "\"contactId\":-3}",
         "contactId"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\","
         "\"allDay\":\"yes\"}",
         "allDay"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2026-06-01T11:00:00Z\","
         "\"colour\":\"red\"}",
         "unknown field"},
        {"{\"title\":\"x\",\"start\":\"2026-06-01T10:00:00Z\",\"end\":\"2028-06-01T11:00:00Z\"}",
         "366"},
    };
    struct client c;
    struct resp r;
    char *big;
    long long before;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "alice@example.com", "alice-password"), 200);
    before = stack_db_int(&S, "SELECT count(*) FROM appointments");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long st = client_json(&c, "POST", "/api/appointments", cases[i].body, &r);
        if (st != 400 || jstr(r.json, "error") == NULL ||
            strstr(jstr(r.json, "error"), cases[i].error_part) == NULL)
            fail_msg("case %zu: status %ld body %s", i, st, r.body);
        resp_free(&r);
    }
    /* oversized bodies: past the program's cap, and past nginx's */
    big = malloc(2 * 1024 * 1024);
    memset(big, 'a', 2 * 1024 * 1024 - 1);
    big[2 * 1024 * 1024 - 1] = '\0';
    memcpy(big, "{\"title\":\"", 10);
    big[70 * 1024] = '\0';
    assert_int_equal(client_json(&c, "POST", "/api/appointments", big, &r), 413);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    big[70 * 1024] = 'a';
    assert_int_equal(client_json(&c, "POST", "/api/appointments", big, &r), 413);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    free(big);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM appointments"), before);

    assert_int_equal(client_req(&c, "GET", "/api/appointments/999999", NULL, NULL, NULL), 404);
    assert_int_equal(client_req(&c, "GET", "/api/appointments/abc", NULL, NULL, NULL), 404);
    assert_int_equal(client_req(&c, "GET", "/api/appointments/0", NULL, NULL, NULL), 404);
    assert_int_equal(
        client_json(&c, "PATCH", "/api/appointments/999999", "{\"title\":\"y\"}", NULL), 404);
    assert_int_equal(client_json(&c, "PUT", "/api/appointments/1", "{}", &r), 405);
    assert_non_null(jstr(r.json, "error"));
    resp_free(&r);
    assert_int_equal(client_req(&c, "GET", "/api/appointments?from=yesterday", NULL, NULL, NULL),
                     400);
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2026-06-01&to=2026-05-01", NULL, NULL, NULL),
        400);
    assert_int_equal(
        client_req(&c, "GET", "/api/appointments?from=2020-01-01&to=2026-01-01", NULL, NULL, NULL),
        400);
    client_free(&c);
}

/* The list answer a route process keeps is never served after anything changed: not after a
 * change by another process (here: another connection to the store), nor by the route itself. */
static void list_never_stale(void **state)
{
    struct client c;
    struct resp r;
    const char *q = "/api/appointments?from=2026-09-01&to=2026-10-01";

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "carl@example.com", "carl-password"), 200);
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Antes\",\"start\":\"2026-09-10T10:00:00Z\",\"end\":"
                                 "\"2026-09-10T11:00:00Z\"}",
                                 NULL),
                     201);
    /* asked often enough that every route worker holds it */
    for (int i = 0; i < 6; i++) {
        assert_int_equal(client_req(&c, "GET", q, NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "\"Antes\""));
        resp_free(&r);
    }
    assert_int_equal(stack_db_exec(&S, "UPDATE appointments SET title = 'Despues' WHERE title = "
                                       "'Antes'"),
                     0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(client_req(&c, "GET", q, NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "\"Despues\""));
        assert_null(strstr(r.body, "\"Antes\""));
        resp_free(&r);
    }
    assert_int_equal(client_json(&c, "POST", "/api/appointments",
                                 "{\"title\":\"Otra\",\"start\":\"2026-09-11T10:00:00Z\",\"end\":"
                                 "\"2026-09-11T11:00:00Z\"}",
                                 NULL),
                     201);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(client_req(&c, "GET", q, NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "\"Otra\""));
        resp_free(&r);
    }
    client_free(&c);
    /* nor a session after its logout (kept sessions go with the data version too): the old
     * cookie, sent on after the logout, opens nothing */
    {
        struct client a, b;
        char cookie[300], *semi;
        const char *hdr[] = {cookie, NULL};
        client_init(&a, &S);
        client_init(&b, &S);
        assert_int_equal(
            client_json(&a, "POST", "/api/auth/login",
                        "{\"email\":\"carl@example.com\",\"password\":\"carl-password\"}", &r),
            200);
        snprintf(cookie, sizeof cookie, "Cookie: %s", r.set_cookie);
        if ((semi = strchr(cookie, ';')) != NULL)
            *semi = '\0';
        resp_free(&r);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(client_req(&b, "GET", q, hdr, NULL, &r), 200);
            resp_free(&r);
        }
        assert_int_equal(client_json(&a, "POST", "/api/auth/logout", "{}", NULL), 200);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(client_req(&b, "GET", q, hdr, NULL, &r), 401);
            resp_free(&r);
        }
        client_free(&a);
        client_free(&b);
    }
}

static void page_served(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_req(&c, "GET", "/calendario", NULL, NULL, &r), 200);
    assert_non_null(strstr(r.content_type, "text/html"));
    assert_non_null(strstr(r.body, "<html"));
    resp_free(&r);
    client_free(&c);
}

/* The same program answers one request as plain CGI. */
static void plain_cgi(void **state)
{
    const char *none[] = {NULL};
    char out[4096];

    (void)state;
    setenv("GATEWAY_INTERFACE", "CGI/1.1", 1);
    setenv("REQUEST_METHOD", "POST", 1);
    setenv("DOCUMENT_URI", "/api/auth/login", 1);
    setenv("CONTENT_TYPE", "application/json", 1);
    setenv("CONTENT_LENGTH", "57", 1);
    assert_int_equal(stack_run(&S, "cgi/calsync-auth", none,
                               "{\"email\":\"alice@example.com\",\"password\":\"alice-password\"}",
                               out, sizeof out),
                     0);
    assert_non_null(strstr(out, "Status: 200 OK"));
    assert_non_null(strstr(out, "Set-Cookie: calsync_session="));
    assert_non_null(strstr(out, "\"email\":\"alice@example.com\""));
    setenv("REQUEST_METHOD", "GET", 1);
    setenv("DOCUMENT_URI", "/api/auth/me", 1);
    unsetenv("CONTENT_TYPE");
    unsetenv("CONTENT_LENGTH");
    assert_int_equal(stack_run(&S, "cgi/calsync-auth", none, "", out, sizeof out), 0);
    assert_non_null(strstr(out, "Status: 401 Unauthorized"));
    unsetenv("GATEWAY_INTERFACE");
    unsetenv("REQUEST_METHOD");
    unsetenv("DOCUMENT_URI");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(login_and_me),
        cmocka_unit_test(login_refusals),
        cmocka_unit_test(login_lockout),
        cmocka_unit_test(crud),
        cmocka_unit_test(all_day),
        cmocka_unit_test(isolation),
        cmocka_unit_test(csrf),
        cmocka_unit_test(bad_inputs),
        cmocka_unit_test(page_served),
        cmocka_unit_test(plain_cgi),
        cmocka_unit_test(list_never_stale),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, setup, teardown);
}
