/* Limits a pool learns from its server: a soft cap after a 1040 refusal, a back-off while the
 * server is unreachable, and the server's idle limit (wait_timeout). See pool.h. */
#include <pthread.h>

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

void ps_pool_set_server_wait_timeout(ps_pool *p, int64_t ms)
{
    int64_t margin = ms / 4 > 1000 ? 1000 : ms / 4; /* retire before the server does */
    __atomic_store_n(&p->server_idle_limit_ms, ms > 0 ? ms - margin : INT64_MAX, __ATOMIC_RELAXED);
    pthread_mutex_lock(&ps_pool_lock);
    bool parked = p->count[PS_CONN_IDLE] > 0;
    pthread_mutex_unlock(&ps_pool_lock);
    if (parked)
        ps_keeper_wake(ps_now_ms()); /* deadlines may have come forward: let it recompute */
}

int64_t ps_pool_server_idle_limit(ps_pool *p)
{
    return __atomic_load_n(&p->server_idle_limit_ms, __ATOMIC_RELAXED);
}
