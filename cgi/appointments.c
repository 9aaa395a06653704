/* appointments: the Vesta side. GET/POST /api/appointments, GET/PATCH/DELETE
 * /api/appointments/{id}. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appt.h"
#include "appt_list.h"
#include "appt_store.h"
#include "auth.h"
#include "cal.h"
#include "cfg.h"
#include "crypt.h"
#include "db.h"
#include "cs.h"
#include "http.h"
#include "integ.h"
#include "jobs.h"
#include "log.h"
#include "sync.h"

#define PREFIX "/api/appointments"
/* a page of 2,000 appointments with long descriptions fits */
#define HTTP_LIST_MAX (256 * 1024 * 1024)

static int parse_id(const char *s, long long *out)
{
    char *end;
    long long v;

    if (*s < '1' || *s > '9' || strlen(s) > 18)
        return CS_ERR_INVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0)
        return CS_ERR_INVAL;
    *out = v;
    return CS_OK;
}

/* Reads a range bound (RFC 3339 or a date) from the query into UTC form. */
static int range_bound(struct http_req *req, const char *key, time_t def, time_t *out)
{
    char v[64];
    int rc = http_query_get(req->query, key, v, sizeof v);

    if (rc == CS_ERR_NOTFOUND || (rc == CS_OK && v[0] == '\0')) {
        *out = def;
        return CS_OK;
    }
    if (rc != CS_OK || (cal_parse_rfc3339(v, out) != CS_OK && cal_parse_date(v, out) != CS_OK))
        return CS_ERR_INVAL;
    return CS_OK;
}

/* The page size: "limit" in 1..APPT_LIST_MAX, APPT_LIST_MAX when absent. */
static int page_limit(struct http_req *req, int *out)
{
    char v[16], *end;
    long n;
    int rc = http_query_get(req->query, "limit", v, sizeof v);

    *out = APPT_LIST_MAX;
    if (rc == CS_ERR_NOTFOUND)
        return CS_OK;
    if (rc != CS_OK || v[0] < '0' || v[0] > '9')
        return CS_ERR_INVAL;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 1 || n > APPT_LIST_MAX)
        return CS_ERR_INVAL;
    *out = (int)n;
    return CS_OK;
}

/* One page of the range; "nextCursor" continues it (keyset paging on start, id). */
/* Answers kept per process: the page asks for the same weeks again and again (every few
 * seconds while it is open), and nothing changed in between is the common case. An entry holds
 * while the store's data version is the one it was built at (any commit, by any process,
 * moves it). */
#define LIST_CACHE 8
#define LIST_CACHE_MAX (512 * 1024) /* bigger answers are not kept */
static struct {
    char key[512];
    long long version;
    struct buf body;
    unsigned long used; /* for evicting the least recently used */
} list_cache[LIST_CACHE];
static unsigned long list_clock;

static const struct buf *list_cached(const char *key, long long version)
{
    for (int i = 0; i < LIST_CACHE && version >= 0; i++)
        if (list_cache[i].version == version && strcmp(list_cache[i].key, key) == 0 &&
            list_cache[i].body.data != NULL) {
            list_cache[i].used = ++list_clock;
            return &list_cache[i].body;
        }
    return NULL;
}

static void list_keep(const char *key, long long version, const struct buf *body)
{
    int victim = 0;

    if (version < 0 || body->len > LIST_CACHE_MAX)
        return;
    for (int i = 1; i < LIST_CACHE; i++)
        if (list_cache[i].used < list_cache[victim].used)
            victim = i;
    buf_free(&list_cache[victim].body);
    buf_init(&list_cache[victim].body, LIST_CACHE_MAX + 1);
    if (buf_add(&list_cache[victim].body, body->data, body->len) != CS_OK) {
        buf_free(&list_cache[victim].body);
        return;
    }
    snprintf(list_cache[victim].key, sizeof list_cache[victim].key, "%s", key);
    list_cache[victim].version = version;
    list_cache[victim].used = ++list_clock;
}

