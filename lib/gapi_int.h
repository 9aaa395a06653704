/* gapi_int.h: what the files of the Google client share and nobody else calls. */
#ifndef GAPI_INT_H
#define GAPI_INT_H

#include "gapi.h"

/* gapi.c: a token as it may go into an Authorization header or a URL: printable ASCII, no
 * spaces, at most GAPI_TOKEN_MAX bytes. */
int gapi_token_text_ok(const char *s);

/* gapi_call.c: the retrying, refreshing core of every Calendar call to url (absolute): text
 * (may be NULL) goes as ctype; what names the call in the log. Returns as gapi_call; free out
 * either way. */
int gapi_call_url(struct gapi *g, const char *method, const char *url, const char *ctype,
                  const char *text, const char *if_match, const char *what, struct gapi_resp *out);

#endif
