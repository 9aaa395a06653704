/* it_security: the hardening of issue 14 through the whole stack: page headers, file modes,
 * NUL bytes in bodies, list paging, tokens bound to their row and their migration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "crypt.h"
#include "cs.h"
#include "harness.h"

static struct stack S;

static int setup(void **state)
{
    (void)state;
    umask(022); /* what a careless service manager gives: the programs must not rely on it */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (crypt_init() != CS_OK || stack_start(&S, NULL) != 0)
        return -1;
    if (stack_user(&S, "sec@example.com", "sec-password-1", "Europe/Madrid") != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return stack_stop(&S);
}

struct raw {
    long status;
    char head[8192];
    size_t hn;
    char *body;
    size_t bn;
};

static size_t raw_head(char *p, size_t sz, size_t n, void *ud)
{
    struct raw *r = ud;
    size_t len = sz * n;

    if (r->hn + len < sizeof r->head) {
        memcpy(r->head + r->hn, p, len);
        r->hn += len;
        r->head[r->hn] = '\0';
    }
    return len;
}

static size_t raw_body(char *p, size_t sz, size_t n, void *ud)
{
    struct raw *r = ud;
    char *np = realloc(r->body, r->bn + sz * n + 1);

    if (np == NULL)
        return 0;
    r->body = np;
    memcpy(r->body + r->bn, p, sz * n);
    r->bn += sz * n;
    r->body[r->bn] = '\0';
    return sz * n;
}

/* A request whose body may hold any bytes (client_req measures bodies with strlen), keeping
 * every response header. cookie_from: a logged-in client whose cookies go along, or NULL. */
static long raw_req(struct client *cookie_from, const char *method, const char *path,
                    const char *body, size_t len, struct raw *r)
{
    char url[512], origin[128];
    struct curl_slist *h = NULL;
    CURL *c = cookie_from ? cookie_from->c : curl_easy_init();

    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "%s%s", S.base, path);
    snprintf(origin, sizeof origin, "Origin: %s", S.base);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, origin);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    if (cookie_from == NULL)
        curl_easy_cleanup(c);
    if (r->body == NULL)
        r->body = strdup("");
    return r->status;
}

/* Value of a response header (case-insensitive name), or NULL; points into a static copy. */
static const char *raw_header(const struct raw *r, const char *name)
{
    static char v[1024];
    size_t nl = strlen(name);

    for (const char *p = r->head; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *s = p + nl + 1;
            size_t n;
            while (*s == ' ')
                s++;
            n = strcspn(s, "\r\n");
            snprintf(v, sizeof v, "%.*s", (int)n, s);
            return v;
        }
    }
    return NULL;
}

