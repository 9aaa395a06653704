/* emu.h: shared state and helpers of the Google emulator (OAuth 2.0 + Calendar v3). */
#ifndef EMU_H
#define EMU_H

#include <pthread.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#define EMU_CAL_SCOPE "https://www.googleapis.com/auth/calendar.events"
#define EMU_CAL_SCOPE_FULL "https://www.googleapis.com/auth/calendar"
#define EMU_CAL_SCOPE_APP "https://www.googleapis.com/auth/calendar.app.created"

/* A secondary calendar of an account (the primary one is the account itself: its id is the
 * account's address, "primary" aliases it). */
struct emu_calendar {
    char *id;    /* <random>@group.calendar.google.com */
    char *owner; /* the account */
    char *summary, *time_zone;
    int app_created; /* made through the API by the client: a calendar.app.created grant may use it
                      */
    int deleted;
    long long seq; /* etag */
};

struct emu_event {
    char *id;
    char *calendar; /* account email owning it */
    long long seq;  /* update sequence number for sync tokens */
    int deleted;
    cJSON *body; /* the full resource as Google would return it */
};

struct emu_channel {
    char *id, *resource_id, *token, *address, *calendar;
    long long expiration_ms;
    long long msgno;
    int stopped;
};

struct emu_grant { /* one consent: its refresh token and access tokens */
    char *account;
    char *scope;
    char *refresh_token; /* NULL for online access */
    int revoked;
};

struct emu_token {
    char *token;
    size_t grant;
    long long expires_at; /* epoch s */
};

struct emu_code {
    char *code, *client_id, *redirect_uri, *challenge, *scope, *account;
    int offline, used;
    long long expires_at;
    size_t grant; /* set once exchanged */
    int has_grant;
};

struct emu_fault {
    int kind; /* 0 status, 1 delay, 2 drop, 3 drop after processing */
    int status;
    int retry_after;
    int delay_ms;
    char reason[64];
    char path[128]; /* substring the path must contain; "" = any */
    char query[64]; /* substring the query must contain (e.g. "pageToken"); "" = any */
    int nth;        /* > 0: only the nth matching call (of a batch's parts too) */
    int seen;       /* matching calls so far */
    char method[8]; /* the method it applies to; "" = any */
    int count;
    long long until_ms; /* when set: applies to every matching call until then (an outage) */
};

struct emu_log {
    char method[8];
    char *path, *query, *account;
    int status;
    long long ts_ms;
};

struct emu_state {
    pthread_mutex_t lock;
    char *client_id, *client_secret;
    char secret_buf[256]; /* a client secret set through the control API */
    char account[256];    /* account consenting next */
    int deny_next;
    char grant_scope[256]; /* when set, the scope granted instead of the one asked for */
    int token_ttl;
    int max_channel_ttl;
    char base_url[128];
    long long seq;
    int generation; /* bumped to invalidate sync tokens */
    struct emu_event *events;
    size_t nevents, capevents;
    struct emu_calendar *calendars;
    size_t ncalendars, capcalendars;
    struct emu_channel *channels;
    size_t nchannels, capchannels;
    struct emu_grant *grants;
    size_t ngrants, capgrants;
    struct emu_token *tokens;
    size_t ntokens, captokens;
    struct emu_code *codes;
    size_t ncodes, capcodes;
    struct emu_fault faults[32];
    size_t nfaults;
    struct emu_log *log;
    size_t nlog, caplog;
    long long notifications_sent, notifications_failed;
    /* a real agent's calendar (realcal.c, issue 24) */
    int api;                 /* the call being served came through the Calendar API */
    void *cur_conn;          /* its connection (NULL inside a batch: inner_query) */
    const char *inner_query; /* the query of the batch part being served, or NULL */
    int instance_ids_v2;     /* instance ids in another format (Google announced a change) */
    int empty_pages;         /* every listing page is preceded by this many empty ones */
    int refuse_restore;      /* an update of a deleted event answers 403 (ruby-client#1811) */
    int ignore_types;        /* listings bring every event type, eventTypes or not */
    char unknown_zones[256]; /* space-separated zone names this "Google" refuses */
    long long guest_mails;   /* mails guests would have got (writes without sendUpdates=none) */
    long long nondefault_writes, foreign_writes, invite_deletes; /* refused or unwanted writes */
};

