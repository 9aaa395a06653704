/* test_http: query, cookie-free parsing helpers and URL encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cs.h"
#include "http.h"

static void query_values(void **state)
{
    char v[32];

    (void)state;
    assert_int_equal(http_query_get("a=1&state=ab%2Fc+d&code=", "state", v, sizeof v), CS_OK);
    assert_string_equal(v, "ab/c d");
    assert_int_equal(http_query_get("a=1&code=", "code", v, sizeof v), CS_OK);
    assert_string_equal(v, "");
    assert_int_equal(http_query_get("a=1&cod=2", "code", v, sizeof v), CS_ERR_NOTFOUND);
    assert_int_equal(http_query_get("xstate=1", "state", v, sizeof v), CS_ERR_NOTFOUND);
    assert_int_equal(http_query_get("", "state", v, sizeof v), CS_ERR_NOTFOUND);
    assert_int_equal(http_query_get("s=%00x", "s", v, sizeof v), CS_ERR_TOOBIG);
    assert_int_equal(http_query_get("s=0123456789012345678901234567890123456789", "s", v, sizeof v),
                     CS_ERR_TOOBIG);
    assert_int_equal(http_query_get("s=%zz", "s", v, sizeof v), CS_OK);
    assert_string_equal(v, "%zz");
}

static void urlencode(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(http_urlencode(&b, "a b/c?d=é~"), CS_OK);
    assert_string_equal(b.data, "a%20b%2Fc%3Fd%3D%C3%A9~");
    buf_free(&b);
}

static void json_nul(void **state)
{
    static const struct {
        const char *text;
        size_t len; /* 0: strlen */
        int nul;
    } cases[] = {
        {"{\"title\":\"ab\"}", 0, 0},
        {"{\"title\":\"a\\u0000b\"}", 0, 1},
        {"{\"title\":\"a\\\\u0000b\"}", 0, 0},   /* an escaped backslash, then text */
        {"{\"title\":\"a\\\\\\u0000b\"}", 0, 1}, /* \\ then \u0000 */
        {"{\"t\":\"\\u00001\"}", 0, 1},
        {"{\"t\":\"\\u0001\\u00e9\\\"u0000\"}", 0, 0},
        {"{\"\\u0000\":1}", 0, 1},   /* in a key too */
        {"{\"t\":\"a\0b\"}", 11, 1}, /* a raw NUL byte */
        {"\\u000", 0, 0},            /* cut short */
        {"\\", 0, 0},
        {"", 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        if (http_json_has_nul(cases[i].text, len) != cases[i].nul)
            fail_msg("case %zu (%s): want %d", i, cases[i].text, cases[i].nul);
    }
}

static void cookies(void **state)
{
    char v[16], tiny[4];

    (void)state;
    assert_int_equal(
        http_cookie_find("a=1; calsync_session=tok; b=2", "calsync_session", v, sizeof v), CS_OK);
    assert_string_equal(v, "tok");
    assert_int_equal(http_cookie_find("xcalsync_session=tok", "calsync_session", v, sizeof v),
                     CS_ERR_NOTFOUND);
    assert_int_equal(http_cookie_find(NULL, "a", v, sizeof v), CS_ERR_NOTFOUND);
    assert_int_equal(http_cookie_find(";;  ;a=", "a", v, sizeof v), CS_OK);
    assert_string_equal(v, "");
    assert_int_equal(http_cookie_find("a=toolong", "a", tiny, sizeof tiny), CS_ERR_NOTFOUND);
}

static void json_parse(void **state)
{
    const char *why;
    cJSON *o;

    (void)state;
    assert_int_equal(http_json_parse("{\"a\":1}", 7, &o, &why), CS_OK);
    cJSON_Delete(o);
    assert_int_equal(http_json_parse("[1]", 3, &o, &why), CS_ERR_INVAL);
    assert_null(o);
    assert_non_null(strstr(why, "object"));
    assert_int_equal(http_json_parse("{\"a\":\"\\u0000\"}", 12, &o, &why), CS_ERR_INVAL);
    assert_non_null(strstr(why, "NUL"));
    assert_int_equal(http_json_parse("{\"a\":\"\xff\"}", 8, &o, &why), CS_ERR_INVAL);
    assert_non_null(strstr(why, "UTF-8"));
    assert_int_equal(http_json_parse("{", 1, &o, &why), CS_ERR_INVAL);
    assert_non_null(strstr(why, "malformed"));
}

static void idempotency_keys(void **state)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"abc-123", CS_OK},          {"!~", CS_OK},
        {"", CS_ERR_INVAL},          {"has space", CS_ERR_INVAL},
        {"tab\there", CS_ERR_INVAL}, {"caf\xc3\xa9", CS_ERR_INVAL},
        {NULL, CS_ERR_NOTFOUND},
    };
    char out[HTTP_IDEM_KEY_MAX + 1], long_key[HTTP_IDEM_KEY_MAX + 2];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(http_idempotency_key(cases[i].in, out), cases[i].rc);
        if (cases[i].rc == CS_OK)
            assert_string_equal(out, cases[i].in);
    }
    memset(long_key, 'k', sizeof long_key - 1);
    long_key[HTTP_IDEM_KEY_MAX] = '\0'; /* exactly 200: fine */
    assert_int_equal(http_idempotency_key(long_key, out), CS_OK);
    long_key[HTTP_IDEM_KEY_MAX] = 'k';
    long_key[HTTP_IDEM_KEY_MAX + 1] = '\0'; /* 201: refused */
    assert_int_equal(http_idempotency_key(long_key, out), CS_ERR_INVAL);
}

static void message_numbers(void **state)
{
    long long n = -1;

    (void)state;
    assert_int_equal(http_message_number("1", &n), CS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(http_message_number("123456789012345678", &n), CS_OK);
    assert_int_equal(n, 123456789012345678LL);
    assert_int_equal(http_message_number("1234567890123456789", &n), CS_ERR_INVAL);
    assert_int_equal(http_message_number("-1", &n), CS_ERR_INVAL);
    assert_int_equal(http_message_number("12a", &n), CS_ERR_INVAL);
    assert_int_equal(http_message_number("", &n), CS_ERR_NOTFOUND);
    assert_int_equal(http_message_number(NULL, &n), CS_ERR_NOTFOUND);
}

static void reasons(void **state)
{
    (void)state;
    assert_string_equal(http_reason(201), "Created");
    assert_string_equal(http_reason(413), "Payload Too Large");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_values),     cmocka_unit_test(urlencode),
        cmocka_unit_test(json_nul),         cmocka_unit_test(cookies),
        cmocka_unit_test(json_parse),       cmocka_unit_test(reasons),
        cmocka_unit_test(idempotency_keys), cmocka_unit_test(message_numbers)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
