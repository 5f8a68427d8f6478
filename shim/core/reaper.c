/* Reaping and re-leasing (see reaper.h), and the activity tracking the client layer's I/O
 * wrappers call (calls.h). */
#include "poolshim/reaper.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/calls.h"
#include "poolshim/config.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/shim.h"
#include "poolshim/sql_effects.h"

#define ER_CON_COUNT   1040 /* the server's "Too many connections" */
#define CR_SERVER_GONE 2006 /* the client library's "MySQL server has gone away" */

/* Takes the connection back from lease L (REAPING, owned by the caller): saves what the handle
 * shows, reads LAST_INSERT_ID(), resets the session and parks the connection (a dead one is
 * closed), leaving the handle a husk. Leaves L REAPED unless KEEP_OWNED. False when refused. */
static bool reap(const ps_client_ops *cl, ps_lease *l, bool keep_owned)
{
    void *h = l->handle;
    const char *why = cl->unreapable(h);
    bool alive = cl->transport(h) != NULL;
    if (why && alive) {
        ps_lease_reap_refused(l, why);
        return false;
    }
    ps_conn *c = l->conn;
    void *saved = cl->save_results(h);
    unsigned long long lid = l->last_insert_id;
    /* LAST_INSERT_ID() can only be non-zero after an OK packet reported a generated id (the
     * statements that set it otherwise keep a handle from being reaped). */
    alive = alive && saved && (lid == 0 || cl->last_insert_id(h, &lid)) && cl->reset(h, c);
    char *info = NULL;
    void *parked = cl->husk(h, saved, &info);
    if (!parked) {
        ps_lease_reap_refused(l, "out of memory");
        return false;
    }
    l->husk_info = info;
    l->last_insert_id = lid;
    ps_pool_count_reap(l->pool, false, false);
    ps_debug(ps_pool_label(l->pool), "reaped idle handle %p (%s)", h,
             alive ? "connection parked" : "connection was dead");
    if (alive) {
        ps_pool_park(c, parked);
    } else {
        cl->destroy(parked);
        ps_pool_drop(c, false);
    }
    if (!keep_owned)
        ps_lease_reaped(l);
    return true;
}

bool ps_reap_for(const ps_client_ops *cl, ps_pool *p)
{
    ps_lease *l;
    while ((l = ps_lease_pick_reapable(p, 0, ps_cfg.reap_min_idle_ms)) != NULL)
        if (reap(cl, l, false))
            return true;
    return false;
}

/* Logs one leak warning for L, with where it was connected (frames outside the shim). */
static void warn_leak(const ps_lease *l, void *ctx)
{
    (void)ctx;
    int64_t now = ps_now_ms();
    const char *why = l->unreapable ? l->unreapable : ps_sql_effect_reason(l->effects);
    ps_warn(ps_pool_label(l->pool),
            "possible connection leak: handle %p connected %.1f s ago, idle %.1f s, "
            "cannot be reclaimed: %s; connected at:",
            l->handle, (double)(now - l->acquired_ms) / 1000,
            (double)(now - l->last_call_ms) / 1000, *why ? why : "SQL_CALC_FOUND_ROWS pending");
    Dl_info self, frame;
    bool have_self = dladdr((void *)&ps_housekeep, &self) != 0;
    char **names = backtrace_symbols((void *const *)l->trace, l->trace_len);
    for (int i = 0; i < l->trace_len; i++) {
        if (have_self && dladdr(l->trace[i], &frame) && frame.dli_fbase == self.dli_fbase)
            continue; /* the shim's own frames */
        ps_warn(ps_pool_label(l->pool), "    %s", names ? names[i] : "?");
    }
    free(names);
    ps_pool_count_reap(l->pool, false, true);
}

void ps_housekeep(const ps_client_ops *cl)
{
    static int64_t next_ms;
    int64_t now = ps_now_ms(), next = __atomic_load_n(&next_ms, __ATOMIC_RELAXED);
    if (now < next || !__atomic_compare_exchange_n(&next_ms, &next, now + 100, false,
                                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;
    if (ps_cfg.reap_idle_ms > 0) {
        ps_lease *l;
        for (int i = 0; i < 8 && (l = ps_lease_pick_reapable(NULL, ps_cfg.reap_idle_ms,
                                                             ps_cfg.reap_idle_ms)) != NULL;
             i++)
            reap(cl, l, false);
    }
    if (ps_cfg.leak_warn_ms > 0)
        ps_lease_foreach_leak(ps_cfg.leak_warn_ms, warn_leak, NULL);
}

/* Sets the error a connect gets when its key stayed at the cap for the whole wait. */
static void set_cap_error(const ps_client_ops *cl, void *h, ps_pool *p, int64_t waited_ms)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "Too many connections (poolshim: all %lld connections of this process for %s "
             "stayed in use for %lld ms; close handles or raise POOLSHIM_MAX_PER_KEY)",
             (long long)ps_cfg.max_per_key, ps_pool_label(p), (long long)waited_ms);
    cl->set_error(h, ER_CON_COUNT, "08004", msg);
    ps_warn(ps_pool_label(p), "connect refused: %lld connections in use for %lld ms",
            (long long)ps_cfg.max_per_key, (long long)waited_ms);
}

