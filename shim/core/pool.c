/* The connection state machine of the pool core (see pool.h): transitions, waiting, acquire,
 * park, close, and the idle deadlines the keeper thread (keeper.h) closes parked connections
 * at. Connections that reach CLOSED are collected under the lock and closed after it is
 * released. The registry of pools and the lock are in pools.c. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utlist.h>

#include "poolshim/config.h"
#include "poolshim/keeper.h"
#include "pool_internal.h"

#define lock  ps_pool_lock
#define pools ps_pools

static ps_pool_ops ops;
static ps_conn *closing;       /* reached CLOSED under the lock: closed and freed after it */
static ps_conn *abandoning;    /* likewise, from INHERITED or ORPHAN: freed without a word */
static int orphans;            /* ORPHAN connections in all pools (read without the lock) */
static unsigned illegal_moves; /* refused transitions (POOLSHIM_STRICT aborts instead) */
static uint64_t jitter_state = 0x9e3779b97f4a7c15ull;

void ps_pool_set_ops(const ps_pool_ops *o)
{
    ops = *o;
}

/* ---- The transition function ---------------------------------------------------------- */

/* Short names for the states, in this file only. */
#define NEW        PS_CONN_NEW
#define CONNECTING PS_CONN_CONNECTING
#define LEASED     PS_CONN_LEASED
#define IDLE       PS_CONN_IDLE
#define INHERITED  PS_CONN_INHERITED
#define ORPHAN     PS_CONN_ORPHAN
#define CLOSED     PS_CONN_CLOSED

/* The moves pool.h draws; LEASED -> LEASED is a move to another pool (re-key). */
static const bool legal[PS_CONN_NSTATES][PS_CONN_NSTATES] = {
    [NEW] = {[CONNECTING] = 1},
    [CONNECTING] = {[LEASED] = 1, [CLOSED] = 1, [INHERITED] = 1},
    [LEASED] = {[LEASED] = 1, [IDLE] = 1, [CLOSED] = 1, [INHERITED] = 1},
    [IDLE] = {[LEASED] = 1, [CLOSED] = 1, [ORPHAN] = 1},
    [INHERITED] = {[CLOSED] = 1},
    [ORPHAN] = {[CLOSED] = 1},
};

/* How many connections P may open now: the configured cap, or less while the server has
 * recently refused one (pool_limits.c). Caller holds the lock. */
static int cap_of(const ps_pool *p)
{
    int cap = ps_pool_cap_locked(p);
    if (p->soft_cap && p->soft_cap < cap && ps_now_ms() < p->soft_cap_until_ms)
        return p->soft_cap;
    return cap;
}

static bool listed(enum ps_conn_state s)
{
    return s != NEW && s != CLOSED;
}

/* An illegal move was asked for: abort in a strict build, else refuse it (counted). */
static bool refuse_move(const ps_conn *c, enum ps_conn_state to)
{
#ifdef POOLSHIM_STRICT
    fprintf(stderr, "poolshim: illegal connection move %d -> %d\n", (int)c->state, (int)to);
    abort();
#else
    (void)c, (void)to;
    illegal_moves++;
    return false;
#endif
}

/* The counters a move changes. */
static void count_move(ps_pool *p, enum ps_conn_state from, enum ps_conn_state to,
                       enum ps_close_reason why)
{
    if (from == CONNECTING && to == LEASED)
        p->st.connects++;
    else if (from == LEASED && to == IDLE)
        p->st.parks++;
    else if (from == IDLE && to == LEASED)
        p->st.reuses++;
    else if (to == CLOSED && from == CONNECTING && why == PS_CLOSE_FAILED)
        p->st.connect_failures++;
    else if (to == CLOSED && why == PS_CLOSE_EXPIRED)
        p->st.expired++;
    else if (to == CLOSED && why == PS_CLOSE_DISCARDED)
        p->st.discards++;
    if (ps_pool_open_locked(p) > p->st.peak_open)
        p->st.peak_open = ps_pool_open_locked(p);
}

static void serve_waiters(ps_pool *p);

