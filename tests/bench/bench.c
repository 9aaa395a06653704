/* bench: the speed figures of calsync on this machine (not assertions: numbers to watch).
 * API latency through nginx, a 2,500-event first pull, and notification-to-visible time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static int cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, long long *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%-44s p50 %5lld ms   p95 %5lld ms   max %5lld ms   (n=%d)\n", what, v[n / 2],
           v[(n * 95) / 100], v[n - 1], n);
}

static char want[64];

static int visible(void *arg)
{
    struct client *c = arg;
    struct resp r;
    int found;

    client_req(c, "GET", "/api/appointments?from=2026-06-01&to=2026-07-01", NULL, NULL, &r);
    found = r.body && strstr(r.body, want) != NULL;
    resp_free(&r);
    return found;
}

int main(void)
{
    static const struct stack_opts o = {.webhooks = 1};
    struct stack s;
    struct client c;
    char loc[4096], body[512];
    long long t[400], t0;
    int n = 200, rc = 1;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (stack_start(&s, &o) != 0 ||
        stack_user(&s, "bench@example.com", "password-123", NULL) != 0) {
        fprintf(stderr, "bench: stack did not start\n");
        goto out;
    }
    client_init(&c, &s);
    client_login(&c, "bench@example.com", "password-123");

    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof body,
                 "{\"title\":\"Bench "
                 "%d\",\"start\":\"2026-03-%02dT10:00:00Z\",\"end\":\"2026-03-%02dT11:00:00Z\"}",
                 i, 1 + i % 28, 1 + i % 28);
        t0 = now_ms();
        client_json(&c, "POST", "/api/appointments", body, NULL);
        t[i] = now_ms() - t0;
    }
    report("create appointment (not connected)", t, n);
    for (int i = 0; i < n; i++) {
        t0 = now_ms();
        client_req(&c, "GET", "/api/appointments?from=2026-03-01&to=2026-04-01", NULL, NULL, NULL);
        t[i] = now_ms() - t0;
    }
    report("list a month (200 appointments)", t, n);

    for (int i = 0; i < 2500; i++) {
        snprintf(body, sizeof body,
                 "{\"summary\":\"G "
                 "%d\",\"start\":{\"dateTime\":\"2026-05-%02dT%02d:00:00Z\"},\"end\":{\"dateTime\":"
                 "\"2026-05-%02dT%02d:30:00Z\"}}",
                 i, 1 + i % 28, i % 24, 1 + i % 28, i % 24);
        emu_ctl(&s, "POST", "events", body, NULL);
    }
    t0 = now_ms();
    if (client_connect(&c, loc, sizeof loc) != 302) {
        fprintf(stderr, "bench: connect failed\n");
        goto out;
    }
    /* the initial sync pushes 200 and pulls 2,500 */
    while (stack_db_int(
               &s, "SELECT count(*) FROM user_integrations WHERE last_sync_at IS NOT NULL") < 1 &&
           now_ms() - t0 < 120000)
        sleep_ms(20);
    printf("%-44s %lld ms\n", "connect + initial sync (push 200, pull 2500)", now_ms() - t0);
    t0 = now_ms();
    client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL);
    printf("%-44s %lld ms\n", "sync now with nothing to do", now_ms() - t0);

    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof body,
                 "{\"summary\":\"Bench notification "
                 "n%d\",\"start\":{\"dateTime\":\"2026-06-%02dT10:00:00Z\"},\"end\":{\"dateTime\":"
                 "\"2026-06-%02dT11:00:00Z\"}}",
                 i, i + 1, i + 1);
        snprintf(want, sizeof want, "Bench notification n%d", i);
        t0 = now_ms();
        emu_ctl(&s, "POST", "events", body, NULL);
        wait_until(visible, &c, 10000);
        t[i] = now_ms() - t0;
        client_json(&c, "POST", "/api/google/calendar/sync", "{}", NULL); /* settle */
        sleep_ms(600);
    }
    report("Google change -> visible in Vesta (push)", t, 10);
    rc = 0;
out:
    client_free(&c);
    stack_stop(&s);
    return rc;
}