/* Makes a new connection for P (slot reserved) with HANDLE's options and ARGS. Returns it
 * LEASED with its parked handle in ->handle, or NULL (*ERR set, error in HANDLE). */
static ps_conn *connect_new(const ps_client_ops *cl, ps_pool *p, void *handle,
                            const ps_connect_args *a, bool *unpoolable, unsigned *err)
{
    void *parked = cl->connect_parked(handle, a, err);
    ps_connect_error unreachable;
    if (!parked) {
        if (cl->unreachable(handle, &unreachable))
            ps_pool_connect_outcome(p, &unreachable, ps_cfg.connect_retry_ms);
        ps_pool_connect_failed(p, true);
        return NULL;
    }
    ps_pool_connect_outcome(p, NULL, 0);
    const char *why = cl->unpoolable_after(parked);
    ps_conn *c = why ? NULL : ps_pool_connected(p);
    if (!c) {
        ps_pool_connect_failed(p, false);
        ps_debug(ps_pool_label(p), "not pooling this connection: %s", why ? why : "out of memory");
        ps_conn unpooled = {.pool = p, .handle = parked};
        cl->record(parked, &unpooled);
        cl->adopt(handle, &unpooled);
        free(unpooled.dsn_db);
        *unpoolable = true;
        return NULL;
    }
    c->handle = parked;
    cl->record(parked, c);
    if (ps_pool_server_idle_limit(p) == INT64_MAX)
        ps_pool_set_server_wait_timeout(p, cl->server_wait_timeout(parked, c));
    return c;
}

/* True when P is backing off after finding the server unreachable: the reserved slot is
 * released and HANDLE gets that connect's error, as a new attempt would most likely get. */
static bool backed_off(const ps_client_ops *cl, ps_pool *p, void *handle)
{
    ps_connect_error e;
    if (ps_cfg.connect_retry_ms <= 0 || !ps_pool_backoff(p, &e))
        return false;
    ps_pool_connect_failed(p, false);
    cl->set_error(handle, e.code, e.sqlstate, e.message);
    return true;
}

/* Puts connection C into HANDLE: a plain adopt for a connect, adopt + replay for a husk. When
 * the replay fails, HANDLE becomes a husk again (keeping the replay's error), C's connection
 * is closed and dropped, and false is returned. */
static bool hand_over(const ps_client_ops *cl, ps_conn *c, void *handle, bool husk,
                      unsigned long long last_insert_id, char **husk_info)
{
    if (!husk) {
        cl->adopt(handle, c);
        return true;
    }
    if (cl->relese(handle, c, last_insert_id))
        return true;
    ps_warn(ps_pool_label(c->pool), "could not replay the session of a reaped handle");
    void *parked = cl->husk(handle, cl->save_results(handle), husk_info);
    if (parked)
        cl->destroy(parked);
    ps_pool_drop(c, true);
    return false;
}

ps_conn *ps_obtain(const ps_client_ops *cl, ps_pool *p, void *handle, const ps_connect_args *a,
                   bool husk, unsigned long long last_insert_id, bool *unpooled, char **husk_info)
{
    int64_t start = ps_now_ms(), deadline = start + ps_cfg.wait_timeout_ms;
    const ps_connect_args *args = husk ? ps_pool_args(p) : a;
    *unpooled = false;
    for (;;) {
        if (ps_pool_full(p))
            ps_reap_for(cl, p);
        int64_t left = deadline - ps_now_ms(), waited;
        int64_t slice = left < 20 ? (left > 0 ? left : 0) : 20; /* retry reaping meanwhile */
        ps_conn *c;
        unsigned err = 0;
        switch (ps_pool_acquire(p, slice, &c, &waited)) {
        case PS_ACQUIRE_IDLE:
            if (ps_now_ms() - c->idle_since_ms > ps_cfg.validate_idle_ms ||
                cl->input_pending(c->handle)) {
                bool alive = cl->validate(c->handle);
                ps_pool_count_validation(p, !alive);
                if (!alive) {
                    cl->destroy(c->handle);
                    ps_pool_drop(c, false);
                    continue;
                }
            }
            break;
        case PS_ACQUIRE_CONNECT:
            if (backed_off(cl, p, handle))
                return NULL;
            c = connect_new(cl, p, handle, args, unpooled, &err);
            if (!c && err == ER_CON_COUNT) {
                ps_pool_server_refused(p);
                if (ps_reap_for(cl, p))
                    continue; /* the server is full, but this process held a reapable handle */
            }
            if (!c)
                return NULL;
            break;
        case PS_ACQUIRE_TIMEOUT:
        default:
            if (ps_now_ms() < deadline)
                continue;
            set_cap_error(cl, handle, p, ps_now_ms() - start);
            return NULL;
        }
        return hand_over(cl, c, handle, husk, last_insert_id, husk_info) ? c : NULL;
    }
}

