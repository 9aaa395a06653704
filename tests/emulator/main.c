/* main.c: calsync-emulator, an offline Google OAuth 2.0 + Calendar v3 on 127.0.0.1. */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/select.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <sodium.h>

#include "buf.h"
#include "crypt.h"
#include "cs.h"
#include "emu.h"
#include "http.h"

#define BODY_MAX (4 * 1024 * 1024)
#define LOG_MAX 100000

struct emu_state emu = {.lock = PTHREAD_MUTEX_INITIALIZER};
static char **redirect_uris;
static size_t nredirect_uris;
static volatile sig_atomic_t quit;

/* ---- small helpers ---- */

void *emu_push(void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, ncap * elem);
        if (p == NULL) {
            fprintf(stderr, "emulator: out of memory\n");
            exit(1);
        }
        *arr = p;
        *cap = ncap;
    }
    memset((char *)*arr + *n * elem, 0, elem);
    return (char *)*arr + (*n)++ * elem;
}

char *emu_strdup(const char *s)
{
    char *p = strdup(s ? s : "");

    if (p == NULL) {
        fprintf(stderr, "emulator: out of memory\n");
        exit(1);
    }
    return p;
}

long long emu_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void emu_rand_id(char *out, size_t len, const char *alphabet)
{
    size_t na = strlen(alphabet);

    for (size_t i = 0; i < len; i++)
        out[i] = alphabet[randombytes_uniform((uint32_t)na)];
    out[len] = '\0';
}

/* The n-th value of key in a raw query string ("a=1&b=2&a=3"), into buf; NULL when absent. */
static const char *emu_query_value(const char *q, const char *key, int n, char *buf, size_t len)
{
    size_t kl = strlen(key);

    for (const char *p = q; p != NULL && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == '=' && n-- == 0) {
            size_t vl = strcspn(p + kl + 1, "&");
            snprintf(buf, len, "%.*s", (int)vl, p + kl + 1);
            return buf;
        }
    }
    return NULL;
}

const char *emu_arg(void *conn, const char *key)
{
    static char inner[16][256]; /* batch parts are served one at a time, under the lock */
    static int next;

    if (conn == NULL) /* a request inside a batch: its own query */
        return emu.inner_query
                   ? emu_query_value(emu.inner_query, key, 0, inner[next++ % 16], sizeof inner[0])
                   : NULL;
    return MHD_lookup_connection_value((struct MHD_Connection *)conn, MHD_GET_ARGUMENT_KIND, key);
}

struct emu_args {
    const char *key;
    const char **vals;
    int n, max;
};

static enum MHD_Result emu_arg_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct emu_args *a = cls;

    (void)kind;
    if (value != NULL && strcmp(key, a->key) == 0 && a->n < a->max)
        a->vals[a->n++] = value;
    return MHD_YES;
}

int emu_arg_all(void *conn, const char *key, const char **vals, int max)
{
    static char inner[16][64];
    struct emu_args a = {key, vals, 0, max};

    if (conn == NULL) {
        for (int i = 0; emu.inner_query && i < max && i < 16; i++) {
            if ((vals[i] = emu_query_value(emu.inner_query, key, i, inner[i], sizeof inner[i])) ==
                NULL)
                return i;
            a.n = i + 1;
        }
        return a.n;
    }
    MHD_get_connection_values((struct MHD_Connection *)conn, MHD_GET_ARGUMENT_KIND, emu_arg_each,
                              &a);
    return a.n;
}

static void emu_reset_locked(void)
{
    for (size_t i = 0; i < emu.nevents; i++) {
        free(emu.events[i].id);
        free(emu.events[i].calendar);
        cJSON_Delete(emu.events[i].body);
    }
    for (size_t i = 0; i < emu.nchannels; i++) {
        struct emu_channel *c = &emu.channels[i];
        free(c->id);
        free(c->resource_id);
        free(c->token);
        free(c->address);
        free(c->calendar);
    }
    for (size_t i = 0; i < emu.ngrants; i++) {
        free(emu.grants[i].account);
        free(emu.grants[i].scope);
        free(emu.grants[i].refresh_token);
    }
    for (size_t i = 0; i < emu.ntokens; i++)
        free(emu.tokens[i].token);
    for (size_t i = 0; i < emu.ncodes; i++) {
        struct emu_code *c = &emu.codes[i];
        free(c->code);
        free(c->client_id);
        free(c->redirect_uri);
        free(c->challenge);
        free(c->scope);
        free(c->account);
    }
    for (size_t i = 0; i < emu.nlog; i++) {
        free(emu.log[i].path);
        free(emu.log[i].query);
        free(emu.log[i].account);
    }
    emu_calendars_reset();
    emu.nevents = emu.nchannels = emu.ngrants = emu.ntokens = emu.ncodes = emu.nlog = 0;
    emu.nfaults = 0;
    emu.deny_next = 0;
    emu.grant_scope[0] = '\0';
    emu.generation++;
    snprintf(emu.account, sizeof emu.account, "user@example.com");
    emu.notifications_sent = emu.notifications_failed = 0;
    emu.instance_ids_v2 = emu.empty_pages = emu.refuse_restore = emu.ignore_types = 0;
    emu.unknown_zones[0] = '\0';
    emu.guest_mails = emu.nondefault_writes = emu.foreign_writes = emu.invite_deletes = 0;
}

/* ---- OAuth ---- */

static int emu_redirect_allowed(const char *uri)
{
    if (nredirect_uris == 0)
        return strncmp(uri, "http://127.0.0.1", 16) == 0 ||
               strncmp(uri, "http://localhost", 16) == 0 || strncmp(uri, "https://", 8) == 0;
    for (size_t i = 0; i < nredirect_uris; i++)
        if (strcmp(redirect_uris[i], uri) == 0)
            return 1;
    return 0;
}

