/* The process's monotonic clock, shared by every module. */
#include <time.h>

#include "poolshim/pool.h"

int64_t ps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The coarse clock's resolution in ms, rounded up (read once; 0 until then). */
static int64_t coarse_resolution_ms(void)
{
    static int64_t res;
    int64_t r = __atomic_load_n(&res, __ATOMIC_RELAXED);
    if (__builtin_expect(r == 0, 0)) {
        struct timespec ts = {.tv_sec = 1};
        clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
        r = (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
        r = r > 0 ? r : 1;
        __atomic_store_n(&res, r, __ATOMIC_RELAXED);
    }
    return r;
}

int64_t ps_now_late_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    /* + 1: the ms ps_now_ms would truncate away */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + coarse_resolution_ms() + 1;
}
