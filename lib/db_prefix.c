/* db_prefix.c: calsync's table names rewritten with a prefix, for statements, migrations and
 * admin SQL (below the store's face and its back ends, which both use it). */
#include "db_prefix.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Every table calsync creates (its own; the host's are written in backticks). */
static const char *const db_prefix_tables[] = {
    "users",           "sessions",         "appointments",      "user_integrations",
    "outbox",          "sync_runs",        "oauth_states",      "login_failures",
    "sync_jobs",       "idempotency_keys", "vesta_calendars",   "schema_migrations",
    "host_migrations", "vesta_rows",       "vesta_accounts",    "vesta_feed",
    "seen_events",     "metric_counters",  "worker_heartbeats",
};

static int db_prefix_word(int c)
{
    return isalnum(c) || c == '_' || c == '$';
}

/* Length of the table name at p (a whole word), or 0. */
static size_t db_prefix_match(const char *sql, const char *p)
{
    if (p > sql && (db_prefix_word((unsigned char)p[-1]) || p[-1] == '.'))
        return 0;
    for (size_t i = 0; i < sizeof db_prefix_tables / sizeof db_prefix_tables[0]; i++) {
        size_t n = strlen(db_prefix_tables[i]);
        if (strncmp(p, db_prefix_tables[i], n) == 0 && !db_prefix_word((unsigned char)p[n]))
            return n;
    }
    return 0;
}

char *db_prefix_sql(const char *sql, const char *prefix)
{
    size_t pl = prefix != NULL ? strlen(prefix) : 0, cap, n = 0;
    char *out, quote = 0;

    if (sql == NULL)
        return NULL;
    /* at most one prefix per 5 bytes of text ("users" is the shortest name) */
    cap = strlen(sql) + (strlen(sql) / 5 + 1) * pl + 1;
    if ((out = malloc(cap)) == NULL)
        return NULL;
    for (const char *p = sql; *p;) {
        size_t m;
        if (quote) {
            if (*p == quote)
                quote = 0;
            out[n++] = *p++;
            continue;
        }
        /* comments are copied as they are (an apostrophe in one opens no string) */
        if ((p[0] == '-' && p[1] == '-') || p[0] == '#') {
            while (*p && *p != '\n')
                out[n++] = *p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            size_t k = end ? (size_t)(end + 2 - p) : strlen(p);
            memcpy(out + n, p, k);
            n += k;
            p += k;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
            out[n++] = *p++;
            continue;
        }
        if (pl > 0 && (m = db_prefix_match(sql, p)) > 0) {
            memcpy(out + n, prefix, pl);
            n += pl;
            memcpy(out + n, p, m);
            n += m;
            p += m;
            continue;
        }
        out[n++] = *p++;
    }
    out[n] = '\0';
    return out;
}