static void emu_redirect_to(struct emu_reply *r, const char *base, const char *const *kv)
{
    struct buf b;

    buf_init(&b, sizeof r->location - 1);
    buf_adds(&b, base);
    buf_adds(&b, strchr(base, '?') ? "&" : "?");
    for (int i = 0; kv[i] != NULL; i += 2) {
        if (kv[i + 1] == NULL)
            continue;
        if (b.data[b.len - 1] != '?' && b.data[b.len - 1] != '&')
            buf_adds(&b, "&");
        buf_adds(&b, kv[i]);
        buf_adds(&b, "=");
        http_urlencode(&b, kv[i + 1]);
    }
    snprintf(r->location, sizeof r->location, "%s", b.data ? b.data : base);
    buf_free(&b);
    r->status = 302;
}

static void emu_oauth_error(struct emu_reply *r, int status, const char *error, const char *desc)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "error", error);
    cJSON_AddStringToObject(o, "error_description", desc);
    cJSON_Delete(r->json);
    r->json = o;
    r->status = status;
}

static void emu_consent(void *conn, struct emu_reply *r)
{
    const char *client = emu_arg(conn, "client_id"), *redir = emu_arg(conn, "redirect_uri");
    const char *rtype = emu_arg(conn, "response_type"), *scope = emu_arg(conn, "scope");
    const char *state = emu_arg(conn, "state"), *chal = emu_arg(conn, "code_challenge");
    const char *method = emu_arg(conn, "code_challenge_method");
    const char *access = emu_arg(conn, "access_type"), *hint = emu_arg(conn, "login_hint");
    struct emu_code *c;
    char code[80];

    if (client == NULL || strcmp(client, emu.client_id) != 0) {
        emu_oauth_error(r, 401, "invalid_client", "The OAuth client was not found.");
        return;
    }
    if (redir == NULL || !emu_redirect_allowed(redir)) {
        emu_oauth_error(r, 400, "redirect_uri_mismatch",
                        "The redirect URI in the request does not match the ones authorized for "
                        "the OAuth client.");
        return;
    }
    if (rtype == NULL || strcmp(rtype, "code") != 0) {
        emu_redirect_to(
            r, redir,
            (const char *const[]){"error", "unsupported_response_type", "state", state, NULL});
        return;
    }
    if (scope == NULL || *scope == '\0') {
        emu_oauth_error(r, 400, "invalid_request", "Missing required parameter: scope");
        return;
    }
    if (chal != NULL && method != NULL && strcmp(method, "S256") != 0 &&
        strcmp(method, "plain") != 0) {
        emu_oauth_error(r, 400, "invalid_request", "Invalid code_challenge_method");
        return;
    }
    if (chal != NULL && (strlen(chal) < 43 || strlen(chal) > 128)) {
        emu_oauth_error(r, 400, "invalid_request", "Invalid code_challenge");
        return;
    }
    if (emu.deny_next) {
        emu.deny_next--;
        emu_redirect_to(r, redir,
                        (const char *const[]){"error", "access_denied", "state", state, NULL});
        return;
    }
    c = emu_push((void **)&emu.codes, &emu.ncodes, &emu.capcodes, sizeof *c);
    emu_rand_id(code, 4, "0123456789");
    code[1] = '/';
    emu_rand_id(code + 4, 60, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    memcpy(code, "4/0A", 4);
    c->code = emu_strdup(code);
    c->client_id = emu_strdup(client);
    c->redirect_uri = emu_strdup(redir);
    c->challenge = chal ? emu_strdup(chal) : NULL;
    if (chal && method && strcmp(method, "plain") == 0) {
        /* store plain challenges as their S256 form so one comparison serves both */
        char s256[CRYPT_TOKLEN];
        crypt_pkce_challenge(chal, s256);
        free(c->challenge);
        c->challenge = emu_strdup(s256);
    }
    c->scope = emu_strdup(emu.grant_scope[0] ? emu.grant_scope : scope);
    c->account = emu_strdup(hint && *hint ? hint : emu.account);
    c->offline = access != NULL && strcmp(access, "offline") == 0;
    c->expires_at = emu_now_ms() / 1000 + 600;
    emu_redirect_to(r, redir,
                    (const char *const[]){"state", state, "code", code, "scope", scope, NULL});
}

/* Decoded form field, or NULL. Uses the shared query parser. */
static const char *emu_form(const char *body, const char *key, char *out, size_t outlen)
{
    return http_query_get(body ? body : "", key, out, outlen) == CS_OK ? out : NULL;
}

static struct emu_token *emu_issue_access(size_t grant)
{
    struct emu_token *t = emu_push((void **)&emu.tokens, &emu.ntokens, &emu.captokens, sizeof *t);
    char tok[140];

    memcpy(tok, "ya29.", 5);
    emu_rand_id(tok + 5, 120, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
    t->token = emu_strdup(tok);
    t->grant = grant;
    t->expires_at = emu_now_ms() / 1000 + emu.token_ttl;
    return t;
}

static void emu_token_endpoint(const char *body, const char *basic_user, const char *basic_pass,
                               struct emu_reply *r)
{
    char grant_type[64], cid[256], csec[256], code[256], redir[2048], verifier[256], rt[256];
    const char *cid_p = emu_form(body, "client_id", cid, sizeof cid);
    const char *csec_p = emu_form(body, "client_secret", csec, sizeof csec);
    cJSON *o;

    if (cid_p == NULL)
        cid_p = basic_user;
    if (csec_p == NULL)
        csec_p = basic_pass;
    if (emu_form(body, "grant_type", grant_type, sizeof grant_type) == NULL) {
        emu_oauth_error(r, 400, "invalid_request", "Missing required parameter: grant_type");
        return;
    }
    if (cid_p == NULL || strcmp(cid_p, emu.client_id) != 0 || csec_p == NULL ||
        strcmp(csec_p, emu.client_secret) != 0) {
        emu_oauth_error(r, 401, "invalid_client", "Unauthorized");
        return;
    }
    if (strcmp(grant_type, "authorization_code") == 0) {
        struct emu_code *c = NULL;
        struct emu_grant *g;
        struct emu_token *t;
        size_t gi;
        if (emu_form(body, "code", code, sizeof code) == NULL) {
            emu_oauth_error(r, 400, "invalid_request", "Missing required parameter: code");
            return;
        }
        for (size_t i = 0; i < emu.ncodes; i++)
            if (strcmp(emu.codes[i].code, code) == 0)
                c = &emu.codes[i];
        if (c == NULL || c->expires_at < emu_now_ms() / 1000 || strcmp(c->client_id, cid_p) != 0) {
            emu_oauth_error(r, 400, "invalid_grant", "Malformed auth code.");
            return;
        }
        if (c->used) {
            if (c->has_grant) /* replay: Google revokes what the code produced */
                emu.grants[c->grant].revoked = 1;
            emu_oauth_error(r, 400, "invalid_grant", "Bad Request");
            return;
        }
        if (emu_form(body, "redirect_uri", redir, sizeof redir) == NULL ||
            strcmp(redir, c->redirect_uri) != 0) {
            emu_oauth_error(r, 400, "redirect_uri_mismatch", "Bad Request");
            return;
        }
        if (c->challenge != NULL) {
            char s256[CRYPT_TOKLEN];
            if (emu_form(body, "code_verifier", verifier, sizeof verifier) == NULL) {
                emu_oauth_error(r, 400, "invalid_grant", "Missing code verifier.");
                return;
            }
            crypt_pkce_challenge(verifier, s256);
            if (strcmp(s256, c->challenge) != 0) {
                emu_oauth_error(r, 400, "invalid_grant", "Invalid code verifier.");
                return;
            }
        }
        c->used = 1;
        g = emu_push((void **)&emu.grants, &emu.ngrants, &emu.capgrants, sizeof *g);
        gi = emu.ngrants - 1;
        g->account = emu_strdup(c->account);
        g->scope = emu_strdup(c->scope);
        if (c->offline) {
            char tok[110];
            memcpy(tok, "1//0", 4);
            emu_rand_id(tok + 4, 100,
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
            g->refresh_token = emu_strdup(tok);
        }
        c->grant = gi;
        c->has_grant = 1;
        t = emu_issue_access(gi);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "access_token", t->token);
        cJSON_AddNumberToObject(o, "expires_in", emu.token_ttl);
        if (emu.grants[gi].refresh_token)
            cJSON_AddStringToObject(o, "refresh_token", emu.grants[gi].refresh_token);
        cJSON_AddStringToObject(o, "scope", emu.grants[gi].scope);
        cJSON_AddStringToObject(o, "token_type", "Bearer");
        r->status = 200;
        r->json = o;
        return;
    }
    if (strcmp(grant_type, "refresh_token") == 0) {
        if (emu_form(body, "refresh_token", rt, sizeof rt) == NULL) {
            emu_oauth_error(r, 400, "invalid_request", "Missing required parameter: refresh_token");
            return;
        }
        for (size_t i = 0; i < emu.ngrants; i++) {
            struct emu_grant *g = &emu.grants[i];
            if (g->refresh_token && strcmp(g->refresh_token, rt) == 0 && !g->revoked) {
                struct emu_token *t = emu_issue_access(i);
                o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "access_token", t->token);
                cJSON_AddNumberToObject(o, "expires_in", emu.token_ttl);
                cJSON_AddStringToObject(o, "scope", emu.grants[i].scope);
                cJSON_AddStringToObject(o, "token_type", "Bearer");
                r->status = 200;
                r->json = o;
                return;
            }
        }
        emu_oauth_error(r, 400, "invalid_grant", "Token has been expired or revoked.");
        return;
    }
    emu_oauth_error(r, 400, "unsupported_grant_type", "Invalid grant_type");
}

static void emu_revoke(const char *body, void *conn, struct emu_reply *r)
{
    char tok[256];
    const char *t = emu_form(body, "token", tok, sizeof tok);

    if (t == NULL)
        t = emu_arg(conn, "token");
    if (t != NULL) {
        for (size_t i = 0; i < emu.ngrants; i++) {
            if (emu.grants[i].refresh_token && strcmp(emu.grants[i].refresh_token, t) == 0 &&
                !emu.grants[i].revoked) {
                emu.grants[i].revoked = 1;
                r->status = 200;
                r->json = cJSON_CreateObject();
                return;
            }
        }
        for (size_t i = 0; i < emu.ntokens; i++) {
            if (strcmp(emu.tokens[i].token, t) == 0 && !emu.grants[emu.tokens[i].grant].revoked &&
                emu.tokens[i].expires_at > emu_now_ms() / 1000) {
                emu.grants[emu.tokens[i].grant].revoked = 1;
                r->status = 200;
                r->json = cJSON_CreateObject();
                return;
            }
        }
    }
    emu_oauth_error(r, 400, "invalid_token", "Token expired or revoked");
}

/* ---- faults and the call log ---- */

/* Applies the first matching fault (lock held). Returns 1 when the reply was decided. */
static int emu_fault(const char *method, const char *path, const char *query, struct emu_reply *r,
                     int *delay_ms)
{
    for (size_t i = 0; i < emu.nfaults; i++) {
        struct emu_fault f = emu.faults[i];
        if (f.until_ms > 0 && emu_now_ms() >= f.until_ms) { /* the outage is over */
            memmove(&emu.faults[i], &emu.faults[i + 1], (emu.nfaults - i - 1) * sizeof f);
            emu.nfaults--;
            i--;
            continue;
        }
        if ((f.path[0] && strstr(path, f.path) == NULL) ||
            (f.query[0] && (query == NULL || strstr(query, f.query) == NULL)) ||
            (f.method[0] && strcmp(method, f.method) != 0))
            continue;
        if (f.nth > 0 && ++emu.faults[i].seen != f.nth)
            continue; /* e.g. only the 3rd part of a batch */
        if (f.until_ms == 0 && --emu.faults[i].count <= 0) {
            memmove(&emu.faults[i], &emu.faults[i + 1], (emu.nfaults - i - 1) * sizeof f);
            emu.nfaults--;
        }
        if (f.kind == 1) {
            *delay_ms = f.delay_ms;
            return 0;
        }
        if (f.kind == 3) {
            *delay_ms = -1;
            return 0;
        }
        if (f.kind == 2) {
            r->drop = 1;
            return 1;
        }
        emu_reply_error(r, f.status, f.reason,
                        /* Google's texts (errors guide; the trackers for the usage limits) */
                        strcmp(f.reason, "quotaExceeded") == 0 ? "Calendar usage limits exceeded."
                        : strcmp(f.reason, "dailyLimitExceeded") == 0 ? "Daily Limit Exceeded"
                        : strcmp(f.reason, "fullSyncRequired") == 0
                            ? "Sync token is no longer valid, a full sync is required."
                        : f.status == 429 || f.status == 403 ? "Rate Limit Exceeded"
                        : f.status == 412                    ? "Precondition Failed"
                        : f.status == 404                    ? "Not Found"
                        : f.status >= 500                    ? "Backend Error"
                                                             : "Bad Request");
        if (f.retry_after > 0)
            snprintf(r->retry_after, sizeof r->retry_after, "%d", f.retry_after);
        return 1;
    }
    return 0;
}

static void emu_log_add(const char *method, const char *path, const char *query, int status,
                        const char *account)
{
    struct emu_log *l;

    if (emu.nlog >= LOG_MAX)
        return;
    l = emu_push((void **)&emu.log, &emu.nlog, &emu.caplog, sizeof *l);
    snprintf(l->method, sizeof l->method, "%s", method);
    l->path = emu_strdup(path);
    l->query = emu_strdup(query);
    l->account = emu_strdup(account);
    l->status = status;
    l->ts_ms = emu_now_ms();
}

/* ---- batch: multipart/mixed of application/http parts, answered in order ---- */

#define EMU_BATCH_MAX 50

static const char *emu_status_text(int st)
{
    switch (st) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    default:
        return "Error";
    }
}

