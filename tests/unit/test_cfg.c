/* test_cfg: configuration defaults, overrides and refusals (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "db.h"
#include "cs.h"

#define KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct kv {
    const char *k, *v;
};

static const char *get(const char *key, void *ctx)
{
    const struct kv *kv = ctx;

    for (; kv->k; kv++)
        if (strcmp(kv->k, key) == 0)
            return kv->v;
    return NULL;
}

static void defaults(void **state)
{
    struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY}, {NULL, NULL}};
    struct cfg c;
    char err[CS_ERRLEN];

    (void)state;
    assert_int_equal(cfg_load_from(&c, get, env, err, sizeof err), CS_OK);
    assert_string_equal(c.db_path, "var/calsync.db");
    assert_string_equal(c.base_url, "http://127.0.0.1:8080");
    assert_int_equal(c.http_port, 8080);
    assert_string_equal(c.default_tz, "Europe/Madrid");
    assert_string_equal(c.webhook_url, "http://127.0.0.1:8080/api/google/calendar/webhook");
    assert_string_equal(c.token_url, "https://oauth2.googleapis.com/token");
    assert_string_equal(c.api_url, "https://www.googleapis.com/calendar/v3");
    assert_false(cfg_google_enabled(&c));
    assert_int_equal(c.secret_key[0], 0x00);
    assert_int_equal(c.secret_key[31], 0xff);
    cfg_free(&c);
}

static void overrides(void **state)
{
    struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY},
                       {"CALSYNC_BASE_URL", "https://crm.example.com/"},
                       {"CALSYNC_HTTP_PORT", "9090"},
                       {"CALSYNC_STATE_DIR", "/srv/calsync"},
                       {"GOOGLE_CLIENT_ID", "id"},
                       {"GOOGLE_CLIENT_SECRET", "secret"},
                       {"GOOGLE_CALENDAR_WEBHOOK_SECRET", "0123456789abcdef0123"},
                       {"GOOGLE_TOKEN_URL", "http://127.0.0.1:9/token"},
                       {"CALSYNC_DEFAULT_TZ", "America/Winnipeg"},
                       {NULL, NULL}};
    struct cfg c;
    char err[CS_ERRLEN];

    (void)state;
    assert_int_equal(cfg_load_from(&c, get, env, err, sizeof err), CS_OK);
    assert_string_equal(c.base_url, "https://crm.example.com");
    assert_string_equal(c.db_path, "/srv/calsync/calsync.db");
    assert_string_equal(c.webhook_url, "https://crm.example.com/api/google/calendar/webhook");
    assert_string_equal(c.token_url, "http://127.0.0.1:9/token");
    assert_int_equal(c.http_port, 9090);
    assert_true(cfg_google_enabled(&c));
    cfg_free(&c);
}

static void refusals(void **state)
{
    static const struct {
        struct kv env[6];
        const char *msg_part;
    } cases[] = {
        {{{NULL, NULL}}, "CALSYNC_SECRET_KEY"},
        {{{"CALSYNC_SECRET_KEY", "abc"}, {NULL, NULL}}, "64 hex"},
        {{{"CALSYNC_SECRET_KEY", KEY "00"}, {NULL, NULL}}, "64 hex"},
        {{{"CALSYNC_SECRET_KEY",
           "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
          {NULL, NULL}},
         "64 hex"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_HTTP_PORT", "80a"}, {NULL, NULL}},
         "CALSYNC_HTTP_PORT"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_HTTP_PORT", "70000"}, {NULL, NULL}},
         "CALSYNC_HTTP_PORT"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_BASE_URL", "ftp://x"}, {NULL, NULL}},
         "CALSYNC_BASE_URL"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DEFAULT_TZ", "Mars/Olympus"}, {NULL, NULL}},
         "time zone"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DEFAULT_TZ", "../../etc/passwd"}, {NULL, NULL}},
         "time zone"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"GOOGLE_CLIENT_ID", "id"}, {NULL, NULL}},
         "GOOGLE_CLIENT_SECRET"},
        {{{"CALSYNC_SECRET_KEY", KEY},
          {"GOOGLE_CLIENT_ID", "id"},
          {"GOOGLE_CLIENT_SECRET", "s"},
          {NULL, NULL}},
         "WEBHOOK_SECRET"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"GOOGLE_TOKEN_URL", "token"}, {NULL, NULL}},
         "GOOGLE_TOKEN_URL"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", ""}, {NULL, NULL}}, "CALSYNC_DB"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://h/db"}, {NULL, NULL}}, "user"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u:p@h:0/db"}, {NULL, NULL}}, "port"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u:p@h:3306"}, {NULL, NULL}},
         "DATABASE"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u:p%zz@h/db"}, {NULL, NULL}},
         "password is malformed"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u:p%00@h/db"}, {NULL, NULL}},
         "password is malformed"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u@h/d-b"}, {NULL, NULL}},
         "database name"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u@h/db?ssl=1"}, {NULL, NULL}},
         "socket=PATH"},
        {{{"CALSYNC_SECRET_KEY", KEY}, {"CALSYNC_DB", "mysql://u@h/db?socket=rel"}, {NULL, NULL}},
         "absolute"},
        {{{"CALSYNC_SECRET_KEY", KEY},
          {"CALSYNC_DB", "mysql://u@h/db"},
          {"CALSYNC_DB_PASSWORD_FILE", "/nonexistent/pw"},
          {NULL, NULL}},
         "CALSYNC_DB_PASSWORD_FILE"},
        {{{"CALSYNC_SECRET_KEY", KEY},
          {"CALSYNC_DB", "mysql://u:secret@h/db"},
          {"CALSYNC_DB_PASSWORD_FILE", "/etc/hostname"},
          {NULL, NULL}},
         "one place"},
        {{{"CALSYNC_SECRET_KEY", KEY},
          {"CALSYNC_DB", "/tmp/x.db"},
          {"CALSYNC_DB_PASSWORD_FILE", "/etc/hostname"},
          {NULL, NULL}},
         "not a mysql://"},
    };
    struct cfg c;
    char err[CS_ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        if (cfg_load_from(&c, get, (void *)cases[i].env, err, sizeof err) == CS_OK)
            fail_msg("case %zu accepted", i);
        if (strstr(err, cases[i].msg_part) == NULL)
            fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].msg_part);
    }
}

/* mysql:// URLs: percent-decoded parts, defaults, the password from a file, redaction. */
static void mysql_urls(void **state)
{
    struct db_url u;
    char err[CS_ERRLEN], red[256], pwfile[] = "/tmp/calsync-pw-XXXXXX";
    struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY},
                       {"CALSYNC_DB", "mysql://calsync@db.internal/calsync"},
                       {"CALSYNC_DB_PASSWORD_FILE", pwfile},
                       {NULL, NULL}};
    struct cfg c;
    int fd;

    (void)state;
    assert_int_equal(
        db_url_parse("mysql://us%40er:p%3Aa%2Fss@127.0.0.1:3307/calsync_1", &u, err, sizeof err),
        CS_OK);
    assert_string_equal(u.user, "us@er");
    assert_string_equal(u.password, "p:a/ss");
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 3307);
    assert_string_equal(u.database, "calsync_1");
    assert_int_equal(
        db_url_parse("mysql://u@localhost/db?socket=%2Frun%2Fmysqld%2Fs.sock", &u, err, sizeof err),
        CS_OK);
    assert_int_equal(u.port, 3306);
    assert_string_equal(u.socket, "/run/mysqld/s.sock");
    assert_string_equal(u.password, "");
    assert_int_equal(db_url_parse("mysql://u:p@[::1]:3306/db", &u, err, sizeof err), CS_OK);
    assert_string_equal(u.host, "::1");
    db_url_redact("mysql://calsync:hunter2@h:1/db", red, sizeof red);
    assert_string_equal(red, "mysql://calsync:***@h:1/db");
    db_url_redact("/var/lib/calsync/calsync.db", red, sizeof red);
    assert_string_equal(red, "/var/lib/calsync/calsync.db");
    assert_false(db_url_is_mysql("/srv/mysql://x"));

    fd = mkstemp(pwfile);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret pw\n", 10), 10);
    close(fd);
    assert_int_equal(cfg_load_from(&c, get, env, err, sizeof err), CS_OK);
    assert_string_equal(c.db_password, "s3cret pw");
    cfg_free(&c);
    unlink(pwfile);
}

