/* crypt.c: every use of libsodium in calsync. */
#include "crypt.h"
#include "cs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

int crypt_init(void)
{
    return sodium_init() < 0 ? CS_ERR_CRYPTO : CS_OK;
}

void crypt_random_token(char out[CRYPT_TOKLEN], size_t nbytes)
{
    unsigned char raw[44];

    if (nbytes > sizeof raw)
        nbytes = sizeof raw;
    randombytes_buf(raw, nbytes);
    sodium_bin2base64(out, CRYPT_TOKLEN, raw, nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void crypt_uuid(char out[CRYPT_UUIDLEN])
{
    unsigned char b[16];

    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, CRYPT_UUIDLEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void crypt_sha256_hex(const void *data, size_t len, char out[CRYPT_HEXLEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, CRYPT_HEXLEN, h, sizeof h);
}

void crypt_subkey(const unsigned char master[32], const char *label, unsigned char out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)label, strlen(label), master, 32);
}

void crypt_hmac_hex(const unsigned char master[32], const char *label, const char *msg,
                    char out[CRYPT_HEXLEN])
{
    unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES];

    crypt_subkey(master, label, key);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, CRYPT_HEXLEN, mac, sizeof mac);
    sodium_memzero(key, sizeof key);
}

void crypt_hmac_text(const char *secret, const char *msg, char out[CRYPT_HEXLEN])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;

    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(out, CRYPT_HEXLEN, mac, sizeof mac);
}

int crypt_str_eq(const char *a, const char *b)
{
    size_t la, lb;

    if (a == NULL || b == NULL)
        return 0;
    la = strlen(a);
    lb = strlen(b);
    if (la != lb)
        return 0;
    return sodium_memcmp(a, b, la) == 0;
}

int crypt_seal(const unsigned char master[32], const char *plaintext, char **out)
{
    unsigned char key[32];
    size_t plen = strlen(plaintext);
    size_t rawlen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
    size_t b64len = sodium_base64_encoded_len(rawlen, sodium_base64_VARIANT_ORIGINAL);
    unsigned char *raw = NULL;
    char *s = NULL;
    int rc = CS_ERR_NOMEM;

    *out = NULL;
    raw = malloc(rawlen);
    s = malloc(3 + b64len);
    if (raw == NULL || s == NULL)
        goto out;
    crypt_subkey(master, "calsync-tokens-v1", key);
    randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)plaintext, plen,
                          raw, key);
    memcpy(s, "v1:", 3);
    sodium_bin2base64(s + 3, b64len, raw, rawlen, sodium_base64_VARIANT_ORIGINAL);
    *out = s;
    s = NULL;
    rc = CS_OK;
out:
    sodium_memzero(key, sizeof key);
    free(raw);
    free(s);
    return rc;
}

/* The bytes of a sealed value after its "vN:" prefix (base64), into *raw (free()). CS_OK,
 * CS_ERR_CRYPTO (not base64) or CS_ERR_NOMEM. */