/* Finds "boundary=" in a Content-Type value; 0 on success. */
static int emu_boundary(const char *ctype, char *out, size_t len)
{
    const char *b = ctype ? strstr(ctype, "boundary=") : NULL;
    size_t n;

    if (b == NULL || strncasecmp(ctype, "multipart/mixed", 15) != 0)
        return -1;
    b += 9;
    if (*b == '"')
        b++;
    n = strcspn(b, "\";, \r\n");
    if (n == 0 || n >= len)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return 0;
}

/* One header value of a header block (case-insensitive), copied into out; 0 when found. */
static int emu_block_header(const char *block, const char *end, const char *name, char *out,
                            size_t len)
{
    size_t nl = strlen(name);

    for (const char *p = block; p && p < end;) {
        const char *eol = strstr(p, "\n");
        if (eol == NULL || eol > end)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t vl;
            while (*v == ' ')
                v++;
            vl = (size_t)(eol - v);
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= len)
                vl = len - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        p = eol + 1;
    }
    return -1;
}

static void emu_batch(const char *ctype, const char *body, const char *auth, struct emu_reply *r)
{
    char boundary[128], delim[136], out_b[40];
    const char *p, *next, *end = body + strlen(body);
    struct buf out;
    int parts = 0;

    if (emu_boundary(ctype, boundary, sizeof boundary) != 0) {
        emu_reply_error(r, 400, "badContent",
                        "Batch requests must be multipart/mixed with a boundary.");
        return;
    }
    snprintf(delim, sizeof delim, "--%s", boundary);
    snprintf(out_b, sizeof out_b, "batch_emu_%lld", emu_now_ms());
    buf_init(&out, 64 << 20);
    p = strstr(body, delim);
    while (p != NULL) {
        const char *hdr_end, *req, *req_body, *part_end;
        char cid[128] = "", line[2048], method[16], path[1800], if_match[128] = "",
             inner_auth[512] = "";
        struct emu_reply sub;
        cJSON *json = NULL;
        char *raw;
        size_t blen;

        p += strlen(delim);
        if (strncmp(p, "--", 2) == 0)
            break; /* closing delimiter */
        next = strstr(p, delim);
        part_end = next ? next : end;
        if (++parts > EMU_BATCH_MAX) {
            buf_free(&out);
            emu_reply_error(r, 400, "tooManyRequests", "Too many requests in one batch.");
            return;
        }
        hdr_end = http_after_blank(p, part_end);
        if (hdr_end == NULL)
            break;
        emu_block_header(p, hdr_end, "Content-ID", cid, sizeof cid);
        req = hdr_end;
        {
            size_t ll = strcspn(req, "\r\n");
            snprintf(line, sizeof line, "%.*s", (int)(ll < sizeof line - 1 ? ll : sizeof line - 1),
                     req);
        }
        req_body = http_after_blank(req, part_end);
        if (req_body == NULL)
            req_body = part_end;
        emu_block_header(req, req_body, "If-Match", if_match, sizeof if_match);
        emu_block_header(req, req_body, "Authorization", inner_auth, sizeof inner_auth);
        blen = (size_t)(part_end - req_body);
        while (blen > 0 && (req_body[blen - 1] == '\n' || req_body[blen - 1] == '\r'))
            blen--;
        raw = strndup(req_body, blen);
        if (blen > 0)
            json = cJSON_ParseWithLength(req_body, blen);
        memset(&sub, 0, sizeof sub);
        if (sscanf(line, "%15s %1799s", method, path) != 2 || path[0] != '/') {
            emu_reply_error(&sub, 400, "badRequest", "Bad inner request line.");
        } else {
            char *q = strchr(path, '?'), logq[1024];
            int delay = 0;
            if (q)
                *q++ = '\0';
            emu.inner_query = q ? q : "";
            snprintf(logq, sizeof logq, "batch=1%s%s", q ? "&" : "", q ? q : "");
            /* faults apply to each call inside a batch too (each counts against quota) */
            if (emu_fault(method, path, emu.inner_query, &sub, &delay)) {
                if (sub.drop)
                    emu_reply_error(&sub, 503, "backendError", "Backend Error");
            } else {
                emu_calendar_handle(method, path, inner_auth[0] ? inner_auth : auth,
                                    if_match[0] ? if_match : NULL, json, raw, NULL, &sub);
            }
            emu.inner_query = NULL;
            emu_log_add(method, path, logq, sub.status, sub.account);
        }
        {
            char *text = sub.json ? cJSON_PrintUnformatted(sub.json) : NULL;
            size_t cl = strlen(cid);
            const char *id = cid;
            if (cl >= 2 && cid[0] == '<' && cid[cl - 1] == '>') { /* <item> -> <response-item> */
                cid[cl - 1] = '\0';
                id = cid + 1;
            }
            buf_printf(
                &out,
                "--%s\r\nContent-Type: application/http\r\nContent-ID: <response-%s>\r\n\r\n"
                "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n%s\r\n",
                out_b, id, sub.status, emu_status_text(sub.status), text ? text : "");
            free(text);
        }
        cJSON_Delete(sub.json);
        cJSON_Delete(json);
        free(raw);
        p = next;
    }
    buf_printf(&out, "--%s--\r\n", out_b);
    r->status = 200;
    r->raw = buf_steal(&out);
    snprintf(r->raw_ctype, sizeof r->raw_ctype, "multipart/mixed; boundary=%s", out_b);
}

