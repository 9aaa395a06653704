/* realcal_util.c: helpers of it_realcal: the two sides of a sync as the tests see them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "realcal_util.h"

void rc_sync(struct client *c, int *pushed, int *pulled, int *deleted)
{
    struct resp r;
    long st = client_json(c, "POST", "/api/google/calendar/sync", "{}", &r);

    if (st != 200 || !jbool(r.json, "success"))
        fail_msg("sync answered %ld: %s", st, r.body);
    if (pushed)
        *pushed = (int)jnum(r.json, "pushed");
    if (pulled)
        *pulled = (int)jnum(r.json, "pulled");
    if (deleted)
        *deleted = (int)jnum(r.json, "deleted");
    resp_free(&r);
}

cJSON *rc_google(const char *who, int all)
{
    struct resp r;
    char path[128];
    cJSON *out = cJSON_CreateArray(), *it;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(r.json, "items"))
    {
        if (all || strcmp(jstr(it, "status"), "cancelled") != 0)
            cJSON_AddItemToArray(out, cJSON_Duplicate(it, 1));
    }
    resp_free(&r);
    return out;
}

char *rc_google_post(const char *who, const char *json)
{
    struct resp r;
    char path[128], *id;

    snprintf(path, sizeof path, "events?account=%s@gmail.test", who);
    if (emu_ctl(&S, "POST", path, json, &r) != 200)
        fail_msg("emulator refused %s: %s", json, r.body);
    id = strdup(jstr(r.json, "id"));
    resp_free(&r);
    return id;
}

void rc_google_edit(const char *who, const char *id, const char *method, const char *json)
{
    char path[1300];

    snprintf(path, sizeof path, "events/%s?account=%s@gmail.test", id, who);
    assert_int_equal(emu_ctl(&S, method, path, json, NULL),
                     strcmp(method, "DELETE") == 0 ? 204 : 200);
}

cJSON *rc_local(struct client *c, const char *from, const char *to)
{
    struct resp r;
    char path[256];
    cJSON *out;

    snprintf(path, sizeof path, "/api/appointments?from=%s&to=%s", from, to);
    assert_int_equal(client_req(c, "GET", path, NULL, NULL, &r), 200);
    out = cJSON_Duplicate(cJSON_GetObjectItem(r.json, "appointments"), 1);
    resp_free(&r);
    return out;
}

long long rc_create(struct client *c, const char *json)
{
    struct resp r;
    long long id;

    if (client_json(c, "POST", "/api/appointments", json, &r) != 201)
        fail_msg("create answered %ld: %s", r.status, r.body);
    id = (long long)jnum(r.json, "id");
    resp_free(&r);
    return id;
}

cJSON *rc_appt(struct client *c, long long id)
{
    struct resp r;
    char path[64];
    cJSON *o;

    snprintf(path, sizeof path, "/api/appointments/%lld", id);
    assert_int_equal(client_req(c, "GET", path, NULL, NULL, &r), 200);
    o = cJSON_Duplicate(r.json, 1);
    resp_free(&r);
    return o;
}

cJSON *rc_find(cJSON *arr, const char *key, const char *val)
{
    cJSON *it;

    cJSON_ArrayForEach(it, arr)
    {
        if (jstr(it, key) && strcmp(jstr(it, key), val) == 0)
            return it;
    }
    return NULL;
}

int rc_count_summary(const char *who, const char *title)
{
    cJSON *g = rc_google(who, 0), *it;
    int n = 0;

    cJSON_ArrayForEach(it, g) n += jstr(it, "summary") && strcmp(jstr(it, "summary"), title) == 0;
    cJSON_Delete(g);
    return n;
}

long long rc_stat(const char *name)
{
    struct resp r;
    long long v;

    assert_int_equal(emu_ctl(&S, "GET", "stats", NULL, &r), 200);
    v = (long long)jnum(r.json, name);
    resp_free(&r);
    return v;
}

void rc_emu(const char *path, const char *json)
{
    struct resp r;

    if (emu_ctl(&S, "POST", path, json, &r) != 200)
        fail_msg("emulator %s refused %s: %s", path, json, r.body);
    resp_free(&r);
}

int rc_user(struct client *c, const char *who, const char *tz)
{
    char email[64];

    snprintf(email, sizeof email, "%s@example.com", who);
    if (stack_user(&S, email, "password-123", tz) != 0)
        return -1;
    client_init(c, &S);
    return client_login(c, email, "password-123") == 200 ? 0 : -1;
}

int rc_connect(struct client *c, const char *who)
{
    char body[128], loc[4096];

    snprintf(body, sizeof body, "{\"account\":\"%s@gmail.test\",\"deny\":false}", who);
    if (emu_ctl(&S, "POST", "config", body, NULL) != 200 ||
        client_connect(c, loc, sizeof loc) != 302 || strstr(loc, STACK_CONNECTED) == NULL)
        return -1;
    return client_wait_synced(c);
}

long long rc_count(const char *who, const char *where)
{
    char sql[1024];
    const char *u = strstr(where, "$U");

    /* $U stands for the user's id */
    assert_non_null(u);
    snprintf(sql, sizeof sql, "%.*s(SELECT id FROM users WHERE email = '%s@example.com')%s",
             (int)(u - where), where, who, u + 2);
    return stack_db_int(&S, sql);
}

int rc_writes_without_none(size_t mark)
{
    struct resp r;
    char path[64];
    const cJSON *e;
    int n = 0;

    snprintf(path, sizeof path, "log?since=%zu", mark);
    assert_int_equal(emu_ctl(&S, "GET", path, NULL, &r), 200);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
    {
        const char *m = jstr(e, "method"), *p = jstr(e, "path"), *q = jstr(e, "query");
        if (strcmp(m, "GET") == 0 || strstr(p, "/events") == NULL || strstr(p, "/watch") != NULL)
            continue;
        if (q == NULL || strstr(q, "sendUpdates=none") == NULL) {
            fprintf(stderr, "write without sendUpdates=none: %s %s?%s\n", m, p, q ? q : "");
            n++;
        }
    }
    resp_free(&r);
    return n;
}
