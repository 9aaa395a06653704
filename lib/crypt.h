/* crypt.h: libsodium helpers: random tokens, hashing, sealed secrets, passwords, PKCE. */
#ifndef CRYPT_H
#define CRYPT_H

#include <stddef.h>

#define CRYPT_HEXLEN 65 /* 32-byte digest as hex + NUL */
#define CRYPT_TOKLEN 64 /* base64url of up to 44 bytes + NUL */
#define CRYPT_UUIDLEN 37
#define CRYPT_PWLEN 128 /* crypto_pwhash_STRBYTES */

/* Must be called once before anything else; returns CS_OK or CS_ERR_CRYPTO. */
int crypt_init(void);
/* nbytes (<= 44) random bytes as unpadded base64url into out[CRYPT_TOKLEN]. */
void crypt_random_token(char out[CRYPT_TOKLEN], size_t nbytes);
/* A random RFC 4122 version-4 UUID. */
void crypt_uuid(char out[CRYPT_UUIDLEN]);
/* SHA-256 of data, hex. */
void crypt_sha256_hex(const void *data, size_t len, char out[CRYPT_HEXLEN]);
/* HMAC-SHA256 of msg under a key derived from master for purpose label, hex. */
void crypt_hmac_hex(const unsigned char master[32], const char *label, const char *msg,
                    char out[CRYPT_HEXLEN]);
/* Same, from an arbitrary-length text secret. */
void crypt_hmac_text(const char *secret, const char *msg, char out[CRYPT_HEXLEN]);
/* Derives a 32-byte subkey of master for purpose label. */
void crypt_subkey(const unsigned char master[32], const char *label, unsigned char out[32]);
/* Constant-time equality of two NUL-terminated strings (length may leak). */
int crypt_str_eq(const char *a, const char *b);

/* Encrypts plaintext under master (XSalsa20-Poly1305). On CS_OK *out is a malloc'd
 * "v1:<base64>" string: free with free(). */
int crypt_seal(const unsigned char master[32], const char *plaintext, char **out);
/* Reverses crypt_seal. On CS_OK *out is malloc'd: zero and free with crypt_free_secret. */
int crypt_open(const unsigned char master[32], const char *sealed, char **out);
/* Encrypts plain under key with XChaCha20-Poly1305, binding it to ad (the row and field it is
 * stored in, e.g. "access_token:<user id>"): it only opens with the same ad, so a value copied
 * into another row or column is refused. On CS_OK *out is a malloc'd "v2:<base64>" string:
 * free with crypt_free_secret. CS_ERR_NOMEM otherwise. */
int crypt_seal_ad(const unsigned char key[32], const char *plain, const char *ad, char **out);
/* Reverses crypt_seal_ad with the same ad; also opens legacy "v1:" values (crypt_seal, no ad)
 * so rows written before v2 still read. On CS_OK *out is malloc'd: free with
 * crypt_free_secret. CS_ERR_CRYPTO on a wrong key or ad, tampering or a malformed value. */
int crypt_open_ad(const unsigned char key[32], const char *sealed, const char *ad, char **out);
/* True for a value sealed without associated data (a "v1:" value to migrate). */
int crypt_sealed_legacy(const char *sealed);
/* Zeroes and frees a secret string; NULL is a no-op. */
void crypt_free_secret(char *s);

/* argon2id password hash into out. Returns CS_OK or CS_ERR_NOMEM. */
int crypt_password_hash(const char *pw, char out[CRYPT_PWLEN]);
/* 1 when pw matches hash, else 0. */
int crypt_password_verify(const char *hash, const char *pw);

/* Unpadded base64url of len bytes into out (outlen >= CRYPT_B64LEN(len)); CS_OK or
 * CS_ERR_TOOBIG. */
#define CRYPT_B64LEN(len) (((len) + 2) / 3 * 4 + 1)
int crypt_b64url_encode(const void *data, size_t len, char *out, size_t outlen);
/* Reverses it into out (at most outlen bytes); *len is the size read. CS_OK, CS_ERR_INVAL
 * (not unpadded base64url) or CS_ERR_TOOBIG. */
int crypt_b64url_decode(const char *s, unsigned char *out, size_t outlen, size_t *len);

/* PKCE: S256 code challenge of a verifier, unpadded base64url, into out[CRYPT_TOKLEN]. */
void crypt_pkce_challenge(const char *verifier, char out[CRYPT_TOKLEN]);
/* Lowercase base32hex (0-9a-v) of data, NUL-terminated; out needs len*8/5 + 2 bytes. */
void crypt_base32hex(const unsigned char *data, size_t len, char *out);

#endif
