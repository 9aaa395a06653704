/* gapi.c: one HTTP exchange with Google over libcurl, and reading what Google answers. */
#include "gapi.h"
#include "gapi_int.h"
#include "cfg.h"
#include "cs.h"
#include "http_parse.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

int gapi_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? CS_OK : CS_ERR_NOMEM;
}

void gapi_resp_free(struct gapi_resp *r)
{
    buf_free(&r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
}

/* The write callback: refuses (ends the transfer) once the cap is reached. */
static size_t gapi_write(char *p, size_t size, size_t n, void *ud)
{
    struct gapi_resp *r = ud;

    if (buf_add(&r->body, p, size * n) != CS_OK) {
        r->truncated = 1;
        return 0;
    }
    return size * n;
}

void gapi_header_parse(struct gapi_resp *r, const char *p, size_t len)
{
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t vl = len - 13;
        const char *v = p + 13;
        while (vl > 0 && *v == ' ')
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl >= sizeof r->ctype)
            vl = sizeof r->ctype - 1;
        memcpy(r->ctype, v, vl);
        r->ctype[vl] = '\0';
    }

    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[32];
        size_t vl = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        char *end;
        long secs;
        memcpy(v, p + 12, vl);
        v[vl] = '\0';
        secs = strtol(v, &end, 10);
        if (end != v && secs >= 0 && secs < 3600)
            r->retry_after = secs;
    }
}

static size_t gapi_header(char *p, size_t size, size_t n, void *ud)
{
    gapi_header_parse(ud, p, size * n);
    return size * n;
}

/* Pulls Google's error reason/message (or OAuth's error/error_description) out of the body. */
void gapi_parse_error(struct gapi_resp *r)
{
    const cJSON *err, *errs, *first, *v;

    if (r->json == NULL)
        return;
    err = cJSON_GetObjectItemCaseSensitive(r->json, "error");
    if (cJSON_IsString(err)) {
        snprintf(r->reason, sizeof r->reason, "%s", err->valuestring);
        v = cJSON_GetObjectItemCaseSensitive(r->json, "error_description");
        if (cJSON_IsString(v))
            snprintf(r->message, sizeof r->message, "%s", v->valuestring);
        return;
    }
    if (!cJSON_IsObject(err))
        return;
    v = cJSON_GetObjectItemCaseSensitive(err, "message");
    if (cJSON_IsString(v))
        snprintf(r->message, sizeof r->message, "%s", v->valuestring);
    errs = cJSON_GetObjectItemCaseSensitive(err, "errors");
    first = cJSON_IsArray(errs) ? cJSON_GetArrayItem(errs, 0) : NULL;
    v = first ? cJSON_GetObjectItemCaseSensitive(first, "reason") : NULL;
    if (cJSON_IsString(v))
        snprintf(r->reason, sizeof r->reason, "%s", v->valuestring);
}

int gapi_http(const struct cfg *cfg, const char *method, const char *url, const char *bearer,
              const char *ctype, const char *body, const char *if_match, struct gapi_resp *out)
{
    char errbuf[CURL_ERROR_SIZE] = "", line[4096];
    struct curl_slist *h = NULL;
    CURL *c;
    CURLcode cc;
    int rc = CS_OK;

    memset(out, 0, sizeof *out);
    out->retry_after = -1;
    buf_init(&out->body, GAPI_REPLY_MAX);
    c = curl_easy_init();
    if (c == NULL)
        return CS_ERR_NOMEM;
    if (bearer != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, line);
        sodium_memzero(line, sizeof line);
    }
    if (body != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", ctype ? ctype : "application/json");
        h = curl_slist_append(h, line);
    }
    if (if_match != NULL) {
        snprintf(line, sizeof line, "If-Match: %s", if_match);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(cfg->http_timeout_ms < 5000 ? cfg->http_timeout_ms : 5000));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gapi_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, gapi_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "calsync/1.0");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_WRITE_ERROR && out->truncated) {
        log_warn("Google reply over %d bytes refused", GAPI_REPLY_MAX);
        rc = CS_ERR_TOOBIG;
    } else if (cc != CURLE_OK) {
        log_warn("Google %s failed: %s", method, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = CS_ERR_NET;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        if (out->body.len > 0)
            out->json = cJSON_ParseWithLength(out->body.data, out->body.len);
        if (out->status >= 400)
            gapi_parse_error(out);
    }
    metrics_google(cfg, method, url, rc == CS_OK ? out->status : 0);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

/* A token as it may go into an Authorization header: printable ASCII, no spaces, bounded. */
int gapi_token_text_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > GAPI_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

int gapi_path_segment(struct buf *b, const char *s)
{
    return http_urlencode(b, s);
}

/* A page or sync token: printable ASCII without spaces, bounded (it goes back into a URL). */
static int gapi_page_token_ok(const cJSON *v)
{
    return v == NULL || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && gapi_token_text_ok(v->valuestring));
}

int gapi_page_parse(const cJSON *page, const cJSON **items, const char **next_page,
                    const char **next_sync)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(page, "items");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(page, "nextPageToken");
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(page, "nextSyncToken");

    *items = NULL;
    *next_page = *next_sync = NULL;
    if (!cJSON_IsObject(page) || (it != NULL && !cJSON_IsArray(it) && !cJSON_IsNull(it)) ||
        !gapi_page_token_ok(np) || !gapi_page_token_ok(ns))
        return CS_ERR_GOOGLE;
    *items = cJSON_IsArray(it) ? it : NULL;
    *next_page = cJSON_IsString(np) ? np->valuestring : NULL;
    *next_sync = cJSON_IsString(ns) ? ns->valuestring : NULL;
    return CS_OK;
}

int gapi_watch_parse(const cJSON *ans, const char **resource_id, long long *expiration_ms)
{
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(ans, "resourceId");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(ans, "expiration");
    char *end;
    long long v;

    *resource_id = NULL;
    *expiration_ms = -1;
    if (!cJSON_IsObject(ans) || !cJSON_IsString(rid) || !gapi_token_text_ok(rid->valuestring) ||
        strlen(rid->valuestring) > 256)
        return CS_ERR_GOOGLE;
    if (cJSON_IsString(exp)) { /* Google sends the int64 as a string */
        const char *s = exp->valuestring;
        if (*s < '0' || *s > '9' || strlen(s) > 15)
            return CS_ERR_GOOGLE;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || *end != '\0')
            return CS_ERR_GOOGLE;
        *expiration_ms = v;
    } else if (cJSON_IsNumber(exp)) {
        if (!(exp->valuedouble >= 0 && exp->valuedouble < 1e15))
            return CS_ERR_GOOGLE;
        *expiration_ms = (long long)exp->valuedouble;
    } else if (exp != NULL && !cJSON_IsNull(exp)) {
        return CS_ERR_GOOGLE;
    }
    *resource_id = rid->valuestring;
    return CS_OK;
}
