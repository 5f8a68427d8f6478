/* Limits a pool learns from its server: a soft cap after a 1040 refusal, a back-off while the
 * server is unreachable, and the server's idle limit (wait_timeout). See pool.h. */
#include <pthread.h>
#include <stdio.h>

#include "poolshim/config.h"
#include "poolshim/keeper.h"
#include "poolshim/log.h"
#include "pool_internal.h"

void ps_pool_server_refused(ps_pool *p)
{
    pthread_mutex_lock(&ps_pool_lock);
    int open = ps_pool_open_locked(p);
    p->soft_cap = open > 1 ? open : 1;
    p->soft_cap_until_ms = ps_now_ms() + 5000;
    pthread_mutex_unlock(&ps_pool_lock);
}

bool ps_pool_backoff(ps_pool *p, ps_connect_error *err)
{
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&ps_pool_lock);
    bool wait = now < p->retry_at_ms;
    if (wait) {
        *err = p->last_failure;
        p->failed_in_outage++;
        p->st.connect_failures++;
        p->st.backoffs++;
    }
    pthread_mutex_unlock(&ps_pool_lock);
    return wait;
}

void ps_pool_connect_outcome(ps_pool *p, const ps_connect_error *err, int64_t retry_ms)
{
    int64_t now = ps_now_ms(), since;
    uint64_t failed;
    pthread_mutex_lock(&ps_pool_lock);
    since = p->failing_since_ms;
    failed = p->failed_in_outage;
    if (err) {
        p->last_failure = *err;
        p->retry_at_ms = now + retry_ms;
        p->failed_in_outage++;
        if (!since)
            p->failing_since_ms = now;
    } else {
        p->retry_at_ms = 0;
        p->failing_since_ms = 0;
        p->failed_in_outage = 0;
    }
    pthread_mutex_unlock(&ps_pool_lock);
    if (err && !since)
        ps_warn(p->label,
                "server unreachable (%u: %s); failing this key's connects at once "
                "for %lld ms after each failed attempt",
                err->code, err->message, (long long)retry_ms);
    else if (!err && since)
        ps_warn(p->label, "server reachable again after %.1f s (%llu connects failed)",
                (double)(now - since) / 1000, (unsigned long long)failed);
}

/* The cap POOLSHIM_MAX_PER_KEY=auto derives from L: 80 % of max_connections, at most
 * max_user_connections, at least 1 (PS_POOL_CAP_BEFORE_AUTO when the server did not say). */
static int derived_cap(const ps_server_limits *l)
{
    long long cap = l->max_connections > 0 ? l->max_connections * 8 / 10 : PS_POOL_CAP_BEFORE_AUTO;
    if (l->max_user_connections > 0 && cap > l->max_user_connections)
        cap = l->max_user_connections;
    return cap < 1 ? 1 : cap > 100000 ? 100000 : (int)cap;
}

/* Retires P's connections no later than IDLE_LIMIT ms after they were made (the lifetime a
 * connection got before the limits were known). Caller holds the lock. */
static void shorten_lifetimes(ps_pool *p, int64_t idle_limit)
{
    static const enum ps_conn_state live[] = {PS_CONN_CONNECTING, PS_CONN_LEASED, PS_CONN_IDLE};
    for (size_t i = 0; i < sizeof live / sizeof *live; i++)
        for (ps_conn *c = p->list[live[i]]; c; c = c->next)
            if (c->created_ms && c->expires_ms - c->created_ms > idle_limit)
                c->expires_ms = c->created_ms + idle_limit;
}

/* Logs what P learned from its server's limits L: its cap CAP, its idle limit LIMIT (INT64_MAX:
 * none), and a warning when the cap could take the server past 80 % of max_connections. */
static void log_limits(const ps_pool *p, const ps_server_limits *l, int cap, int64_t limit)
{
    int64_t idle = ps_cfg.idle_timeout_ms < limit ? ps_cfg.idle_timeout_ms : limit;
    int64_t life = ps_cfg.max_lifetime_ms > 0 && ps_cfg.max_lifetime_ms < limit
                       ? ps_cfg.max_lifetime_ms
                       : limit;
    ps_info(p->label,
            "server limits: wait_timeout=%lld s max_connections=%lld max_user_connections=%lld; "
            "cap %d%s, idle connections retired after %lld ms, lifetime %s%lld ms",
            (long long)(l->wait_timeout_ms / 1000), l->max_connections, l->max_user_connections,
            cap, ps_cfg.max_per_key > 0 ? "" : " (auto)", (long long)idle,
            life == INT64_MAX ? "unlimited: " : "", life == INT64_MAX ? 0LL : (long long)life);
    long long warn_at = l->max_connections * 8 / 10;
    bool over = l->max_connections > 0 && cap > warn_at;
    bool over_user = l->max_user_connections > 0 && cap > l->max_user_connections;
    if (!over && !over_user)
        return;
    char why[192];
    int n = over ? snprintf(why, sizeof why, "past 80 %% of its max_connections (%lld of %lld)",
                            warn_at, l->max_connections)
                 : 0;
    if (over_user)
        snprintf(why + n, sizeof why - (size_t)n,
                 "%spast this account's max_user_connections (%lld)", over ? " and " : "",
                 l->max_user_connections);
    ps_warn(p->label,
            "POOLSHIM_MAX_PER_KEY=%d could take the server %s: this process alone may open %d "
            "connections with this key; lower it, or set POOLSHIM_MAX_PER_KEY=auto",
            cap, why, cap);
}

void ps_pool_set_server_limits(ps_pool *p, const ps_server_limits *l)
{
    int64_t ms = l->wait_timeout_ms;
    int64_t margin = ms / 4 > 1000 ? 1000 : ms / 4; /* retire before the server does */
    int64_t limit = ms > 0 ? ms - margin : INT64_MAX;
    pthread_mutex_lock(&ps_pool_lock);
    bool first = !p->limits_known;
    if (first) {
        ps_pool_set_patience(p, limit);
        if (limit != INT64_MAX)
            shorten_lifetimes(p, limit);
        p->auto_cap = derived_cap(l);
        __atomic_store_n(&p->limits_known, true, __ATOMIC_RELEASE);
    }
    int cap = ps_pool_cap_locked(p);
    bool parked = p->count[PS_CONN_IDLE] > 0;
    pthread_mutex_unlock(&ps_pool_lock);
    if (first && parked)
        ps_keeper_wake(ps_now_ms()); /* deadlines may have come forward: let it recompute */
    if (first)
        log_limits(p, l, cap, limit);
}

bool ps_pool_server_limits_known(ps_pool *p)
{
    return __atomic_load_n(&p->limits_known, __ATOMIC_ACQUIRE);
}

int ps_pool_cap(ps_pool *p)
{
    pthread_mutex_lock(&ps_pool_lock);
    int cap = ps_pool_cap_locked(p);
    pthread_mutex_unlock(&ps_pool_lock);
    return cap;
}

const int64_t *ps_pool_patience(ps_pool *p)
{
    return &p->patience_ms;
}

void ps_pool_set_patience(ps_pool *p, int64_t server_idle_limit_ms)
{
    int64_t cfg = ps_cfg.reap_idle_ms > 0 ? ps_cfg.reap_idle_ms : INT64_MAX;
    int64_t limit = server_idle_limit_ms < cfg ? server_idle_limit_ms : cfg;
    __atomic_store_n(&p->server_idle_limit_ms, server_idle_limit_ms, __ATOMIC_RELAXED);
    __atomic_store_n(&p->patience_ms, limit, __ATOMIC_RELAXED);
}
