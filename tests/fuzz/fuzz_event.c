/* fuzz_event: a Google event as the pull reads it, then merged against a local appointment. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "gmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *ev = cJSON_ParseWithLength((const char *)data, size), *back;
    struct appt remote, local;
    char *snap;

    if (ev == NULL)
        return 0;
    memset(&remote, 0, sizeof remote);
    if (gmap_from_event(ev, "Europe/Madrid", &remote) == CS_OK) {
        memset(&local, 0, sizeof local);
        local.title = strdup("t");
        local.description = strdup("");
        local.location = strdup("");
        memcpy(local.start, "2026-01-01T00:00:00Z", 21);
        memcpy(local.end, "2026-01-01T01:00:00Z", 21);
        memcpy(local.type, "Visita", 7);
        memcpy(local.status, "Scheduled", 10);
        snap = gmap_snapshot(&remote);
        gmap_merge(&local, &remote, snap, size % 2);
        gmap_merge(&local, &remote, size > 0 && data[0] == '{' ? NULL : snap, 0);
        back = gmap_to_event(&remote, "America/Winnipeg", NULL);
        cJSON_Delete(back);
        free(snap);
        appt_free(&local);
    }
    appt_free(&remote);
    cJSON_Delete(ev);
    return 0;
}
