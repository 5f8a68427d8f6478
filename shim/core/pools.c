/* The registry of pools (one per key) and the lock that guards them all; counters, snapshots
 * and the connect arguments of each key. The state machine is in pool.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool_internal.h"

__thread int ps_hash_oom;
pthread_mutex_t ps_pool_lock = PTHREAD_MUTEX_INITIALIZER;
ps_pool *ps_pools;

#define lock  ps_pool_lock
#define pools ps_pools

/* The pool this thread found last and its key (pools are never freed: the pointer stays
 * valid; a key longer than the buffer is not remembered). */
static __thread struct {
    ps_pool *pool;
    size_t len;
    char key[1024];
} last_found;

ps_pool *ps_pool_find(const char *key)
{
    size_t len = strlen(key);
    if (last_found.pool && len == last_found.len && !memcmp(key, last_found.key, len))
        return last_found.pool; /* a program connects to the same DSN over and over */
    ps_pool *p;
    pthread_mutex_lock(&lock);
    HASH_FIND_STR(pools, key, p);
    pthread_mutex_unlock(&lock);
    if (p && len < sizeof last_found.key) {
        memcpy(last_found.key, key, len);
        last_found.len = len;
        last_found.pool = p;
    }
    return p;
}

ps_pool *ps_pool_get(const char *key, const char *label)
{
    ps_pool *p;
    pthread_mutex_lock(&lock);
    HASH_FIND_STR(pools, key, p);
    if (!p && (p = calloc(1, sizeof *p)) != NULL) {
        ps_pool_set_patience(p, INT64_MAX);
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

void ps_pool_note(ps_pool *p, enum ps_pool_event ev)
{
    pthread_mutex_lock(&lock);
    switch (ev) {
    case PS_EV_VALIDATION_FAILED:
        p->st.validation_failures++;
        __attribute__((fallthrough)); /* a failed validation is a validation */
    case PS_EV_VALIDATED:
        p->st.validations++;
        break;
    case PS_EV_REAPED:
        p->st.reaped++;
        break;
    case PS_EV_RENEWED:
        p->st.renewed++;
        break;
    case PS_EV_LEAK_WARNING:
        p->st.leak_warnings++;
        break;
    case PS_EV_REAUTH_REFUSED:
        p->st.reauth_refusals++;
        __attribute__((fallthrough)); /* a refused re-authentication is a re-authentication */
    case PS_EV_REAUTHENTICATED:
        p->st.reauths++;
        break;
    case PS_EV_RESET_DEFERRED:
        p->st.resets_deferred++;
        __attribute__((fallthrough)); /* a deferred reset is a reset sent */
    case PS_EV_RESET_SENT:
        p->st.resets_sent++;
        break;
    case PS_EV_RESET_SKIPPED:
        p->st.resets_skipped++;
        break;
    }
    pthread_mutex_unlock(&lock);
}

void ps_pool_note_hold(ps_pool *p, enum ps_hold why)
{
    pthread_mutex_lock(&lock);
    p->st.unreclaimable[why < PS_HOLD_N ? why : PS_HOLD_OTHER]++;
    pthread_mutex_unlock(&lock);
}

enum ps_proof ps_pool_proof(ps_pool *p, int64_t window_ms)
{
    int64_t now = ps_now_ms();
    pthread_mutex_lock(&lock);
    enum ps_proof r = PS_PROOF_STALE;
    if (p->refused)
        r = PS_PROOF_REFUSED;
    else if (window_ms > 0 && p->proven && now - p->proven_ms <= window_ms)
        r = PS_PROOF_FRESH;
    pthread_mutex_unlock(&lock);
    return r;
}

void ps_pool_login(ps_pool *p, enum ps_login what, int64_t started_ms)
{
    pthread_mutex_lock(&lock);
    switch (what) {
    case PS_LOGIN_PROVEN:
        if (p->refused && started_ms <= p->refused_ms)
            break; /* a concurrent, older success does not undo a refusal */
        if (!p->proven || started_ms > p->proven_ms)
            p->proven_ms = started_ms; /* concurrent re-authentications: the latest start */
        p->proven = true;
        p->refused = false;
        break;
    case PS_LOGIN_ACCEPTED:
        p->refused = false;
        break;
    case PS_LOGIN_REFUSED:
        p->refused = true;
        p->refused_ms = started_ms;
        p->proven = false;
        break;
    }
    pthread_mutex_unlock(&lock);
}

void ps_pool_stats_get(ps_pool *p, ps_pool_stats *out, int *idle, int *leased, int *connecting)
{
    pthread_mutex_lock(&lock);
    *out = p->st;
    *idle = p->count[PS_CONN_IDLE];
    *leased = p->count[PS_CONN_LEASED];
    *connecting = p->count[PS_CONN_CONNECTING];
    pthread_mutex_unlock(&lock);
}

void ps_pool_foreach(void (*fn)(const ps_pool_snapshot *s, void *ctx), void *ctx)
{
    for (int i = 0;; i++) { /* pools are never freed: walk by index, snapshot under the lock */
        pthread_mutex_lock(&lock);
        ps_pool *p = pools;
        for (int j = 0; p && j < i; j++)
            p = p->hh.next;
        ps_pool_snapshot s = {0};
        if (p)
            s = (ps_pool_snapshot){p->label,
                                   p->st,
                                   p->count[PS_CONN_IDLE],
                                   p->count[PS_CONN_LEASED],
                                   p->count[PS_CONN_CONNECTING],
                                   ps_pool_cap_locked(p)};
        pthread_mutex_unlock(&lock);
        if (!p)
            return;
        fn(&s, ctx);
    }
}