static void polling_only_needs_no_secret(void **state)
{
    struct kv env[] = {{"CALSYNC_SECRET_KEY", KEY},
                       {"GOOGLE_CLIENT_ID", "id"},
                       {"GOOGLE_CLIENT_SECRET", "s"},
                       {"GOOGLE_CALENDAR_WEBHOOK_URL", ""},
                       {NULL, NULL}};
    struct cfg c;
    char err[CS_ERRLEN];

    (void)state;
    assert_int_equal(cfg_load_from(&c, get, env, err, sizeof err), CS_OK);
    assert_string_equal(c.webhook_url, "");
    cfg_free(&c);
}

static void config_file_and_env(void **state)
{
    char path[] = "/tmp/calsync-cfg-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    struct cfg c;
    char err[CS_ERRLEN];

    (void)state;
    fprintf(f,
            "# comment\nCALSYNC_SECRET_KEY=%s\nCALSYNC_HTTP_PORT = 7070\n"
            "CALSYNC_BASE_URL=\"http://127.0.0.1:7070\"\n",
            KEY);
    fclose(f);
    setenv("CALSYNC_CONFIG", path, 1);
    setenv("CALSYNC_HTTP_PORT", "7171", 1); /* the environment wins over the file */
    unsetenv("CALSYNC_SECRET_KEY");
    unsetenv("CALSYNC_BASE_URL");
    assert_int_equal(cfg_load(&c, err, sizeof err), CS_OK);
    assert_int_equal(c.http_port, 7171);
    assert_string_equal(c.base_url, "http://127.0.0.1:7070");
    cfg_free(&c);
    f = fopen(path, "w");
    fprintf(f, "this line has no equals sign\n");
    fclose(f);
    assert_int_not_equal(cfg_load(&c, err, sizeof err), CS_OK);
    assert_non_null(strstr(err, "KEY=VALUE"));
    unlink(path);
    unsetenv("CALSYNC_CONFIG");
    unsetenv("CALSYNC_HTTP_PORT");
}

