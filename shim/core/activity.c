/* Leases' activity (see activity.h): each thread's last lookup, the indexes' generation, the
 * use sequence, and the stamp of a call's end. */
#include "poolshim/activity.h"

__thread ps_activity_lookup ps_activity_last __attribute__((tls_model("initial-exec")));
uint64_t ps_activity_gen;
static uint64_t use_seq; /* the use sequence: every call's end takes the next number */

/* The calling thread (pthread_self, kept: a fork's child thread is its parent's). */
static inline __attribute__((always_inline)) pthread_t self(void)
{
    static __thread __attribute__((tls_model("initial-exec"))) pthread_t me;
    if (__builtin_expect(!me, 0))
        me = pthread_self();
    return me;
}

/* See ps_activity_stamp; inline for the leave of a call. */
static inline __attribute__((always_inline)) void stamp(ps_activity *a, int64_t now)
{
    __atomic_store_n(&a->last_call_ms, now, __ATOMIC_RELAXED);
    __atomic_store_n(&a->last_thread, self(), __ATOMIC_RELAXED);
    __atomic_store_n(&a->last_use, __atomic_add_fetch(&use_seq, 1, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
}

void ps_activity_stamp(ps_activity *a, int64_t now)
{
    stamp(a, now);
}

__attribute__((noinline)) void ps_activity_stamp_and_take(ps_activity *a, int take)
{
    stamp(a, ps_now_late_ms());
    ps_activity_take(a, take); /* publishes the stamp to a reaper */
}
