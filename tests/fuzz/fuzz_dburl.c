/* fuzz_dburl: CALSYNC_DB as a mysql:// URL, taken apart and redacted for logs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cs.h"
#include "db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 9), red[256], err[CS_ERRLEN];
    struct db_url u;

    if (s == NULL)
        return 0;
    /* half the inputs as they are, half behind the scheme so the parser gets past it */
    if (size > 0 && (data[0] & 1)) {
        memcpy(s, "mysql://", 8);
        memcpy(s + 8, data + 1, size - 1);
        s[size + 7] = '\0';
    } else {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    if (db_url_parse(s, &u, err, sizeof err) == CS_OK) {
        /* every part is a terminated string within its buffer, free of control characters */
        if (strlen(u.user) >= sizeof u.user || strlen(u.password) >= sizeof u.password ||
            strlen(u.host) >= sizeof u.host || strlen(u.database) >= sizeof u.database ||
            strlen(u.socket) >= sizeof u.socket || u.user[0] == '\0' || u.database[0] == '\0' ||
            u.port < 1 || u.port > 65535)
            abort();
        for (const char *p = u.password; *p; p++)
            if ((unsigned char)*p < 0x20)
                abort();
        /* the redacted form never shows the password: ":<raw>@" of the input is not in it */
        db_url_redact(s, red, sizeof red);
        {
            const char *p = s + 8, *path = strchr(p, '/'), *at = NULL, *colon;
            for (const char *q = p; path && q < path; q++)
                if (*q == '@')
                    at = q;
            colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
            if (colon != NULL && at - colon - 1 > 0 &&
                !(at - colon - 1 == 3 && !memcmp(colon + 1, "***", 3))) {
                char probe[300];
                size_t n = (size_t)(at - colon + 1);
                if (n < sizeof probe) {
                    memcpy(probe, colon, n);
                    probe[n] = '\0';
                    /* (unless the rest of the URL holds the same text) */
                    if (strstr(red, probe) != NULL && strstr(path, probe) == NULL)
                        abort();
                }
            }
        }
    }
    db_url_redact(s, red, sizeof red);
    db_url_redact(s, red, 1);
    free(s);
    return 0;
}
