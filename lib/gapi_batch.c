/* gapi_batch.c: many Calendar requests in one multipart batch call, and reading its answer. */
#include "gapi.h"
#include "gapi_int.h"
#include "cfg.h"
#include "cs.h"
#include "http_parse.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The path part of GOOGLE_CALENDAR_API_URL ("/calendar/v3"): inner batch requests carry paths. */
static const char *gapi_api_path(const struct cfg *cfg)
{
    const char *p = strstr(cfg->api_url, "://");

    p = p ? strchr(p + 3, '/') : NULL;
    return p ? p : "";
}

size_t gapi_batch_parse(const char *ctype, const char *body, size_t len, struct gapi_resp *outs,
                        size_t n)
{
    const char *b = ctype ? strstr(ctype, "boundary=") : NULL, *p, *end = body + len;
    char delim[72];
    size_t bl, got = 0;

    if (b == NULL)
        return 0;
    b += 9;
    if (*b == '"')
        b++;
    bl = strcspn(b, "\";, ");
    if (bl == 0)
        return 0;
    snprintf(delim, sizeof delim, "--%.*s", (int)(bl < 60 ? bl : 60), b);
    p = strstr(body, delim);
    while (p != NULL && got < n) {
        const char *next, *part_end, *status_line, *json, *rb;
        size_t jl;
        p += strlen(delim);
        if (strncmp(p, "--", 2) == 0)
            break;
        next = strstr(p, delim);
        part_end = next ? next : end;
        status_line = strstr(p, "HTTP/1.1 ");
        if (status_line == NULL || status_line > part_end)
            break;
        memset(&outs[got], 0, sizeof outs[got]);
        outs[got].retry_after = -1;
        outs[got].status = strtol(status_line + 9, NULL, 10);
        rb = http_after_blank(status_line, part_end);
        json = rb ? rb : part_end;
        jl = (size_t)(part_end - json);
        while (jl > 0 && (json[jl - 1] == '\r' || json[jl - 1] == '\n'))
            jl--;
        buf_init(&outs[got].body, GAPI_REPLY_MAX);
        if (jl > 0 && buf_add(&outs[got].body, json, jl) == CS_OK)
            outs[got].json = cJSON_ParseWithLength(json, jl);
        if (outs[got].status >= 400)
            gapi_parse_error(&outs[got]);
        got++;
        p = next;
    }
    return got;
}

int gapi_batch(struct gapi *g, size_t n, const char *const *methods, const char *const *paths,
               cJSON *const *bodies, struct gapi_resp *outs)
{
    char boundary[CRYPT_TOKLEN + 16], tok[CRYPT_TOKLEN], ctype[160];
    struct gapi_resp outer;
    struct buf body;
    size_t got = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        memset(&outs[i], 0, sizeof outs[i]);
        outs[i].retry_after = -1;
    }
    if (n == 0 || n > GAPI_BATCH_MAX)
        return CS_ERR_INVAL;
    crypt_random_token(tok, 12);
    snprintf(boundary, sizeof boundary, "calsync_%s", tok);
    buf_init(&body, GAPI_REPLY_MAX);
    rc = CS_OK;
    for (size_t i = 0; i < n && rc == CS_OK; i++) {
        char *text = bodies[i] ? cJSON_PrintUnformatted(bodies[i]) : NULL;
        if (bodies[i] != NULL && text == NULL) {
            rc = CS_ERR_NOMEM;
            break;
        }
        rc = buf_printf(&body,
                        "--%s\r\nContent-Type: application/http\r\nContent-ID: <item%zu>\r\n\r\n"
                        "%s %s%s HTTP/1.1\r\n%s\r\n%s\r\n",
                        boundary, i, methods[i], gapi_api_path(g->cfg), paths[i],
                        text ? "Content-Type: application/json\r\n" : "", text ? text : "");
        free(text);
    }
    if (rc == CS_OK)
        rc = buf_printf(&body, "--%s--\r\n", boundary);
    if (rc != CS_OK) {
        buf_free(&body);
        return rc;
    }
    snprintf(ctype, sizeof ctype, "multipart/mixed; boundary=%s", boundary);
    rc = gapi_call_url(g, "POST", g->cfg->batch_url, ctype, body.data, NULL, "/batch", &outer);
    buf_free(&body);
    if (rc == CS_OK && outer.status != 200)
        rc = CS_ERR_GOOGLE;
    /* the answer: one application/http part per request, in order */
    if (rc == CS_OK && outer.body.data != NULL &&
        (got = gapi_batch_parse(outer.ctype, outer.body.data, outer.body.len, outs, n)) != n) {
        log_warn("batch answer had %zu parts for %zu requests", got, n);
        rc = CS_ERR_GOOGLE;
    } else if (rc == CS_OK && outer.body.data == NULL) {
        rc = CS_ERR_GOOGLE;
    }
    log_info("google batch of %zu -> %s (status %ld) user=%s", n, cs_strerror(rc), outer.status,
             g->user_id);
    gapi_resp_free(&outer);
    if (rc != CS_OK) /* nothing half-read reaches the caller */
        for (size_t i = 0; i < n; i++)
            gapi_resp_free(&outs[i]);
    return rc;
}
