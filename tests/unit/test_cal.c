/* test_cal: RFC 3339 parsing and zone conversion, DST included (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cal.h"
#include "cs.h"

static void parse_valid(void **state)
{
    static const struct {
        const char *in, *utc;
    } cases[] = {
        {"2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z"},
        {"2026-11-24T10:00:00+01:00", "2026-11-24T09:00:00Z"},
        {"2026-11-24T10:00:00.123-06:00", "2026-11-24T16:00:00Z"},
        {"2024-02-29T23:59:59+00:00", "2024-02-29T23:59:59Z"},
        {"2026-01-01T00:30:00+02:00", "2025-12-31T22:30:00Z"},
    };
    char out[CAL_STRLEN];
    time_t t;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(cal_parse_rfc3339(cases[i].in, &t), CS_OK);
        cal_format_utc(t, out);
        assert_string_equal(out, cases[i].utc);
    }
}

static void parse_invalid(void **state)
{
    static const char *const bad[] = {"",
                                      "2026-11-24",
                                      "2026-11-24T10:00:00",
                                      "2026-13-01T00:00:00Z",
                                      "2026-02-29T00:00:00Z",
                                      "2026-11-24T24:00:00Z",
                                      "2026-11-24 10:00:00Z",
                                      "2026-11-24T10:00:00+1:00",
                                      "2026-11-24T10:00:00Zjunk",
                                      "1969-12-31T00:00:00Z",
                                      "２０２６-11-24T10:00:00Z",
                                      "2026-11-24T10:00:00.Z"};
    time_t t;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cal_parse_rfc3339(bad[i], &t) == CS_OK)
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(cal_parse_date("2026-11-24", &t), CS_OK);
    assert_int_equal(cal_parse_date("2026-11-31", &t), CS_ERR_INVAL);
    assert_int_equal(cal_parse_date("2026-11-24T00:00:00Z", &t), CS_ERR_INVAL);
}

static void zones_and_dst(void **state)
{
    static const struct {
        const char *utc, *zone, *local;
    } cases[] = {
        /* Madrid: CEST ends 2026-10-25 01:00Z */
        {"2026-10-25T00:30:00Z", "Europe/Madrid", "2026-10-25T02:30:00+02:00"},
        {"2026-10-25T01:30:00Z", "Europe/Madrid", "2026-10-25T02:30:00+01:00"},
        /* Madrid: CEST starts 2026-03-29 01:00Z */
        {"2026-03-29T00:59:00Z", "Europe/Madrid", "2026-03-29T01:59:00+01:00"},
        {"2026-03-29T01:00:00Z", "Europe/Madrid", "2026-03-29T03:00:00+02:00"},
        /* Winnipeg: CDT starts 2026-03-08 08:00Z */
        {"2026-03-08T07:59:00Z", "America/Winnipeg", "2026-03-08T01:59:00-06:00"},
        {"2026-03-08T08:00:00Z", "America/Winnipeg", "2026-03-08T03:00:00-05:00"},
    };
    char out[CAL_STRLEN];
    time_t t, back;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(cal_parse_rfc3339(cases[i].utc, &t), CS_OK);
        assert_int_equal(cal_format_local(t, cases[i].zone, out), CS_OK);
        assert_string_equal(out, cases[i].local);
        assert_int_equal(cal_parse_rfc3339(out, &back), CS_OK);
        assert_true(back == t);
    }
    assert_int_equal(cal_format_local(0, "Not/AZone", out), CS_ERR_INVAL);
}

static void local_date(void **state)
{
    time_t t, d;
    char out[CAL_STRLEN];

    (void)state;
    /* 23:30 UTC is already the next day in Madrid, still the same day in Winnipeg */
    cal_parse_rfc3339("2026-06-01T23:30:00Z", &t);
    cal_local_date(t, "Europe/Madrid", &d);
    cal_format_date(d, out);
    assert_string_equal(out, "2026-06-02");
    cal_local_date(t, "America/Winnipeg", &d);
    cal_format_date(d, out);
    assert_string_equal(out, "2026-06-01");
}

static void add_local(void **state)
{
    time_t t, out;
    char s[CAL_STRLEN];

    (void)state;
    /* a week after 10:00 Madrid summer time is 10:00 Madrid winter time */
    cal_parse_rfc3339("2026-10-20T08:00:00Z", &t);
    assert_int_equal(cal_add_local(t, "Europe/Madrid", 7, 0, &out), CS_OK);
    cal_format_utc(out, s);
    assert_string_equal(s, "2026-10-27T09:00:00Z");
    assert_int_equal(cal_add_local(t, "Europe/Madrid", 0, 2, &out), CS_OK);
    cal_format_utc(out, s);
    assert_string_equal(s, "2026-12-20T09:00:00Z");
    assert_int_equal(cal_add_local(t, "No/Zone", 1, 0, &out), CS_ERR_INVAL);
}

static void zone_names(void **state)
{
    (void)state;
    assert_true(cal_zone_valid("Europe/Madrid"));
    assert_true(cal_zone_valid("UTC"));
    assert_false(cal_zone_valid("../etc/passwd"));
    assert_false(cal_zone_valid("/etc/passwd"));
    assert_false(cal_zone_valid("Europe/Madrid;rm"));
    assert_false(cal_zone_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_valid),   cmocka_unit_test(parse_invalid),
        cmocka_unit_test(zones_and_dst), cmocka_unit_test(local_date),
        cmocka_unit_test(add_local),     cmocka_unit_test(zone_names)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
