/* http_parse.c: parsers of request text and HTTP messages: query, cookie, JSON, headers. */
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "cs.h"

int http_query_get(const char *query, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t seglen = end ? (size_t)(end - p) : strlen(p);
        if (seglen > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t o = 0;
            for (const char *v = p + klen + 1; v < p + seglen; v++) {
                char c = *v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && v + 2 < p + seglen + 1 && cs_hex_digit(v[1]) >= 0 &&
                           cs_hex_digit(v[2]) >= 0) {
                    c = (char)(cs_hex_digit(v[1]) * 16 + cs_hex_digit(v[2]));
                    v += 2;
                }
                if (o + 1 >= outlen)
                    return CS_ERR_TOOBIG;
                out[o++] = c;
            }
            out[o] = '\0';
            if (strlen(out) != o) /* an encoded NUL */
                return CS_ERR_TOOBIG;
            return CS_OK;
        }
        p = end ? end + 1 : NULL;
    }
    return CS_ERR_NOTFOUND;
}

int http_cookie_find(const char *header, const char *name, char *out, size_t outlen)
{
    const char *c = header;
    size_t nlen = strlen(name);

    while (c != NULL && *c != '\0') {
        while (*c == ' ' || *c == ';')
            c++;
        if (strncmp(c, name, nlen) == 0 && c[nlen] == '=') {
            const char *v = c + nlen + 1;
            size_t vlen = strcspn(v, ";");
            if (vlen + 1 > outlen)
                return CS_ERR_NOTFOUND;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return CS_OK;
        }
        c = strchr(c, ';');
    }
    return CS_ERR_NOTFOUND;
}

int http_urlencode(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = CS_OK;

    for (; *s && rc == CS_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            rc = buf_add(b, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_add(b, e, 3);
        }
    }
    return rc;
}

int http_json_has_nul(const char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL)
        return 1;
    /* backslashes only stand in strings of valid JSON: each starts an escape of one character,
     * or of five for \uXXXX; skipping the escaped character keeps "\\u0000" apart */
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\')
            continue;
        if (i + 5 < len && s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
        i++;
    }
    return 0;
}

int http_json_parse(const char *body, size_t len, cJSON **out, const char **why)
{
    *out = NULL;
    *why = NULL;
    if (http_json_has_nul(body, len)) {
        *why = "request body must not contain NUL characters";
        return CS_ERR_INVAL;
    }
    if (!cs_text_valid(body)) {
        *why = "request body is not valid UTF-8 JSON";
        return CS_ERR_INVAL;
    }
    *out = cJSON_ParseWithLength(body, len);
    if (*out == NULL) {
        *why = "malformed JSON";
        return CS_ERR_INVAL;
    }
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        *why = "body must be a JSON object";
        return CS_ERR_INVAL;
    }
    return CS_OK;
}

int http_header_token(const char *v, char *out, size_t outlen)
{
    size_t n;

    if (v == NULL || *v == '\0')
        return CS_ERR_NOTFOUND;
    n = strlen(v);
    if (n >= outlen)
        return CS_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return CS_ERR_INVAL;
    memcpy(out, v, n + 1);
    return CS_OK;
}

const char *http_after_blank(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (p + 3 < end && memcmp(p, "\r\n\r\n", 4) == 0)
            return p + 4;
        if (p + 1 < end && memcmp(p, "\n\n", 2) == 0)
            return p + 2;
    }
    return NULL;
}

int http_idempotency_key(const char *v, char out[HTTP_IDEM_KEY_MAX + 1])
{
    size_t n;

    if (v == NULL)
        return CS_ERR_NOTFOUND;
    n = strlen(v);
    if (n == 0 || n > HTTP_IDEM_KEY_MAX)
        return CS_ERR_INVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return CS_ERR_INVAL;
    memcpy(out, v, n + 1);
    return CS_OK;
}

int http_message_number(const char *v, long long *out)
{
    long long n = 0;
    size_t i;

    if (v == NULL || *v == '\0')
        return CS_ERR_NOTFOUND;
    for (i = 0; v[i] != '\0'; i++) {
        if (v[i] < '0' || v[i] > '9' || i >= 18)
            return CS_ERR_INVAL;
        n = n * 10 + (v[i] - '0');
    }
    *out = n;
    return CS_OK;
}
