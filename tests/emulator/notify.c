/* notify.c: the emulator's push notifications, POSTed from a background thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "emu.h"

struct emu_note {
    char *address, *channel_id, *token, *resource_id, *resource_uri, *state;
    long long msgno, expiration_ms;
    struct emu_note *next;
};

static pthread_t notify_thread;
static pthread_cond_t notify_cond = PTHREAD_COND_INITIALIZER;
static struct emu_note *notify_head, *notify_tail;
static int notify_quit;

static void note_free(struct emu_note *n)
{
    free(n->address);
    free(n->channel_id);
    free(n->token);
    free(n->resource_id);
    free(n->resource_uri);
    free(n->state);
    free(n);
}

static size_t notify_sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

static void notify_send(const struct emu_note *n)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[1024], date[64];
    time_t t = (time_t)(n->expiration_ms / 1000);
    struct tm tm;
    long code = 0;
    CURLcode rc;

    if (c == NULL)
        return;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(line, sizeof line, "X-Goog-Channel-ID: %s", n->channel_id);
    h = curl_slist_append(h, line);
    if (n->token) {
        snprintf(line, sizeof line, "X-Goog-Channel-Token: %s", n->token);
        h = curl_slist_append(h, line);
    }
    snprintf(line, sizeof line, "X-Goog-Channel-Expiration: %s", date);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Goog-Resource-ID: %s", n->resource_id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Goog-Resource-URI: %s", n->resource_uri);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Goog-Resource-State: %s", n->state);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, "X-Goog-Message-Number: %lld", n->msgno);
    h = curl_slist_append(h, line);
    h = curl_slist_append(h, "Content-Type:");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, n->address);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT,
                     "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, notify_sink);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    pthread_mutex_lock(&emu.lock);
    if (rc == CURLE_OK && (code == 200 || code == 201 || code == 202 || code == 204 || code == 102))
        emu.notifications_sent++;
    else
        emu.notifications_failed++;
    pthread_mutex_unlock(&emu.lock);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void *notify_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&emu.lock);
    for (;;) {
        struct emu_note *n;
        while (notify_head == NULL && !notify_quit)
            pthread_cond_wait(&notify_cond, &emu.lock);
        if (notify_quit)
            break;
        n = notify_head;
        notify_head = n->next;
        if (notify_head == NULL)
            notify_tail = NULL;
        pthread_mutex_unlock(&emu.lock);
        notify_send(n);
        note_free(n);
        pthread_mutex_lock(&emu.lock);
    }
    pthread_mutex_unlock(&emu.lock);
    return NULL;
}

void emu_notify_start(void)
{
    pthread_create(&notify_thread, NULL, notify_main, NULL);
}

void emu_notify_stop(void)
{
    pthread_mutex_lock(&emu.lock);
    notify_quit = 1;
    pthread_cond_signal(&notify_cond);
    pthread_mutex_unlock(&emu.lock);
    pthread_join(notify_thread, NULL);
    while (notify_head) {
        struct emu_note *n = notify_head;
        notify_head = n->next;
        note_free(n);
    }
}

void emu_notify_channel(struct emu_channel *ch, const char *state)
{
    struct emu_note *n = calloc(1, sizeof *n);
    char uri[1024];

    if (n == NULL)
        return;
    snprintf(uri, sizeof uri, "%s/calendar/v3/calendars/%s/events?alt=json", emu.base_url,
             ch->calendar);
    n->address = emu_strdup(ch->address);
    n->channel_id = emu_strdup(ch->id);
    n->token = ch->token ? emu_strdup(ch->token) : NULL;
    n->resource_id = emu_strdup(ch->resource_id);
    n->resource_uri = emu_strdup(uri);
    n->state = emu_strdup(state);
    n->msgno = ++ch->msgno;
    n->expiration_ms = ch->expiration_ms;
    if (notify_tail)
        notify_tail->next = n;
    else
        notify_head = n;
    notify_tail = n;
    pthread_cond_signal(&notify_cond);
}

void emu_notify_calendar(const char *calendar)
{
    long long now = emu_now_ms();

    for (size_t i = 0; i < emu.nchannels; i++) {
        struct emu_channel *ch = &emu.channels[i];
        if (!ch->stopped && ch->expiration_ms > now && strcmp(ch->calendar, calendar) == 0)
            emu_notify_channel(ch, "exists");
    }
}
