/* bauth.h: BetterAuth's signed session cookie (as better-call signs it), verified. */
#ifndef BAUTH_H
#define BAUTH_H

#include <stddef.h>

#define BAUTH_COOKIE "better-auth.session_token"
#define BAUTH_COOKIE_SECURE "__Secure-better-auth.session_token"
#define BAUTH_VALUE_MAX 1024 /* longest cookie value read (URL-encoded) */
#define BAUTH_TOKEN_MAX 255  /* sessions.token is varchar(255) */

/* Verifies a cookie value as the browser sends it: URL-decoded, split at the last '.', the
 * part after it the standard base64 (with padding) of HMAC-SHA256 over the part before, keyed
 * with secret (its raw bytes). On CS_OK token (tokenlen >= BAUTH_TOKEN_MAX + 1) holds the
 * session token; CS_ERR_AUTH for anything else (malformed, wrong signature: compared in
 * constant time). */
int bauth_verify(const char *value, const unsigned char *secret, size_t secretlen, char *token,
                 size_t tokenlen);
/* Signs token the same way into out (URL-encoded cookie value): for tests and tools. CS_OK or
 * CS_ERR_INVAL (token too long or out too small). */
int bauth_sign(const char *token, const unsigned char *secret, size_t secretlen, char *out,
               size_t outlen);

#endif
