/* harness_db.c: the store of a test stack: a SQLite file or a fresh MySQL-protocol database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <mysql.h>

#include "harness.h"
#include "harness_int.h"
#include "crypt.h"
#include "db.h"
#include "db_prefix.h"

/* The server URL the mysql variants of the tests run against, or NULL. */
static const char *stack_mysql_server(void)
{
    static char url[600];
    const char *u = getenv("CALSYNC_TEST_DB_URL"), *file = getenv("CALSYNC_TEST_DB_URL_FILE");

    if (u != NULL && *u != '\0')
        return u;
    if (file == NULL || *file == '\0')
        return NULL;
    if (url[0] == '\0') {
        FILE *f = fopen(file, "r");
        if (f == NULL || fgets(url, sizeof url, f) == NULL) {
            fprintf(stderr,
                    "CALSYNC_TEST_DB_URL_FILE: cannot read %s (is the MariaDB test server "
                    "up? ctest starts it as the mysql_server fixture)\n",
                    file);
            url[0] = '\0';
        }
        if (f != NULL)
            fclose(f);
        url[strcspn(url, "\r\n")] = '\0';
    }
    return url[0] ? url : NULL;
}

int stack_vesta(void)
{
    const char *h = getenv("CALSYNC_TEST_HOST");

    return h != NULL && strcmp(h, "vesta") == 0;
}

int stack_mysql(void)
{
    return getenv("CALSYNC_TEST_DB_URL") != NULL || getenv("CALSYNC_TEST_DB_URL_FILE") != NULL;
}

/* Connects to the server (database db, or none) with the session the library uses. */
static MYSQL *stack_my_connect(const char *url, const char *db)
{
    struct db_url u;
    char err[256];
    MYSQL *h;

    if (url == NULL || db_url_parse(url, &u, err, sizeof err) != 0) {
        fprintf(stderr, "bad test database URL: %s\n", url ? err : "(none)");
        return NULL;
    }
    h = mysql_init(NULL);
    if (h != NULL) {
        mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        if (mysql_real_connect(h, u.socket[0] ? NULL : u.host, u.user, u.password, db, u.port,
                               u.socket[0] ? u.socket : NULL,
                               CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS) == NULL ||
            mysql_query(h, "SET time_zone = '+00:00', SESSION sql_mode = "
                           "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT,"
                           "NO_BACKSLASH_ESCAPES'") != 0) {
            fprintf(stderr, "test database: %s\n", mysql_error(h));
            mysql_close(h);
            h = NULL;
        }
    }
    memset(u.password, 0, sizeof u.password);
    return h;
}

/* Runs sql (several statements allowed) and drops every result; 0 or -1. */
static int stack_my_exec(MYSQL *h, const char *sql)
{
    int rc = 0;

    if (mysql_query(h, sql) != 0) {
        fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        return -1;
    }
    do {
        MYSQL_RES *res = mysql_store_result(h);
        if (res != NULL)
            mysql_free_result(res);
    } while (mysql_next_result(h) == 0);
    if (mysql_errno(h) != 0) {
        fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        rc = -1;
    }
    return rc;
}

