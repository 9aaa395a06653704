/* harness_ops.c: what the tests of operations share: GET /metrics read and summed, and raw
 * push notifications sent to the webhook one after another or all at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_int.h"

char *stack_scrape(struct stack *s)
{
    struct client c;
    struct resp r;
    char *body = NULL;

    client_init(&c, s);
    if (client_req(&c, "GET", "/metrics", NULL, NULL, &r) == 200 && r.body != NULL)
        body = strdup(r.body);
    resp_free(&r);
    client_free(&c);
    return body;
}

double metrics_sum(const char *body, const char *name, const char *labels)
{
    double sum = -1;
    size_t n = strlen(name);

    for (const char *l = body; l != NULL && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        const char *end = strchr(l, '\n'), *sp;
        char line[512], want[512], *part, *save = NULL;
        size_t len = end ? (size_t)(end - l) : strlen(l);
        int ok = 1;
        if (*l == '#' || len >= sizeof line || strncmp(l, name, n) != 0 ||
            (l[n] != '{' && l[n] != ' '))
            continue;
        memcpy(line, l, len);
        line[len] = '\0';
        if ((sp = strrchr(line, ' ')) == NULL)
            continue;
        snprintf(want, sizeof want, "%s", labels ? labels : "");
        for (part = strtok_r(want, ",", &save); part != NULL; part = strtok_r(NULL, ",", &save))
            if (strstr(line, part) == NULL)
                ok = 0;
        if (ok)
            sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
    }
    return sum;
}

double stack_metric(struct stack *s, const char *name, const char *labels)
{
    char *b = stack_scrape(s);
    double v = b ? metrics_sum(b, name, labels) : -2;

    free(b);
    return v;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* One notification's request (not sent yet): its headers in *h. */
static CURL *note_easy(struct stack *s, const char *id, const char *rid, const char *token,
                       long long msgno, struct curl_slist **h)
{
    char line[300];
    CURL *e = curl_easy_init();

    if (e == NULL)
        return NULL;
    *h = curl_slist_append(NULL, "Expect:");
    snprintf(line, sizeof line, "X-Goog-Channel-ID: %s", id);
    *h = curl_slist_append(*h, line);
    snprintf(line, sizeof line, "X-Goog-Resource-ID: %s", rid);
    *h = curl_slist_append(*h, line);
    snprintf(line, sizeof line, "X-Goog-Channel-Token: %s", token);
    *h = curl_slist_append(*h, line);
    *h = curl_slist_append(*h, "X-Goog-Resource-State: exists");
    if (msgno >= 0) {
        snprintf(line, sizeof line, "X-Goog-Message-Number: %lld", msgno);
        *h = curl_slist_append(*h, line);
    }
    snprintf(line, sizeof line, "%s/api/google/calendar/webhook", s->base);
    curl_easy_setopt(e, CURLOPT_URL, line);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

int stack_notify(struct stack *s, const char *id, const char *rid, const char *token,
                 long long first, int n, int together, long want)
{
    CURLM *m = curl_multi_init();
    CURL *e[STACK_NOTIFY_MAX];
    struct curl_slist *h[STACK_NOTIFY_MAX];
    int running = 1, ok = 0, made = 0;

    if (m == NULL || n > STACK_NOTIFY_MAX)
        return -1;
    for (; made < n; made++) {
        long st = 0;
        if ((e[made] = note_easy(s, id, rid, token, first >= 0 ? first + made : -1, &h[made])) ==
            NULL)
            break;
        if (together) {
            curl_multi_add_handle(m, e[made]);
            continue;
        }
        if (curl_easy_perform(e[made]) == CURLE_OK)
            curl_easy_getinfo(e[made], CURLINFO_RESPONSE_CODE, &st);
        ok += st == want;
    }
    while (together && running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_wait(m, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < made; i++) {
        if (together) {
            long st = 0;
            curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &st);
            ok += st == want;
            curl_multi_remove_handle(m, e[i]);
        }
        curl_easy_cleanup(e[i]);
        curl_slist_free_all(h[i]);
    }
    curl_multi_cleanup(m);
    return ok;
}

/* True when name is a family of the exposition, or a histogram family's _bucket/_sum/_count. */
static int metrics_has_name(const char *metrics, const char *name)
{
    size_t n = strlen(name);
    char type[200];

    snprintf(type, sizeof type, "# TYPE %s ", name);
    if (strstr(metrics, type) != NULL)
        return 1;
    for (const char *suf = "_bucket\0_sum\0_count\0"; *suf; suf += strlen(suf) + 1) {
        size_t sl = strlen(suf);
        if (n > sl && strcmp(name + n - sl, suf) == 0) {
            snprintf(type, sizeof type, "# TYPE %.*s histogram", (int)(n - sl), name);
            if (strstr(metrics, type) != NULL)
                return 1;
        }
    }
    return 0;
}

int metrics_unknown_name(const char *text, const char *metrics, char *out, size_t outlen)
{
    for (const char *p = strstr(text, "calsync_"); p != NULL; p = strstr(p + 1, "calsync_")) {
        char name[128];
        size_t n = 0;
        if (p > text && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))
            continue; /* inside another word */
        while (n < sizeof name - 1 &&
               ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_')) {
            name[n] = p[n];
            n++;
        }
        name[n] = '\0';
        if (!metrics_has_name(metrics, name)) {
            snprintf(out, outlen, "%s", name);
            return 1;
        }
    }
    return 0;
}

char *stack_read_text(const char *path)
{
    return harness_read_file(path);
}
