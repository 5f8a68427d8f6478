/* Leases (see lease.h): a hash by handle plus an LRU list of every lease, under one mutex.
 * Lock order: lease lock before pool lock. */
#include "poolshim/lease.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/config.h"
#include "poolshim/sql_effects.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ps_lease *by_handle;       /* hash of indexed leases */
static ps_lease *oldest, *newest; /* every lease, least recently used first */
static const unsigned dirty_effects = PS_SQL_SESSION | PS_SQL_LOCK;

/* Unlinks L from the LRU list, if it is on it. Caller holds the lock. */
static void lru_unlink(ps_lease *l)
{
    if (!l->in_lru)
        return;
    l->in_lru = false;
    if (l->older)
        l->older->newer = l->newer;
    else
        oldest = l->newer;
    if (l->newer)
        l->newer->older = l->older;
    else
        newest = l->older;
    l->older = l->newer = NULL;
}

/* Appends L as the most recently used. Caller holds the lock. */
static void lru_append(ps_lease *l)
{
    l->in_lru = true;
    l->older = newest;
    l->newer = NULL;
    if (newest)
        newest->newer = l;
    else
        oldest = l;
    newest = l;
}

/* Removes L from the handle index. Caller holds the lock. */
static void unindex(ps_lease *l)
{
    if (l->indexed)
        HASH_DELETE(hh, by_handle, l);
    l->indexed = false;
}

/* Finds the lease of HANDLE, else one whose live connection is TRANSPORT (the handle was
 * copied). Caller holds the lock. */
static ps_lease *find(void *handle, void *transport)
{
    ps_lease *l = NULL;
    if (handle)
        HASH_FIND_PTR(by_handle, &handle, l);
    if (l && transport && l->transport && l->transport != transport)
        l = NULL; /* the handle's memory now holds another connection */
    if (!l && transport)
        for (ps_lease *x = oldest; x && !l; x = x->newer)
            if (x->transport == transport)
                l = x;
    return l;
}

/* Releases the lock, lets the owner of a REAPING lease finish, and takes the lock again. */
static void wait_for_owner(void)
{
    pthread_mutex_unlock(&lock);
    sched_yield();
    pthread_mutex_lock(&lock);
}

ps_lease *ps_lease_begin(ps_conn *c, void *handle, void *transport, void *const *trace,
                         int trace_len)
{
    ps_lease *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->handle = handle;
    l->transport = transport;
    l->conn = c;
    l->pool = c->pool;
    l->pid = ps_pid();
    l->state = PS_LEASE_LIVE;
    l->acquired_ms = l->last_call_ms = ps_now_ms();
    l->last_thread = pthread_self();
    l->trace_len = trace_len < PS_LEASE_TRACE ? trace_len : PS_LEASE_TRACE;
    if (l->trace_len > 0)
        memcpy(l->trace, trace, (size_t)l->trace_len * sizeof *trace);
    pthread_mutex_lock(&lock);
    ps_lease *stale = NULL;
    HASH_FIND_PTR(by_handle, &handle, stale);
    if (stale) /* the program reused this memory for a new handle (or copied the struct) */
        unindex(stale);
    ps_hash_oom = 0;
    HASH_ADD_PTR(by_handle, handle, l);
    l->indexed = !ps_hash_oom;
    if (l->indexed)
        lru_append(l);
    pthread_mutex_unlock(&lock);
    if (!l->indexed) {
        free(l);
        return NULL;
    }
    return l;
}

ps_lease *ps_lease_take(void *handle, void *transport)
{
    pthread_mutex_lock(&lock);
    ps_lease *l;
    while ((l = find(handle, transport)) != NULL && l->state == PS_LEASE_REAPING)
        wait_for_owner();
    if (l) {
        unindex(l);
        lru_unlink(l);
    }
    pthread_mutex_unlock(&lock);
    return l;
}

