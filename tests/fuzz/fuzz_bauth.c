/* fuzz_bauth: a BetterAuth session cookie as the vesta host reads it from a Cookie header:
 * found by name, URL-decoded, split at the last '.', its signature checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bauth.h"
#include "cs.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char secret[] = "fuzz-better-auth-secret";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1), value[BAUTH_VALUE_MAX + 1], token[BAUTH_TOKEN_MAX + 1];
    char signed_value[BAUTH_VALUE_MAX + 1], again[BAUTH_TOKEN_MAX + 1];

    if (h == NULL)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    /* the header's cookie, and the raw bytes as a value: what verifies must be a sane token */
    if (http_cookie_find(h, BAUTH_COOKIE, value, sizeof value) == CS_OK &&
        bauth_verify(value, secret, sizeof secret - 1, token, sizeof token) == CS_OK &&
        (strlen(token) == 0 || strlen(token) > BAUTH_TOKEN_MAX))
        abort();
    if (bauth_verify(h, secret, sizeof secret - 1, token, sizeof token) == CS_OK &&
        (strlen(token) == 0 || strlen(token) > BAUTH_TOKEN_MAX))
        abort();
    /* whatever token the bytes make, its signed form verifies back to itself */
    if (size > 0 && size <= 64) {
        memcpy(token, data, size);
        token[size] = '\0';
        if (strlen(token) == size &&
            bauth_sign(token, secret, sizeof secret - 1, signed_value, sizeof signed_value) ==
                CS_OK &&
            (bauth_verify(signed_value, secret, sizeof secret - 1, again, sizeof again) != CS_OK ||
             strcmp(again, token) != 0))
            abort();
    }
    free(h);
    return 0;
}
