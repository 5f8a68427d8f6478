/* mysql_real_connect: hand the app a parked connection for its key, or make a real one and
 * register it as pooled. Anything unusual passes straight through to the library. */
#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/metrics.h"
#include "poolshim/real.h"
#include "poolshim/acquire.h"
#include "poolshim/reap.h"
#include "poolshim/route.h"
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
        if (p)
            ps_pool_set_args(p, a);
    }
    ps_key_free(&k);
    return p;
}

/* Leases a connection of P into M: parked or new, reaping at the cap; fails with 1040 after
 * the wait, or with the library's own error. */
static MYSQL *pooled_connect(const ps_client_ops *cl, ps_pool *p, MYSQL *m,
                             const ps_connect_args *a)
{
    switch (ps_acquire_connect(cl, p, m, a)) {
    case PS_CONNECTED_POOLED:
    case PS_CONNECTED_UNPOOLED:
        return m;
    case PS_CONNECTED_NOMEM:
        ps_debug(ps_pool_label(p), "not pooling: out of memory");
        return real_connect(m, a);
    case PS_CONNECTED_FAILED:
    default:
        return NULL;
    }
}

/* Why a connect of M must pass straight through whatever M is; NULL when it may be pooled. The
 * library's own reconnect (mariadb_reconnect: a mysql_init + mysql_real_connect on a stack
 * temporary, then a struct copy into the program's handle) must never be pooled. In 3.3 every
 * internal path to it (mthd_my_send_cmd's reconnect before and after a failed write,
 * mysql_ping's retry) calls mariadb_reconnect through the library's PLT, so the shim's
 * mariadb_reconnect hook has raised ps_depth; a call that comes from the library's own code
 * anyway (a build that calls mariadb_reconnect directly) is caught by its return address. The
 * CLIENT_REMEMBER_OPTIONS flag tells nothing: drivers pass it on every connect. */
static const char *passthrough_reason(const ps_client_ops *cl, MYSQL *m)
{
    if (!cl)
        return "pooling is off (POOLSHIM_DISABLE, or an unsupported client library)";
    if (ps_depth > 0)
        return "a connect inside a client library call (the client library's own reconnect, "
               "or a non-blocking connect)";
    if (ps_real_in_library(ps_caller))
        return "called from inside the client library (the client library's own reconnect)";
    if (!m)
        return "NULL handle";
    return NULL;
}

MYSQL *ps_hook_mysql_real_connect(MYSQL *m, const char *host, const char *user, const char *passwd,
                                  const char *db, unsigned int port, const char *unix_socket,
                                  unsigned long flags)
{
    const ps_client_ops *cl = ps_shim_enter();
    ps_connect_args a = {host, user, passwd, db, unix_socket, port, flags};
    ps_close_guard_forget(m); /* a handle being connected is no longer a closed one */
    if (!ps_real_mysql_real_connect)
        return NULL;
    const char *why = passthrough_reason(cl, m);
    if (!why) {
        ps_route_connect(&a.host, &a.port, &a.socket); /* POOLSHIM_ROUTE: pooled or not */
        why = cl->unpoolable_before(m, &a);
    }
    ps_pool *p = why ? NULL : pool_for(cl, m, &a);
    if (!p) {
        ps_debug(NULL, "not pooling handle %p: %s", (void *)m, why ? why : "out of memory");
        return real_connect(m, &a);
    }
    ps_housekeep(cl);
    MYSQL *r = pooled_connect(cl, p, m, &a);
    ps_metrics_tick();
    return r;
}

int ps_hook_mysql_real_connect_start(MYSQL **ret, MYSQL *m, const char *host, const char *user,
                                     const char *passwd, const char *db, unsigned int port,
                                     const char *unix_socket, unsigned long flags)
{
    int r = 0;
    if (ps_shim_enter() && ps_depth == 0)
        ps_route_connect(&host, &port, &unix_socket);
    if (!ps_real_mysql_real_connect_start)
        return 0;
    /* Non-blocking connects are never pooled; the nested mysql_real_connect passes through. */
    ps_debug(NULL, "not pooling handle %p: non-blocking connect (mysql_real_connect_start)",
             (void *)m);
    PS_NESTED(r = ps_real_mysql_real_connect_start(ret, m, host, user, passwd, db, port,
                                                   unix_socket, flags));
    return r;
}
