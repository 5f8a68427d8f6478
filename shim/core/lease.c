/* Leases (see lease.h for the state model): one list per state, a hash by handle, one mutex
 * and one condition variable for the end of moves, and the fast path (lease.h): a per-thread
 * memory of the last lookup checked against a generation of the indexes, and each lease's
 * gate. Lock order: lease lock before pool lock. */
#include "poolshim/lease.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "poolshim/config.h"
#include "poolshim/sql_effects.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moved = PTHREAD_COND_INITIALIZER; /* a MOVING lease settled */
static ps_lease *by_handle;                             /* leases whose handle is not NULL */
static ps_lease *list[PS_LEASE_NSTATES];                /* LIVE: least recently used first */
static unsigned illegal_moves;
static const unsigned dirty_effects = PS_LEASE_DIRT;
static const int64_t forever = INT64_MAX; /* the patience of a lease without a pool (tests) */

/* Where a lease of P finds its patience (see ps_activity.patience_ms). */
static const int64_t *patience_of(ps_pool *p)
{
    return p ? ps_pool_patience(p) : &forever;
}

/* Short names for the states, in this file only. */
#define NEW       PS_LEASE_NEW
#define LIVE      PS_LEASE_LIVE
#define MOVING    PS_LEASE_MOVING
#define REAPED    PS_LEASE_REAPED
#define INHERITED PS_LEASE_INHERITED
#define BROKEN    PS_LEASE_BROKEN
#define CLOSED    PS_LEASE_CLOSED

/* The moves lease.h draws (MOVING -> CLOSED only in a forked child). */
static const bool legal[PS_LEASE_NSTATES][PS_LEASE_NSTATES] = {
    [NEW] = {[LIVE] = 1},
    [LIVE] = {[MOVING] = 1, [CLOSED] = 1, [INHERITED] = 1},
    [MOVING] = {[LIVE] = 1, [REAPED] = 1, [BROKEN] = 1, [CLOSED] = 1},
    [REAPED] = {[MOVING] = 1, [CLOSED] = 1},
    [INHERITED] = {[MOVING] = 1, [CLOSED] = 1},
    [BROKEN] = {[MOVING] = 1, [CLOSED] = 1},
};

static bool listed(enum ps_lease_state s)
{
    return s != NEW && s != CLOSED;
}

/* Every thread's last lookup may now be wrong: the next one takes the lock. Caller holds the
 * lock (release: a thread that sees the new generation sees the change). */
static void reindexed(void)
{
    __atomic_store_n(&ps_activity_gen, ps_activity_gen + 1, __ATOMIC_RELEASE);
}

/* Remembers that HANDLE and TRANSPORT found L, for this thread's fast path. Caller holds the
 * lock. */
static void remember(void *handle, void *transport, ps_lease *l)
{
    ps_activity_last = (ps_activity_lookup){
        .handle = handle, .transport = transport, .activity = &l->activity, .gen = ps_activity_gen};
}

/* Removes L from the handle index (its handle becomes NULL). Caller holds the lock. */
static void unindex(ps_lease *l)
{
    if (l->handle)
        HASH_DELETE(hh, by_handle, l);
    l->handle = NULL;
    reindexed();
}

/* Sets L's transport (the indexes change with it). Caller holds the lock. */
static void set_transport(ps_lease *l, void *transport)
{
    if (l->transport == transport)
        return;
    l->transport = transport;
    reindexed();
}

/* True when the lock guards nothing that LIVE lease L's next call must change before its end:
 * a refused reap to forget, a pending FOUND_ROWS() a statement ends. Caller holds the lock. */
static bool fast_ok(const ps_lease *l)
{
    return l->state == PS_LEASE_LIVE && !l->unreapable && !l->session.found_rows_pending;
}

/* Opens L's gate when fast_ok, else shuts it; the calls in progress stay counted. Caller holds
 * the lock (release: a call that enters fast sees what the lock guarded). */
