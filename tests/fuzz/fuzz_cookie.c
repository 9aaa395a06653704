/* fuzz_cookie: the Cookie header of a request, as the session lookup reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cs.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size + 1), out[CRYPT_TOKLEN], small[4];

    if (h == NULL)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    if (http_cookie_find(h, AUTH_COOKIE, out, sizeof out) == CS_OK && strlen(out) >= sizeof out)
        abort();
    if (http_cookie_find(h, "a", small, sizeof small) == CS_OK && strlen(small) >= sizeof small)
        abort();
    http_cookie_find(h, "", out, sizeof out);
    free(h);
    return 0;
}
