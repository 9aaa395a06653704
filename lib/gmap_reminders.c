/* gmap_reminders.c: the user's reminders setting: validated from the API, and as Google's
 * reminders object of an event. */
#include "gmap.h"
#include "cs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *gmap_reminders(const char *setting)
{
    cJSON *o = cJSON_CreateObject(), *arr = NULL, *list, *m;
    int ok;

    if (o == NULL || setting == NULL)
        goto bad;
    if (strcmp(setting, "default") == 0)
        return cJSON_AddBoolToObject(o, "useDefault", 1) ? o : (cJSON_Delete(o), NULL);
    if ((arr = cJSON_Parse(setting)) == NULL || !cJSON_IsArray(arr) ||
        !cJSON_AddBoolToObject(o, "useDefault", 0) ||
        (list = cJSON_AddArrayToObject(o, "overrides")) == NULL)
        goto bad;
    cJSON_ArrayForEach(m, arr)
    {
        cJSON *r = cJSON_CreateObject();
        ok = r != NULL && cJSON_IsNumber(m) && cJSON_AddStringToObject(r, "method", "popup") &&
             cJSON_AddNumberToObject(r, "minutes", m->valuedouble);
        if (r != NULL)
            cJSON_AddItemToArray(list, r);
        if (!ok)
            goto bad;
    }
    cJSON_Delete(arr);
    return o;
bad:
    cJSON_Delete(arr);
    cJSON_Delete(o);
    return NULL;
}

int gmap_reminders_canon(const cJSON *v, char **canon, char *errbuf, size_t errlen)
{
    cJSON *arr;
    const cJSON *m;
    int n = 0;

    *canon = NULL;
    if (cJSON_IsString(v) && strcmp(v->valuestring, "default") == 0) {
        *canon = strdup("default");
        return *canon ? CS_OK : CS_ERR_NOMEM;
    }
    if (!cJSON_IsArray(v))
        return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                       "reminders must be \"default\" or a list of minutes before the start");
    if (cJSON_GetArraySize(v) > GMAP_REMINDERS_MAX)
        return cs_fail(errbuf, errlen, CS_ERR_INVAL, "at most %d reminders", GMAP_REMINDERS_MAX);
    cJSON_ArrayForEach(m, v)
    {
        if (!cJSON_IsNumber(m) || m->valuedouble < 0 ||
            m->valuedouble > GMAP_REMINDER_MINUTES_MAX || floor(m->valuedouble) != m->valuedouble)
            return cs_fail(errbuf, errlen, CS_ERR_INVAL,
                           "each reminder must be a whole number of minutes from 0 to %d",
                           GMAP_REMINDER_MINUTES_MAX);
        n++;
    }
    if ((arr = cJSON_CreateArray()) == NULL)
        return CS_ERR_NOMEM;
    cJSON_ArrayForEach(m, v)
    {
        cJSON *x = cJSON_CreateNumber(m->valuedouble);
        if (x == NULL) {
            cJSON_Delete(arr);
            return CS_ERR_NOMEM;
        }
        cJSON_AddItemToArray(arr, x);
    }
    (void)n;
    *canon = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    return *canon ? CS_OK : CS_ERR_NOMEM;
}
