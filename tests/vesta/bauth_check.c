/* bauth_check SECRET COOKIE_VALUE: runs calsync's verifier of BetterAuth session cookies
 * (bauth_verify) on one cookie value. Accepted: prints the session token, exits 0. Refused: says
 * so on stderr, exits 1. Usage errors exit 2. Used by tests/vesta/test_bauth_real.sh against
 * cookies issued by the real better-auth library. */
#include <stdio.h>
#include <string.h>

#include "bauth.h"
#include "crypt.h"
#include "cs.h"

int main(int argc, char **argv)
{
    char token[BAUTH_TOKEN_MAX + 1];

    if (argc != 3) {
        fprintf(stderr, "usage: %s SECRET COOKIE_VALUE\n", argv[0]);
        return 2;
    }
    if (crypt_init() != CS_OK) {
        fprintf(stderr, "bauth_check: libsodium did not initialise\n");
        return 2;
    }
    if (bauth_verify(argv[2], (const unsigned char *)argv[1], strlen(argv[1]), token,
                     sizeof token) != CS_OK) {
        fprintf(stderr, "bauth_check: refused\n");
        return 1;
    }
    printf("%s\n", token);
    return 0;
}