extern struct emu_state emu;

/* grow an array of T by one, zeroed; returns the new element or exits on OOM */
void *emu_push(void **arr, size_t *n, size_t *cap, size_t elem);
char *emu_strdup(const char *s);
long long emu_now_ms(void);
void emu_rand_id(char *out, size_t len, const char *alphabet);

/* notifications (notify.c) */
void emu_notify_start(void);
void emu_notify_stop(void);
/* queue a notification to one channel (lock held) */
void emu_notify_channel(struct emu_channel *ch, const char *state);
/* queue "exists" to every live channel on calendar (lock held) */
void emu_notify_calendar(const char *calendar);

/* calendar (calendar.c): all called with the lock held */
struct emu_reply {
    int status;
    cJSON *json; /* body, or NULL */
    char retry_after[16];
    char location[2048];
    int drop;
    char account[256]; /* whose calendar a Calendar call touched, for the log */
    char *raw;         /* a non-JSON body (batch answers), malloc'd */
    char raw_ctype[160];
};
void emu_reply_error(struct emu_reply *r, int status, const char *reason, const char *message);
void emu_calendar_handle(const char *method, const char *path, const char *auth,
                         const char *if_match, cJSON *body, const char *body_raw, void *conn,
                         struct emu_reply *r);
/* control-API helpers */
cJSON *emu_calendars_json(const char *account);
int emu_calendar_delete(const char *account, const char *id, struct emu_reply *r);
void emu_calendars_reset(void);
struct emu_event *emu_event_find(const char *calendar, const char *id);
int emu_event_insert(const char *calendar, cJSON *body, struct emu_reply *r);
int emu_event_patch(const char *calendar, const char *id, cJSON *patch, int replace,
                    const char *if_match, struct emu_reply *r);
int emu_event_delete(const char *calendar, const char *id, const char *if_match,
                     struct emu_reply *r);
const char *emu_arg(void *conn, const char *key);
/* Every value of a repeated query parameter (at most max) into vals; how many. */
int emu_arg_all(void *conn, const char *key, const char **vals, int max);

/* calendar.c for realcal.c: occurrence k of a recurring event (NULL past the end, or not a
 * series; *iid its instance id); an event's server fields and a new etag/updated/seq */
cJSON *emu_series_instance(const struct emu_event *ev, int k, char *iid, size_t iidlen);
void emu_event_touch(struct emu_event *ev);

/* a real agent's calendar (realcal.c): called with the lock held */
struct emu_rrule;
/* The Calendar API's checks of a write on an existing event (method PATCH, PUT or DELETE;
 * body NULL for DELETE): Google's refusals for someone else's event (403
 * forbiddenForNonOrganizer), a special type (400 eventTypeRestriction), a deleted event that
 * may not come back; 0 or -1 with r set. Counts what it refuses. */
int emu_realcal_write_check(const struct emu_event *ev, const char *method, const cJSON *body,
                            struct emu_reply *r);
/* A time zone of a written event this "Google" does not know: 0 or -1 with r set (400). */
int emu_realcal_zone_check(const cJSON *body, struct emu_reply *r);
/* Counts the mails guests of ev would get from an API write without sendUpdates=none. */
void emu_realcal_mail(const cJSON *ev_body, const char *calendar);
/* Sets organizer.self and attendees[].self of an event on calendar (the copy's owner). */
void emu_realcal_selves(cJSON *body, const char *calendar);
/* True when an event's type is one the listing asks for (types: n names; n 0 = all). */
int emu_realcal_type_listed(const cJSON *body, const char *const *types, int n);
/* Control API: /_emulator/events/ID/split ({"at": RFC 3339}) and /_emulator/seed. */
void emu_realcal_split(const char *calendar, const char *id, const cJSON *body,
                       struct emu_reply *r);
void emu_realcal_seed(const char *calendar, const cJSON *body, struct emu_reply *r);
/* config keys of this file in /_emulator/config; adds them to the answer o */
void emu_realcal_config(const cJSON *body, cJSON *o);
/* The instance id of an occurrence at t of master (all_day: date form), in the format set. */
void emu_realcal_instance_id(const char *master, time_t t, int all_day, char *out, size_t len);

#endif
