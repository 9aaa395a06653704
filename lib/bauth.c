/* bauth.c: BetterAuth session cookies: "TOKEN.SIGNATURE", URL-encoded, where SIGNATURE is the
 * standard base64 of HMAC-SHA256(secret, TOKEN) (better-call's signCookieValue). Outside input:
 * fuzzed by tests/fuzz/fuzz_bauth.c. */
#include "bauth.h"
#include "cs.h"

#include <string.h>

#include <sodium.h>

#define BAUTH_SIG_B64 44 /* base64 of 32 bytes, with one '=' */

/* Percent-decodes s into out (outlen > 0); CS_ERR_AUTH on a bad escape, a NUL or overflow. */
static int bauth_unescape(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        int c = (unsigned char)*s;
        if (c == '%') {
            int hi = cs_hex_digit(s[1]), lo = hi < 0 ? -1 : cs_hex_digit(s[2]);
            if (hi < 0 || lo < 0)
                return CS_ERR_AUTH;
            c = hi * 16 + lo;
            s += 2;
        }
        if (c == 0 || n + 1 >= outlen)
            return CS_ERR_AUTH;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return CS_OK;
}

static void bauth_mac(const char *token, size_t len, const unsigned char *secret, size_t secretlen,
                      unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, secret, secretlen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

/* A session token as BetterAuth makes them ([A-Za-z0-9], 32 today): printable, no separators. */
static int bauth_token_ok(const char *t, size_t n)
{
    if (n == 0 || n > BAUTH_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f || c == ';' || c == ',' || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

int bauth_verify(const char *value, const unsigned char *secret, size_t secretlen, char *token,
                 size_t tokenlen)
{
    char plain[BAUTH_VALUE_MAX + 1];
    unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    const char *dot, *sig;
    size_t tlen, glen = 0;
    int rc = CS_ERR_AUTH;

    if (value == NULL || secret == NULL || secretlen == 0 || token == NULL ||
        tokenlen < BAUTH_TOKEN_MAX + 1 || strlen(value) > BAUTH_VALUE_MAX)
        return CS_ERR_AUTH;
    if (bauth_unescape(value, plain, sizeof plain) != CS_OK)
        goto out;
    if ((dot = strrchr(plain, '.')) == NULL)
        goto out;
    tlen = (size_t)(dot - plain);
    sig = dot + 1;
    if (!bauth_token_ok(plain, tlen) || strlen(sig) != BAUTH_SIG_B64 ||
        sig[BAUTH_SIG_B64 - 1] != '=')
        goto out;
    if (sodium_base642bin(got, sizeof got, sig, BAUTH_SIG_B64, NULL, &glen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        glen != sizeof got)
        goto out;
    bauth_mac(plain, tlen, secret, secretlen, want);
    if (sodium_memcmp(want, got, sizeof want) != 0)
        goto out;
    memcpy(token, plain, tlen);
    token[tlen] = '\0';
    rc = CS_OK;
out:
    sodium_memzero(plain, sizeof plain);
    sodium_memzero(want, sizeof want);
    return rc;
}

int bauth_sign(const char *token, const unsigned char *secret, size_t secretlen, char *out,
               size_t outlen)
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL)];
    size_t tlen = strlen(token), n = 0;

    if (!bauth_token_ok(token, tlen))
        return CS_ERR_INVAL;
    bauth_mac(token, tlen, secret, secretlen, mac);
    sodium_bin2base64(b64, sizeof b64, mac, sizeof mac, sodium_base64_VARIANT_ORIGINAL);
    /* encodeURIComponent of "TOKEN.SIG": all but A-Z a-z 0-9 - _ . ! ~ * ' ( ) escaped */
    for (int part = 0; part < 3; part++) {
        const char *p = part == 0 ? token : part == 1 ? "." : b64;
        for (; *p; p++) {
            unsigned char c = (unsigned char)*p;
            int keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       strchr("-_.!~*'()", c) != NULL;
            if (n + (keep ? 1 : 3) + 1 > outlen)
                return CS_ERR_INVAL;
            if (keep) {
                out[n++] = (char)c;
            } else {
                static const char hex[] = "0123456789ABCDEF";
                out[n++] = '%';
                out[n++] = hex[c >> 4];
                out[n++] = hex[c & 15];
            }
        }
    }
    out[n] = '\0';
    return CS_OK;
}
