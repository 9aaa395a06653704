/* test_crypt: tokens, sealing, passwords, PKCE S256, base32hex. */
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

static const unsigned char key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                      23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void seal_roundtrip_and_tamper(void **state)
{
    char *sealed = NULL, *plain = NULL;
    unsigned char other[32] = {0};

    (void)state;
    assert_int_equal(crypt_seal(key, "ya29.secret-access-token", &sealed), CS_OK);
    assert_non_null(strstr(sealed, "v1:"));
    assert_null(strstr(sealed, "secret-access-token"));
    assert_int_equal(crypt_open(key, sealed, &plain), CS_OK);
    assert_string_equal(plain, "ya29.secret-access-token");
    crypt_free_secret(plain);
    assert_int_equal(crypt_open(other, sealed, &plain), CS_ERR_CRYPTO);
    assert_null(plain);
    sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
    assert_int_equal(crypt_open(key, sealed, &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open(key, "not sealed", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open(key, "v1:!!!", &plain), CS_ERR_CRYPTO);
    free(sealed);
}

/* v2: XChaCha20-Poly1305 bound to associated data (the row and field a value is stored in) */
static void seal_with_ad(void **state)
{
    char *sealed = NULL, *plain = NULL, *v1 = NULL;
    unsigned char other[32] = {0};

    (void)state;
    assert_int_equal(crypt_seal_ad(key, "1//refresh-token", "refresh_token:user-a", &sealed),
                     CS_OK);
    assert_true(strncmp(sealed, "v2:", 3) == 0);
    assert_null(strstr(sealed, "refresh-token"));
    assert_false(crypt_sealed_legacy(sealed));
    assert_int_equal(crypt_open_ad(key, sealed, "refresh_token:user-a", &plain), CS_OK);
    assert_string_equal(plain, "1//refresh-token");
    crypt_free_secret(plain);
    /* another user's row, another field of the same row, another key: refused */
    assert_int_equal(crypt_open_ad(key, sealed, "refresh_token:user-b", &plain), CS_ERR_CRYPTO);
    assert_null(plain);
    assert_int_equal(crypt_open_ad(key, sealed, "access_token:user-a", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(key, sealed, "", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(other, sealed, "refresh_token:user-a", &plain), CS_ERR_CRYPTO);
    /* a v2 value is not a v1 value */
    assert_int_equal(crypt_open(key, sealed, &plain), CS_ERR_CRYPTO);
    /* tampering, truncation, garbage */
    sealed[12] = sealed[12] == 'A' ? 'B' : 'A';
    assert_int_equal(crypt_open_ad(key, sealed, "refresh_token:user-a", &plain), CS_ERR_CRYPTO);
    sealed[12] = '\0';
    assert_int_equal(crypt_open_ad(key, sealed, "refresh_token:user-a", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(key, "v2:", "x", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(key, "v2:!!!!", "x", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(key, "v3:AAAA", "x", &plain), CS_ERR_CRYPTO);
    assert_int_equal(crypt_open_ad(key, NULL, "x", &plain), CS_ERR_CRYPTO);
    crypt_free_secret(sealed);
    /* legacy v1 values (no ad) still open, whatever ad the reader expects */
    assert_int_equal(crypt_seal(key, "ya29.old", &v1), CS_OK);
    assert_true(crypt_sealed_legacy(v1));
    assert_int_equal(crypt_open_ad(key, v1, "access_token:user-a", &plain), CS_OK);
    assert_string_equal(plain, "ya29.old");
    crypt_free_secret(plain);
    free(v1);
    /* an empty secret round-trips too */
    assert_int_equal(crypt_seal_ad(key, "", "pkce:u", &sealed), CS_OK);
    assert_int_equal(crypt_open_ad(key, sealed, "pkce:u", &plain), CS_OK);
    assert_string_equal(plain, "");
    crypt_free_secret(plain);
    crypt_free_secret(sealed);
}

static void seal_is_randomised(void **state)
{
    char *a = NULL, *b = NULL;

    (void)state;
    crypt_seal(key, "same", &a);
    crypt_seal(key, "same", &b);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void passwords(void **state)
{
    char h[CRYPT_PWLEN];

    (void)state;
    assert_int_equal(crypt_password_hash("correct horse", h), CS_OK);
    assert_non_null(strstr(h, "$argon2id$"));
    assert_true(crypt_password_verify(h, "correct horse"));
    assert_false(crypt_password_verify(h, "correct horsE"));
    assert_false(crypt_password_verify(NULL, "x"));
}

/* expected value computed independently: printf %s VERIFIER | openssl dgst -sha256 -binary |
 * base64 | tr '+/' '-_' | tr -d = */
static void pkce_s256(void **state)
{
    char out[CRYPT_TOKLEN];

    (void)state;
    crypt_pkce_challenge("dBjftJeZ4CVP-mJ92K1uvqK1HcPpR5nIjLsPhy2sYIY", out);
    assert_string_equal(out, "hPALVO5mfhMdTdHu0dtm8rCQagBD8n7HODP0WWgmZcg");
}

static void tokens_and_ids(void **state)
{
    char a[CRYPT_TOKLEN], b[CRYPT_TOKLEN], u[CRYPT_UUIDLEN], hex[CRYPT_HEXLEN];
    char b32[64];
    const unsigned char bytes[5] = {0xff, 0xff, 0xff, 0xff, 0xff};

    (void)state;
    crypt_random_token(a, 32);
    crypt_random_token(b, 32);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     43);
    crypt_uuid(u);
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[14], '4');
    crypt_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    crypt_base32hex(bytes, 5, b32);
    assert_string_equal(b32, "vvvvvvvv");
    crypt_base32hex((const unsigned char *)"\x00\x00\x00\x00\x00", 5, b32);
    assert_string_equal(b32, "00000000");
}

static void constant_time_compare(void **state)
{
    (void)state;
    assert_true(crypt_str_eq("abc", "abc"));
    assert_false(crypt_str_eq("abc", "abd"));
    assert_false(crypt_str_eq("abc", "abcd"));
    assert_false(crypt_str_eq(NULL, "abc"));
}

static void hmac_is_keyed(void **state)
{
    char a[CRYPT_HEXLEN], b[CRYPT_HEXLEN], c[CRYPT_HEXLEN];

    (void)state;
    crypt_hmac_text("secret-one", "channel", a);
    crypt_hmac_text("secret-one", "channel", b);
    crypt_hmac_text("secret-two", "channel", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(seal_roundtrip_and_tamper),
                                       cmocka_unit_test(seal_with_ad),
                                       cmocka_unit_test(seal_is_randomised),
                                       cmocka_unit_test(passwords),
                                       cmocka_unit_test(pkce_s256),
                                       cmocka_unit_test(tokens_and_ids),
                                       cmocka_unit_test(constant_time_compare),
                                       cmocka_unit_test(hmac_is_keyed)};
    if (crypt_init() != CS_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
