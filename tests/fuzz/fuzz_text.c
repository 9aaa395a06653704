/* fuzz_text: the small parsers of outside text: RFC 3339 times, dates, query strings,
 * webhook header tokens and message numbers, Idempotency-Key, UTF-8 validation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cal.h"
#include "cs.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), out[256], fmt[CAL_STRLEN];
    time_t t;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (cal_parse_rfc3339(s, &t) == CS_OK) {
        cal_format_utc(t, fmt);
        if (cal_parse_rfc3339(fmt, &t) != CS_OK)
            abort(); /* what we print we must read back */
    }
    if (cal_parse_date(s, &t) == CS_OK)
        cal_format_date(t, fmt);
    http_query_get(s, "state", out, sizeof out);
    http_query_get(s, "code", out, 8);
    http_header_token(s, out, sizeof out);
    {
        char key[HTTP_IDEM_KEY_MAX + 1];
        long long n;
        if (http_idempotency_key(s, key) == CS_OK && strcmp(key, s) != 0)
            abort(); /* a valid key is taken as it is */
        if (http_message_number(s, &n) == CS_OK && n < 0)
            abort();
    }
    cs_text_valid(s);
    free(s);
    return 0;
}
