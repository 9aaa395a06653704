/* fuzz_batch: a multipart/mixed batch answer from Google, as the batch client reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gapi_resp outs[4];
    char *body = malloc(size + 1);
    size_t got;

    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    got = gapi_batch_parse("multipart/mixed; boundary=b1", body, size, outs, 4);
    if (got > 4)
        abort();
    for (size_t i = 0; i < got; i++)
        gapi_resp_free(&outs[i]);
    free(body);
    return 0;
}