static void list(struct http_req *req, const struct auth_user *u)
{
    char key[512];
    const struct buf *hit;
    long long version;
    time_t now = time(NULL), from, to;
    char f[CAL_STRLEN], t[CAL_STRLEN], msg[128], cur[APPT_CURSOR_LEN];
    struct appt_pos after, next;
    int limit, more = 0, has_after = 0, rc;
    struct buf b;

    if (page_limit(req, &limit) != CS_OK) {
        snprintf(msg, sizeof msg, "limit must be an integer from 1 to %d", APPT_LIST_MAX);
        http_reply_error(req, 400, msg);
        return;
    }
    rc = http_query_get(req->query, "cursor", cur, sizeof cur);
    if (rc != CS_ERR_NOTFOUND) {
        if (rc != CS_OK || appt_cursor_decode(cur, &after) != CS_OK) {
            http_reply_error(req, 400, "invalid cursor");
            return;
        }
        has_after = 1;
    }
    if (range_bound(req, "from", now - 30 * 86400, &from) != CS_OK ||
        range_bound(req, "to", now + 90 * 86400, &to) != CS_OK) {
        http_reply_error(req, 400, "from and to must be RFC 3339 date-times or dates");
        return;
    }
    if (to <= from || to - from > 400LL * 86400) {
        snprintf(msg, sizeof msg, "the range must be positive and at most 400 days");
        http_reply_error(req, 400, msg);
        return;
    }
    cal_format_utc(from, f);
    cal_format_utc(to, t);
    /* the user's zone is part of the answer (and of the key) */
    snprintf(key, sizeof key, "%s|%s|%s|%d|%s|%lld|%s", u->id, f, t, limit,
             has_after ? after.start : "", has_after ? after.id : 0LL, u->tz);
    version = db_data_version(req->db);
    if ((hit = list_cached(key, version)) != NULL) {
        http_reply(req, 200, "application/json", NULL, hit->data, hit->len);
        return;
    }
    /* written straight from the rows: a month costs a tenth of a cJSON tree */
    buf_init(&b, HTTP_LIST_MAX);
    rc = buf_adds(&b, "{\"appointments\":");
    if (rc == CS_OK)
        rc = appt_list_json(req->db, u->id, f, t, has_after ? &after : NULL, limit, &b, &next,
                            &more);
    if (rc == CS_OK && more)
        rc = appt_cursor_encode(&next, cur);
    if (rc == CS_OK)
        rc = more ? buf_printf(&b, ",\"nextCursor\":\"%s\"", cur)
                  : buf_adds(&b, ",\"nextCursor\":null");
    /* from and to are formatted by us; the zone name is validated at user-add, but escape
     * it anyway through cJSON */
    if (rc == CS_OK)
        rc = buf_printf(&b, ",\"from\":\"%s\",\"to\":\"%s\",\"timezone\":", f, t);
    if (rc == CS_OK) {
        cJSON *z = cJSON_CreateString(u->tz);
        char *zs = z ? cJSON_PrintUnformatted(z) : NULL;
        rc = zs ? buf_adds(&b, zs) : CS_ERR_NOMEM;
        free(zs);
        cJSON_Delete(z);
    }
    if (rc == CS_OK)
        rc = buf_adds(&b, "}");
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot list appointments");
    } else {
        http_reply(req, 200, "application/json", NULL, b.data, b.len);
        list_keep(key, version, &b);
    }
    buf_free(&b);
}

/* Answers with the appointment as stored now. */
static void reply_appt(struct http_req *req, const struct auth_user *u, long long id, int status)
{
    struct appt a;
    int rc = appt_get(req->db, u->id, id, &a);

    if (rc == CS_ERR_NOTFOUND) {
        http_reply_error(req, 404, "appointment not found");
        return;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot read appointment");
        return;
    }
    http_reply_json(req, status, appt_to_json(&a), NULL);
    appt_free(&a);
}

/* After the local commit (which wrote the push job with the change) and the answer: the
 * worker is woken; Google is never called from here. */
static void push_after(struct http_req *req, int connected)
{
    if (connected)
        jobs_wake(req->cfg);
}

static long long push_of(struct http_req *req, int connected)
{
    return connected ? req->cfg->push_delay_ms : APPT_NO_PUSH;
}

static void create(struct http_req *req, const struct auth_user *u)
{
    struct appt a;
    char err[CS_ERRLEN], key[HTTP_IDEM_KEY_MAX + 1], hash[CRYPT_HEXLEN];
    cJSON *body = NULL;
    int rc, connected, have_key;

    memset(&a, 0, sizeof a);
    have_key = http_idempotency_key(http_param(req, "HTTP_IDEMPOTENCY_KEY"), key);
    if (have_key == CS_ERR_INVAL) {
        http_reply_error(req, 400, "Idempotency-Key must be 1-200 visible ASCII characters");
        goto out;
    }
    if (auth_check_write(req) != CS_OK || http_json_body(req, HTTP_BODY_MAX, &body) != CS_OK)
        goto out;
    /* the same key must come with the same request: compare a hash of the body */
    crypt_sha256_hex(req->body.data ? req->body.data : "", req->body.len, hash);
    snprintf(a.user_id, sizeof a.user_id, "%s", u->id);
    rc = appt_apply_json(&a, body, 0, u->tz, err, sizeof err);
    if (rc != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, err);
        goto out;
    }
    connected = integ_is_connected(req->db, u->id);
    rc = appt_create(req->db, req->cfg, &a, push_of(req, connected), have_key == CS_OK ? key : NULL,
                     hash);
    if (rc == CS_ERR_CONFLICT) { /* a retry: the first answer again, nothing created */
        log_info("create retried with the same Idempotency-Key: appointment %lld user=%s", a.id,
                 u->id);
        reply_appt(req, u, a.id, 201);
        goto out;
    }
    if (rc == CS_ERR_INVAL) {
        http_reply_error(req, 422, "this Idempotency-Key was used with a different request");
        goto out;
    }
    if (rc == CS_ERR_NOTFOUND) { /* the host knows no such contact (vesta: of this agency) */
        http_reply_error(req, 400, "contactId is not one of your contacts");
        goto out;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot save appointment");
        goto out;
    }
    log_info("created appointment %lld user=%s", a.id, u->id);
    reply_appt(req, u, a.id, 201);
    push_after(req, connected);
