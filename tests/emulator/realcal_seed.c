/* realcal_seed.c: /_emulator/seed: an account like a real estate agent's primary calendar
 * (contacts' birthdays, weekly working locations, out of office, invitations some declined,
 * series split by "this and following", ordinary events over two years). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cal.h"
#include "cs.h"
#include "emu.h"

struct seed {
    const char *cal;
    unsigned long long rnd;
    int inserted, failed;
};

static int seed_num(const cJSON *b, const char *key, int def, int max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, key);
    int n = cJSON_IsNumber(v) ? v->valueint : def;

    return n < 0 ? 0 : n > max ? max : n;
}

static unsigned seed_rand(struct seed *s, unsigned mod)
{
    s->rnd = s->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
    return mod ? (unsigned)((s->rnd >> 33) % mod) : 0;
}

/* Inserts ev (taken) as the Google user; its id, or NULL. */
static char *seed_put(struct seed *s, cJSON *ev)
{
    struct emu_reply r;
    char *id = NULL;

    memset(&r, 0, sizeof r);
    if (emu_event_insert(s->cal, ev, &r) == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(r.json, "id");
        id = cJSON_IsString(v) ? emu_strdup(v->valuestring) : NULL;
        s->inserted++;
    } else {
        s->failed++;
    }
    cJSON_Delete(r.json);
    cJSON_Delete(ev);
    return id;
}

static void seed_when(cJSON *ev, const char *key, time_t t, int all_day, const char *zone)
{
    cJSON *w = cJSON_AddObjectToObject(ev, key);
    char buf[CAL_STRLEN];

    if (all_day) {
        cal_format_date(t, buf);
        cJSON_AddStringToObject(w, "date", buf);
        return;
    }
    if (cal_format_local(t, zone, buf) != CS_OK)
        cal_format_utc(t, buf);
    cJSON_AddStringToObject(w, "dateTime", buf);
    cJSON_AddStringToObject(w, "timeZone", zone);
}

static cJSON *seed_event(const char *summary, const char *type, time_t start, time_t end,
                         int all_day, const char *zone)
{
    cJSON *ev = cJSON_CreateObject();

    cJSON_AddStringToObject(ev, "summary", summary);
    if (type != NULL)
        cJSON_AddStringToObject(ev, "eventType", type);
    seed_when(ev, "start", start, all_day, zone);
    seed_when(ev, "end", end, all_day, zone);
    return ev;
}

static void seed_rule(cJSON *ev, const char *rule)
{
    cJSON_AddItemToArray(cJSON_AddArrayToObject(ev, "recurrence"), cJSON_CreateString(rule));
}

/* POST /_emulator/seed?account=A {"birthdays", "workingLocationWeeks", "outOfOffice",
 * "invitations", "declined", "splitSeries", "ordinary", "from": "YYYY-MM-DD", "days",
 * "seed"}: answers how many events it made and how many appointments a client that imports
 * what it should (ordinary, out of office, accepted invitations, series instances) ends with. */
