/* fuzz_request: an appointment request body, as the appointments route reads it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appt.h"
#include "appt_list.h"
#include "appt_store.h"
#include "cs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[CS_ERRLEN];
    struct appt a;
    cJSON *in, *out;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cs_text_valid(text) && (in = cJSON_ParseWithLength(text, size)) != NULL) {
        memset(&a, 0, sizeof a);
        /* a create, then the same body as a patch of the result */
        if (appt_apply_json(&a, in, 0, "Europe/Madrid", err, sizeof err) == CS_OK) {
            appt_apply_json(&a, in, 1, "America/Winnipeg", err, sizeof err);
            out = appt_to_json(&a);
            cJSON_Delete(out);
        }
        appt_free(&a);
        cJSON_Delete(in);
    }
    free(text);
    return 0;
}