out:
    appt_free(&a);
    cJSON_Delete(body);
}

static void update(struct http_req *req, const struct auth_user *u, long long id)
{
    struct appt a;
    char err[CS_ERRLEN];
    cJSON *body = NULL;
    int rc, connected;

    memset(&a, 0, sizeof a);
    if (auth_check_write(req) != CS_OK || http_json_body(req, HTTP_BODY_MAX, &body) != CS_OK)
        goto out;
    rc = appt_get(req->db, u->id, id, &a);
    if (rc != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOTFOUND ? 404 : 500,
                         rc == CS_ERR_NOTFOUND ? "appointment not found" : "database error");
        goto out;
    }
    rc = appt_apply_json(&a, body, 1, u->tz, err, sizeof err);
    if (rc != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOMEM ? 500 : 400, err);
        goto out;
    }
    connected = integ_is_connected(req->db, u->id);
    rc = appt_update(req->db, req->cfg, &a, push_of(req, connected));
    if (rc == CS_ERR_INVAL) { /* the host knows no such contact (vesta: of this agency) */
        http_reply_error(req, 400, "contactId is not one of your contacts");
        goto out;
    }
    if (rc != CS_OK) {
        http_reply_error(req, rc == CS_ERR_NOTFOUND ? 404 : 500,
                         rc == CS_ERR_NOTFOUND ? "appointment not found" : "cannot save");
        goto out;
    }
    log_info("updated appointment %lld user=%s", id, u->id);
    reply_appt(req, u, id, 200);
    push_after(req, connected);
out:
    appt_free(&a);
    cJSON_Delete(body);
}

static void delete (struct http_req *req, const struct auth_user *u, long long id)
{
    int rc, connected;
    cJSON *o;

    if (auth_check_origin(req) != CS_OK)
        return;
    connected = integ_is_connected(req->db, u->id);
    rc = appt_delete(req->db, req->cfg, u->id, id, push_of(req, connected));
    if (rc == CS_ERR_NOTFOUND) {
        http_reply_error(req, 404, "appointment not found");
        return;
    }
    if (rc != CS_OK) {
        http_reply_error(req, 500, "cannot delete appointment");
        return;
    }
    log_info("deleted appointment %lld user=%s", id, u->id);
    o = cJSON_CreateObject();
    if (o != NULL) {
        cJSON_AddBoolToObject(o, "success", 1);
        cJSON_AddNumberToObject(o, "id", (double)id);
    }
    http_reply_json(req, 200, o, NULL);
    push_after(req, connected);
}

static int route(struct http_req *req, void *ctx)
{
    struct auth_user u;
    const char *rest;
    long long id;

    (void)ctx;
    if (strncmp(req->path, PREFIX, strlen(PREFIX)) != 0) {
        http_reply_error(req, 404, "no such route");
        return 0;
    }
    rest = req->path + strlen(PREFIX);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0) {
            http_reply_405(req, "GET, POST");
            return 0;
        }
        if (auth_require(req, &u) != CS_OK)
            return 0;
        if (strcmp(req->method, "GET") == 0)
            list(req, &u);
        else
            create(req, &u);
        return 0;
    }
    if (*rest != '/' || parse_id(rest + 1, &id) != CS_OK) {
        http_reply_error(req, 404, "no such appointment");
        return 0;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "PATCH") != 0 &&
        strcmp(req->method, "DELETE") != 0) {
        http_reply_405(req, "GET, PATCH, DELETE");
        return 0;
    }
    if (auth_require(req, &u) != CS_OK)
        return 0;
    if (strcmp(req->method, "GET") == 0)
        reply_appt(req, &u, id, 200);
    else if (strcmp(req->method, "PATCH") == 0)
        update(req, &u, id);
    else
        delete (req, &u, id);
    return 0;
}

int main(int argc, char **argv)
{
    return http_serve(argc, argv, "appointments", route, NULL);
}