/* Moves C to state TO of pool TO_POOL (WHY when TO is CLOSED), keeping every list, count,
 * counter and waiter invariant. Caller holds the lock. False when the move is illegal. */
static bool set_state(ps_conn *c, ps_pool *to_pool, enum ps_conn_state to, enum ps_close_reason why)
{
    ps_pool *p = c->pool;
    enum ps_conn_state from = c->state;
    bool moves_pool = from == LEASED && to == LEASED;
    if (!legal[from][to] || moves_pool != (p != to_pool))
        return refuse_move(c, to); /* only a LEASED connection changes pools, and only that */
    if (listed(from)) {
        DL_DELETE(p->list[from], c);
        p->count[from]--;
    }
    c->state = to;
    c->pool = to_pool;
    if (to == IDLE)
        DL_PREPEND(to_pool->list[to], c);
    else if (listed(to))
        DL_APPEND(to_pool->list[to], c);
    if (listed(to))
        to_pool->count[to]++;
    if (to == ORPHAN)
        __atomic_add_fetch(&orphans, 1, __ATOMIC_RELAXED);
    if (from == ORPHAN)
        __atomic_sub_fetch(&orphans, 1, __ATOMIC_RELAXED);
    if (to == CLOSED && (from == INHERITED || from == ORPHAN))
        LL_PREPEND2(abandoning, c, next);
    else if (to == CLOSED)
        LL_PREPEND2(closing, c, next);
    count_move(to_pool, from, to, why);
    if (to == IDLE || to == CLOSED || p != to_pool)
        serve_waiters(p); /* an idle connection or a free slot may be waiting for someone */
    return true;
}

/* Closes the handles of the CLOSED connections on LIST with CLOSE_HANDLE and frees them.
 * Called without the lock. */
static void finish(ps_conn *list, void (*close_handle)(void *))
{
    while (list) {
        ps_conn *next = list->next;
        if (list->handle && list->replies_pending && ops.settle && close_handle == ops.close)
            ops.settle(list);
        if (list->handle)
            close_handle(list->handle);
        if (list->facts && ops.free_facts)
            ops.free_facts(list->facts);
        free(list);
        list = next;
    }
}

/* Releases the lock, then closes (or abandons) what reached CLOSED under it. */
static void unlock_and_finish(void)
{
    ps_conn *c = closing, *a = abandoning;
    closing = abandoning = NULL;
    pthread_mutex_unlock(&lock);
    finish(c, ops.close);
    finish(a, ops.abandon);
}

/* Lifetime deadline for a connection of P made at NOW: lifetime (never past the server's idle
 * limit) minus up to 2.5% jitter, so connections made together do not all retire together.
 * Caller holds the lock. */
static int64_t lifetime_deadline(const ps_pool *p, int64_t now)
{
    int64_t life = ps_cfg.max_lifetime_ms, server = p->server_idle_limit_ms;
    if (server != INT64_MAX && (life <= 0 || server < life))
        life = server > 0 ? server : 1;
    if (life <= 0)
        return INT64_MAX;
    jitter_state ^= jitter_state << 13;
    jitter_state ^= jitter_state >> 7;
    jitter_state ^= jitter_state << 17;
    return now + life - (int64_t)(jitter_state % (uint64_t)(life / 40 + 1));
}

/* A new CONNECTING slot of P, or NULL on OOM. Caller holds the lock. */
static ps_conn *new_slot(ps_pool *p)
{
    ps_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->pool = p;
    c->state = NEW;
    set_state(c, p, CONNECTING, 0);
    return c;
}

/* Hands idle connections, then free slots, to P's waiters, oldest first. Caller holds the
 * lock. A waiter whose slot cannot be allocated stays queued (it times out). */
static void serve_waiters(ps_pool *p)
{
    ps_waiter *w;
    while ((w = p->wait_head) != NULL) {
        ps_conn *c = p->list[IDLE];
        if (c)
            set_state(c, p, LEASED, 0);
        else if (ps_pool_open_locked(p) >= cap_of(p) || !(c = new_slot(p)))
            return;
        LL_DELETE2(p->wait_head, w, next);
        w->conn = c;
        pthread_cond_signal(&w->cond);
    }
}

