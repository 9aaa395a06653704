/* fuzz_token: a token endpoint answer (authorization_code and refresh_token grants) and the
 * error bodies of Google's OAuth and Calendar endpoints, as gapi reads them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "gapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    struct gapi_tokens t;
    struct gapi_resp r;

    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    if (gapi_tokens_parse(body, size, &t) == CS_OK) {
        if (t.access == NULL || t.scope == NULL || t.expires_in < 0 ||
            t.expires_in > GAPI_EXPIRES_MAX || strlen(t.access) > GAPI_TOKEN_MAX ||
            strchr(t.access, ' ') != NULL || strchr(t.access, '\n') != NULL)
            abort(); /* what we accept must be fit for a header */
        gapi_tokens_free(&t);
    }
    memset(&r, 0, sizeof r);
    r.retry_after = -1;
    r.json = cJSON_ParseWithLength(body, size);
    gapi_parse_error(&r);
    if (memchr(r.reason, '\0', sizeof r.reason) == NULL ||
        memchr(r.message, '\0', sizeof r.message) == NULL)
        abort();
    gapi_resp_free(&r);
    free(body);
    return 0;
}
