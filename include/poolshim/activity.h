/* A lease's activity: the part of a lease that a call on it reads and writes without the lease
 * lock (the fast path, see lease.h): its gate (the calls in progress, the answer awaited, and a
 * bit that shuts the fast path), the last call's stamp, the connection it holds, and each
 * thread's memory of its last lookup. Below both the lease module, which embeds one in every
 * lease and keeps the rest of it under its lock (it alone remembers lookups and opens or shuts
 * gates), and the client layer, whose I/O wrappers enter and leave an open gate inline for a
 * plain call (ps_call_begin_fast, ps_call_end_fast in client.h) and call the hooks for the
 * rest. Knows nothing of states, sessions or pools. */
#ifndef POOLSHIM_ACTIVITY_H
#define POOLSHIM_ACTIVITY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "poolshim/pool.h"

#define PS_HIDDEN __attribute__((visibility("hidden")))

/* The gate bit that sends every call on a lease through the locked path. */
#define PS_LEASE_SHUT 0x80000000u

/* What a call did to the answer a command awaits on the handle's connection. */
enum ps_reply {
    PS_REPLY_UNCHANGED, /* neither sent nor read (a call answered without the network) */
    PS_REPLY_AWAITED,   /* an answer (or the rest of one: a result set's rows) is on the wire for
                           a later call to read */
    PS_REPLY_NONE,      /* nothing in flight: a read, or a command that read its own answer */
};

/* Written by the fast path without the lock: atomic accesses only (copies read them one by
 * one). CONN is written under the lease lock only, while the gate is shut; PATIENCE_MS under
 * the lease lock (atomic: the lease's own call may be moving it to another pool's). */
typedef struct ps_activity {
    unsigned gate;         /* calls in progress, + 1 while an answer is awaited (the answer holds
                              its command's count until its last read), | PS_LEASE_SHUT while the
                              fast path is shut */
    bool awaiting;         /* the connection carries an answer no call has read yet (a command's,
                              or a result set's rows): not reapable, not parkable; written by
                              the thread in a call, before the gate release */
    bool reading;          /* a call is reading that answer under its count (see
                              ps_activity_enter_answer): in use, so not counted as pinned */
    int64_t last_call_ms;  /* when the last call ended (ps_now_late_ms), or the connect */
    uint64_t last_use;     /* the use sequence at the last call's end: LRU order */
    pthread_t last_thread; /* the thread of the last call (or the connect) */
    ps_conn *conn;         /* the pooled connection held; NULL while reaped */
    /* how long the lease may idle before its next command renews it first (the server's
     * wait_timeout, POOLSHIM_REAP_IDLE_MS: the pool's, see ps_pool_patience) */
    const int64_t *patience_ms;
} ps_activity;

/* This thread's last lookup: HANDLE and TRANSPORT found ACTIVITY while the lease indexes were
 * at GEN (written by the lease module, under its lock). */
typedef struct ps_activity_lookup {
    void *handle, *transport;
    ps_activity *activity;
    uint64_t gen;
} ps_activity_lookup;
extern __thread ps_activity_lookup ps_activity_last PS_HIDDEN
    __attribute__((tls_model("initial-exec")));

/* The generation of the lease indexes: bumped (under the lease lock) by every change a lookup
 * could see. */
extern uint64_t ps_activity_gen PS_HIDDEN;

/* The activity this thread's last lookup found for HANDLE (TRANSPORT), while it still holds;
 * NULL otherwise. */
static inline __attribute__((always_inline)) ps_activity *ps_activity_remembered(void *handle,
                                                                                 void *transport)
{
    if (ps_activity_last.handle != handle || ps_activity_last.transport != transport ||
        ps_activity_last.gen != __atomic_load_n(&ps_activity_gen, __ATOMIC_ACQUIRE))
        return NULL;
    return ps_activity_last.activity;
}

/* The calls in progress on A (+ 1 while an answer is awaited). */
static inline unsigned ps_activity_calls(const ps_activity *a)
{
    return __atomic_load_n(&a->gate, __ATOMIC_ACQUIRE) & ~PS_LEASE_SHUT;
}

/* True when A's last call ended at least LIMIT ms before NOW (ps_now_late_ms). */
static inline bool ps_activity_idle_past(const ps_activity *a, int64_t now, int64_t limit)
{
    return now - __atomic_load_n(&a->last_call_ms, __ATOMIC_RELAXED) >= limit;
}

/* How long A may idle before its next command renews it first (see ps_activity.patience_ms):
 * an atomic read, the pool's first connection may be storing it. */
