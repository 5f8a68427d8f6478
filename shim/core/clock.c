/* The process's monotonic clock, shared by every module. */
#include <time.h>

#include "poolshim/pool.h"

int64_t ps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