/* ---- Acquire, park, close ---------------------------------------------------------------- */

/* When idle connection C, at position I of its pool's idle list (0: parked last), is due to be
 * closed: after the idle timeout while it is one of the POOLSHIM_MIN_IDLE warm ones, after the
 * surplus idle time (never longer) otherwise; earlier when the server's wait_timeout or the
 * connection's lifetime says so. Caller holds the lock. */
static int64_t idle_deadline(const ps_conn *c, int i)
{
    int64_t t = ps_cfg.idle_timeout_ms;
    if (i >= ps_cfg.min_idle && ps_cfg.surplus_idle_ms < t)
        t = ps_cfg.surplus_idle_ms;
    int64_t server = __atomic_load_n(&c->pool->server_idle_limit_ms, __ATOMIC_RELAXED);
    if (server < t)
        t = server;
    int64_t due = c->idle_since_ms + t;
    return due < c->expires_ms ? due : c->expires_ms;
}

/* Closes P's idle connections that are due at NOW (each one closed moves those behind it up a
 * position); returns the earliest deadline of the rest, INT64_MAX when none is left. Touches
 * IDLE connections only. Caller holds the lock. */
static int64_t expire_idle(ps_pool *p, int64_t now)
{
    int64_t next = INT64_MAX;
    int i = 0;
    ps_conn *c, *tmp;
    DL_FOREACH_SAFE(p->list[IDLE], c, tmp)
    {
        int64_t due = idle_deadline(c, i);
        if (now >= due) {
            set_state(c, p, CLOSED, PS_CLOSE_EXPIRED);
        } else {
            next = due < next ? due : next;
            i++;
        }
    }
    return next;
}

/* The keeper's job: closes the due idle connections of every pool, outside the lock (through
 * ops.close, on the keeper thread); returns the earliest deadline left. */
static int64_t expire_due(int64_t now)
{
    int64_t next = INT64_MAX;
    pthread_mutex_lock(&lock);
    for (ps_pool *p = pools; p; p = p->hh.next) {
        int64_t due = expire_idle(p, now);
        next = due < next ? due : next;
    }
    unlock_and_finish();
    return next;
}

void ps_pool_enable_keeper(void)
{
    ps_keeper_set_job(expire_due);
}

int64_t ps_pool_next_expiry(void)
{
    int64_t next = INT64_MAX;
    pthread_mutex_lock(&lock);
    for (ps_pool *p = pools; p; p = p->hh.next) {
        int i = 0;
        for (ps_conn *c = p->list[IDLE]; c; c = c->next, i++) {
            int64_t due = idle_deadline(c, i);
            next = due < next ? due : next;
        }
    }
    pthread_mutex_unlock(&lock);
    return next;
}

void ps_pool_wake_keeper(void)
{
    int64_t due = ps_pool_next_expiry();
    if (due != INT64_MAX)
        ps_keeper_wake(due);
}

/* The deadlines a park can have brought forward in P: the parked connection's (now first on
 * the idle list) and that of the one it pushed out of the warm positions; INT64_MAX when
 * nothing is parked (the connection went to a waiter). Caller holds the lock. */
static int64_t park_deadline(ps_pool *p)
{
    ps_conn *c = p->list[IDLE];
    int64_t due = c ? idle_deadline(c, 0) : INT64_MAX;
    int i = 0;
    while (c && i < ps_cfg.min_idle)
        c = c->next, i++;
    if (c && i > 0) {
        int64_t pushed = idle_deadline(c, i);
        due = pushed < due ? pushed : due;
    }
    return due;
}

/* Closes the ORPHAN connections of every pool (lazily after fork). Caller holds the lock. */
static void close_orphans(void)
{
    for (ps_pool *p = pools; p; p = p->hh.next)
        while (p->list[ORPHAN])
            set_state(p->list[ORPHAN], p, CLOSED, PS_CLOSE_ABANDONED);
}

