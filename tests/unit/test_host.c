/* test_host: the host seam's pure parts: BetterAuth cookies (bauth.c), calsync's table names
 * with the vesta prefix (db_prefix.c), and the mapping of Vesta's rows (vesta_row.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "appt.h"
#include "bauth.h"
#include "cs.h"
#include "db_prefix.h"
#include "vesta_row.h"

/* UTF-8 bytes of the secret are the key (BetterAuth: TextEncoder) */
#define SECRET "s3cret-\xc3\xb1\xe2\x82\xac"
#define TOKEN "QTUnThGNI4NkvRIKuNVZADxzBAtN9hMa"
/* made with Python's hmac/base64/urllib.parse.quote, apart from calsync's code */
#define COOKIE TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4%3D"

static int verify(const char *v, const char *secret, char *tok)
{
    return bauth_verify(v, (const unsigned char *)secret, strlen(secret), tok, BAUTH_TOKEN_MAX + 1);
}

static void bauth_cookies(void **state)
{
    char tok[BAUTH_TOKEN_MAX + 1], out[BAUTH_VALUE_MAX + 1];
    static const char *const bad[] = {
        "",
        TOKEN,                                                         /* unsigned */
        TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4",        /* no padding */
        TOKEN ".HMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4%3D",     /* one changed */
        "X" TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4%3D", /* token changed */
        TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z-7VFF8YXd5sz4%3D",       /* url-safe b64 */
        TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4%3D%00",  /* NUL */
        TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2G7VFF8YXd5sz4%3D",     /* bad escape */
        ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z%2B7VFF8YXd5sz4%3D",           /* no token */
    };

    (void)state;
    assert_int_equal(verify(COOKIE, SECRET, tok), CS_OK);
    assert_string_equal(tok, TOKEN);
    /* the decoded form (a browser sends it as set, but be tolerant) */
    assert_int_equal(verify(TOKEN ".GMjrJDF5xYKJppl9JjEMbZKQfDdb7z+7VFF8YXd5sz4=", SECRET, tok),
                     CS_OK);
    assert_int_equal(verify(COOKIE, "s3cret-", tok), CS_ERR_AUTH);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(verify(bad[i], SECRET, tok), CS_ERR_AUTH);
    /* signing is the inverse, byte for byte what better-call makes */
    assert_int_equal(
        bauth_sign(TOKEN, (const unsigned char *)SECRET, strlen(SECRET), out, sizeof out), CS_OK);
    assert_string_equal(out, COOKIE);
    assert_int_equal(bauth_sign(TOKEN, (const unsigned char *)SECRET, strlen(SECRET), out, 40),
                     CS_ERR_INVAL);
}

static void prefix(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"SELECT * FROM users u JOIN sessions s ON s.user_id = u.id",
         "SELECT * FROM calsync_users u JOIN calsync_sessions s ON s.user_id = u.id"},
        /* Vesta's own tables in backticks, strings, comments, longer names and columns */
        {"SELECT a.x FROM `appointments` a JOIN appointments m ON m.appointment_id = a.users_id",
         "SELECT a.x FROM `appointments` a JOIN calsync_appointments m ON m.appointment_id = "
         "a.users_id"},
        {"SELECT 'users' FROM outbox -- can't touch users\nWHERE x = \"sync_jobs\"",
         "SELECT 'users' FROM calsync_outbox -- can't touch users\nWHERE x = \"sync_jobs\""},
        {"/* users' */ CREATE TABLE user_integrations (id INT) -- x",
         "/* users' */ CREATE TABLE calsync_user_integrations (id INT) -- x"},
        {"CREATE INDEX users_email ON users (email)",
         "CREATE INDEX users_email ON calsync_users (email)"},
        {"SELECT x.users FROM t x", "SELECT x.users FROM t x"},
    };
    char *p;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p = db_prefix_sql(cases[i].in, "calsync_");
        assert_non_null(p);
        assert_string_equal(p, cases[i].out);
        free(p);
    }
    p = db_prefix_sql("SELECT 1 FROM users", NULL);
    assert_string_equal(p, "SELECT 1 FROM users");
    free(p);
}

static void vesta_mapping(void **state)
{
    struct appt a;
    char *t, *n, *d, sql[CAL_STRLEN];

    (void)state;
    t = vesta_title("Visita", "Ana", "García");
    assert_string_equal(t, "Visita · Ana García");
    free(t);
    t = vesta_title(NULL, NULL, "");
    assert_string_equal(t, "Reunión");
    free(t);
    t = vesta_location("Calle Mayor 1", "2ºB", "28013", "Madrid");
    assert_string_equal(t, "Calle Mayor 1, 2ºB, 28013 Madrid");
    free(t);
    t = vesta_location(NULL, "", NULL, NULL);
    assert_string_equal(t, "");
    free(t);
    vesta_time_sql("2026-12-01T10:00:00Z", sql);
    assert_string_equal(sql, "2026-12-01 10:00:00");
    /* notes: the description; the Google summary when there is none; and back */
    memset(&a, 0, sizeof a);
    a.title = "Firma notaría";
    a.description = "Llevar DNI";
    n = vesta_notes_of(&a, NULL);
    assert_string_equal(n, "Llevar DNI");
    d = vesta_desc_of(n, &a, NULL);
    assert_string_equal(d, "Llevar DNI");
    free(d);
    d = vesta_desc_of("Otra cosa", &a, NULL);
    assert_string_equal(d, "Otra cosa");
    free(d);
    free(n);
    a.title = "Visita · Ana García";
    a.description = "";
    n = vesta_notes_of(&a, "Visita · Ana García"); /* a generated title is not shown */
    assert_string_equal(n, "");
    free(n);
    a.title = "Firma notaría";
    n = vesta_notes_of(&a, NULL);
    assert_string_equal(n, "Firma notaría");
    d = vesta_desc_of(n, &a, NULL);
    assert_string_equal(d, "");
    free(d);
    free(n);
}

static void vesta_snapshots(void **state)
{
    struct vesta_row r, back;
    char *snap;

    (void)state;
    memset(&r, 0, sizeof r);
    memset(&back, 0, sizeof back);
    r.contact_id = 77;
    r.trip = -1;
    snprintf(r.start, sizeof r.start, "2026-12-01T10:00:00Z");
    snprintf(r.end, sizeof r.end, "2026-12-01T11:00:00Z");
    snprintf(r.status, sizeof r.status, "NoShow");
    snprintf(r.type, sizeof r.type, "Firma");
    r.notes = strdup("línea 1\n\"dos\"");
    r.active = 1;
    snap = vesta_row_snap(&r);
    assert_non_null(snap);
    assert_int_equal(vesta_row_parse(snap, &back), CS_OK);
    assert_int_equal(vesta_row_diff(&r, &back), 0);
    back.trip = 15;
    back.active = 0;
    assert_int_equal(vesta_row_diff(&r, &back), VR_TRIP | VR_ACTIVE);
    free(back.notes);
    back.notes = NULL; /* NULL and "" notes are the same text; "x" is not */
    assert_int_equal(vesta_row_diff(&r, &back) & VR_NOTES, VR_NOTES);
    assert_int_equal(vesta_row_parse("not json", &back), CS_ERR_INVAL);
    free(snap);
    vesta_row_free(&r);
    vesta_row_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bauth_cookies),
        cmocka_unit_test(prefix),
        cmocka_unit_test(vesta_mapping),
        cmocka_unit_test(vesta_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
