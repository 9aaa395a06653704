/* db_texts.c: the statement texts of lib/db_sql.h laid out per dialect, indexed by enum db_stmt_id
 * (data below the face and the back ends: the face hands a back end its dialect's text). */
#include "db_be.h"

#define DB_STMT(name, sql) [DB_##name] = sql,
#define DB_STMT2(name, sqlite_sql, mysql_sql) [DB_##name] = sqlite_sql,
const char *const db_sql_sqlite[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT
#undef DB_STMT2
#define DB_STMT(name, sql) [DB_##name] = sql,
#define DB_STMT2(name, sqlite_sql, mysql_sql) [DB_##name] = mysql_sql,
const char *const db_sql_mysql[DB__MAX] = {
#include "db_sql.h"
};
#undef DB_STMT
#undef DB_STMT2