static int crypt_unseal_text(const char *sealed, unsigned char **raw, size_t *rawlen)
{
    size_t slen = strlen(sealed + 3);

    *raw = malloc(slen + 1);
    if (*raw == NULL)
        return CS_ERR_NOMEM;
    if (sodium_base642bin(*raw, slen + 1, sealed + 3, slen, NULL, rawlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(*raw);
        *raw = NULL;
        return CS_ERR_CRYPTO;
    }
    return CS_OK;
}

int crypt_open(const unsigned char master[32], const char *sealed, char **out)
{
    unsigned char key[32];
    size_t rawlen = 0;
    unsigned char *raw = NULL;
    char *p = NULL;
    int rc = CS_ERR_CRYPTO;

    *out = NULL;
    if (sealed == NULL || strncmp(sealed, "v1:", 3) != 0)
        return CS_ERR_CRYPTO;
    if ((rc = crypt_unseal_text(sealed, &raw, &rawlen)) != CS_OK)
        return rc;
    rc = CS_ERR_CRYPTO;
    if (rawlen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
        goto out;
    p = malloc(rawlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES + 1);
    if (p == NULL) {
        rc = CS_ERR_NOMEM;
        goto out;
    }
    crypt_subkey(master, "calsync-tokens-v1", key);
    if (crypto_secretbox_open_easy((unsigned char *)p, raw + crypto_secretbox_NONCEBYTES,
                                   rawlen - crypto_secretbox_NONCEBYTES, raw, key) != 0)
        goto out;
    p[rawlen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES] = '\0';
    *out = p;
    p = NULL;
    rc = CS_OK;
out:
    sodium_memzero(key, sizeof key);
    free(raw);
    free(p);
    return rc;
}

#define CRYPT_V2_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CRYPT_V2_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

int crypt_seal_ad(const unsigned char key[32], const char *plain, const char *ad, char **out)
{
    unsigned char k[32];
    size_t plen = strlen(plain);
    size_t rawlen = CRYPT_V2_NONCE + plen + CRYPT_V2_TAG;
    size_t b64len = sodium_base64_encoded_len(rawlen, sodium_base64_VARIANT_ORIGINAL);
    unsigned long long clen = 0;
    unsigned char *raw = NULL;
    char *s = NULL;
    int rc = CS_ERR_NOMEM;

    *out = NULL;
    raw = malloc(rawlen);
    s = malloc(3 + b64len);
    if (raw == NULL || s == NULL)
        goto out;
    crypt_subkey(key, "calsync-tokens-v2", k);
    randombytes_buf(raw, CRYPT_V2_NONCE);
    if (crypto_aead_xchacha20poly1305_ietf_encrypt(
            raw + CRYPT_V2_NONCE, &clen, (const unsigned char *)plain, plen,
            (const unsigned char *)ad, strlen(ad), NULL, raw, k) != 0 ||
        clen != plen + CRYPT_V2_TAG) {
        rc = CS_ERR_CRYPTO;
        goto out;
    }
    memcpy(s, "v2:", 3);
    sodium_bin2base64(s + 3, b64len, raw, rawlen, sodium_base64_VARIANT_ORIGINAL);
    *out = s;
    s = NULL;
    rc = CS_OK;
out:
    sodium_memzero(k, sizeof k);
    free(raw);
    free(s);
    return rc;
}

int crypt_open_ad(const unsigned char key[32], const char *sealed, const char *ad, char **out)
{
    unsigned char k[32];
    size_t rawlen = 0;
    unsigned long long plen = 0;
    unsigned char *raw = NULL;
    char *p = NULL;
    int rc = CS_ERR_CRYPTO;

    *out = NULL;
    if (sealed != NULL && strncmp(sealed, "v1:", 3) == 0)
        return crypt_open(key, sealed, out); /* written before v2: no ad to check */
    if (sealed == NULL || ad == NULL || strncmp(sealed, "v2:", 3) != 0)
        return CS_ERR_CRYPTO;
    if ((rc = crypt_unseal_text(sealed, &raw, &rawlen)) != CS_OK)
        return rc;
    rc = CS_ERR_CRYPTO;
    if (rawlen < CRYPT_V2_NONCE + CRYPT_V2_TAG)
        goto out;
    p = malloc(rawlen - CRYPT_V2_NONCE - CRYPT_V2_TAG + 1);
    if (p == NULL) {
        rc = CS_ERR_NOMEM;
        goto out;
    }
    crypt_subkey(key, "calsync-tokens-v2", k);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)p, &plen, NULL, raw + CRYPT_V2_NONCE, rawlen - CRYPT_V2_NONCE,
            (const unsigned char *)ad, strlen(ad), raw, k) != 0)
        goto out;
    if (memchr(p, '\0', (size_t)plen) != NULL) /* never sealed by us: a C string has none */
        goto out;
    p[plen] = '\0';
    *out = p;
    p = NULL;
    rc = CS_OK;
out:
    sodium_memzero(k, sizeof k);
    free(raw);
    if (p != NULL) {
        sodium_memzero(p, (size_t)plen);
        free(p);
    }
    return rc;
}

int crypt_sealed_legacy(const char *sealed)
{
    return sealed != NULL && strncmp(sealed, "v1:", 3) == 0;
}

void crypt_free_secret(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        free(s);
    }
}

int crypt_password_hash(const char *pw, char out[CRYPT_PWLEN])
{
    if (crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return CS_ERR_NOMEM;
    return CS_OK;
}

int crypt_password_verify(const char *hash, const char *pw)
{
    if (hash == NULL || pw == NULL)
        return 0;
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

int crypt_b64url_encode(const void *data, size_t len, char *out, size_t outlen)
{
    if (outlen < sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
        return CS_ERR_TOOBIG;
    sodium_bin2base64(out, outlen, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return CS_OK;
}

int crypt_b64url_decode(const char *s, unsigned char *out, size_t outlen, size_t *len)
{
    size_t slen = strlen(s);
    const char *end = NULL;

    *len = 0;
    if (slen / 4 * 3 + 2 > outlen)
        return CS_ERR_TOOBIG;
    if (sodium_base642bin(out, outlen, s, slen, NULL, len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != s + slen)
        return CS_ERR_INVAL;
    return CS_OK;
}

void crypt_pkce_challenge(const char *verifier, char out[CRYPT_TOKLEN])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(out, CRYPT_TOKLEN, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void crypt_base32hex(const unsigned char *data, size_t len, char *out)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
    unsigned int acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}