static void set_gate(ps_lease *l)
{
    if (fast_ok(l))
        __atomic_and_fetch(&l->activity.gate, ~PS_LEASE_SHUT, __ATOMIC_RELEASE);
    else
        __atomic_or_fetch(&l->activity.gate, PS_LEASE_SHUT, __ATOMIC_RELEASE);
}

/* True when L's last call ended at least MIN ms before NOW (ps_now_ms), or MIN <= 0. The stamp
 * is late by up to the coarse clock's resolution: an idle time never looks longer than it is. */
static bool idle_for(const ps_lease *l, int64_t now, int64_t min)
{
    return min <= 0 || ps_activity_idle_past(&l->activity, now, min);
}

/* The calls in progress on L. */
static unsigned calls(const ps_lease *l)
{
    return ps_activity_calls(&l->activity);
}

unsigned ps_lease_calls(const ps_lease *l)
{
    return calls(l);
}

/* Indexes L under HANDLE, taking the address from any other lease (the program reused or
 * copied over that memory). On OOM L stays unindexed. Caller holds the lock. */
static void index_handle(ps_lease *l, void *handle)
{
    ps_lease *other = NULL;
    HASH_FIND_PTR(by_handle, &handle, other);
    if (other == l)
        return;
    if (other)
        unindex(other);
    unindex(l);
    l->handle = handle;
    ps_hash_oom = 0;
    HASH_ADD_PTR(by_handle, handle, l);
    if (ps_hash_oom)
        l->handle = NULL;
    reindexed();
}

/* An illegal move was asked for: abort in a strict build, else refuse it (counted). */
static bool refuse_move(const ps_lease *l, enum ps_lease_state to)
{
#ifdef POOLSHIM_STRICT
    fprintf(stderr, "poolshim: illegal lease move %d -> %d\n", (int)l->state, (int)to);
    abort();
#else
    (void)l, (void)to;
    illegal_moves++;
    return false;
#endif
}

/* Moves L to state TO, keeping the lists and the index in step and waking the waiters of a
 * move. Caller holds the lock. False when the move is illegal. */
static bool set_state(ps_lease *l, enum ps_lease_state to)
{
    enum ps_lease_state from = l->state;
    if (!legal[from][to])
        return refuse_move(l, to);
    if (listed(from))
        DL_DELETE(list[from], l);
    l->state = to;
    if (listed(to))
        DL_APPEND(list[to], l);
    if (to == CLOSED)
        unindex(l);
    set_gate(l);
    if (from == MOVING)
        pthread_cond_broadcast(&moved);
    return true;
}

/* Finds the lease of HANDLE, else one whose connection is TRANSPORT (the handle was copied).
 * Caller holds the lock. */
static ps_lease *find(void *handle, void *transport)
{
    ps_lease *l = NULL;
    if (handle)
        HASH_FIND_PTR(by_handle, &handle, l);
    if (l && transport && l->transport && l->transport != transport)
        l = NULL; /* the handle's memory now holds another connection */
    static const enum ps_lease_state with_transport[] = {LIVE, MOVING, INHERITED};
    for (size_t i = 0; !l && transport && i < sizeof with_transport / sizeof *with_transport; i++)
        for (ps_lease *x = list[with_transport[i]]; x && !l; x = x->next)
            if (x->transport == transport)
                l = x;
    return l;
}

/* Finds HANDLE's lease once no other thread is moving it. Caller holds the lock. */
static ps_lease *find_settled(void *handle, void *transport)
{
    ps_lease *l;
    while ((l = find(handle, transport)) != NULL && l->state == MOVING)
        pthread_cond_wait(&moved, &lock);
    return l;
}

