/* The process's monotonic clock, shared by every module. */
#include <time.h>

#include "poolshim/pool.h"

int64_t ps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ps_clock_pad_ms;

int64_t ps_clock_late_pad(void)
{
    struct timespec ts = {.tv_sec = 1};
    clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t r = (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
    r = (r > 0 ? r : 1) + 1;
    __atomic_store_n(&ps_clock_pad_ms, r, __ATOMIC_RELAXED);
    return r;
}