/* ---- control API ---- */

static cJSON *emu_channels_json(void)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; i < emu.nchannels; i++) {
        struct emu_channel *c = &emu.channels[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", c->id);
        cJSON_AddStringToObject(o, "resourceId", c->resource_id);
        cJSON_AddStringToObject(o, "token", c->token ? c->token : "");
        cJSON_AddStringToObject(o, "address", c->address);
        cJSON_AddStringToObject(o, "calendar", c->calendar);
        cJSON_AddNumberToObject(o, "expiration", (double)c->expiration_ms);
        cJSON_AddBoolToObject(o, "stopped", c->stopped);
        cJSON_AddBoolToObject(o, "live", !c->stopped && c->expiration_ms > emu_now_ms());
        cJSON_AddNumberToObject(o, "messages", (double)c->msgno);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void emu_ok(struct emu_reply *r, cJSON *o)
{
    r->status = 200;
    r->json = o ? o : cJSON_CreateObject();
}

static int emu_fault_parse(const cJSON *b, struct emu_fault *f)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(b, "kind");
    const cJSON *v;

    memset(f, 0, sizeof *f);
    f->count = 1;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "count")) && cJSON_IsNumber(v))
        f->count = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "path")) && cJSON_IsString(v))
        snprintf(f->path, sizeof f->path, "%s", v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "method")) && cJSON_IsString(v))
        snprintf(f->method, sizeof f->method, "%s", v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "query")) && cJSON_IsString(v))
        snprintf(f->query, sizeof f->query, "%s", v->valuestring);
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "nth")) && cJSON_IsNumber(v) && v->valueint > 0)
        f->nth = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "forMs")) && cJSON_IsNumber(v) &&
        v->valuedouble > 0)
        f->until_ms = emu_now_ms() + (long long)v->valuedouble;
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "delay") == 0) {
        f->kind = 1;
        v = cJSON_GetObjectItemCaseSensitive(b, "ms");
        f->delay_ms = cJSON_IsNumber(v) ? v->valueint : 1000;
        return 0;
    }
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "drop") == 0) {
        f->kind = 2;
        return 0;
    }
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "drop_after") == 0) {
        f->kind = 3; /* the call takes effect, then the answer is lost */
        return 0;
    }
    v = cJSON_GetObjectItemCaseSensitive(b, "status");
    if (!cJSON_IsNumber(v) || v->valueint < 400 || v->valueint > 599)
        return -1;
    f->status = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "retryAfter")) && cJSON_IsNumber(v))
        f->retry_after = v->valueint;
    v = cJSON_GetObjectItemCaseSensitive(b, "reason");
    snprintf(f->reason, sizeof f->reason, "%s",
             cJSON_IsString(v)                      ? v->valuestring
             : f->status == 403 || f->status == 429 ? "rateLimitExceeded"
             : f->status >= 500                     ? "backendError"
                                                    : "badRequest");
    return 0;
}

