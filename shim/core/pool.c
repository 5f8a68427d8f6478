/* The pool core (see pool.h for the state model). One process-wide mutex guards every pool;
 * connections that must be closed are collected under it and destroyed after it is released. */
#include "poolshim/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poolshim/config.h"
#include "poolshim/log.h"

__thread int ps_hash_oom;

/* A thread waiting for a slot or an idle connection; lives on the waiter's stack. */
typedef struct ps_waiter {
    pthread_cond_t cond;
    enum { WAITING, GOT_IDLE, GOT_SLOT } grant;
    ps_conn *conn; /* GOT_IDLE: the connection handed over (already LEASED) */
    struct ps_waiter *next;
} ps_waiter;

struct ps_pool {
    char *key;
    char *label;
    UT_hash_handle hh;
    /* Parked connections, most recently parked first (LIFO keeps few connections warm and
     * lets the surplus reach its idle timeout). */
    ps_conn *idle;
    int n_idle;
    /* Connections in the application's hands (each held by a lease, see lease.h). */
    int n_leased;
    /* Slots reserved by callers running a real connect right now. */
    int n_connecting;
    /* Callers waiting for a slot, oldest first (FIFO: served in arrival order). */
    ps_waiter *wait_head, *wait_tail;
    int64_t server_idle_limit_ms; /* from the server's wait_timeout; INT64_MAX when unknown */
    ps_connect_args args;         /* the key's connect arguments (owned copies) */
    int soft_cap;                 /* learned from a server refusal (see ps_pool_server_refused) */
    int64_t soft_cap_until_ms;
    ps_connect_error last_failure; /* the server was unreachable (see ps_pool_backoff) */
    int64_t retry_at_ms;           /* connects fail with last_failure until then */
    int64_t failing_since_ms;      /* 0: the last connect succeeded */
    uint64_t failed_in_outage;     /* connects failed (real or backed off) since then */
    bool has_args;
    ps_pool_stats st;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* In a forked child: the parent's parked connections. They are freed (ops.forget: nothing sent
 * on their sockets) at the child's next acquire or exit, not in the fork handler, where the
 * client library's locks (TLS) may be held by a thread that does not exist in the child. */
static ps_conn *orphans;
static ps_pool *pools;
static ps_pool_ops ops;
static uint64_t jitter_state = 0x9e3779b97f4a7c15ull;
static pid_t cached_pid;

pid_t ps_pid(void)
{
    pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (!p) {
        p = getpid();
        __atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
    }
    return p;
}

int64_t ps_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ps_pool_set_ops(const ps_pool_ops *o)
{
    ops = *o;
}

/* Live connections of P: what the cap limits. Caller holds the lock. */
static int open_count(const ps_pool *p)
{
    return p->n_idle + p->n_leased + p->n_connecting;
}

/* How many connections P may open now: the configured cap, or less while the server has
 * recently refused one. Caller holds the lock. */
static int cap_of(const ps_pool *p)
{
    if (p->soft_cap && p->soft_cap < ps_cfg.max_per_key && ps_now_ms() < p->soft_cap_until_ms)
        return p->soft_cap;
    return (int)ps_cfg.max_per_key;
}

void ps_pool_server_refused(ps_pool *p)
{
    pthread_mutex_lock(&lock);
    p->soft_cap = open_count(p) > 1 ? open_count(p) : 1;
    p->soft_cap_until_ms = ps_now_ms() + 5000;
    pthread_mutex_unlock(&lock);
}

bool ps_pool_backoff(ps_pool *p, ps_connect_error *err)
{
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&lock);
    bool wait = now < p->retry_at_ms;
    if (wait) {
        *err = p->last_failure;
        p->failed_in_outage++;
        p->st.connect_failures++;
    }
    pthread_mutex_unlock(&lock);
    return wait;
}

void ps_pool_connect_outcome(ps_pool *p, const ps_connect_error *err, int64_t retry_ms)
{
    int64_t now = ps_now_ms(), since;
    uint64_t failed;
    pthread_mutex_lock(&lock);
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
    pthread_mutex_unlock(&lock);
    if (err && !since)
        ps_warn(p->label,
                "server unreachable (%u: %s); failing this key's connects at once "
                "for %lld ms after each failed attempt",
                err->code, err->message, (long long)retry_ms);
    else if (!err && since)
        ps_warn(p->label, "server reachable again after %.1f s (%llu connects failed)",
                (double)(now - since) / 1000, (unsigned long long)failed);
}

ps_pool *ps_pool_find(const char *key)
{
    ps_pool *p;
    pthread_mutex_lock(&lock);
    HASH_FIND_STR(pools, key, p);
    pthread_mutex_unlock(&lock);
    return p;
}

