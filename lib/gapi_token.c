/* gapi_token.c: Google's OAuth 2.0 token endpoint: code exchange, refresh, revoke, the tokens. */
#include "gapi.h"
#include "gapi_int.h"
#include "cfg.h"
#include "cs.h"
#include "http_parse.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void gapi_tokens_free(struct gapi_tokens *t)
{
    crypt_free_secret(t->access);
    crypt_free_secret(t->refresh);
    free(t->scope);
    memset(t, 0, sizeof *t);
}

static int gapi_form_add(struct buf *b, const char *k, const char *v)
{
    int rc = CS_OK;

    if (b->len > 0)
        rc = buf_adds(b, "&");
    if (rc == CS_OK)
        rc = buf_adds(b, k);
    if (rc == CS_OK)
        rc = buf_adds(b, "=");
    if (rc == CS_OK)
        rc = http_urlencode(b, v);
    return rc;
}

/* POSTs a token-endpoint form and reads the token answer. */
static int gapi_token_post(const struct cfg *cfg, struct buf *form, struct gapi_tokens *t,
                           char *errbuf, size_t errlen)
{
    struct gapi_resp r;
    int rc;

    memset(t, 0, sizeof *t);
    rc = gapi_http(cfg, "POST", cfg->token_url, NULL, "application/x-www-form-urlencoded",
                   form->data, NULL, &r);
    if (rc != CS_OK) {
        gapi_resp_free(&r);
        return cs_fail(errbuf, errlen, CS_ERR_NET, "token endpoint unreachable");
    }
    if (r.status != 200) {
        log_warn("token endpoint answered %ld %s", r.status, r.reason);
        rc = strcmp(r.reason, "invalid_grant") == 0 ? CS_ERR_REAUTH
             : r.status >= 500 || r.status == 429   ? CS_ERR_NET
                                                    : CS_ERR_AUTH;
        cs_fail(errbuf, errlen, rc, "%s", r.reason[0] ? r.reason : "token_error");
        gapi_resp_free(&r);
        return rc;
    }
    rc = gapi_tokens_parse(r.body.data, r.body.len, t);
    if (r.body.data != NULL)
        sodium_memzero(r.body.data, r.body.len);
    gapi_resp_free(&r);
    if (rc == CS_ERR_GOOGLE)
        return cs_fail(errbuf, errlen, rc, "malformed token answer");
    return rc;
}

int gapi_tokens_parse(const char *body, size_t len, struct gapi_tokens *t)
{
    const cJSON *at, *rt, *sc, *ex;
    cJSON *j;
    int rc = CS_ERR_GOOGLE;

    memset(t, 0, sizeof *t);
    if (body == NULL || (j = cJSON_ParseWithLength(body, len)) == NULL)
        return CS_ERR_GOOGLE;
    at = cJSON_GetObjectItemCaseSensitive(j, "access_token");
    rt = cJSON_GetObjectItemCaseSensitive(j, "refresh_token");
    sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
    ex = cJSON_GetObjectItemCaseSensitive(j, "expires_in");
    /* the number is checked before it becomes a long: 1e300 or NaN must not */
    if (!cJSON_IsString(at) || !gapi_token_text_ok(at->valuestring) || !cJSON_IsNumber(ex) ||
        !(ex->valuedouble >= 0 && ex->valuedouble <= GAPI_EXPIRES_MAX) ||
        (rt != NULL && !cJSON_IsNull(rt) &&
         (!cJSON_IsString(rt) || !gapi_token_text_ok(rt->valuestring))) ||
        (sc != NULL && !cJSON_IsNull(sc) &&
         (!cJSON_IsString(sc) || strlen(sc->valuestring) > GAPI_TOKEN_MAX ||
          !cs_text_valid(sc->valuestring))))
        goto out;
    rc = CS_ERR_NOMEM;
    t->access = strdup(at->valuestring);
    t->refresh = cJSON_IsString(rt) ? strdup(rt->valuestring) : NULL;
    t->scope = strdup(cJSON_IsString(sc) ? sc->valuestring : "");
    t->expires_in = (long)ex->valuedouble;
    if (t->access == NULL || t->scope == NULL || (cJSON_IsString(rt) && t->refresh == NULL)) {
        gapi_tokens_free(t);
        goto out;
    }
    rc = CS_OK;
out:
    if (cJSON_IsString(at))
        sodium_memzero(at->valuestring, strlen(at->valuestring));
    if (cJSON_IsString(rt))
        sodium_memzero(rt->valuestring, strlen(rt->valuestring));
    cJSON_Delete(j);
    return rc;
}

int gapi_token_exchange(const struct cfg *cfg, const char *code, const char *verifier,
                        struct gapi_tokens *t, char *errbuf, size_t errlen)
{
    struct buf form, redirect;
    int rc;

    buf_init(&form, 16384);
    buf_init(&redirect, 4096);
    if (buf_printf(&redirect, "%s/api/google/calendar/callback", cfg->base_url) != CS_OK ||
        gapi_form_add(&form, "grant_type", "authorization_code") != CS_OK ||
        gapi_form_add(&form, "code", code) != CS_OK ||
        gapi_form_add(&form, "redirect_uri", redirect.data) != CS_OK ||
        gapi_form_add(&form, "client_id", cfg->google_client_id) != CS_OK ||
        gapi_form_add(&form, "client_secret", cfg->google_client_secret) != CS_OK ||
        gapi_form_add(&form, "code_verifier", verifier) != CS_OK) {
        rc = cs_fail(errbuf, errlen, CS_ERR_INVAL, "authorization code too long");
        goto out;
    }
    rc = gapi_token_post(cfg, &form, t, errbuf, errlen);
    if (rc == CS_ERR_REAUTH)
        rc = CS_ERR_AUTH; /* a refused code is not a revoked grant */
out:
    buf_free(&form);
    buf_free(&redirect);
    return rc;
}

int gapi_token_refresh(const struct cfg *cfg, const char *refresh, struct gapi_tokens *t,
                       char *errbuf, size_t errlen)
{
    struct buf form;
    int rc;

    buf_init(&form, 16384);
    if (gapi_form_add(&form, "grant_type", "refresh_token") != CS_OK ||
        gapi_form_add(&form, "refresh_token", refresh) != CS_OK ||
        gapi_form_add(&form, "client_id", cfg->google_client_id) != CS_OK ||
        gapi_form_add(&form, "client_secret", cfg->google_client_secret) != CS_OK) {
        buf_free(&form);
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "refresh token too long");
    }
    rc = gapi_token_post(cfg, &form, t, errbuf, errlen);
    buf_free(&form);
    return rc;
}

int gapi_revoke(const struct cfg *cfg, const char *token)
{
    struct buf form;
    struct gapi_resp r;
    int rc;

    buf_init(&form, 16384);
    if (gapi_form_add(&form, "token", token) != CS_OK) {
        buf_free(&form);
        return CS_ERR_INVAL;
    }
    rc = gapi_http(cfg, "POST", cfg->revoke_url, NULL, "application/x-www-form-urlencoded",
                   form.data, NULL, &r);
    buf_free(&form);
    if (rc == CS_OK && r.status != 200 && strcmp(r.reason, "invalid_token") != 0)
        rc = CS_ERR_GOOGLE;
    if (rc == CS_OK)
        log_info("token revoked (Google answered %ld)", r.status);
    else
        log_warn("token revoke failed (%s, status %ld)", cs_strerror(rc), r.status);
    gapi_resp_free(&r);
    return rc;
}
