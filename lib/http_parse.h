/* http_parse.h: parsers of request text and HTTP messages (no request, no transport). */
#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "buf.h"

/* The checks and parse of http_json_body without the answer: body is len bytes followed by a
 * NUL. On CS_OK *out is a JSON object (cJSON_Delete); else CS_ERR_INVAL with *why saying what
 * is wrong, in words for the client. */
int http_json_parse(const char *body, size_t len, cJSON **out, const char **why);
/* True when the len bytes of a JSON text hold a NUL byte or a \u0000 escape (an escaped
 * backslash followed by "u0000" is text, not an escape). */
int http_json_has_nul(const char *s, size_t len);

/* Value of a query parameter, URL-decoded into out; CS_OK, CS_ERR_NOTFOUND or CS_ERR_TOOBIG. */
int http_query_get(const char *query, const char *key, char *out, size_t outlen);
/* A cookie's value from a Cookie header value (NULL: none); one that does not fit: not found. */
int http_cookie_find(const char *header, const char *name, char *out, size_t outlen);
/* Copies a header value that must be a printable ASCII token (no spaces) of fewer than outlen
 * bytes. CS_OK, CS_ERR_NOTFOUND (absent or empty) or CS_ERR_INVAL. */
int http_header_token(const char *v, char *out, size_t outlen);
/* In an HTTP message held in [p, end): the start of what follows the first blank line (CRLF
 * or LF endings), or NULL when there is none. */
const char *http_after_blank(const char *p, const char *end);
/* An Idempotency-Key header value: 1-200 visible ASCII characters, copied into out[201].
 * CS_OK, CS_ERR_NOTFOUND (v is NULL) or CS_ERR_INVAL. */
#define HTTP_IDEM_KEY_MAX 200
int http_idempotency_key(const char *v, char out[HTTP_IDEM_KEY_MAX + 1]);
/* X-Goog-Message-Number: decimal digits only, at most 18 of them. CS_OK (*out set),
 * CS_ERR_NOTFOUND (v is NULL or empty) or CS_ERR_INVAL. */
int http_message_number(const char *v, long long *out);
/* Percent-encodes s for a URL query component into b. */
int http_urlencode(struct buf *b, const char *s);

#endif
