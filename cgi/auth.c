/* auth: POST /api/auth/login, POST /api/auth/logout, GET /api/auth/me. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "cfg.h"
#include "cs.h"
#include "host.h"
#include "http.h"
#include "log.h"

static cJSON *user_json(const struct auth_user *u)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || cJSON_AddStringToObject(o, "id", u->id) == NULL ||
        cJSON_AddStringToObject(o, "email", u->email) == NULL ||
        cJSON_AddStringToObject(o, "timezone", u->tz) == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void login(struct http_req *req)
{
    struct auth_user u;
    char token[CRYPT_TOKLEN], cookie[256];
    const cJSON *pw;
    const char *email, *password;
    cJSON *body = NULL;
    long retry = 0;
    int rc;

    if (auth_check_write(req) != CS_OK || http_json_body(req, 8192, &body) != CS_OK)
        return;
    pw = cJSON_GetObjectItemCaseSensitive(body, "password");
    rc = auth_login_fields(body, &email, &password);
    if (rc == CS_ERR_INVAL) {
        http_reply_error(req, 400, "email and password (strings) are required");
        goto out;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 401, "invalid email or password");
        goto out;
    }
    rc = auth_login(req->db, req->cfg, email, password, http_param(req, "REMOTE_ADDR"), &u, token,
                    &retry);
    if (rc == CS_ERR_BUSY) {
        char h[64];
        cJSON *o = cJSON_CreateObject();
        snprintf(h, sizeof h, "Retry-After: %ld\r\n", retry);
        if (o != NULL)
            cJSON_AddStringToObject(o, "error", "too many failed logins; try again later");
        http_reply_json(req, 429, o, h);
        goto out;
    }
    if (rc == CS_ERR_AUTH) {
        log_warn("failed login");
        http_reply_error(req, 401, "invalid email or password");
        goto out;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 500, "login failed");
        goto out;
    }
    auth_cookie_header(req->cfg, token, AUTH_SESSION_TTL, cookie, sizeof cookie);
    log_info("login user=%s", u.id);
    http_reply_json(req, 200, user_json(&u), cookie);
    sodium_memzero(token, sizeof token);
    sodium_memzero(cookie, sizeof cookie);
out:
    if (pw != NULL && cJSON_IsString(pw))
        sodium_memzero(pw->valuestring, strlen(pw->valuestring));
    cJSON_Delete(body);
}

static void logout(struct http_req *req)
{
    char token[CRYPT_TOKLEN], cookie[256];
    cJSON *o;

    if (auth_check_write(req) != CS_OK)
        return;
    if (http_cookie_get(req, AUTH_COOKIE, token, sizeof token) == CS_OK) {
        auth_logout(req->db, token);
        sodium_memzero(token, sizeof token);
    }
    auth_cookie_header(req->cfg, "", 0, cookie, sizeof cookie);
    o = cJSON_CreateObject();
    if (o != NULL)
        cJSON_AddBoolToObject(o, "success", 1);
    http_reply_json(req, 200, o, cookie);
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;

    (void)ctx;
    if (!host_identity_of(req->cfg)->own_logins && strcmp(req->path, "/api/auth/me") != 0) {
        /* the host logs its users in (Vesta: BetterAuth) */
        http_reply_error(req, 404, "no such route: sign in through Vesta");
        return 0;
    }
    if (strcmp(req->path, "/api/auth/login") == 0) {
        if (strcmp(req->method, "POST") != 0)
            http_reply_405(req, "POST");
        else
            login(req);
    } else if (strcmp(req->path, "/api/auth/logout") == 0) {
        if (strcmp(req->method, "POST") != 0)
            http_reply_405(req, "POST");
        else
            logout(req);
    } else if (strcmp(req->path, "/api/auth/me") == 0) {
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
            http_reply_405(req, "GET");
        else if (auth_require(req, &u) == CS_OK)
            http_reply_json(req, 200, user_json(&u), NULL);
    } else {
        http_reply_error(req, 404, "no such route");
    }
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "auth", route, NULL);
}
