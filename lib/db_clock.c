/* db_clock.c: the store's wall clock (db_now, db_now_ms): one place, below the face and the
 * back ends, so tests can reason about it. */
#include "db.h"

#include <stddef.h>
#include <time.h>
#include <sys/time.h>

long long db_now(void)
{
    return (long long)time(NULL);
}

long long db_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