static void emu_control(const char *method, const char *path, cJSON *body, void *conn,
                        struct emu_reply *r)
{
    const char *acct = emu_arg(conn, "account"), *calq = emu_arg(conn, "calendar");
    const char *owner = acct && *acct ? acct : emu.account;
    /* events of a secondary calendar with ?calendar=ID; else the account's primary one */
    const char *account = calq && *calq ? calq : owner;
    int post = strcmp(method, "POST") == 0;

    if (strcmp(path, "/_emulator/reset") == 0 && post) {
        emu_reset_locked();
        emu_ok(r, NULL);
    } else if (strcmp(path, "/_emulator/config") == 0) {
        if (post && cJSON_IsObject(body)) {
            const cJSON *v;
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "account")) && cJSON_IsString(v))
                snprintf(emu.account, sizeof emu.account, "%s", v->valuestring);
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "deny")))
                emu.deny_next = cJSON_IsNumber(v) ? v->valueint : cJSON_IsTrue(v);
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "tokenTtl")) && cJSON_IsNumber(v))
                emu.token_ttl = v->valueint;
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "maxChannelTtl")) && cJSON_IsNumber(v))
                emu.max_channel_ttl = v->valueint;
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "clientSecret")) && cJSON_IsString(v))
                snprintf(emu.secret_buf, sizeof emu.secret_buf, "%s", v->valuestring),
                    emu.client_secret = emu.secret_buf;
            if ((v = cJSON_GetObjectItemCaseSensitive(body, "grantScope")) && cJSON_IsString(v))
                snprintf(emu.grant_scope, sizeof emu.grant_scope, "%s", v->valuestring);
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "account", emu.account);
        cJSON_AddNumberToObject(o, "deny", emu.deny_next);
        cJSON_AddNumberToObject(o, "tokenTtl", emu.token_ttl);
        cJSON_AddNumberToObject(o, "maxChannelTtl", emu.max_channel_ttl);
        cJSON_AddStringToObject(o, "clientId", emu.client_id);
        emu_realcal_config(post && cJSON_IsObject(body) ? body : NULL, o);
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/events") == 0 && strcmp(method, "GET") == 0) {
        cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
        for (size_t i = 0; i < emu.nevents; i++)
            if (strcmp(emu.events[i].calendar, account) == 0)
                cJSON_AddItemToArray(items, cJSON_Duplicate(emu.events[i].body, 1));
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/events") == 0 && post && cJSON_IsArray(body)) {
        /* bulk: an array of events, inserted in order (benchmarks seed thousands at once) */
        const cJSON *e;
        int n = 0;
        cJSON_ArrayForEach(e, body)
        {
            struct emu_reply one;
            memset(&one, 0, sizeof one);
            if (!cJSON_IsObject(e) || emu_event_insert(account, (cJSON *)e, &one) != 0) {
                cJSON_Delete(one.json);
                emu_reply_error(r, 400, "invalid", "bulk insert: an item is not a valid event");
                return;
            }
            cJSON_Delete(one.json);
            n++;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "inserted", n);
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/events") == 0 && post) {
        if (!cJSON_IsObject(body))
            emu_reply_error(r, 400, "parseError", "Parse Error");
        else
            emu_event_insert(account, body, r);
    } else if (strncmp(path, "/_emulator/events/", 18) == 0 && post && strlen(path) > 24 &&
               strcmp(path + strlen(path) - 6, "/split") == 0) {
        /* the Google user changes "this and following events" of a series */
        char id[1100];
        snprintf(id, sizeof id, "%.*s", (int)(strlen(path) - 24), path + 18);
        emu_realcal_split(account, id, body, r);
    } else if (strcmp(path, "/_emulator/seed") == 0 && post) {
        emu_realcal_seed(account, body, r); /* an agent's calendar */
    } else if (strncmp(path, "/_emulator/events/", 18) == 0) {
        const char *id = path + 18;
        if (strcmp(method, "DELETE") == 0) {
            emu_event_delete(account, id, NULL, r);
        } else if (strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
            if (!cJSON_IsObject(body))
                emu_reply_error(r, 400, "parseError", "Parse Error");
            else
                emu_event_patch(account, id, body, strcmp(method, "PUT") == 0, NULL, r);
        } else {
            struct emu_event *ev = emu_event_find(account, id);
            if (ev == NULL)
                emu_reply_error(r, 404, "notFound", "Not Found");
            else
                emu_ok(r, cJSON_Duplicate(ev->body, 1));
        }
    } else if (strcmp(path, "/_emulator/calendars") == 0 && strcmp(method, "GET") == 0) {
        /* the account's calendars, as the Google user sees them */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "items", emu_calendars_json(owner));
        emu_ok(r, o);
    } else if (strncmp(path, "/_emulator/calendars/", 21) == 0 && strcmp(method, "DELETE") == 0) {
        /* the Google user deletes a calendar (its events go with it) */
        emu_calendar_delete(owner, path + 21, r);
    } else if (strcmp(path, "/_emulator/faults") == 0) {
        if (post) {
            struct emu_fault f;
            if (!cJSON_IsObject(body) || emu_fault_parse(body, &f) != 0 ||
                emu.nfaults >= sizeof emu.faults / sizeof emu.faults[0]) {
                emu_reply_error(r, 400, "invalid",
                                "fault: {status 4xx/5xx | kind delay|drop|drop_after, count, "
                                "forMs, path, query, nth, method, retryAfter, reason, ms}");
                return;
            }
            emu.faults[emu.nfaults++] = f;
        } else if (strcmp(method, "DELETE") == 0) {
            emu.nfaults = 0;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "pending", (double)emu.nfaults);
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/tokens") == 0 && strcmp(method, "GET") == 0) {
        /* every token issued, so tests can look for them where they must not be */
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "tokens");
        for (size_t i = 0; i < emu.ntokens; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(emu.tokens[i].token));
        for (size_t i = 0; i < emu.ngrants; i++)
            if (emu.grants[i].refresh_token)
                cJSON_AddItemToArray(arr, cJSON_CreateString(emu.grants[i].refresh_token));
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/tokens/expire") == 0 && post) {
        for (size_t i = 0; i < emu.ntokens; i++)
            emu.tokens[i].expires_at = 0;
        emu_ok(r, NULL);
    } else if (strcmp(path, "/_emulator/tokens/revoke") == 0 && post) {
        for (size_t i = 0; i < emu.ngrants; i++)
            emu.grants[i].revoked = 1;
        emu_ok(r, NULL);
    } else if (strcmp(path, "/_emulator/sync-tokens/invalidate") == 0 && post) {
        emu.generation++;
        emu_ok(r, NULL);
    } else if (strcmp(path, "/_emulator/channels/expire") == 0 && post) {
        for (size_t i = 0; i < emu.nchannels; i++)
            emu.channels[i].expiration_ms = emu_now_ms() - 1;
        emu_ok(r, NULL);
    } else if (strcmp(path, "/_emulator/channels") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "channels", emu_channels_json());
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/log") == 0) {
        if (strcmp(method, "DELETE") == 0) {
            for (size_t i = 0; i < emu.nlog; i++) {
                free(emu.log[i].path);
                free(emu.log[i].query);
                free(emu.log[i].account);
            }
            emu.nlog = 0;
            emu_ok(r, NULL);
            return;
        }
        const char *since_s = emu_arg(conn, "since");
        size_t since = since_s ? (size_t)strtoul(since_s, NULL, 10) : 0;
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "entries");
        for (size_t i = since; i < emu.nlog; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "method", emu.log[i].method);
            cJSON_AddStringToObject(e, "path", emu.log[i].path);
            cJSON_AddStringToObject(e, "query", emu.log[i].query);
            cJSON_AddStringToObject(e, "account", emu.log[i].account);
            cJSON_AddNumberToObject(e, "status", emu.log[i].status);
            cJSON_AddNumberToObject(e, "ts", (double)emu.log[i].ts_ms);
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddNumberToObject(o, "next", (double)emu.nlog);
        emu_ok(r, o);
    } else if (strcmp(path, "/_emulator/stats") == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "notificationsSent", (double)emu.notifications_sent);
        cJSON_AddNumberToObject(o, "notificationsFailed", (double)emu.notifications_failed);
        cJSON_AddNumberToObject(o, "events", (double)emu.nevents);
        cJSON_AddNumberToObject(o, "calls", (double)emu.nlog);
        cJSON_AddNumberToObject(o, "guestMails", (double)emu.guest_mails);
        cJSON_AddNumberToObject(o, "nonDefaultWrites", (double)emu.nondefault_writes);
        cJSON_AddNumberToObject(o, "foreignWrites", (double)emu.foreign_writes);
        cJSON_AddNumberToObject(o, "inviteDeletes", (double)emu.invite_deletes);
        emu_ok(r, o);
    } else {
        emu_reply_error(r, 404, "notFound", "Unknown emulator control route");
    }
}