ps_pool *ps_pool_get(const char *key, const char *label)
{
    ps_pool *p;
    pthread_mutex_lock(&lock);
    HASH_FIND_STR(pools, key, p);
    if (!p && (p = calloc(1, sizeof *p)) != NULL) {
        p->server_idle_limit_ms = INT64_MAX;
        p->key = strdup(key);
        p->label = strdup(label);
        ps_hash_oom = 0;
        if (p->key && p->label)
            HASH_ADD_KEYPTR(hh, pools, p->key, strlen(p->key), p);
        if (!p->key || !p->label || ps_hash_oom) {
            free(p->key);
            free(p->label);
            free(p);
            p = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    return p;
}

const char *ps_pool_label(const ps_pool *p)
{
    return p->label;
}

/* Lifetime deadline for a connection made at NOW: lifetime minus up to 2.5% jitter, so
 * connections made together do not all retire together. Caller holds the lock. */
static int64_t lifetime_deadline(int64_t now)
{
    int64_t life = ps_cfg.max_lifetime_ms;
    if (life <= 0)
        return INT64_MAX;
    jitter_state ^= jitter_state << 13;
    jitter_state ^= jitter_state >> 7;
    jitter_state ^= jitter_state << 17;
    return now + life - (int64_t)(jitter_state % (uint64_t)(life / 40 + 1));
}

/* True when idle connection C must not be reused at NOW. */
static bool idle_expired(const ps_conn *c, int64_t now)
{
    int64_t idle = now - c->idle_since_ms;
    return idle >= ps_cfg.idle_timeout_ms || idle >= c->pool->server_idle_limit_ms ||
           now >= c->expires_ms;
}

/* A malloc'd copy of S (NULL stays NULL); sets *OOM on failure. */
static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

void ps_pool_set_args(ps_pool *p, const ps_connect_args *a)
{
    bool oom = false;
    ps_connect_args copy = {dup_or_null(a->host, &oom),
                            dup_or_null(a->user, &oom),
                            dup_or_null(a->passwd, &oom),
                            dup_or_null(a->db, &oom),
                            dup_or_null(a->socket, &oom),
                            a->port,
                            a->flags};
    pthread_mutex_lock(&lock);
    bool set = !p->has_args && !oom;
    if (set) {
        p->args = copy;
        p->has_args = true;
    }
    pthread_mutex_unlock(&lock);
    if (!set) {
        free((char *)copy.host), free((char *)copy.user), free((char *)copy.passwd);
        free((char *)copy.db), free((char *)copy.socket);
    }
}

const ps_connect_args *ps_pool_args(ps_pool *p)
{
    pthread_mutex_lock(&lock);
    const ps_connect_args *a = p->has_args ? &p->args : NULL; /* immutable once set */
    pthread_mutex_unlock(&lock);
    return a;
}

bool ps_pool_full(ps_pool *p)
{
    pthread_mutex_lock(&lock);
    bool full = !p->idle && open_count(p) >= cap_of(p);
    pthread_mutex_unlock(&lock);
    return full;
}

void ps_pool_set_server_wait_timeout(ps_pool *p, int64_t ms)
{
    int64_t margin = ms / 4 > 1000 ? 1000 : ms / 4; /* retire before the server does */
    __atomic_store_n(&p->server_idle_limit_ms, ms > 0 ? ms - margin : INT64_MAX, __ATOMIC_RELAXED);
}

int64_t ps_pool_server_idle_limit(ps_pool *p)
{
    return __atomic_load_n(&p->server_idle_limit_ms, __ATOMIC_RELAXED); /* on every call */
}

void ps_pool_count_reap(ps_pool *p, bool relese, bool leak_warning)
{
    pthread_mutex_lock(&lock);
    if (leak_warning)
        p->st.leak_warnings++;
    else if (relese)
        p->st.released_again++;
    else
        p->st.reaped++;
    pthread_mutex_unlock(&lock);
}

/* Unlinks every expired idle connection of P onto *DOOMED. Caller holds the lock. */
static void collect_expired(ps_pool *p, int64_t now, ps_conn **doomed)
{
    for (ps_conn **pp = &p->idle; *pp;) {
        ps_conn *c = *pp;
        if (idle_expired(c, now)) {
            *pp = c->next;
            c->next = *doomed;
            *doomed = c;
            p->n_idle--;
            p->st.expired++;
        } else {
            pp = &c->next;
        }
    }
}

/* Destroys (or forgets) and frees the connections on LIST. Called without the lock. */
static void destroy_list(ps_conn *list, bool forget)
{
    while (list) {
        ps_conn *next = list->next;
        if (list->handle)
            (forget ? ops.forget : ops.destroy)(list->handle);
        free(list->dsn_db);
        free(list);
        list = next;
    }
}

/* Frees the parked connections inherited across fork (see orphans), outside the lock. */
static void forget_orphans(void)
{
    if (!__atomic_load_n(&orphans, __ATOMIC_RELAXED))
        return;
    pthread_mutex_lock(&lock);
    ps_conn *list = orphans;
    orphans = NULL;
    pthread_mutex_unlock(&lock);
    destroy_list(list, true);
}

/* Gives a freed slot to the oldest waiter, if any and if P is under its cap. */
static void grant_slot(ps_pool *p)
{
    ps_waiter *w = p->wait_head;
    if (!w || open_count(p) >= cap_of(p))
        return;
    p->wait_head = w->next;
    if (!p->wait_head)
        p->wait_tail = NULL;
    p->n_connecting++;
    w->grant = GOT_SLOT;
    pthread_cond_signal(&w->cond);
}

/* Records the current open count in the peak. */
static void note_peak(ps_pool *p)
{
    if (open_count(p) > p->st.peak_open)
        p->st.peak_open = open_count(p);
}

/* Takes the first idle connection of P as LEASED. Caller holds the lock. */
static ps_conn *take_idle(ps_pool *p, int64_t now)
{
    ps_conn *c = p->idle;
    p->idle = c->next;
    c->next = NULL;
    p->n_idle--;
    p->n_leased++;
    c->state = PS_CONN_LEASED;
    c->leased_ms = now;
    p->st.reuses++;
    return c;
}

/* Queues the caller as a waiter on P and sleeps until granted or TIMEOUT_MS pass.
 * Caller holds the lock; returns with it held. */
static enum ps_acquire wait_for_grant(ps_pool *p, int64_t timeout_ms, ps_conn **conn,
                                      int64_t *waited_ms)
{
    ps_waiter w = {.grant = WAITING, .conn = NULL, .next = NULL};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (p->wait_tail)
        p->wait_tail->next = &w;
    else
        p->wait_head = &w;
    p->wait_tail = &w;
    p->st.waits++;

    int64_t start = ps_now_ms();
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    while (w.grant == WAITING) {
        if (pthread_cond_timedwait(&w.cond, &lock, &deadline) == ETIMEDOUT && w.grant == WAITING) {
            ps_waiter **pp = &p->wait_head, *prev = NULL;
            for (; *pp != &w; prev = *pp, pp = &(*pp)->next)
                ;
            *pp = w.next;
            if (p->wait_tail == &w)
                p->wait_tail = prev;
            break;
        }
    }
    pthread_cond_destroy(&w.cond);
    *waited_ms = ps_now_ms() - start;
    if (*waited_ms > p->st.max_wait_ms)
        p->st.max_wait_ms = *waited_ms;
    if (w.grant == WAITING) {
        p->st.wait_timeouts++;
        return PS_ACQUIRE_TIMEOUT;
    }
    if (w.grant == GOT_IDLE) {
        *conn = w.conn;
        p->st.reuses++;
        return PS_ACQUIRE_IDLE;
    }
    note_peak(p);
    return PS_ACQUIRE_CONNECT;
}

enum ps_acquire ps_pool_acquire(ps_pool *p, int64_t timeout_ms, ps_conn **conn, int64_t *waited_ms)
{
    ps_conn *doomed = NULL;
    enum ps_acquire r;
    int64_t now = ps_now_ms();
    *conn = NULL;
    *waited_ms = 0;
    forget_orphans();
    pthread_mutex_lock(&lock);
    collect_expired(p, now, &doomed);
    if (p->idle && !p->wait_head) {
        *conn = take_idle(p, now);
        r = PS_ACQUIRE_IDLE;
    } else if (open_count(p) < cap_of(p) && !p->wait_head) {
        p->n_connecting++;
        note_peak(p);
        r = PS_ACQUIRE_CONNECT;
    } else {
        r = wait_for_grant(p, timeout_ms, conn, waited_ms);
        if (r == PS_ACQUIRE_IDLE)
            (*conn)->leased_ms = ps_now_ms();
    }
    pthread_mutex_unlock(&lock);
    destroy_list(doomed, false);
    return r;
}

ps_conn *ps_pool_connected(ps_pool *p)
{
    ps_conn *c = calloc(1, sizeof *c);
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&lock);
    p->n_connecting--;
    p->st.connects++;
    if (c) {
        c->pool = p;
        c->state = PS_CONN_LEASED;
        c->pid = ps_pid();
        c->created_ms = c->leased_ms = now;
        c->expires_ms = lifetime_deadline(now);
        p->n_leased++;
    } else {
        grant_slot(p);
    }
    pthread_mutex_unlock(&lock);
    return c;
}

void ps_pool_connect_failed(ps_pool *p, bool failed)
{
    pthread_mutex_lock(&lock);
    p->n_connecting--;
    if (failed)
        p->st.connect_failures++;
    grant_slot(p);
    pthread_mutex_unlock(&lock);
}

void ps_pool_park(ps_conn *c, void *handle)
{
    ps_pool *p = c->pool;
    ps_conn *doomed = NULL;
    int64_t now = ps_now_ms();
    c->handle = handle;
    c->idle_since_ms = now;
    pthread_mutex_lock(&lock);
    if (now >= c->expires_ms || open_count(p) > ps_cfg.max_per_key) {
        p->n_leased--;
        p->st.expired++;
        doomed = c;
        grant_slot(p);
    } else if (p->wait_head) {
        ps_waiter *w = p->wait_head;
        p->wait_head = w->next;
        if (!p->wait_head)
            p->wait_tail = NULL;
        p->st.parks++;
        w->conn = c;
        w->grant = GOT_IDLE;
        pthread_cond_signal(&w->cond);
    } else {
        p->n_leased--;
        p->n_idle++;
        p->st.parks++;
        c->state = PS_CONN_IDLE;
        c->next = p->idle;
        p->idle = c;
    }
    pthread_mutex_unlock(&lock);
    destroy_list(doomed, false);
}

void ps_pool_drop(ps_conn *c, bool discarded)
{
    ps_pool *p = c->pool;
    pthread_mutex_lock(&lock);
    if (c->pid != cached_pid) { /* inherited across fork: never counted in this process */
        pthread_mutex_unlock(&lock);
        free(c->dsn_db);
        free(c);
        return;
    }
    p->n_leased--;
    if (discarded)
        p->st.discards++;
    grant_slot(p);
    pthread_mutex_unlock(&lock);
    c->handle = NULL;
    c->next = NULL;
    destroy_list(c, false);
}

void ps_pool_move(ps_conn *c, ps_pool *to)
{
    pthread_mutex_lock(&lock);
    c->pool->n_leased--;
    grant_slot(c->pool);
    c->pool = to;
    to->n_leased++;
    note_peak(to);
    pthread_mutex_unlock(&lock);
}

void ps_pool_count_validation(ps_pool *p, bool failed)
{
    pthread_mutex_lock(&lock);
    p->st.validations++;
    if (failed)
        p->st.validation_failures++;
    pthread_mutex_unlock(&lock);
}

void ps_pool_stats_get(ps_pool *p, ps_pool_stats *out, int *idle, int *leased, int *connecting)
{
    pthread_mutex_lock(&lock);
    *out = p->st;
    *idle = p->n_idle;
    *leased = p->n_leased;
    *connecting = p->n_connecting;
    pthread_mutex_unlock(&lock);
}

/* Unlinks every idle connection of every pool onto a list. Caller holds the lock. */
static ps_conn *unlink_all_idle(void)
{
    ps_conn *all = NULL;
    for (ps_pool *p = pools; p; p = p->hh.next) {
        while (p->idle) {
            ps_conn *c = p->idle;
            p->idle = c->next;
            c->next = all;
            all = c;
        }
        p->n_idle = 0;
    }
    return all;
}

void ps_pool_drain_all(void)
{
    forget_orphans();
    pthread_mutex_lock(&lock);
    ps_conn *all = unlink_all_idle();
    pthread_mutex_unlock(&lock);
    destroy_list(all, false);
}

void ps_pool_foreach(void (*fn)(const ps_pool_snapshot *s, void *ctx), void *ctx)
{
    pthread_mutex_lock(&lock);
    for (ps_pool *p = pools; p; p = p->hh.next) {
        ps_pool_snapshot s = {p->label, p->st, p->n_idle, p->n_leased, p->n_connecting};
        fn(&s, ctx);
    }
    pthread_mutex_unlock(&lock);
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
    cached_pid = getpid();
    ps_conn *all = unlink_all_idle();
    while (all) {
        ps_conn *next = all->next;
        all->next = orphans;
        orphans = all;
        all = next;
    }
    for (ps_pool *p = pools; p; p = p->hh.next) {
        p->n_connecting = 0; /* those connects run in the parent's other threads */
        p->n_leased = 0;     /* the parent's leases: inherited handles, counted nowhere here */
        p->wait_head = p->wait_tail = NULL;
    }
    pthread_mutex_unlock(&lock);
}