/* Queues the caller as a waiter on P and sleeps until served or TIMEOUT_MS pass. Caller holds
 * the lock; returns with it held. The served connection (or NULL) goes to *CONN. */
static void wait_for_grant(ps_pool *p, int64_t timeout_ms, ps_conn **conn, int64_t *waited_ms)
{
    ps_waiter w = {.conn = NULL, .next = NULL};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    LL_APPEND2(p->wait_head, &w, next); /* FIFO */
    p->st.waiting++;
    int64_t start = ps_now_ms();
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    while (!w.conn)
        if (pthread_cond_timedwait(&w.cond, &lock, &deadline) == ETIMEDOUT && !w.conn) {
            LL_DELETE2(p->wait_head, &w, next);
            break;
        }
    p->st.waiting--; /* off the queue: served (serve_waiters) or timed out */
    pthread_cond_destroy(&w.cond);
    *waited_ms = ps_now_ms() - start;
    *conn = w.conn;
}

enum ps_acquire ps_pool_acquire(ps_pool *p, int64_t timeout_ms, ps_conn **conn, int64_t *waited_ms)
{
    int64_t now = ps_now_ms();
    *conn = NULL;
    *waited_ms = -1;
    pthread_mutex_lock(&lock);
    if (__atomic_load_n(&orphans, __ATOMIC_RELAXED))
        close_orphans();
    expire_idle(p, now);
    ps_conn *c = p->list[IDLE];
    bool must_wait = p->wait_head || (!c && ps_pool_open_locked(p) >= cap_of(p));
    if (must_wait)
        wait_for_grant(p, timeout_ms, &c, waited_ms);
    else if (c)
        set_state(c, p, LEASED, 0);
    else
        c = new_slot(p);
    unlock_and_finish();
    *conn = c;
    if (!c)
        return must_wait ? PS_ACQUIRE_TIMEOUT : PS_ACQUIRE_NOMEM;
    return c->state == CONNECTING ? PS_ACQUIRE_CONNECT : PS_ACQUIRE_IDLE;
}

void ps_pool_request_done(ps_pool *p, enum ps_request_end end, int64_t waited_ms)
{
    pthread_mutex_lock(&lock);
    p->st.requests++;
    if (end == PS_REQUEST_IDLE)
        p->st.served_idle++;
    if (waited_ms >= 0) {
        p->st.waits++;
        p->st.wait_ms_total += waited_ms;
        if (waited_ms > p->st.max_wait_ms)
            p->st.max_wait_ms = waited_ms;
    }
    if (end == PS_REQUEST_TIMEOUT)
        p->st.wait_timeouts++;
    pthread_mutex_unlock(&lock);
}

ps_conn *ps_pool_acquire_overflow(ps_pool *p)
{
    pthread_mutex_lock(&lock);
    ps_conn *c = new_slot(p);
    if (c)
        p->st.overflows++;
    unlock_and_finish();
    return c;
}

bool ps_pool_full(ps_pool *p)
{
    pthread_mutex_lock(&lock);
    bool full = !p->list[IDLE] && ps_pool_open_locked(p) >= cap_of(p);
    pthread_mutex_unlock(&lock);
    return full;
}

void ps_pool_connected(ps_conn *c, void *handle, void *facts)
{
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&lock);
    c->handle = handle;
    c->facts = facts;
    c->created_ms = now;
    c->expires_ms = lifetime_deadline(c->pool, now);
    set_state(c, c->pool, LEASED, 0);
    pthread_mutex_unlock(&lock);
}

void ps_pool_park(ps_conn *c, void *handle)
{
    int64_t now = ps_now_ms(), due = INT64_MAX;
    pthread_mutex_lock(&lock);
    ps_pool *p = c->pool;
    c->handle = handle;
    c->idle_since_ms = now;
    if (c->state == LEASED &&
        (now >= c->expires_ms || ps_pool_open_locked(p) > ps_pool_cap_locked(p))) {
        set_state(c, p, CLOSED, PS_CLOSE_EXPIRED);
    } else {
        set_state(c, p, IDLE, 0);
        due = park_deadline(p);
    }
    unlock_and_finish();
    if (due != INT64_MAX)
        ps_keeper_wake(due); /* the first park starts the keeper */
}