void emu_realcal_seed(const char *calendar, const cJSON *body, struct emu_reply *r)
{
    static const char *const zone = "Europe/Madrid";
    int birthdays = seed_num(body, "birthdays", 0, 20000);
    int wl_weeks = seed_num(body, "workingLocationWeeks", 0, 520);
    int ooo = seed_num(body, "outOfOffice", 0, 1000);
    int invites = seed_num(body, "invitations", 0, 5000);
    int declined = seed_num(body, "declined", 0, 5000);
    int splits = seed_num(body, "splitSeries", 0, 500);
    int ordinary = seed_num(body, "ordinary", 0, 100000);
    int days = seed_num(body, "days", 730, 3660), appts = 0, series_instances = 0;
    const cJSON *fv = cJSON_GetObjectItemCaseSensitive(body, "from");
    struct seed s = {calendar, 0x9e3779b97f4a7c15ULL ^ (unsigned)seed_num(body, "seed", 1, 1 << 30),
                     0, 0};
    time_t from, t;
    char title[160], rule[96];
    cJSON *ev, *o;

    if (!cJSON_IsString(fv) || cal_parse_date(fv->valuestring, &from) != CS_OK)
        from = (time_t)(emu_now_ms() / 1000 / 86400 * 86400);
    /* contacts' birthdays: yearly all-day events of type birthday (event-types guide, since
     * the November 2024 release notes also the ones made from Google Contacts) */
    for (int i = 0; i < birthdays; i++) {
        t = from + (time_t)(i % 365) * 86400;
        snprintf(title, sizeof title, "Cumpleaños de Contacto %d", i + 1);
        ev = seed_event(title, "birthday", t, t + 86400, 1, zone);
        seed_rule(ev, "RRULE:FREQ=YEARLY");
        cJSON_AddStringToObject(ev, "visibility", "private");
        cJSON_AddStringToObject(ev, "transparency", "transparent");
        {
            cJSON *bp = cJSON_AddObjectToObject(ev, "birthdayProperties");
            char who[40];
            snprintf(who, sizeof who, "people/c%d", 1000 + i);
            cJSON_AddStringToObject(bp, "type", "birthday");
            cJSON_AddStringToObject(bp, "contact", who);
        }
        free(seed_put(&s, ev));
    }
    /* working locations: one weekly all-day series per weekday */
    for (int d = 0; wl_weeks > 0 && d < 5; d++) {
        t = from + (time_t)d * 86400;
        ev = seed_event(d == 4 ? "Casa" : "Oficina", "workingLocation", t, t + 86400, 1, zone);
        snprintf(rule, sizeof rule, "RRULE:FREQ=WEEKLY;COUNT=%d", wl_weeks);
        seed_rule(ev, rule);
        cJSON_AddItemToObject(ev, "workingLocationProperties",
                              cJSON_Parse(d == 4 ? "{\"type\":\"homeOffice\",\"homeOffice\":{}}"
                                                 : "{\"type\":\"officeLocation\"}"));
        free(seed_put(&s, ev));
    }
    /* out of office: busy time, imported */
    for (int i = 0; i < ooo; i++) {
        t = from + (time_t)seed_rand(&s, (unsigned)days) * 86400 + 8 * 3600;
        ev = seed_event("Fuera de la oficina", "outOfOffice", t, t + 10 * 3600, 0, zone);
        free(seed_put(&s, ev));
        appts++;
    }
    /* invitations from lenders, notaries, other agencies; the first `declined` declined */
    for (int i = 0; i < invites; i++) {
        char org[80];
        cJSON *att;
        t = from + (time_t)seed_rand(&s, (unsigned)days) * 86400 + (9 + seed_rand(&s, 9)) * 3600;
        snprintf(org, sizeof org, "%s%d@example.net",
                 i % 3 == 0   ? "notaria"
                 : i % 3 == 1 ? "banco"
                              : "agencia",
                 i % 17);
        snprintf(title, sizeof title, "Firma %s %d", org, i + 1);
        ev = seed_event(title, NULL, t, t + 3600, 0, zone);
        cJSON_AddItemToObject(ev, "organizer", cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetObjectItem(ev, "organizer"), "email", org);
        att = cJSON_AddArrayToObject(ev, "attendees");
        cJSON_AddItemToArray(att, cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetArrayItem(att, 0), "email", org);
        cJSON_AddBoolToObject(cJSON_GetArrayItem(att, 0), "organizer", 1);
        cJSON_AddStringToObject(cJSON_GetArrayItem(att, 0), "responseStatus", "accepted");
        cJSON_AddItemToArray(att, cJSON_CreateObject());
        cJSON_AddStringToObject(cJSON_GetArrayItem(att, 1), "email", calendar);
        cJSON_AddStringToObject(cJSON_GetArrayItem(att, 1), "responseStatus",
                                i < declined ? "declined"
                                : i % 2      ? "accepted"
                                             : "needsAction");
        free(seed_put(&s, ev));
        appts += i >= declined;
    }
    /* weekly series of a year, split half way by "this and following events" */
    for (int i = 0; i < splits; i++) {
        struct emu_reply sr;
        char *id;
        t = from + (time_t)(i % 7) * 86400 + (10 + i % 8) * 3600;
        snprintf(title, sizeof title, "Reunión equipo %d", i + 1);
        ev = seed_event(title, NULL, t, t + 3600, 0, zone);
        seed_rule(ev, "RRULE:FREQ=WEEKLY;COUNT=52");
        if ((id = seed_put(&s, ev)) == NULL)
            continue;
        cal_format_utc(t + 26 * 7 * 86400 - 3600, title); /* before the 27th, in any zone */
        ev = cJSON_CreateObject();
        cJSON_AddStringToObject(ev, "at", title);
        memset(&sr, 0, sizeof sr);
        emu_realcal_split(calendar, id, ev, &sr);
        if (sr.status == 200)
            series_instances += 52;
        else
            s.failed++;
        cJSON_Delete(sr.json);
        cJSON_Delete(ev);
        free(id);
    }
    appts += series_instances;
    /* ordinary events over the span: visits, meetings, signings */
    for (int i = 0; i < ordinary; i++) {
        static const char *const kinds[] = {"Visita", "Reunión", "Firma", "Cierre", "Viaje"};
        t = from + (time_t)seed_rand(&s, (unsigned)days) * 86400 + (8 + seed_rand(&s, 11)) * 3600 +
            seed_rand(&s, 4) * 900;
        snprintf(title, sizeof title, "%s %d", kinds[i % 5], i + 1);
        ev = seed_event(title, NULL, t, t + 3600, 0, zone);
        free(seed_put(&s, ev));
        appts++;
    }
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "inserted", s.inserted);
    cJSON_AddNumberToObject(o, "failed", s.failed);
    cJSON_AddNumberToObject(o, "appointments", appts);
    cJSON_AddNumberToObject(o, "seriesInstances", series_instances);
    r->status = s.failed ? 500 : 200;
    r->json = o;
}