/* ---- HTTP plumbing ---- */

struct emu_conn {
    struct buf body;
    int too_big;
};

static enum MHD_Result emu_query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    struct buf *b = cls;

    (void)kind;
    if (b->len)
        buf_adds(b, "&");
    buf_adds(b, key);
    if (value) {
        buf_adds(b, "=");
        buf_adds(b, value);
    }
    return MHD_YES;
}

/* A small page to act as the Google user by hand (scripts/run's demo). */
static const char emu_ui_html[] =
    "<!doctype html><html><head><meta charset=utf-8><title>Google emulator</title>"
    "<style>body{font:14px system-ui;margin:24px;max-width:860px}input,button{font:inherit;"
    "margin:2px}table{border-collapse:collapse;width:100%;margin-top:12px}td,th{border-bottom:"
    "1px solid #ddd;padding:4px;text-align:left}.c{color:#999;text-decoration:line-through}"
    "</style></head><body><h1>Google Calendar emulator</h1>"
    "<p>Act as the Google user: changes here reach calsync through push notifications.</p>"
    "<form id=f><input id=acct size=24 value=user@example.com title=account> "
    "<input id=sum placeholder=Title required> <input id=st type=datetime-local required> "
    "<input id=en type=datetime-local required> <label><input id=ad type=checkbox> all day"
    "</label> <button>Create event</button></form>"
    "<table><thead><tr><th>Title<th>Start<th>End<th>Status<th></tr></thead><tbody id=t>"
    "</tbody></table><script>"
    "const $=i=>document.getElementById(i),q=()=>'?account='+encodeURIComponent($('acct').value);"
    "const w=o=>o?(o.date||o.dateTime||''):'';"
    "async function load(){const r=await(await fetch('/_emulator/events'+q())).json();"
    "$('t').replaceChildren(...r.items.map(e=>{const tr=document.createElement('tr');"
    "if(e.status==='cancelled')tr.className='c';"
    "for(const v of[e.summary||'',w(e.start),w(e.end),e.status]){const td=document.createElement"
    "('td');td.textContent=v;tr.append(td)}const td=document.createElement('td');"
    "if(e.status!=='cancelled'){const b=document.createElement('button');b.textContent='Delete';"
    "b.onclick=async()=>{await fetch('/_emulator/events/'+encodeURIComponent(e.id)+q(),"
    "{method:'DELETE'});load()};td.append(b)}tr.append(td);return tr}))}"
    "$('f').onsubmit=async ev=>{ev.preventDefault();const ad=$('ad').checked,s=$('st').value,"
    "n=$('en').value;const t=v=>ad?{date:v.slice(0,10)}:{dateTime:new Date(v).toISOString()};"
    "const r=await fetch('/_emulator/events'+q(),{method:'POST',headers:{'Content-Type':"
    "'application/json'},body:JSON.stringify({summary:$('sum').value,start:t(s),end:t(n)})});"
    "if(!r.ok)alert((await r.json()).error.message);load()};load();setInterval(load,3000);"
    "</script></body></html>";