ps_lease *ps_lease_begin(ps_conn *c, void *handle, void *transport, const ps_trace *trace)
{
    ps_lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    static uint64_t last_id;
    l->id = __atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED);
    l->transport = transport;
    l->activity.conn = c;
    l->pool = c->pool;
    l->acquired_ms = ps_now_ms();
    l->activity.gate = PS_LEASE_SHUT;
    l->activity.patience_ms = patience_of(l->pool);
    ps_activity_stamp(&l->activity, l->acquired_ms);
    if (trace)
        l->trace = *trace;
    pthread_mutex_lock(&lock);
    index_handle(l, handle);
    bool ok = l->handle != NULL && set_state(l, LIVE);
    if (ok) /* the connecting thread's next call is on this handle */
        remember(handle, transport, l);
    pthread_mutex_unlock(&lock);
    if (!ok)
        free(l);
    return ok ? l : NULL;
}

ps_lease *ps_lease_take(void *handle, void *transport, enum ps_lease_state *was)
{
    pthread_mutex_lock(&lock);
    ps_lease *l = find_settled(handle, transport);
    *was = l ? l->state : PS_LEASE_CLOSED;
    if (l && !set_state(l, CLOSED))
        l = NULL;
    pthread_mutex_unlock(&lock);
    return l;
}

void ps_lease_free(ps_lease *l)
{
    if (l) {
        free(l->husk_info);
        free(l->husk_variables);
        free(l->told_variables);
        ps_user_vars_free(l->user_vars);
        free(l);
    }
}

bool ps_lease_held(void *handle, void *transport)
{
    pthread_mutex_lock(&lock);
    bool held = find(handle, transport) != NULL;
    pthread_mutex_unlock(&lock);
    return held;
}

ps_lease *ps_lease_find(void *handle, void *transport)
{
    pthread_mutex_lock(&lock);
    ps_lease *l = find(handle, transport);
    pthread_mutex_unlock(&lock);
    return l;
}

unsigned ps_lease_session_dirt(const ps_lease_session *s)
{
    return (s->effects & dirty_effects) | (s->lasting & PS_SQL_RESET_KEEPS);
}

/* True when L has no effects the shim cannot replay (the program's own reset keeps what
 * PS_SQL_RESET_KEEPS marks, so those pin it for the whole lease). */
static bool clean(const ps_lease *l)
{
    return !ps_lease_session_dirt(&l->session) && !l->session.found_rows_pending;
}

/* The class of what keeps lease L's session from being reclaimed (it is not clean), in the
 * order ps_sql_effect_reason names them. */
static enum ps_hold dirt_hold(const ps_lease *l)
{
    unsigned dirt = ps_lease_session_dirt(&l->session);
    if (dirt & PS_SQL_RESET_KEEPS)
        return PS_HOLD_RESET_KEEPS;
    if (dirt & PS_SQL_LOCK)
        return PS_HOLD_LOCK;
    if (dirt & PS_SQL_SESSION)
        return PS_HOLD_SESSION;
    return PS_HOLD_FOUND_ROWS;
}

/* Counts lease L as not reclaimable for WHY, once per lease and reason. Caller holds the lock
 * (then the pool's: the lock order). */
static void count_hold(ps_lease *l, enum ps_hold why)
{
    if (l->holds_counted & (1u << why))
        return;
    l->holds_counted |= 1u << why;
    ps_pool_note_hold(l->pool, why);
}

/* True when lease L, with CALLS calls in progress, has idled past the point where its
 * connection may be gone (the server's wait_timeout) or should be given back
 * (POOLSHIM_REAP_IDLE_MS), so its next command renews it first. Caller holds the lock. */
static bool past_patience(const ps_lease *l, unsigned calls)
{
    return calls == 0 &&
           ps_activity_idle_past(&l->activity, ps_now_late_ms(),
                                 ps_activity_patience(&l->activity)) &&
           clean(l);
}