/* Backtraces of connect call sites, by the caller's return address: a program connects from a
 * few places over and over, and unwinding the stack on every connect costs microseconds. */
typedef struct site_trace {
    void *caller;
    int n;
    void *trace[PS_LEASE_TRACE];
} site_trace;

static site_trace sites[64];
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;

void ps_reaper_before_fork(void)
{
    pthread_mutex_lock(&sites_lock);
}

void ps_reaper_after_fork(void)
{
    pthread_mutex_unlock(&sites_lock);
}

/* Fills TRACE with where the program connected (cached per call site); returns its length. */
static int connect_trace(void *trace[PS_LEASE_TRACE])
{
    void *caller = ps_caller;
    site_trace *s = &sites[((uintptr_t)caller >> 4) % (sizeof sites / sizeof *sites)];
    int n = -1;
    pthread_mutex_lock(&sites_lock);
    if (caller && s->caller == caller) {
        n = s->n;
        memcpy(trace, s->trace, sizeof s->trace);
    }
    pthread_mutex_unlock(&sites_lock);
    if (n >= 0)
        return n;
    n = backtrace(trace, PS_LEASE_TRACE);
    pthread_mutex_lock(&sites_lock);
    s->caller = caller;
    s->n = n;
    memcpy(s->trace, trace, sizeof s->trace);
    pthread_mutex_unlock(&sites_lock);
    return n;
}

void ps_lease_start(const ps_client_ops *cl, ps_conn *c, void *handle)
{
    void *trace[PS_LEASE_TRACE];
    int n = ps_cfg.leak_warn_ms > 0 ? connect_trace(trace) : 0;
    if (!cl->track(handle) || !ps_lease_begin(c, handle, cl->transport(handle), trace, n)) {
        c->handle = handle;
        ps_pool_drop(c, false); /* the handle keeps its connection, unpooled */
        return;
    }
    c->handle = handle;
}

/* In a forked child, lets go of the parent's connection held by inherited lease L (REAPING,
 * owned) without sending anything on it: the handle becomes a husk, so the caller re-leases a
 * connection of this process's own. When the session held state a fresh connection cannot
 * reproduce (a transaction, temporary tables, variables...), the handle gets "server has gone
 * away" instead, L is REAPED, and false is returned: the command must fail, like a lost
 * connection, rather than run silently in another session. */
static bool disown_inherited(const ps_client_ops *cl, ps_lease *l)
{
    void *h = l->handle;
    ps_conn *c = l->conn;
    l->inherited = false;
    if (!c)
        return true; /* the parent had reaped it: already a husk */
    const char *why = cl->unreapable(h);
    if (!why && !ps_lease_replayable(l))
        why = ps_sql_effect_reason(l->effects);
    char *info = NULL;
    void *parked = cl->husk(h, cl->save_results(h), &info);
    if (!parked) {
        why = "out of memory";
    } else {
        free(l->husk_info);
        l->husk_info = info;
        cl->forget(parked);
    }
    ps_pool_drop(c, false);
    ps_lease_disowned(l);
    if (!why) {
        ps_debug(ps_pool_label(l->pool), "handle %p inherited across fork: reconnecting", h);
        return true;
    }
    ps_warn(ps_pool_label(l->pool),
            "handle %p inherited across fork holds session state a new connection cannot "
            "have (%s): reporting the connection as lost",
            h, why);
    cl->set_error(h, CR_SERVER_GONE, "HY000", "MySQL server has gone away");
    ps_lease_relese_failed(l);
    return false;
}

bool ps_call_begin(ps_call *call, void *h, bool may_relese)
{
    const ps_client_ops *cl = ps_shim();
    bool relese = false;
    call->lease = NULL;
    if (!cl)
        return true;
    ps_lease *l = ps_lease_enter(h, cl->transport(h), may_relese, &relese);
    if (!l || !relese)
        return (call->lease = l), true;
    if (l->inherited && !disown_inherited(cl, l))
        return false;
    if (l->conn && !reap(cl, l, true)) { /* idle past the server's patience: reap it first */
        ps_lease_relesed(l, l->conn, cl->transport(h));
        return (call->lease = l), true;
    }
    bool unpooled;
    char *info = NULL;
    ps_conn *c = ps_obtain(cl, l->pool, h, NULL, true, l->last_insert_id, &unpooled, &info);
    if (!c) {
        if (info) { /* the husk was rebuilt: its mysql_info() copy changed */
            free(l->husk_info);
            l->husk_info = info;
        }
        ps_lease_relese_failed(l);
        return false;
    }
    c->handle = h;
    cl->track(h);
    free(l->husk_info);
    l->husk_info = NULL;
    ps_lease_relesed(l, c, cl->transport(h));
    ps_pool_count_reap(l->pool, true, false);
    call->lease = l;
    return true;
}

void ps_call_end(ps_call *call, void *h, bool statement, unsigned effects, bool app_reset)
{
    if (!call->lease)
        return;
    const ps_client_ops *cl = ps_shim();
    ps_lease_leave(call->lease, statement, effects, app_reset, cl->reported_insert_id(h));
}