static inline int64_t ps_activity_patience(const ps_activity *a)
{
    return __atomic_load_n(__atomic_load_n(&a->patience_ms, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* The counts a call leaving A takes off its gate: its own when COUNTED, less the answer's
 * change CHANGE (see ps_activity_note_reply). */
static inline int ps_activity_due(bool counted, int change)
{
    return (int)counted - change;
}

/* Takes TAKE counts off A's gate (see ps_activity_due). Release: publishes the call's writes
 * to a reaper. */
static inline void ps_activity_take(ps_activity *a, int take)
{
    if (take > 0)
        __atomic_sub_fetch(&a->gate, (unsigned)take, __ATOMIC_RELEASE);
    else if (take < 0) /* an answer awaited by a read that held no count: a misused handle */
        __atomic_add_fetch(&a->gate, (unsigned)-take, __ATOMIC_RELEASE);
}

/* The lock-free entry of a call on HANDLE (TRANSPORT): when this thread's last lookup still
 * holds, its gate is open and (SENDS, a command) it has not idled past its patience, counts
 * the call in progress and returns the activity. NULL: nothing was done, enter locked. */
static inline __attribute__((always_inline)) ps_activity *
ps_activity_enter(void *handle, void *transport, bool sends)
{
    ps_activity *a = ps_activity_remembered(handle, transport);
    if (!a)
        return NULL;
    unsigned g = __atomic_load_n(&a->gate, __ATOMIC_RELAXED);
    if ((g & PS_LEASE_SHUT) || !__atomic_compare_exchange_n(&a->gate, &g, g + 1, false,
                                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return NULL; /* not LIVE, a reaper is at it, or something to clear: the locked path */
    /* idle past its patience (with no call in progress): the locked path decides */
    if (sends && g == 0 && ps_activity_idle_past(a, ps_now_late_ms(), ps_activity_patience(a))) {
        ps_activity_take(a, 1);
        return NULL;
    }
    return a;
}

/* The lock-free entry of a result read on HANDLE (TRANSPORT) whose lease awaits an answer:
 * when this thread's last lookup still holds, the gate is open and an answer is awaited, the
 * read runs under that answer's count (nothing is counted; A is marked reading) and the
 * activity is returned; leave it not counted. NULL: enter as usual. */
static inline __attribute__((always_inline)) ps_activity *ps_activity_enter_answer(void *handle,
                                                                                   void *transport)
{
    ps_activity *a = ps_activity_remembered(handle, transport);
    if (!a || (__atomic_load_n(&a->gate, __ATOMIC_ACQUIRE) & PS_LEASE_SHUT) ||
        !__atomic_load_n(&a->awaiting, __ATOMIC_RELAXED))
        return NULL;
    __atomic_store_n(&a->reading, true, __ATOMIC_RELAXED);
    return a;
}

/* Keeps what a call did to the answer A's connection awaits (REPLY) (the thread in the call's
 * own write; published by the gate's release). Returns the change of the answer's count in the
 * gate: -1 when one is now read (its count goes), +1 when one is now awaited (the call's count
 * stays for it), 0 otherwise. */
static inline int ps_activity_note_reply(ps_activity *a, enum ps_reply reply)
{
    if (reply == PS_REPLY_UNCHANGED)
        return 0;
    int was = __atomic_load_n(&a->awaiting, __ATOMIC_RELAXED), now = reply == PS_REPLY_AWAITED;
    if (was != now)
        __atomic_store_n(&a->awaiting, now, __ATOMIC_RELAXED);
    return now - was;
}

/* Stamps the end of a call on A (or its start, at the connect) at NOW: time, thread, use
 * sequence. */
void ps_activity_stamp(ps_activity *a, int64_t now) PS_HIDDEN;

/* Stamps A now and takes TAKE counts off its gate (see ps_activity_take). Out of line: the
 * leave of a call whose answer is still awaited needs no frame for the clock. */
void ps_activity_stamp_and_take(ps_activity *a, int take) PS_HIDDEN;

/* The lock-free leave of a call on A (COUNTED: it entered counted, not as a read of an
 * awaited answer) that changes nothing the lease lock guards, only the answer awaited
 * (REPLY): false when A's gate is shut (nothing was done: leave locked). A read that leaves
 * more of the answer awaited records nothing; the read that ends the answer stamps A. No
 * other thread shuts the gate while a count of this call's (or of its answer's) is in it. */
static inline __attribute__((always_inline)) bool
ps_activity_leave_plain(ps_activity *a, enum ps_reply reply, bool counted)
{
    if (__builtin_expect(__atomic_load_n(&a->gate, __ATOMIC_RELAXED) & PS_LEASE_SHUT, 0))
        return false;
    if (!counted) {
        __atomic_store_n(&a->reading, false, __ATOMIC_RELAXED);
        if (reply == PS_REPLY_AWAITED) /* more of the answer is still awaited: no change */
            return true;
    }
    int change = ps_activity_note_reply(a, reply);
    if (__atomic_load_n(&a->awaiting, __ATOMIC_RELAXED)) /* the answer's read will stamp */
        ps_activity_take(a, ps_activity_due(counted, change));
    else
        ps_activity_stamp_and_take(a, ps_activity_due(counted, change));
    return true;
}

#endif