static enum MHD_Result emu_send(struct MHD_Connection *conn, struct emu_reply *r)
{
    char *text = r->json ? cJSON_PrintUnformatted(r->json) : NULL;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->raw != NULL)
        resp = MHD_create_response_from_buffer(strlen(r->raw), r->raw, MHD_RESPMEM_MUST_COPY);
    else if (r->status == 204)
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    else
        resp =
            MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (void *)"",
                                            text ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (r->raw != NULL)
        MHD_add_response_header(resp, "Content-Type", r->raw_ctype);
    else if (r->status != 204 && r->status != 302)
        MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
    if (r->retry_after[0])
        MHD_add_response_header(resp, "Retry-After", r->retry_after);
    if (r->status == 302)
        MHD_add_response_header(resp, "Location", r->location);
    ret = MHD_queue_response(conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    free(text);
    free(r->raw);
    r->raw = NULL;
    return ret;
}

static enum MHD_Result emu_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls)
{
    struct emu_conn *ec = *con_cls;
    struct emu_reply r;
    cJSON *body = NULL;
    struct buf q;
    int delay_ms = 0;
    enum MHD_Result ret;

    (void)cls;
    (void)version;
    if (ec == NULL) {
        ec = calloc(1, sizeof *ec);
        if (ec == NULL)
            return MHD_NO;
        buf_init(&ec->body, BODY_MAX);
        buf_add(&ec->body, "", 0);
        *con_cls = ec;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (buf_add(&ec->body, upload_data, *upload_data_size) != CS_OK)
            ec->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    memset(&r, 0, sizeof r);
    if (ec->too_big) {
        emu_reply_error(&r, 413, "requestTooLarge", "Request too large");
        ret = emu_send(conn, &r);
        cJSON_Delete(r.json);
        return ret;
    }
    if (ec->body.len > 0)
        body = cJSON_ParseWithLength(ec->body.data, ec->body.len);

    buf_init(&q, 1 << 20);
    buf_add(&q, "", 0);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, emu_query_iter, &q);

