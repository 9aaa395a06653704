/* http.c: the request and answer API of the route programs, whatever the transport. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "http.h"
#include "http_int.h"
#include "cs.h"

const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 431:
        return "Request Header Fields Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

const char *http_param(struct http_req *req, const char *name)
{
    if (req->finished)
        return NULL;
    if (req->envp != NULL)
        return FCGX_GetParam(name, req->envp);
    return getenv(name);
}

/* Answers are held in req->out until http_finish: a batch whose transaction fails replaces
 * them. An answer that does not fit in memory becomes a 500 there. */
static void http_out(struct http_req *req, const char *data, size_t len)
{
    if (req->finished || req->out_failed)
        return;
    if (buf_add(&req->out, data, len) != CS_OK)
        req->out_failed = 1;
}

int http_read_body(struct http_req *req, size_t cap)
{
    char chunk[4096];
    int n;

    if (req->content_length > (long long)cap)
        return CS_ERR_TOOBIG;
    buf_init(&req->body, cap);
    if (req->conn != NULL)
        return req->conn_io->body(req, cap);
    for (;;) {
        if (req->fcgi != NULL)
            n = FCGX_GetStr(chunk, sizeof chunk, ((FCGX_Request *)req->fcgi)->in);
        else
            n = (int)fread(chunk, 1, sizeof chunk, stdin);
        if (n <= 0)
            break;
        if (buf_add(&req->body, chunk, (size_t)n) != CS_OK)
            return CS_ERR_TOOBIG;
        if (req->fcgi == NULL && req->content_length >= 0 &&
            (long long)req->body.len >= req->content_length)
            break;
    }
    if (req->body.data == NULL && buf_add(&req->body, "", 0) != CS_OK)
        return CS_ERR_IO;
    return CS_OK;
}

int http_cookie_get(struct http_req *req, const char *name, char *out, size_t outlen)
{
    return http_cookie_find(http_param(req, "HTTP_COOKIE"), name, out, outlen);
}

int http_is_json(const struct http_req *req)
{
    const char *ct = req->content_type;
    size_t n = strlen("application/json");

    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void http_reply(struct http_req *req, int status, const char *ctype, const char *extra_headers,
                const char *body, size_t len)
{
    char head[512];
    int n;

    if (req->answered || req->finished)
        return;
    n = snprintf(head, sizeof head,
                 "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n"
                 "Referrer-Policy: no-referrer\r\n",
                 status, http_reason(status), ctype, len);
    http_out(req, head, (size_t)n);
    if (extra_headers != NULL)
        http_out(req, extra_headers, strlen(extra_headers));
    http_out(req, "\r\n", 2);
    if (strcmp(req->method, "HEAD") != 0 && len > 0)
        http_out(req, body, len);
    req->status = status;
    req->answered = 1;
}

void http_reply_json(struct http_req *req, int status, cJSON *obj, const char *extra_headers)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;

    if (s == NULL)
        http_reply(req, obj ? 500 : status, "application/json", extra_headers,
                   obj ? "{\"error\":\"out of memory\"}" : "{}", obj ? 25 : 2);
    else
        http_reply(req, status, "application/json", extra_headers, s, strlen(s));
    free(s);
    cJSON_Delete(obj);
}

void http_reply_error(struct http_req *req, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && cJSON_AddStringToObject(o, "error", msg) == NULL) {
        cJSON_Delete(o);
        o = NULL;
    }
    if (o == NULL) {
        http_reply(req, status, "application/json", NULL, "{\"error\":\"internal\"}", 20);
        return;
    }
    http_reply_json(req, status, o, NULL);
}

void http_redirect(struct http_req *req, const char *location, const char *extra_headers)
{
    struct buf h;

    buf_init(&h, 8192);
    if (buf_printf(&h, "Location: %s\r\n%s", location, extra_headers ? extra_headers : "") !=
        CS_OK) {
        buf_free(&h);
        http_reply_error(req, 500, "redirect too long");
        return;
    }
    http_reply(req, 302, "text/plain; charset=utf-8", h.data, "", 0);
    buf_free(&h);
}

int http_json_body(struct http_req *req, size_t cap, cJSON **out)
{
    int rc = http_read_body(req, cap);
    const char *why;

    *out = NULL;
    if (rc == CS_ERR_TOOBIG) {
        http_reply_error(req, 413, "request body too large");
        return rc;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 400, "cannot read request body");
        return rc;
    }
    rc = http_json_parse(req->body.data, req->body.len, out, &why);
    if (rc != CS_OK)
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, why);
    return rc;
}

void http_reply_405(struct http_req *req, const char *allow)
{
    char h[128];
    cJSON *o = cJSON_CreateObject();

    snprintf(h, sizeof h, "Allow: %s\r\n", allow);
    if (o != NULL)
        cJSON_AddStringToObject(o, "error", "method not allowed");
    http_reply_json(req, 405, o, h);
}