/* CALSYNC_TYPE_COLORS: table of inputs, the colours they give or the error they name. */
static void type_colors(void **state)
{
    static const struct {
        const char *in;
        int ok;
        const char *want[CFG_TYPES]; /* Visita Reunión Firma Cierre Viaje */
        const char *err;             /* part of the message */
    } cases[] = {
        {NULL, 1, {"9", "3", "10", "6", "7"}, NULL},
        {"", 1, {"9", "3", "10", "6", "7"}, NULL},
        {"Visita:1", 1, {"1", "3", "10", "6", "7"}, NULL},
        {"Visita:9,Firma:3", 1, {"9", "3", "3", "6", "7"}, NULL},
        {"Reunión:11,Cierre:4,Viaje:2", 1, {"9", "11", "10", "4", "2"}, NULL},
        {"Visita:0", 0, {NULL}, "from 1 to 11"},
        {"Visita:12", 0, {NULL}, "from 1 to 11"},
        {"Visita:", 0, {NULL}, "from 1 to 11"},
        {"Visita:9x", 0, {NULL}, "from 1 to 11"},
        {"Visita:+9", 0, {NULL}, "from 1 to 11"},
        {"Visita:0009", 0, {NULL}, "from 1 to 11"},
        {"visita:9", 0, {NULL}, "unknown type 'visita'"},
        {"Reunion:9", 0, {NULL}, "unknown type 'Reunion'"},
        {"Visita:9,Visita:3", 0, {NULL}, "twice"},
        {"Visita=9", 0, {NULL}, "TYPE:COLOR"},
        {"Visita:9,", 0, {NULL}, "TYPE:COLOR"},
        {":9", 0, {NULL}, "TYPE:COLOR"},
    };
    char err[CS_ERRLEN];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[CFG_TYPES][3] = {"9", "3", "10", "6", "7"};
        int rc = cfg_type_colors_parse(cases[i].in, out, err, sizeof err);
        if (cases[i].ok) {
            assert_int_equal(rc, CS_OK);
            for (int t = 0; t < CFG_TYPES; t++)
                assert_string_equal(out[t], cases[i].want[t]);
        } else {
            if (rc != CS_ERR_CONFIG || strstr(err, cases[i].err) == NULL)
                fail_msg("'%s': %d %s", cases[i].in, rc, err);
            assert_non_null(strstr(err, "CALSYNC_TYPE_COLORS"));
            assert_string_equal(out[0], "9"); /* nothing applied on error */
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(defaults),
                                       cmocka_unit_test(overrides),
                                       cmocka_unit_test(refusals),
                                       cmocka_unit_test(polling_only_needs_no_secret),
                                       cmocka_unit_test(config_file_and_env),
                                       cmocka_unit_test(type_colors),
                                       cmocka_unit_test(mysql_urls)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
