/* mysql_real_connect: hand the app a parked connection for its key, or make a real one and
 * register it as pooled. Anything unusual passes straight through to the library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/config.h"
#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/registry.h"
#include "poolshim/shim.h"

/* The library's own connect, with nested calls passing through. */
static MYSQL *real_connect(MYSQL *m, const ps_connect_args *a)
{
    MYSQL *r;
    PS_NESTED(r = ps_real_mysql_real_connect(m, a->host, a->user, a->passwd, a->db, a->port,
                                             a->socket, a->flags));
    return r;
}

/* Finds the pool for handle M connecting with A; NULL when no key can be built. */
static ps_pool *pool_for(const ps_client_ops *cl, MYSQL *m, const ps_connect_args *a)
{
    ps_key k;
    char label[256];
    ps_key_init(&k);
    cl->build_key(m, a, &k);
    const char *key = ps_key_str(&k);
    ps_pool *p = key ? ps_pool_find(key) : NULL;
    if (key && !p) {
        ps_key_label(label, sizeof label, a->user, a->host, a->port, a->socket, a->db);
        p = ps_pool_get(key, label);
    }
    ps_key_free(&k);
    return p;
}

/* Makes a real connection in the app's handle and registers it with pool P (slot reserved). */
static MYSQL *connect_new(const ps_client_ops *cl, ps_pool *p, MYSQL *m, const ps_connect_args *a)
{
    MYSQL *r = real_connect(m, a);
    if (!r) {
        ps_pool_connect_failed(p, true);
        return NULL;
    }
    const char *why = cl->unpoolable_after(m);
    ps_conn *c = why ? NULL : ps_pool_connected(p);
    if (!c) {
        if (why)
            ps_pool_connect_failed(p, false);
        ps_debug(ps_pool_label(p), "not pooling this connection: %s", why ? why : "out of memory");
        return r;
    }
    cl->record(m, c);
    c->host = a->host ? strdup(a->host) : NULL;
    c->socket = a->socket ? strdup(a->socket) : NULL;
    c->port = a->port;
    c->flags = a->flags;
    ps_registry_add(c, cl->transport(m), m);
    return r;
}

/* Sets the error a connect gets when its key stayed at the cap for the whole wait. */
static void set_cap_error(const ps_client_ops *cl, MYSQL *m, ps_pool *p, int64_t waited_ms)
{
    char msg[400];
    snprintf(msg, sizeof msg,
             "Too many connections (poolshim: all %lld connections of this process for %s "
             "stayed in use for %lld ms; close handles or raise POOLSHIM_MAX_PER_KEY)",
             (long long)ps_cfg.max_per_key, ps_pool_label(p), (long long)waited_ms);
    cl->set_error(m, 1040, "08004", msg);
    ps_warn(ps_pool_label(p), "connect refused: %lld connections in use for %lld ms",
            (long long)ps_cfg.max_per_key, (long long)waited_ms);
}

/* Leases an idle connection of P (validated when it idled past the bypass window), makes a
 * new one, or fails with 1040 after the wait. */
static MYSQL *pooled_connect(const ps_client_ops *cl, ps_pool *p, MYSQL *m,
                             const ps_connect_args *a)
{
    for (;;) {
        ps_conn *c;
        int64_t waited;
        switch (ps_pool_acquire(p, ps_cfg.wait_timeout_ms, &c, &waited)) {
        case PS_ACQUIRE_IDLE:
            if (ps_now_ms() - c->idle_since_ms > ps_cfg.validate_idle_ms) {
                bool alive = cl->validate(c->handle);
                ps_pool_count_validation(p, !alive);
                if (!alive) {
                    ps_debug(ps_pool_label(p), "parked connection is dead; replacing it");
                    cl->destroy(c->handle);
                    ps_pool_drop(c, false);
                    continue;
                }
            }
            cl->adopt(m, c);
            ps_registry_add(c, cl->transport(m), m);
            return m;
        case PS_ACQUIRE_CONNECT:
            return connect_new(cl, p, m, a);
        case PS_ACQUIRE_TIMEOUT:
            set_cap_error(cl, m, p, waited);
            return NULL;
        }
    }
}

MYSQL *ps_hook_mysql_real_connect(MYSQL *m, const char *host, const char *user, const char *passwd,
                                  const char *db, unsigned int port, const char *unix_socket,
                                  unsigned long flags)
{
    const ps_client_ops *cl = ps_shim();
    ps_connect_args a = {host, user, passwd, db, unix_socket, port, flags};
    if (!ps_real_mysql_real_connect)
        return NULL;
    /* CLIENT_REMEMBER_OPTIONS marks the library's own reconnect on a stack temporary. */
    if (!cl || ps_depth > 0 || !m || (flags & CLIENT_REMEMBER_OPTIONS))
        return real_connect(m, &a);
    const char *why = cl->unpoolable_before(m, &a);
    ps_pool *p = why ? NULL : pool_for(cl, m, &a);
    if (!p) {
        ps_debug(NULL, "not pooling: %s", why ? why : "out of memory");
        return real_connect(m, &a);
    }
    return pooled_connect(cl, p, m, &a);
}

int ps_hook_mysql_real_connect_start(MYSQL **ret, MYSQL *m, const char *host, const char *user,
                                     const char *passwd, const char *db, unsigned int port,
                                     const char *unix_socket, unsigned long flags)
{
    int r = 0;
    ps_shim();
    if (!ps_real_mysql_real_connect_start)
        return 0;
    /* Non-blocking connects are never pooled; the nested mysql_real_connect passes through. */
    PS_NESTED(r = ps_real_mysql_real_connect_start(ret, m, host, user, passwd, db, port,
                                                   unix_socket, flags));
    return r;
}