/* Item 1: every HTML answer (and the page's assets) forbids framing. */
/* How many times a header occurs in the answer. */
static int raw_header_count(const struct raw *r, const char *name)
{
    size_t nl = strlen(name);
    int n = 0;

    for (const char *p = r->head; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            n++;
    return n;
}

static void page_headers(void **state)
{
    const char *urls[] = {"/calendario", "/calendario/", "/calendario/index.html",
                          "/calendario/app.js"};
    struct raw r;

    (void)state;
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        const char *v;
        assert_int_equal(raw_req(NULL, "GET", urls[i], NULL, 0, &r), 200);
        v = raw_header(&r, "Content-Security-Policy");
        if (v == NULL || strstr(v, "frame-ancestors 'none'") == NULL ||
            strstr(v, "default-src 'self'") == NULL)
            fail_msg("%s: CSP missing or weak: %s", urls[i], v ? v : "(none)");
        v = raw_header(&r, "X-Frame-Options");
        if (v == NULL || strcasecmp(v, "DENY") != 0)
            fail_msg("%s: X-Frame-Options %s", urls[i], v ? v : "(none)");
        v = raw_header(&r, "X-Content-Type-Options");
        if (v == NULL || strcmp(v, "nosniff") != 0)
            fail_msg("%s: X-Content-Type-Options %s", urls[i], v ? v : "(none)");
        if (i < 3 && strstr(r.body, "<html") == NULL)
            fail_msg("%s: not the page", urls[i]);
        free(r.body);
    }
    /* the API keeps the server-level headers, each once (the routes send some too: a
     * browser given two different Referrer-Policy values may take either) */
    assert_int_equal(raw_req(NULL, "GET", "/api/auth/me", NULL, 0, &r), 401);
    assert_non_null(raw_header(&r, "X-Frame-Options"));
    {
        const char *once[] = {"X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                              "Cache-Control"};
        for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
            if (raw_header_count(&r, once[i]) != 1)
                fail_msg("/api/auth/me: %s sent %d times", once[i], raw_header_count(&r, once[i]));
    }
    free(r.body);
}

/* Item 2: the database, its WAL and shared-memory files and the logs are private. */
static void file_modes(void **state)
{
    const char *files[] = {"calsync.db", "calsync.db-wal", "calsync.db-shm"};
    struct client c;
    char path[512];
    struct stat st;

    (void)state;
    client_init(&c, &S); /* a login writes: the WAL is there while the programs run */
    assert_int_equal(client_login(&c, "sec@example.com", "sec-password-1"), 200);
    client_free(&c);
    if (stack_mysql())
        return; /* the store is a server's database: no file of ours */
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        stack_path(&S, files[i], path, sizeof path);
        if (stat(path, &st) != 0)
            fail_msg("%s missing", files[i]);
        if ((st.st_mode & 0777) != 0600)
            fail_msg("%s has mode %03o, want 0600", files[i], (unsigned)(st.st_mode & 0777));
    }
}

/* Item 5: a NUL in a body (raw or escaped) is refused instead of cutting the field. */
static void nul_in_body(void **state)
{
    static const char raw_nul[] = "{\"title\":\"a\0b\",\"start\":\"2026-03-02T10:00:00Z\","
                                  "\"end\":\"2026-03-02T11:00:00Z\"}";
    const char *escaped = "{\"title\":\"a\\u0000b\",\"start\":\"2026-03-02T10:00:00Z\","
                          "\"end\":\"2026-03-02T11:00:00Z\"}";
    const char *literal = "{\"title\":\"a\\\\u0000b\",\"start\":\"2026-03-02T10:00:00Z\","
                          "\"end\":\"2026-03-02T11:00:00Z\"}";
    struct client c;
    struct raw r;
    cJSON *j;

    (void)state;
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "sec@example.com", "sec-password-1"), 200);
    assert_int_equal(raw_req(&c, "POST", "/api/appointments", raw_nul, sizeof raw_nul - 1, &r),
                     400);
    j = cJSON_Parse(r.body);
    assert_non_null(jstr(j, "error"));
    cJSON_Delete(j);
    free(r.body);
    assert_int_equal(raw_req(&c, "POST", "/api/appointments", escaped, strlen(escaped), &r), 400);
    j = cJSON_Parse(r.body);
    assert_non_null(strstr(jstr(j, "error"), "NUL"));
    cJSON_Delete(j);
    free(r.body);
    /* the login body goes through the same parser */
    {
        const char *login = "{\"email\":\"sec@example.com\\u0000x\",\"password\":\"p\"}";
        assert_int_equal(raw_req(&c, "POST", "/api/auth/login", login, strlen(login), &r), 400);
    }
    free(r.body);
    /* an escaped backslash before u0000 is ordinary text */
    assert_int_equal(raw_req(&c, "POST", "/api/appointments", literal, strlen(literal), &r), 201);
    j = cJSON_Parse(r.body);
    assert_string_equal(jstr(j, "title"), "a\\u0000b");
    cJSON_Delete(j);
    free(r.body);
    assert_int_equal(
        stack_db_int(&S, "SELECT count(*) FROM appointments WHERE title = 'a' OR title = 'ab'"), 0);
    client_free(&c);
}

