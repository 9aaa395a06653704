/* harness_http.c: the tests' HTTP: a client, the emulator's control API, a webhook receiver. */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"
#include "harness_int.h"

struct body_buf {
    char *p;
    size_t n;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct body_buf *b = ud;
    char *np = realloc(b->p, b->n + sz * n + 1);

    if (np == NULL)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, p, sz * n);
    b->n += sz * n;
    b->p[b->n] = '\0';
    return sz * n;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);

    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    char line[4200];

    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line - 1 ? len : sizeof line - 1), p);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Location: ", 10) == 0)
        copy_str(r->location, sizeof r->location, line + 10);
    else if (strncasecmp(line, "Set-Cookie: ", 12) == 0)
        copy_str(r->set_cookie, sizeof r->set_cookie, line + 12);
    else if (strncasecmp(line, "Content-Type: ", 14) == 0)
        copy_str(r->content_type, sizeof r->content_type, line + 14);
    else if (strncasecmp(line, "Retry-After: ", 13) == 0)
        copy_str(r->retry_after, sizeof r->retry_after, line + 13);
    return len;
}

void resp_free(struct resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

void client_init(struct client *cl, struct stack *s)
{
    cl->c = curl_easy_init();
    cl->s = s;
    curl_easy_setopt(cl->c, CURLOPT_COOKIEFILE, ""); /* in-memory cookie engine */
}

void client_free(struct client *cl)
{
    curl_easy_cleanup(cl->c);
    cl->c = NULL;
}

long client_req(struct client *cl, const char *method, const char *path_or_url,
                const char *const *headers, const char *body, struct resp *r)
{
    char url[8192];
    struct curl_slist *h = NULL;
    struct body_buf b = {NULL, 0};
    struct resp tmp;

    if (r == NULL)
        r = &tmp;
    memset(r, 0, sizeof *r);
    if (strncmp(path_or_url, "http", 4) == 0)
        snprintf(url, sizeof url, "%s", path_or_url);
    else
        snprintf(url, sizeof url, "%s%s", cl->s->base, path_or_url);
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    curl_easy_setopt(cl->c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cl->c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(cl->c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cl->c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(cl->c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(cl->c, CURLOPT_FOLLOWLOCATION, 0L);
    if (body) {
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(cl->c, CURLOPT_HTTPGET, strcmp(method, "GET") == 0 ? 1L : 0L);
        if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(cl->c, CURLOPT_POSTFIELDSIZE, 0L);
        }
        curl_easy_setopt(cl->c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (curl_easy_perform(cl->c) == CURLE_OK)
        curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    r->body = b.p ? b.p : strdup("");
    r->json = cJSON_Parse(r->body);
    {
        long st = r->status;
        if (r == &tmp)
            resp_free(&tmp);
        return st;
    }
}

long client_json(struct client *cl, const char *method, const char *path, const char *body,
                 struct resp *r)
{
    char origin[128];
    const char *h[] = {"Content-Type: application/json", origin, NULL};

    snprintf(origin, sizeof origin, "Origin: %s", cl->s->base);
    return client_req(cl, method, path, h, body, r);
}

long client_login(struct client *cl, const char *email, const char *password)
{
    char body[512];

    if (stack_vesta()) /* Vesta logs its users in: a BetterAuth session */
        return stack_vesta_login(cl, email);
    snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"%s\"}", email, password);
    return client_json(cl, "POST", "/api/auth/login", body, NULL);
}

long client_connect(struct client *cl, char *final_location, size_t len)
{
    struct resp r;
    char loc[4096];
    long st;

    final_location[0] = '\0';
    st = client_req(cl, "GET", "/api/google/calendar/connect", NULL, NULL, &r);
    snprintf(loc, sizeof loc, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(cl, "GET", loc, NULL, NULL, &r); /* the emulator's consent */
    snprintf(loc, sizeof loc, "%s", r.location);
    resp_free(&r);
    if (st != 302)
        return st;
    st = client_req(cl, "GET", loc, NULL, NULL, &r); /* back to our callback */
    snprintf(final_location, len, "%s", r.location);
    resp_free(&r);
    return st;
}

long emu_ctl(struct stack *s, const char *method, const char *path, const char *body,
             struct resp *r)
{
    struct client cl;
    char url[4096];
    long st;
    const char *h[] = {"Content-Type: application/json", NULL};

    client_init(&cl, s);
    snprintf(url, sizeof url, "%s/_emulator/%s", s->emu, path);
    st = client_req(&cl, method, url, h, body, r);
    client_free(&cl);
    return st;
}

size_t emu_log_mark(struct stack *s)
{
    struct resp r;
    size_t n = 0;

    if (emu_ctl(s, "GET", "log?since=1000000000", NULL, &r) == 200)
        n = (size_t)jnum(r.json, "next");
    resp_free(&r);
    return n;
}

int emu_count_calls(struct stack *s, const char *method, const char *path_part, size_t since)
{
    return emu_count_calls_for(s, NULL, method, path_part, since);
}

int emu_count_calls_for(struct stack *s, const char *account, const char *method,
                        const char *path_part, size_t since)
{
    struct resp r;
    char path[64];
    const cJSON *e;
    int n = 0;

    snprintf(path, sizeof path, "log?since=%zu", since);
    if (emu_ctl(s, "GET", path, NULL, &r) == 200) {
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(r.json, "entries"))
        {
            const char *m = jstr(e, "method"), *p = jstr(e, "path"), *a = jstr(e, "account");
            if (account != NULL && (a == NULL || strcmp(a, account) != 0))
                continue;
            if ((method == NULL || (m && strcmp(m, method) == 0)) && p && strstr(p, path_part))
                n++;
        }
    }
    resp_free(&r);
    return n;
}

const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int jbool(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- notification receiver ---- */

static void *receiver_main(void *arg)
{
    struct receiver *r = arg;

    while (!r->stop) {
        char buf[8192];
        size_t used = 0;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        while (used < sizeof buf - 1) {
            ssize_t k = recv(c, buf + used, sizeof buf - 1 - used, 0);
            if (k <= 0)
                break;
            used += (size_t)k;
            buf[used] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[used] = '\0';
        if (used > 0) {
            const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            pthread_mutex_lock(&r->mu);
            if (r->n < RECEIVER_MAX)
                r->reqs[r->n++] = strdup(buf);
            pthread_mutex_unlock(&r->mu);
            if (send(c, ok, strlen(ok), MSG_NOSIGNAL) < 0)
                perror("receiver send");
        }
        close(c);
    }
    return NULL;
}

int receiver_start(struct receiver *r)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    struct timeval tv = {0, 200000};

    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(r->fd, 16) != 0 || getsockname(r->fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    r->port = ntohs(sa.sin_port);
    return pthread_create(&r->th, NULL, receiver_main, r);
}

void receiver_stop(struct receiver *r)
{
    r->stop = 1;
    shutdown(r->fd, SHUT_RDWR);
    pthread_join(r->th, NULL);
    close(r->fd);
    for (int i = 0; i < r->n; i++)
        free(r->reqs[i]);
    r->n = 0;
}

int receiver_count(struct receiver *r)
{
    int n;

    pthread_mutex_lock(&r->mu);
    n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

int receiver_header(struct receiver *r, int i, const char *name, char *out, size_t len)
{
    int rc = -1;
    size_t nl = strlen(name);

    pthread_mutex_lock(&r->mu);
    if (i >= 0 && i < r->n) {
        for (const char *p = r->reqs[i]; p && *p;
             p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
            if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
                const char *v = p + nl + 1;
                size_t vl;
                while (*v == ' ')
                    v++;
                vl = strcspn(v, "\r\n");
                if (vl >= len)
                    vl = len - 1;
                memcpy(out, v, vl);
                out[vl] = '\0';
                rc = 0;
                break;
            }
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}
