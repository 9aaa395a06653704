/* test_buf: the capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cs.h"

static void grows_and_terminates(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 100000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_adds(&b, "0123456789"), CS_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(strlen(b.data), 10000);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), CS_OK);
    assert_string_equal(b.data + 10000, "42-x");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
    assert_null(b.data);
}

static void refuses_past_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_adds(&b, "0123456789"), CS_OK);
    assert_int_equal(buf_adds(&b, "a"), CS_ERR_TOOBIG);
    assert_int_equal(b.len, 10); /* nothing appended */
    assert_string_equal(b.data, "0123456789");
    assert_int_equal(buf_printf(&b, "%s", "y"), CS_ERR_TOOBIG);
    buf_free(&b);
    buf_init(&b, 3);
    assert_int_equal(buf_adds(&b, "abcd"), CS_ERR_TOOBIG);
    assert_null(b.data);
    buf_free(&b);
}

static void steal_never_null(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 10);
    s = buf_steal(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    buf_adds(&b, "hi");
    s = buf_steal(&b);
    assert_string_equal(s, "hi");
    assert_null(b.data);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(grows_and_terminates),
                                       cmocka_unit_test(refuses_past_cap),
                                       cmocka_unit_test(steal_never_null)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