/* Item 3: nginx's client address reaches the throttle; a locked pair answers 429 with
 * Retry-After and JSON. */
static void login_throttle(void **state)
{
    struct client c;
    struct resp r;

    (void)state;
    assert_int_equal(stack_user(&S, "thr@example.com", "thr-password-1", NULL), 0);
    client_init(&c, &S);
    for (int i = 0; i < 5; i++)
        assert_int_equal(client_login(&c, "thr@example.com", "wrong-password"), 401);
    assert_int_equal(client_json(&c, "POST", "/api/auth/login",
                                 "{\"email\":\"thr@example.com\",\"password\":\"thr-password-1\"}",
                                 &r),
                     429);
    assert_non_null(jstr(r.json, "error"));
    assert_true(atoi(r.retry_after) > 0 && atoi(r.retry_after) <= 30);
    resp_free(&r);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM login_failures WHERE scope = 'pair' "
                                      "AND `key` = '127.0.0.1 thr@example.com' AND failures = 5"),
                     1);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM login_failures WHERE scope = "
                                      "'address' AND `key` = '127.0.0.1'"),
                     1);
    assert_int_equal(stack_db_exec(&S, "UPDATE login_failures SET locked_until = 0"), 0);
    client_free(&c);
}

/* Item 6: the list pages with nextCursor instead of stopping silently. */
static void list_pages(void **state)
{
    const char *range = "/api/appointments?from=2026-05-01T00:00:00Z&to=2026-05-08T00:00:00Z";
    char path[512], cursor[256] = "", body[256];
    long long seen[16];
    int nseen = 0, pages = 0;
    struct client c;
    struct resp r;

    (void)state;
    assert_int_equal(stack_user(&S, "page@example.com", "page-password", "UTC"), 0);
    client_init(&c, &S);
    assert_int_equal(client_login(&c, "page@example.com", "page-password"), 200);
    /* seven appointments, two pairs starting at the same time (the id breaks the tie) */
    for (int i = 0; i < 7; i++) {
        snprintf(body, sizeof body,
                 "{\"title\":\"p%d\",\"start\":\"2026-05-0%dT10:00:00Z\","
                 "\"end\":\"2026-05-0%dT11:00:00Z\"}",
                 i, 1 + i / 2, 1 + i / 2);
        assert_int_equal(client_json(&c, "POST", "/api/appointments", body, NULL), 201);
    }
    for (;;) {
        const cJSON *a, *next;
        snprintf(path, sizeof path, "%s&limit=3%s%s", range, cursor[0] ? "&cursor=" : "", cursor);
        assert_int_equal(client_req(&c, "GET", path, NULL, NULL, &r), 200);
        pages++;
        assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")) <= 3);
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(r.json, "appointments"))
        {
            assert_true(nseen < 16);
            seen[nseen++] = (long long)jnum(a, "id");
        }
        next = cJSON_GetObjectItem(r.json, "nextCursor");
        assert_non_null(next); /* present: a string, or null on the last page */
        if (cJSON_IsNull(next)) {
            resp_free(&r);
            break;
        }
        assert_true(cJSON_IsString(next) && strlen(next->valuestring) < sizeof cursor);
        snprintf(cursor, sizeof cursor, "%s", next->valuestring);
        resp_free(&r);
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(nseen, 7);
    for (int i = 1; i < nseen; i++)
        assert_true(seen[i] > seen[i - 1]); /* created in start order: ids ascend, none twice */
    /* without a limit one page holds them all */
    assert_int_equal(client_req(&c, "GET", range, NULL, NULL, &r), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "appointments")), 7);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.json, "nextCursor")));
    resp_free(&r);
    /* bad limits and cursors are refused with a message */
    {
        const char *bad[] = {"&limit=0",       "&limit=2001", "&limit=-1",
                             "&limit=1x",      "&limit=",     "&cursor=",
                             "&cursor=%21%21", "&cursor=abc", "&cursor=bm90LWEtZGF0ZSAxMg"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            snprintf(path, sizeof path, "%s%s", range, bad[i]);
            if (client_req(&c, "GET", path, NULL, NULL, &r) != 400 || jstr(r.json, "error") == NULL)
                fail_msg("%s: %ld %s", bad[i], r.status, r.body);
            resp_free(&r);
        }
    }
    client_free(&c);
}

