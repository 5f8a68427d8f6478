/* Private to pools.c, pool.c and pool_limits.c: the pool struct and the lock of every pool. */
#ifndef POOLSHIM_POOL_INTERNAL_H
#define POOLSHIM_POOL_INTERNAL_H

#include <pthread.h>

#include "poolshim/config.h"
#include "poolshim/pool.h"

/* A thread waiting for a slot or an idle connection; lives on the waiter's stack. */
typedef struct ps_waiter {
    pthread_cond_t cond;
    ps_conn *conn; /* NULL while waiting; then the granted connection (IDLE taken, or a slot) */
    struct ps_waiter *next;
} ps_waiter;

struct ps_pool {
    char *key;
    char *label;
    UT_hash_handle hh;
    /* One list per state (CLOSED has none); the IDLE list is most recently parked first
     * (LIFO keeps few connections warm and lets the surplus reach its idle timeout). */
    ps_conn *list[PS_CONN_NSTATES];
    int count[PS_CONN_NSTATES];
    /* Callers waiting for a slot, oldest first (FIFO: served in arrival order). */
    ps_waiter *wait_head;
    int64_t server_idle_limit_ms; /* from the server's wait_timeout; INT64_MAX when unknown */
    int64_t patience_ms;          /* see ps_pool_patience (atomic) */
    bool limits_known;            /* ps_pool_set_server_limits ran (atomic) */
    int auto_cap;                 /* POOLSHIM_MAX_PER_KEY=auto: the cap derived (0: not yet) */
    ps_connect_args args;         /* the key's connect arguments (owned copies) */
    bool has_args;
    int soft_cap; /* learned from a server refusal (see ps_pool_server_refused) */
    int64_t soft_cap_until_ms;
    ps_connect_error last_failure; /* the server was unreachable (see ps_pool_backoff) */
    int64_t retry_at_ms;           /* connects fail with last_failure until then */
    int64_t failing_since_ms;      /* 0: the last connect succeeded */
    uint64_t failed_in_outage;     /* connects failed (real or backed off) since then */
    int64_t proven_ms;             /* start of the last accepted re-authentication ... */
    bool proven;                   /* ... if there was one (see ps_pool_proof) */
    bool refused;                  /* the last re-authentication was refused ... */
    int64_t refused_ms;            /* ... one that started then */
    ps_pool_stats st;
};

/* The one lock of every pool (pools.c). Lock order: lease lock, then this one. */
extern pthread_mutex_t ps_pool_lock;

/* Every pool, a hash by key (pools.c); pools are never freed. */
extern ps_pool *ps_pools;

/* Sets how long P's connections may sit idle before the server could close them (INT64_MAX:
 * unknown), and with it P's patience (see ps_pool_patience). */
void ps_pool_set_patience(ps_pool *p, int64_t server_idle_limit_ms);

/* The cap of P (see ps_pool_cap). Caller holds the lock. */
static inline int ps_pool_cap_locked(const ps_pool *p)
{
    if (ps_cfg.max_per_key > 0)
        return (int)ps_cfg.max_per_key;
    return p->auto_cap > 0 ? p->auto_cap : PS_POOL_CAP_BEFORE_AUTO;
}

/* Connections of P that count against its cap. Caller holds the lock. */
static inline int ps_pool_open_locked(const ps_pool *p)
{
    return p->count[PS_CONN_CONNECTING] + p->count[PS_CONN_LEASED] + p->count[PS_CONN_IDLE];
}

#endif