/* What a call of kind WHAT (PS_CALL_* bits) entering lease L must do. Caller holds the lock. */
static enum ps_enter entry_for(const ps_lease *l, unsigned what)
{
    bool sends_command = (what & PS_CALL_SENDS) != 0;
    switch (l->state) {
    case INHERITED:
        return sends_command ? PS_ENTER_TAKEOVER : PS_ENTER_UNTRACKED;
    case REAPED:
        return sends_command ? PS_ENTER_RENEW : PS_ENTER_CALL;
    case LIVE:
        return sends_command && past_patience(l, calls(l)) ? PS_ENTER_RENEW : PS_ENTER_CALL;
    case BROKEN: /* result reads find nothing to read on the husk, as on a lost connection */
        if (!sends_command)
            return PS_ENTER_UNTRACKED;
        return what & PS_CALL_RECONNECTS ? PS_ENTER_RECONNECT : PS_ENTER_BROKEN;
    default:
        return PS_ENTER_UNTRACKED;
    }
}

ps_lease *ps_lease_enter(void *handle, void *transport, unsigned what, enum ps_enter *how)
{
    pthread_mutex_lock(&lock);
    ps_lease *l = find_settled(handle, transport);
    *how = l ? entry_for(l, what) : PS_ENTER_UNTRACKED;
    if (*how == PS_ENTER_UNTRACKED || *how == PS_ENTER_BROKEN) {
        l = NULL;
    } else {
        if (handle && l->handle != handle)
            index_handle(l, handle); /* the program copied its struct: follow it */
        if (*how != PS_ENTER_CALL)
            set_state(l, MOVING);
        __atomic_add_fetch(&l->activity.gate, 1, __ATOMIC_ACQ_REL);
        if (l->handle == handle)
            remember(handle, transport, l);
    }
    pthread_mutex_unlock(&lock);
    return l;
}

/* Forgets what the tracker told of L's session variables (the program reset its session). */
static void forget_told_variables(ps_lease *l)
{
    free(l->told_variables);
    l->told_variables = NULL;
    l->told_variables_partial = false;
}

/* Appends the assignments A (see ps_call_outcome.variables; "": some could not be kept) to
 * what the tracker told of L's session variables; past 8 KiB the record is partial. */
static void keep_told_variables(ps_lease *l, const char *a)
{
    size_t old = l->told_variables ? strlen(l->told_variables) : 0, add = strlen(a);
    char *grown = *a && old + add + 3 <= 8192 ? realloc(l->told_variables, old + add + 3) : NULL;
    if (!grown) {
        l->told_variables_partial = true;
        return;
    }
    if (old) {
        memcpy(grown + old, ", ", 2);
        old += 2;
    }
    strcpy(grown + old, a);
    l->told_variables = grown;
}

