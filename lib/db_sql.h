/* db_sql.h: every SQL statement calsync runs, declared once (X-macro; included by db.h and
 * db_texts.c). DB_STMT(name, sql) serves both stores; DB_STMT2(name, sqlite_sql, mysql_sql)
 * only where the dialects differ. Parameters are numbered ?1..?N (a number may repeat; the MySQL
 * back end maps them to positional markers). Portable habits: `trigger` and `key` in backticks
 * (reserved in MySQL), CASE instead of scalar max()/min(), no RETURNING, no subquery on the
 * table a statement changes, null-safe equality spelled out. */
/* an UPDATE's next updated_at: the given time, but always past the stored one */
#define NEXT_UPDATED(p) "CASE WHEN " p " > updated_at + 1 THEN " p " ELSE updated_at + 1 END"
/* A sync that outlives a disconnect must not relink anything. */
#define SYNC_ACTIVE                                                                                \
    "AND EXISTS (SELECT 1 FROM user_integrations i WHERE i.user_id = ?2 AND i.is_active = 1)"
#define APPT_COLS                                                                                  \
    "appointment_id, user_id, contact_id, title, description, location, start_utc, end_utc, "      \
    "all_day, type, status, is_active, google_event_id, google_etag, google_updated, "             \
    "synced_snapshot, last_synced_at, sync_state, sync_error, created_at, updated_at, "            \
    "former_event_id, reminders_sent, former_calendar_id, google_event_type, google_organizer, "   \
    "google_recurring_id, google_original_start"

/* by area, in the order that gives each statement its enum db_stmt_id number: keep it */
#include "db_sql_user.h"
#include "db_sql_appt.h"
#include "db_sql_integ.h"
#include "db_sql_jobs.h"
#include "db_sql_idem.h"
#include "db_sql_copy.h"
#include "db_sql_host.h"
#include "db_sql_metrics.h"
