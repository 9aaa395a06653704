/* fuzz_header: Google's response header lines (Content-Type, Retry-After), as the libcurl
 * header callback hands them to gapi. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gapi_resp r;
    const char *p = (const char *)data, *end = p + size;

    memset(&r, 0, sizeof r);
    r.retry_after = -1;
    /* one call per line, as libcurl calls back, without a terminating NUL */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        char *line = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        if (line == NULL)
            break;
        memcpy(line, p, len);
        gapi_header_parse(&r, line, len);
        free(line);
        p += len;
    }
    if (r.retry_after < -1 || r.retry_after >= 3600 ||
        memchr(r.ctype, '\0', sizeof r.ctype) == NULL)
        abort();
    gapi_resp_free(&r);
    return 0;
}
