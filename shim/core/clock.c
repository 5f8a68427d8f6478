/* The process's monotonic clock, shared by every module. */
#include <time.h>

#include "poolshim/pool.h"

int64_t ps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What ps_now_late_ms adds to the coarse clock: its resolution in ms, rounded up, + 1 for the
 * ms ps_now_ms would truncate away (read once; 0 until then). */
static int64_t late_pad_ms;

/* Reads the coarse clock's resolution: late_pad_ms's value. */
__attribute__((noinline, cold)) static int64_t read_late_pad(void)
{
    struct timespec ts = {.tv_sec = 1};
    clock_getres(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t r = (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
    r = (r > 0 ? r : 1) + 1;
    __atomic_store_n(&late_pad_ms, r, __ATOMIC_RELAXED);
    return r;
}

int64_t ps_now_late_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t pad = __atomic_load_n(&late_pad_ms, __ATOMIC_RELAXED);
    if (__builtin_expect(pad == 0, 0))
        pad = read_late_pad();
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + pad;
}