void ps_lease_set_pool(ps_lease *l, ps_pool *p)
{
    pthread_mutex_lock(&lock);
    l->pool = p;
    __atomic_store_n(&l->activity.patience_ms, patience_of(p), __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
}

bool ps_lease_awaiting(const ps_lease *l)
{
    return __atomic_load_n(&l->activity.awaiting, __ATOMIC_RELAXED);
}

void ps_lease_leave_pinned(ps_lease *l, const ps_call_outcome *o, bool counted, bool pinned)
{
    pthread_mutex_lock(&lock);
    if (pinned)
        __atomic_store_n(&l->pinned, true, __ATOMIC_RELEASE); /* publishes l->pin */
    if (o->app_reset) {
        l->session.effects = 0;
        if (!(l->session.lasting & PS_SQL_RESET_KEEPS))
            __atomic_store_n(&l->pinned, false, __ATOMIC_RELEASE); /* the next pin is news */
    }
    l->session.effects |= o->effects & ~(PS_SQL_FOUND_ROWS | PS_SQL_RESULTS);
    l->session.lasting |= o->effects;
    if (o->statement || o->app_reset)
        l->session.found_rows_pending = (o->effects & PS_SQL_FOUND_ROWS) != 0;
    if (o->insert_id)
        l->session.values.last_insert_id = o->insert_id;
    if (o->app_reset)
        forget_told_variables(l);
    if (o->variables)
        keep_told_variables(l, o->variables);
    l->unreapable = NULL; /* a new call: judge afresh at the next reap */
    __atomic_store_n(&l->activity.reading, false, __ATOMIC_RELAXED);
    int change = ps_activity_note_reply(&l->activity, o->reply);
    ps_activity_stamp(&l->activity, ps_now_late_ms());
    set_gate(l);
    ps_activity_take(&l->activity, ps_activity_due(counted, change));
    pthread_mutex_unlock(&lock);
}

void ps_lease_leave_plain(ps_lease *l, const ps_call_outcome *o, bool counted)
{
    if (!ps_activity_leave_plain(&l->activity, o->reply, counted))
        ps_lease_leave_pinned(l, o, counted, false);
}

void ps_lease_leave(ps_lease *l, const ps_call_outcome *o)
{
    if (ps_call_outcome_plain(o))
        ps_lease_leave_plain(l, o, true);
    else
        ps_lease_leave_pinned(l, o, true, false);
}

/* True when LIVE lease L may be picked by a reaper of POOL (any when NULL) at NOW, its session
 * aside: no call in progress, a handle, no refused reap, idle long enough (see
 * ps_lease_pick_reapable). Caller holds the lock. */
static bool pickable(const ps_lease *l, ps_pool *pool, int64_t now, const int64_t min_idle[2])
{
    if (calls(l) != 0 || !l->handle || (pool && l->pool != pool) || l->unreapable ||
        ps_lease_awaiting(l))
        return false;
    bool self =
        pthread_equal(__atomic_load_n(&l->activity.last_thread, __ATOMIC_RELAXED), pthread_self());
    return idle_for(l, now, min_idle[self ? 0 : 1]);
}

static uint64_t last_use(const ps_lease *l)
{
    return __atomic_load_n(&l->activity.last_use, __ATOMIC_RELAXED);
}

/* The least recently used pickable LIVE lease with a clean session, not in SKIP[0..NSKIP);
 * NULL when none. Counts as not reclaimable the pickable ones passed over for their session
 * that were used less recently. Caller holds the lock. */
static ps_lease *least_recent(ps_pool *pool, int64_t now, const int64_t min_idle[2],
                              ps_lease *const *skip, int nskip)
{
    ps_lease *l, *best = NULL;
    DL_FOREACH(list[LIVE], l)
    {
        bool skipped = false;
        for (int i = 0; i < nskip; i++)
            skipped = skipped || skip[i] == l;
        if (!skipped && clean(l) && (!best || last_use(l) < last_use(best)) &&
            pickable(l, pool, now, min_idle))
            best = l;
    }
    uint64_t bound = best ? last_use(best) : UINT64_MAX;
    DL_FOREACH(list[LIVE], l)
    if (!clean(l) && last_use(l) < bound && pickable(l, pool, now, min_idle))
        count_hold(l, dirt_hold(l)); /* a candidate but for its session */
    return best;
}

/* Shuts L's gate for a reaper if no call is in progress (one compare-and-swap: a call that
 * enters fast either counted itself first, and this fails, or finds the gate shut). False
 * when a call is in progress. Caller holds the lock. */
static bool claim(ps_lease *l)
{
    unsigned g = __atomic_load_n(&l->activity.gate, __ATOMIC_RELAXED);
    return (g & ~PS_LEASE_SHUT) == 0 &&
           __atomic_compare_exchange_n(&l->activity.gate, &g, PS_LEASE_SHUT, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

ps_lease *ps_lease_pick_reapable(ps_pool *pool, int64_t min_idle_self, int64_t min_idle_other)
{
    enum { TRIES = 8 };
    const int64_t min_idle[2] = {min_idle_self, min_idle_other};
    ps_lease *skip[TRIES], *l = NULL;
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&lock);
    for (int n = 0; n < TRIES && (l = least_recent(pool, now, min_idle, skip, n)) != NULL; n++) {
        /* Claimed, its stamp is the last call's (acquire): judge it again. */
        if (claim(l) && pickable(l, pool, now, min_idle))
            break;
        set_gate(l); /* a call came first: in use, not reapable now */
        skip[n] = l;
        l = NULL;
    }
    if (l)
        set_state(l, MOVING);
    pthread_mutex_unlock(&lock);
    return l;
}

void ps_lease_settle(ps_lease *l, ps_conn *c, void *transport, const char *why)
{
    pthread_mutex_lock(&lock);
    l->activity.conn = c;
    set_transport(l, c ? transport : NULL);
    if (c)
        l->unreapable = why;
    if (c && why)
        count_hold(l, l->unreapable_hold);
    set_state(l, c ? LIVE : REAPED);
    pthread_mutex_unlock(&lock);
}

void ps_lease_break(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    if (set_state(l, BROKEN)) {
        l->activity.conn = NULL;
        set_transport(l, NULL);
    }
    pthread_mutex_unlock(&lock);
}

void ps_lease_drop_conn(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    l->activity.conn = NULL;
    set_transport(l, NULL);
    /* an answer awaited on the dropped connection (a fork child's take-over of the parent's)
     * is gone with it, and its count */
    int change = ps_activity_note_reply(&l->activity, PS_REPLY_NONE);
    ps_activity_take(&l->activity, ps_activity_due(false, change));
    pthread_mutex_unlock(&lock);
}

int ps_lease_count_pinned(ps_pool *p, int64_t min_idle_ms)
{
    int n = 0;
    int64_t now = ps_now_ms();
    ps_lease *l;
    pthread_mutex_lock(&lock);
    DL_FOREACH(list[LIVE], l)
    n += l->pool == p && calls(l) == (unsigned)ps_lease_awaiting(l) &&
         !__atomic_load_n(&l->activity.reading, __ATOMIC_RELAXED) &&
         idle_for(l, now, min_idle_ms) && (!clean(l) || l->unreapable || ps_lease_awaiting(l));
    pthread_mutex_unlock(&lock);
    return n;
}

/* True when LIVE lease L is a leak to report at NOW. Caller holds the lock. */
static bool leak_due(const ps_lease *l, int64_t now, int64_t held_ms)
{
    return !l->leak_warned && now - l->acquired_ms >= held_ms && idle_for(l, now, held_ms) &&
           (!clean(l) || l->unreapable);
}

/* Copies L into C for a report outside the lock: the fast path's fields one by one, its pin
 * only when it is published (the thread in a call may be writing them otherwise). Caller
 * holds the lock. */
static void copy_for_report(ps_lease *c, const ps_lease *l)
{
    const ps_activity *a = &l->activity;
    memcpy(c, l, offsetof(ps_lease, activity));
    c->activity = (ps_activity){.gate = __atomic_load_n(&a->gate, __ATOMIC_RELAXED),
                                .awaiting = ps_lease_awaiting(l),
                                .reading = __atomic_load_n(&a->reading, __ATOMIC_RELAXED),
                                .last_call_ms = __atomic_load_n(&a->last_call_ms, __ATOMIC_RELAXED),
                                .last_use = last_use(l),
                                .last_thread = __atomic_load_n(&a->last_thread, __ATOMIC_RELAXED),
                                .conn = a->conn,
                                .patience_ms = a->patience_ms};
    c->pin.statement[0] = '\0';
    c->pin.trace.len = 0;
    if (__atomic_load_n(&l->pinned, __ATOMIC_ACQUIRE)) {
        c->pin = l->pin;
        c->pin.statement[sizeof c->pin.statement - 1] = '\0';
    }
}

void ps_lease_foreach_leak(int64_t held_ms, void (*fn)(const ps_lease *l, void *ctx), void *ctx)
{
    enum { BATCH = 8 };
    ps_lease copies[BATCH];
    int n;
    do { /* copy a batch under the lock, report it outside */
        int64_t now = ps_now_ms();
        ps_lease *l;
        n = 0;
        pthread_mutex_lock(&lock);
        DL_FOREACH(list[LIVE], l)
        {
            if (n < BATCH && leak_due(l, now, held_ms)) {
                l->leak_warned = true;
                copy_for_report(&copies[n++], l);
            }
        }
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < n; i++) {
            copies[i].husk_info = copies[i].husk_variables = copies[i].told_variables = NULL;
            copies[i].user_vars = NULL;
            fn(&copies[i], ctx);
        }
    } while (n == BATCH);
}

void ps_lease_set_transport(ps_lease *l, void *transport)
{
    pthread_mutex_lock(&lock);
    set_transport(l, transport);
    pthread_mutex_unlock(&lock);
}

bool ps_lease_replayable(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    bool ok = clean(l);
    pthread_mutex_unlock(&lock);
    return ok;
}

ps_lease_session ps_lease_session_get(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    ps_lease_session s = l->session;
    pthread_mutex_unlock(&lock);
    return s;
}

/* Reports one violation. */
static int violation(void (*report)(const char *, void *), void *ctx, const char *what, int s)
{
    char msg[160];
    snprintf(msg, sizeof msg, "lease state %d: %s", s, what);
    if (report)
        report(msg, ctx);
    return 1;
}

int ps_lease_check(void (*report)(const char *what, void *ctx), void *ctx)
{
    pthread_mutex_lock(&lock);
    int bad = (int)illegal_moves, listed_total = 0;
    for (int s = 0; s < PS_LEASE_NSTATES; s++) {
        ps_lease *l, *found;
        DL_FOREACH(list[s], l)
        {
            if (!listed(s) || l->state != (enum ps_lease_state)s)
                bad += violation(report, ctx, "a lease on the wrong list", s);
            if ((s == LIVE || s == INHERITED) && (!l->activity.conn || !l->transport))
                bad += violation(report, ctx, "holds no connection", s);
            if ((s == REAPED || s == BROKEN) && (l->activity.conn || l->transport))
                bad += violation(report, ctx, "a husk that holds a connection", s);
            if (!(__atomic_load_n(&l->activity.gate, __ATOMIC_RELAXED) & PS_LEASE_SHUT) &&
                !fast_ok(l))
                bad += violation(report, ctx, "the fast path is open", s);
            found = NULL;
            if (l->handle)
                HASH_FIND_PTR(by_handle, &l->handle, found);
            if (l->handle && found != l)
                bad += violation(report, ctx, "handle not indexed", s);
            listed_total++;
        }
    }
    if ((int)HASH_COUNT(by_handle) > listed_total)
        bad += violation(report, ctx, "index holds leases on no list", -1);
    pthread_mutex_unlock(&lock);
    return bad;
}

void ps_lease_before_fork(void)
{
    pthread_mutex_lock(&lock);
}

void ps_lease_after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void ps_lease_after_fork_child(void (*mute)(void *handle), bool (*track)(void *handle))
{
    ps_lease *l, *tmp;
    pthread_cond_init(&moved, NULL);           /* a parent thread may have been waiting on it */
    for (int s = 0; s < PS_LEASE_NSTATES; s++) /* the calls in progress are the parent's */
        DL_FOREACH(list[s], l)
        {
            __atomic_store_n(&l->activity.gate, PS_LEASE_SHUT | ps_lease_awaiting(l),
                             __ATOMIC_RELAXED);
            __atomic_store_n(&l->activity.reading, false, __ATOMIC_RELAXED);
        }
    reindexed(); /* the forking thread's last lookup: the lease is about to be INHERITED */
    DL_FOREACH_SAFE(list[MOVING], l, tmp)
    {
        if (mute && l->handle) /* half-moved by a parent thread: never on the wire here */
            mute(l->handle);
        l->activity.conn = NULL;
        set_transport(l, NULL);
        set_state(l, BROKEN);
    }
    DL_FOREACH_SAFE(list[LIVE], l, tmp)
    {
        if (track && l->handle)
            track(l->handle);
        set_state(l, INHERITED);
    }
    pthread_mutex_unlock(&lock);
}