    if (strcmp(method, "GET") == 0 &&
        (strcmp(url, "/_emulator/") == 0 || strcmp(url, "/_emulator/ui") == 0)) {
        struct MHD_Response *page = MHD_create_response_from_buffer(
            sizeof emu_ui_html - 1, (void *)emu_ui_html, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(page, "Content-Type", "text/html; charset=utf-8");
        ret = MHD_queue_response(conn, 200, page);
        MHD_destroy_response(page);
        buf_free(&q);
        cJSON_Delete(body);
        return ret;
    }
    pthread_mutex_lock(&emu.lock);
    if (strncmp(url, "/_emulator/", 11) == 0) {
        emu_control(method, url, body, conn, &r);
    } else if (emu_fault(method, url, q.data, &r, &delay_ms)) {
        emu_log_add(method, url, q.data, r.drop ? 0 : r.status, r.account);
    } else {
        int drop_after = delay_ms < 0;
        if (delay_ms > 0) {
            pthread_mutex_unlock(&emu.lock);
            usleep((useconds_t)delay_ms * 1000);
            pthread_mutex_lock(&emu.lock);
        }
        if (strcmp(url, "/o/oauth2/v2/auth") == 0 && strcmp(method, "GET") == 0) {
            emu_consent(conn, &r);
        } else if (strcmp(url, "/token") == 0 && strcmp(method, "POST") == 0) {
            char *user = NULL, *pass = NULL;
            user = MHD_basic_auth_get_username_password(conn, &pass);
            emu_token_endpoint(ec->body.data, user, pass, &r);
            MHD_free(user);
            MHD_free(pass);
        } else if (strcmp(url, "/revoke") == 0 && strcmp(method, "POST") == 0) {
            emu_revoke(ec->body.data, conn, &r);
        } else if (strcmp(url, "/batch/calendar/v3") == 0 && strcmp(method, "POST") == 0) {
            emu_batch(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
                      ec->body.data,
                      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"), &r);
        } else if (strncmp(url, "/calendar/v3/", 13) == 0) {
            emu_calendar_handle(method, url,
                                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"),
                                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-Match"),
                                body, ec->body.data, conn, &r);
        } else {
            emu_reply_error(&r, 404, "notFound", "Not Found");
        }
        emu_log_add(method, url, q.data, drop_after ? 0 : r.status, r.account);
        r.drop = drop_after;
    }
    pthread_mutex_unlock(&emu.lock);
    buf_free(&q);
    cJSON_Delete(body);
    if (r.drop) {
        cJSON_Delete(r.json);
        return MHD_NO; /* closes the connection without an answer */
    }
    ret = emu_send(conn, &r);
    cJSON_Delete(r.json);
    return ret;
}

static void emu_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                          enum MHD_RequestTerminationCode toe)
{
    struct emu_conn *ec = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (ec != NULL) {
        buf_free(&ec->body);
        free(ec);
        *con_cls = NULL;
    }
}

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: calsync-emulator [--port N] [--port-file FILE] [--client-id ID]\n"
                    "         [--client-secret S] [--redirect-uri URI]... [--token-ttl S]\n"
                    "         [--channel-ttl S] [--account EMAIL]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct MHD_Daemon *d;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    const char *port_file = NULL;
    int port = 0;
    struct sigaction act;

    if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    emu.client_id = "calsync-emulator-client";
    emu.client_secret = "calsync-emulator-secret";
    emu.token_ttl = 3599;
    emu.max_channel_ttl = 7 * 86400;
    snprintf(emu.account, sizeof emu.account, "user@example.com");
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[++i];
        else if (strcmp(argv[i], "--client-id") == 0)
            emu.client_id = argv[++i];
        else if (strcmp(argv[i], "--client-secret") == 0)
            emu.client_secret = argv[++i];
        else if (strcmp(argv[i], "--token-ttl") == 0)
            emu.token_ttl = atoi(argv[++i]);
        else if (strcmp(argv[i], "--channel-ttl") == 0)
            emu.max_channel_ttl = atoi(argv[++i]);
        else if (strcmp(argv[i], "--account") == 0)
            snprintf(emu.account, sizeof emu.account, "%s", argv[++i]);
        else if (strcmp(argv[i], "--redirect-uri") == 0) {
            char **p = realloc(redirect_uris, (nredirect_uris + 1) * sizeof *p);
            if (p == NULL)
                return 1;
            redirect_uris = p;
            redirect_uris[nredirect_uris++] = argv[++i];
        } else
            usage();
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, emu_handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
        emu_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "emulator: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    port = info ? info->port : port;
    snprintf(emu.base_url, sizeof emu.base_url, "http://127.0.0.1:%d", port);
    emu_notify_start();
    if (port_file != NULL) {
        char tmp[4096];
        FILE *f;
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", port) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "emulator: cannot write %s\n", port_file);
            return 1;
        }
    }
    printf("calsync-emulator listening on http://127.0.0.1:%d (client_id %s)\n", port,
           emu.client_id);
    fflush(stdout);
    memset(&act, 0, sizeof act);
    act.sa_handler = on_signal;
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    while (!quit)
        pause();
    MHD_stop_daemon(d);
    emu_notify_stop();
    pthread_mutex_lock(&emu.lock);
    emu_reset_locked();
    free(emu.events);
    free(emu.calendars);
    free(emu.channels);
    free(emu.grants);
    free(emu.tokens);
    free(emu.codes);
    free(emu.log);
    pthread_mutex_unlock(&emu.lock);
    free(redirect_uris);
    curl_global_cleanup();
    return 0;
}
