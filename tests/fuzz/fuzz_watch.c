/* fuzz_watch: Google's answer to events/watch (the push channel it opened). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "gapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *ans = cJSON_ParseWithLength((const char *)data, size);
    const char *rid;
    long long exp;

    if (ans == NULL)
        return 0;
    if (gapi_watch_parse(ans, &rid, &exp) == CS_OK) {
        if (rid == NULL || strlen(rid) == 0 || strlen(rid) > 256 || exp < -1)
            abort();
    }
    cJSON_Delete(ans);
    return 0;
}
