/* fuzz_login: a login request body, through the same checks and field reading as the auth
 * route (NUL, UTF-8, JSON object, email/password strings with bounds). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cs.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    const char *why, *email, *password;
    cJSON *o = NULL;

    if (body == NULL)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    if (http_json_parse(body, size, &o, &why) == CS_OK) {
        if (!cJSON_IsObject(o))
            abort();
        if (auth_login_fields(o, &email, &password) == CS_OK) {
            if (strlen(email) > AUTH_EMAIL_MAX || strlen(password) > AUTH_PASSWORD_MAX)
                abort();
            auth_email_valid(email);
        }
        cJSON_Delete(o);
    } else if (why == NULL || o != NULL) {
        abort(); /* every refusal says why */
    }
    free(body);
    return 0;
}