void ps_pool_close(ps_conn *c, enum ps_close_reason why)
{
    pthread_mutex_lock(&lock);
    set_state(c, c->pool, CLOSED, why);
    unlock_and_finish();
}

void ps_pool_move(ps_conn *c, ps_pool *to)
{
    pthread_mutex_lock(&lock);
    if (c->pool != to) /* a re-key to the same identity changes nothing */
        set_state(c, to, LEASED, 0);
    pthread_mutex_unlock(&lock);
}

int ps_pool_drain_except(bool (*keep)(void *handle), int *kept)
{
    int closed = 0, stayed = 0;
    ps_keeper_stop(false); /* no close of the keeper's overlaps what follows (library end) */
    pthread_mutex_lock(&lock);
    close_orphans();
    for (ps_pool *p = pools; p; p = p->hh.next) {
        ps_conn *next;
        for (ps_conn *c = p->list[IDLE]; c; c = next) {
            next = c->next;
            if (keep && keep(c->handle)) {
                stayed++;
                continue;
            }
            set_state(c, p, CLOSED, PS_CLOSE_DRAINED);
            closed++;
        }
    }
    unlock_and_finish();
    if (kept)
        *kept = stayed;
    return closed;
}

void ps_pool_drain_all(void)
{
    (void)ps_pool_drain_except(NULL, NULL);
}

void ps_pool_drain(ps_pool *p, enum ps_close_reason why)
{
    pthread_mutex_lock(&lock);
    while (p->list[IDLE])
        set_state(p->list[IDLE], p, CLOSED, why);
    unlock_and_finish();
}

/* Reports one violation of pool P. */
static int violation(void (*report)(const char *, void *), void *ctx, const ps_pool *p,
                     const char *what, int state)
{
    char msg[256];
    snprintf(msg, sizeof msg, "pool %s, state %d: %s", p->label, state, what);
    if (report)
        report(msg, ctx);
    return 1;
}

/* Checks P's lists against its counts and its connections' states. Caller holds the lock. */
static int check_pool(const ps_pool *p, void (*report)(const char *, void *), void *ctx)
{
    int bad = 0;
    for (int s = 0; s < PS_CONN_NSTATES; s++) {
        int n = 0;
        const ps_conn *c;
        if (!listed(s) && p->list[s])
            bad += violation(report, ctx, p, "a list for a state that has none", s);
        for (c = p->list[s]; c; c = c->next, n++)
            if (c->state != (enum ps_conn_state)s || c->pool != p)
                bad += violation(report, ctx, p, "a connection on the wrong list", s);
        if (n != p->count[s])
            bad += violation(report, ctx, p, "count differs from the list's length", s);
    }
    return bad;
}

int ps_pool_check(void (*report)(const char *what, void *ctx), void *ctx)
{
    pthread_mutex_lock(&lock);
    int bad = (int)illegal_moves;
    for (ps_pool *p = pools; p; p = p->hh.next)
        bad += check_pool(p, report, ctx);
    pthread_mutex_unlock(&lock);
    if (illegal_moves && report)
        report("illegal moves were refused", ctx);
    return bad;
}

void ps_pool_before_fork(void)
{
    pthread_mutex_lock(&lock);
}

void ps_pool_after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void ps_pool_after_fork_child(void)
{
    for (ps_pool *p = pools; p; p = p->hh.next) {
        p->wait_head = NULL; /* threads of the parent */
        p->st.waiting = 0;
        while (p->list[CONNECTING])
            set_state(p->list[CONNECTING], p, INHERITED, 0);
        while (p->list[LEASED])
            set_state(p->list[LEASED], p, INHERITED, 0);
        while (p->list[IDLE])
            set_state(p->list[IDLE], p, ORPHAN, 0);
    }
    pthread_mutex_unlock(&lock);
}