void ps_lease_free(ps_lease *l)
{
    if (l) {
        free(l->husk_info);
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

/* True when L has no effects the shim cannot replay. */
static bool clean(const ps_lease *l)
{
    return !(l->effects & dirty_effects) && !l->found_rows_pending;
}

/* How long L may idle before its next call reaps it first. Caller holds the lease lock. */
static int64_t reap_threshold(const ps_lease *l)
{
    int64_t server = ps_pool_server_idle_limit(l->pool);
    int64_t cfg = ps_cfg.reap_idle_ms > 0 ? ps_cfg.reap_idle_ms : INT64_MAX;
    return server < cfg ? server : cfg;
}

ps_lease *ps_lease_enter(void *handle, void *transport, bool may_relese, bool *relese)
{
    *relese = false;
    pthread_mutex_lock(&lock);
    ps_lease *l;
    while ((l = find(handle, transport)) != NULL && l->state == PS_LEASE_REAPING)
        wait_for_owner();
    if (l && l->pid != ps_pid() && may_relese && l->state != PS_LEASE_REAPING) {
        /* Inherited across fork: this process's first command on the handle takes it over. */
        l->pid = ps_pid();
        l->inherited = true;
        l->state = PS_LEASE_REAPING;
        *relese = true;
        l->busy++;
    } else if (l && l->pid == ps_pid()) {
        bool stale = l->state == PS_LEASE_LIVE && l->busy == 0 && clean(l) &&
                     ps_now_ms() - l->last_call_ms >= reap_threshold(l);
        if (may_relese && (l->state == PS_LEASE_REAPED || stale)) {
            l->state = PS_LEASE_REAPING;
            *relese = true;
        }
        l->busy++;
    } else {
        l = NULL; /* none, or inherited across fork: not this process's to track */
    }
    pthread_mutex_unlock(&lock);
    return l;
}

void ps_lease_leave(ps_lease *l, bool statement, unsigned effects, bool app_reset,
                    unsigned long long insert_id)
{
    pthread_mutex_lock(&lock);
    l->busy--;
    if (app_reset)
        l->effects = 0;
    l->effects |= effects & ~PS_SQL_FOUND_ROWS;
    if (statement || app_reset)
        l->found_rows_pending = (effects & PS_SQL_FOUND_ROWS) != 0;
    l->last_thread = pthread_self();
    if (insert_id)
        l->last_insert_id = insert_id;
    l->unreapable = NULL; /* a new call: judge afresh at the next reap */
    l->last_call_ms = ps_now_ms();
    if (l->in_lru) {
        lru_unlink(l);
        lru_append(l);
    }
    pthread_mutex_unlock(&lock);
}

void ps_lease_relesed(ps_lease *l, ps_conn *c, void *transport)
{
    pthread_mutex_lock(&lock);
    l->conn = c;
    l->transport = transport;
    l->state = PS_LEASE_LIVE;
    if (!l->in_lru)
        lru_append(l);
    pthread_mutex_unlock(&lock);
}

void ps_lease_disowned(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    l->conn = NULL;
    l->transport = NULL;
    pthread_mutex_unlock(&lock);
}

void ps_lease_relese_failed(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    l->conn = NULL;
    l->transport = NULL;
    l->state = PS_LEASE_REAPED;
    l->busy--;
    lru_unlink(l);
    pthread_mutex_unlock(&lock);
}

ps_lease *ps_lease_pick_reapable(ps_pool *pool, int64_t min_idle_self, int64_t min_idle_other)
{
    int64_t now = ps_now_ms();
    pid_t me = ps_pid();
    pthread_t self = pthread_self();
    pthread_mutex_lock(&lock);
    ps_lease *l = oldest;
    for (; l; l = l->newer) {
        int64_t min_idle = pthread_equal(l->last_thread, self) ? min_idle_self : min_idle_other;
        if (l->state == PS_LEASE_LIVE && l->busy == 0 && l->pid == me && clean(l) &&
            (!pool || l->pool == pool) && !l->unreapable && now - l->last_call_ms >= min_idle)
            break;
    }
    if (l)
        l->state = PS_LEASE_REAPING;
    pthread_mutex_unlock(&lock);
    return l;
}

void ps_lease_reaped(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    l->conn = NULL;
    l->transport = NULL;
    l->state = PS_LEASE_REAPED;
    lru_unlink(l);
    pthread_mutex_unlock(&lock);
}

void ps_lease_reap_refused(ps_lease *l, const char *why)
{
    pthread_mutex_lock(&lock);
    l->state = PS_LEASE_LIVE;
    l->unreapable = why;
    pthread_mutex_unlock(&lock);
}

void ps_lease_foreach_leak(int64_t held_ms, void (*fn)(const ps_lease *l, void *ctx), void *ctx)
{
    int64_t now = ps_now_ms();
    pid_t me = ps_pid();
    pthread_mutex_lock(&lock);
    for (ps_lease *l = oldest; l; l = l->newer)
        if (l->state == PS_LEASE_LIVE && !l->leak_warned && l->pid == me &&
            now - l->acquired_ms >= held_ms && now - l->last_call_ms >= held_ms &&
            (!clean(l) || l->unreapable)) {
            l->leak_warned = true;
            fn(l, ctx);
        }
    pthread_mutex_unlock(&lock);
}

void ps_lease_set_transport(ps_lease *l, void *transport)
{
    pthread_mutex_lock(&lock);
    l->transport = transport;
    pthread_mutex_unlock(&lock);
}

void ps_lease_before_fork(void)
{
    pthread_mutex_lock(&lock);
}

void ps_lease_after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void ps_lease_after_fork_child(void)
{
    ps_lease *l, *next;
    /* the calls in progress belong to the parent's threads: every indexed lease (REAPED ones
     * are not on the LRU list) and every listed one (unindexed ones still are) */
    for (l = by_handle; l; l = l->hh.next)
        l->busy = 0;
    for (l = oldest; l; l = next) {
        next = l->newer;
        l->busy = 0;
        if (l->state == PS_LEASE_REAPING) {
            /* A parent thread was moving this connection: the handle is half-moved here, so
             * the child never tracks it (its calls pass straight through). */
            unindex(l);
            lru_unlink(l);
        }
    }
    pthread_mutex_unlock(&lock);
}

bool ps_lease_replayable(ps_lease *l)
{
    pthread_mutex_lock(&lock);
    bool ok = clean(l);
    pthread_mutex_unlock(&lock);
    return ok;
}