static int state_connected(void *arg)
{
    struct client *c = arg;
    struct resp r;
    int ok;

    client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r);
    ok = jstr(r.json, "state") != NULL && strcmp(jstr(r.json, "state"), "connected") == 0;
    resp_free(&r);
    return ok;
}

/* Item 8: tokens stored by the callback are v2 (bound to their row); rows from before are
 * re-sealed by calsync-admin migrate and keep working. */
static void tokens_migrate(void **state)
{
    static const unsigned char key[32] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                          0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
                                          0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                          0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    const char *args[] = {"migrate", NULL};
    char *plain = NULL, *sealed = NULL, sqlbuf[4096], out[256];
    struct client c;
    struct resp r;

    (void)state;
    assert_int_equal(stack_connect_user(&S, &c, "migr", NULL), 0);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations WHERE "
                                      "access_token LIKE 'v2:%' AND refresh_token LIKE 'v2:%'"),
                     1);
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM oauth_states WHERE verifier "
                                      "NOT LIKE 'v2:%'"),
                     0);
    /* turn the refresh token back into a v1 value, as an older calsync stored it */
    {
        char *uid = stack_db_text(&S, "SELECT id FROM users WHERE email = 'migr@example.com'");
        char *v2 = stack_db_text(&S, "SELECT refresh_token FROM user_integrations WHERE user_id "
                                     "= (SELECT id FROM users WHERE email = 'migr@example.com')");
        char ad[128];
        assert_non_null(uid);
        assert_non_null(v2);
        snprintf(ad, sizeof ad, "refresh_token:%s", uid);
        assert_int_equal(crypt_open_ad(key, v2, ad, &plain), CS_OK);
        assert_int_equal(crypt_seal(key, plain, &sealed), CS_OK);
        snprintf(sqlbuf, sizeof sqlbuf,
                 "UPDATE user_integrations SET refresh_token = '%s', access_token = NULL "
                 "WHERE user_id = '%s'",
                 sealed, uid);
        assert_int_equal(stack_db_exec(&S, sqlbuf), 0);
        free(uid);
        free(v2);
        free(sealed);
    }
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    assert_non_null(strstr(out, "tokens re-sealed: 1"));
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations WHERE "
                                      "refresh_token LIKE 'v1:%'"),
                     0);
    /* idempotent */
    assert_int_equal(stack_run(&S, "cgi/calsync-admin", args, NULL, out, sizeof out), 0);
    assert_null(strstr(out, "re-sealed"));
    /* the re-sealed refresh token still gets an access token from Google */
    client_json(&c, "POST", "/api/google/calendar/sync", "{}", &r);
    assert_true(r.status == 200 || r.status == 202);
    resp_free(&r);
    assert_true(wait_until(state_connected, &c, 10000));
    /* and the access token it got is stored bound to the row */
    assert_int_equal(stack_db_int(&S, "SELECT count(*) FROM user_integrations WHERE "
                                      "access_token LIKE 'v2:%' AND refresh_token LIKE 'v2:%'"),
                     1);
    crypt_free_secret(plain);
    client_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_headers),   cmocka_unit_test(file_modes),
        cmocka_unit_test(nul_in_body),    cmocka_unit_test(tokens_migrate),
        cmocka_unit_test(login_throttle), cmocka_unit_test(list_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
