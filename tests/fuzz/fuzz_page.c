/* fuzz_page: an events list page from Google: the page fields, then every item through the
 * event mapping the pull uses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "gapi.h"
#include "gmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *page = cJSON_ParseWithLength((const char *)data, size);
    const cJSON *items, *it;
    const char *np, *ns;

    if (page == NULL)
        return 0;
    if (gapi_page_parse(page, &items, &np, &ns) == CS_OK) {
        if ((np && (strlen(np) == 0 || strlen(np) > GAPI_TOKEN_MAX)) ||
            (ns && (strlen(ns) == 0 || strlen(ns) > GAPI_TOKEN_MAX)))
            abort();
        cJSON_ArrayForEach(it, items)
        {
            struct appt a;
            const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "id"));
            memset(&a, 0, sizeof a);
            if (gmap_from_event(it, "Europe/Madrid", &a) == CS_OK) {
                char *snap = gmap_snapshot(&a);
                cJSON *back = gmap_to_event(&a, "Pacific/Chatham", id);
                cJSON_Delete(back);
                free(snap);
            }
            appt_free(&a);
            gmap_private(it, "vestaAppointmentId");
        }
    }
    cJSON_Delete(page);
    return 0;
}
