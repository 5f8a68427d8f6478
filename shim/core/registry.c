/* The registry of leased connections, a hash by transport pointer under its own mutex.
 * Lock order: registry before pool. */
#include "poolshim/registry.h"

#include <pthread.h>

#include "poolshim/log.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ps_conn *leased; /* hash by reg_key */

/* Finds the entry under KEY. Caller holds the lock. */
static ps_conn *find_key(void *key)
{
    ps_conn *c = NULL;
    if (key)
        HASH_FIND_PTR(leased, &key, c);
    return c;
}

/* Finds the entry last seen in HANDLE (slow path: the handle lost its transport). */
static ps_conn *find_handle(void *handle)
{
    for (ps_conn *c = leased; c; c = c->hh.next)
        if (c->handle == handle)
            return c;
    return NULL;
}

/* Unlinks C. Caller holds the lock. */
static void unlink_conn(ps_conn *c)
{
    HASH_DELETE(hh, leased, c);
}

void ps_registry_add(ps_conn *c, void *key, void *handle)
{
    ps_conn *stale;
    c->reg_key = key;
    c->handle = handle;
    pthread_mutex_lock(&lock);
    stale = find_key(key);
    if (stale)
        unlink_conn(stale);
    ps_hash_oom = 0;
    HASH_ADD_PTR(leased, reg_key, c);
    pthread_mutex_unlock(&lock);
    if (stale) {
        ps_debug(ps_pool_label(stale->pool), "dropping a stale lease (its connection is gone)");
        ps_pool_drop(stale, false);
    }
    if (ps_hash_oom) /* untracked: its close passes through; the slot is given back */
        ps_pool_drop(c, false);
}

ps_conn *ps_registry_take(void *key, void *handle)
{
    pthread_mutex_lock(&lock);
    ps_conn *c = find_key(key);
    if (!c && handle)
        c = find_handle(handle);
    if (c)
        unlink_conn(c);
    pthread_mutex_unlock(&lock);
    return c;
}

bool ps_registry_has(void *key, void *handle)
{
    pthread_mutex_lock(&lock);
    bool found = find_key(key) || (handle && find_handle(handle));
    pthread_mutex_unlock(&lock);
    return found;
}

void ps_registry_rekey(void *old_key, void *new_key, void *handle)
{
    pthread_mutex_lock(&lock);
    ps_conn *c = find_key(old_key);
    if (!c)
        c = find_handle(handle);
    pthread_mutex_unlock(&lock);
    if (c) {
        c = ps_registry_take(c->reg_key, NULL);
        if (c)
            ps_registry_add(c, new_key, handle);
    }
}

void ps_registry_before_fork(void)
{
    pthread_mutex_lock(&lock);
}

void ps_registry_after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void ps_registry_after_fork_child(void)
{
    pthread_mutex_unlock(&lock);
}
