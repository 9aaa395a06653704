/* auth.c: a request's user through the host's identity source, and the CSRF rules. */
#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "host.h"
#include "http.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

int auth_session_of(struct http_req *req, struct auth_user *u)
{
    return host_identity_of(req->cfg)->session_user(req, u);
}

int auth_require(struct http_req *req, struct auth_user *u)
{
    int rc = auth_session_of(req, u);

    if (rc == CS_ERR_AUTH)
        http_reply_error(req, 401, "not logged in, or the session expired");
    else if (rc != CS_OK)
        http_reply_error(req, 500, "database error");
    return rc;
}

int auth_check_origin(struct http_req *req)
{
    const char *origin = http_param(req, "HTTP_ORIGIN");

    if (origin != NULL && *origin != '\0' && strcmp(origin, req->cfg->base_url) != 0) {
        log_warn("refused cross-origin request from %s", origin);
        http_reply_error(req, 403, "cross-origin request refused");
        return CS_ERR_AUTH;
    }
    return CS_OK;
}

int auth_check_write(struct http_req *req)
{
    if (auth_check_origin(req) != CS_OK)
        return CS_ERR_AUTH;
    if (!http_is_json(req)) {
        http_reply_error(req, 415, "Content-Type must be application/json");
        return CS_ERR_INVAL;
    }
    return CS_OK;
}
