/* harness_google.c: users of a test stack connected to emulated Google, their jobs and channels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "crypt.h"

static int synced_cond(void *arg)
{
    struct client *c = arg;
    struct resp r;
    int ok;

    client_req(c, "GET", "/api/google/calendar/status", NULL, NULL, &r);
    ok = jstr(r.json, "lastSync") != NULL && jstr(r.json, "state") != NULL &&
         strcmp(jstr(r.json, "state"), "syncing") != 0;
    resp_free(&r);
    return ok;
}

int client_wait_synced(struct client *c)
{
    return client_wait_synced_ms(c, 10000);
}

int client_wait_synced_ms(struct client *c, int ms)
{
    return wait_until(synced_cond, c, ms) ? 0 : -1;
}

int stack_connect_start(struct stack *s, struct client *c, const char *who, const char *tz)
{
    char email[64], body[128], loc[4096];

    snprintf(email, sizeof email, "%s@example.com", who);
    if (stack_user(s, email, "password-123", tz) != 0)
        return -1;
    snprintf(body, sizeof body, "{\"account\":\"%s@gmail.test\",\"deny\":false}", who);
    if (emu_ctl(s, "POST", "config", body, NULL) != 200)
        return -1;
    client_init(c, s);
    if (client_login(c, email, "password-123") != 200 ||
        client_connect(c, loc, sizeof loc) != 302 ||
        strstr(loc, stack_vesta() ? "success=google_connected" : "google=connected") == NULL)
        return -1;
    return 0;
}

int stack_connect_user(struct stack *s, struct client *c, const char *who, const char *tz)
{
    if (stack_connect_start(s, c, who, tz) != 0)
        return -1;
    return client_wait_synced(c);
}

int stack_wait_jobs(struct stack *s, int ms)
{
    long long until = now_ms() + ms;

    for (;;) {
        /* due (or running) jobs left: rows whose time has come and that did not fail */
        char sql[200];
        long long left;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* the programs' clock, in ms (not whole seconds:
                                                a job written this second would look later) */
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sync_jobs WHERE (lease_owner IS NOT NULL OR "
                 "not_before <= %lld)",
                 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 500);
        left = stack_db_int(s, sql);
        if (left == 0)
            return 0;
        if (now_ms() > until)
            return -1;
        sleep_ms(20);
    }
}

int stack_channel(struct stack *s, const char *who, const char *secret, struct stack_chan *ch)
{
    static const char *const cols[2] = {"channel_id", "resource_id"};
    char *out[2] = {ch->id, ch->rid};
    size_t len[2] = {sizeof ch->id, sizeof ch->rid};

    for (int i = 0; i < 2; i++) {
        char sql[256], *v;
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM user_integrations i JOIN users u ON u.id = i.user_id WHERE "
                 "u.email = '%s@example.com'",
                 cols[i], who);
        if ((v = stack_db_text(s, sql)) == NULL)
            return -1;
        snprintf(out[i], len[i], "%s", v);
        free(v);
    }
    crypt_hmac_text(secret, ch->id, ch->token);
    return 0;
}