int stack_mysql_create(struct stack *s)
{
    const char *server = stack_mysql_server();
    const char *p, *slash, *q;
    unsigned char rnd[6];
    char sql[160];
    MYSQL *h;
    int rc;

    if (server == NULL)
        return -1;
    if ((h = stack_my_connect(server, NULL)) == NULL)
        return -1;
    {
        FILE *f = fopen("/dev/urandom", "rb");
        if (f == NULL || fread(rnd, 1, sizeof rnd, f) != sizeof rnd) {
            if (f)
                fclose(f);
            mysql_close(h);
            return -1;
        }
        fclose(f);
    }
    snprintf(s->db_name, sizeof s->db_name, "calsync_it_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5]);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
             s->db_name);
    rc = stack_my_exec(h, sql);
    mysql_close(h);
    if (rc != 0) {
        s->db_name[0] = '\0';
        return -1;
    }
    /* the server's URL with our database in place of its own */
    p = server + 8;
    slash = strchr(p, '/');
    q = slash ? strchr(slash, '?') : NULL;
    snprintf(s->db_url, sizeof s->db_url, "%.*s/%s%s", (int)(slash ? slash - server : 0), server,
             s->db_name, q ? q : "");
    if (stack_vesta()) {
        /* Vesta's tables and two agencies, as Vesta's database has them before calsync */
        char *fx = harness_read_file(CALSYNC_SOURCE_DIR "/tests/vesta/fixture.sql");
        if ((h = stack_my_connect(s->db_url, s->db_name)) == NULL || fx == NULL) {
            free(fx);
            if (h != NULL)
                mysql_close(h);
            return -1;
        }
        rc = stack_my_exec(h, fx);
        if (rc == 0)
            rc = stack_my_exec(h, "INSERT INTO accounts(account_id, name) VALUES "
                                  "(1, 'Inmobiliaria Uno'), (2, 'Inmobiliaria Dos'); "
                                  "INSERT INTO contacts(contact_id, account_id, first_name, "
                                  "last_name, email) VALUES (77, 1, 'Ana', 'García', "
                                  "'ana.garcia@example.org'), (78, 2, 'Ana', 'García', "
                                  "'ana.garcia@example.org')");
        free(fx);
        mysql_close(h);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void stack_mysql_drop(struct stack *s)
{
    char sql[128];
    MYSQL *h;

    if (s->db_name[0] == '\0')
        return;
    if (getenv("CALSYNC_KEEP_TEST_DIR") != NULL) {
        fprintf(stderr, "test database kept: %s\n", s->db_name);
        return;
    }
    if ((h = stack_my_connect(stack_mysql_server(), NULL)) != NULL) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", s->db_name);
        stack_my_exec(h, sql);
        mysql_close(h);
    }
    s->db_name[0] = '\0';
}

/* The first column of the first row of a query, as text (malloc'd) or NULL; *found set when
 * there was a row. */
static char *stack_db_first(struct stack *s, const char *sql0, int *found)
{
    char *out = NULL, *sql = db_prefix_sql(sql0, stack_vesta() ? "calsync_" : NULL);

    *found = 0;
    if (s->db_name[0] != '\0') {
        MYSQL *h = stack_my_connect(s->db_url, s->db_name);
        MYSQL_RES *res;
        MYSQL_ROW row;
        if (h == NULL) {
            free(sql);
            return NULL;
        }
        if (mysql_query(h, sql) != 0) {
            fprintf(stderr, "test sql failed: %s: %s\n", mysql_error(h), sql);
        } else if ((res = mysql_store_result(h)) != NULL) {
            if ((row = mysql_fetch_row(res)) != NULL) {
                *found = 1;
                if (row[0] != NULL)
                    out = strdup(row[0]);
            }
            mysql_free_result(res);
        }
        mysql_close(h);
        free(sql);
        return out;
    }
    {
        char path[512];
        sqlite3 *db;
        sqlite3_stmt *st;
        stack_path(s, "calsync.db", path, sizeof path);
        if (sqlite3_open(path, &db) != SQLITE_OK) {
            free(sql);
            return NULL;
        }
        sqlite3_busy_timeout(db, 5000);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            *found = 1;
            if (sqlite3_column_text(st, 0) != NULL)
                out = strdup((const char *)sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    free(sql);
    return out;
}

long long stack_db_int(struct stack *s, const char *sql)
{
    int found;
    char *v = stack_db_first(s, sql, &found);
    long long n = found ? (v ? strtoll(v, NULL, 10) : 0) : -1;

    free(v);
    return n;
}

int stack_db_exec(struct stack *s, const char *sql)
{
    char path[512];
    sqlite3 *db;
    int rc;

    if (s->db_name[0] != '\0') {
        MYSQL *h = stack_my_connect(s->db_url, s->db_name);
        char *p = db_prefix_sql(sql, stack_vesta() ? "calsync_" : NULL);
        if (h == NULL || p == NULL) {
            free(p);
            if (h != NULL)
                mysql_close(h);
            return -1;
        }
        rc = stack_my_exec(h, p);
        mysql_close(h);
        free(p);
        return rc;
    }
    stack_path(s, "calsync.db", path, sizeof path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(db, 5000);
    rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

char *stack_db_text(struct stack *s, const char *sql)
{
    int found;

    return stack_db_first(s, sql, &found);
}
