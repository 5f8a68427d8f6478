/* mysql_close: reset a pooled connection and park it, or close it for real when it cannot be
 * parked safely. Handles the pool does not know pass straight through. */
#include "poolshim/config.h"
#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/metrics.h"
#include "poolshim/real.h"
#include "poolshim/lease.h"
#include "poolshim/reap.h"
#include "poolshim/shim.h"

/* The library's own close. */
static void real_close(MYSQL *m)
{
    PS_NESTED(ps_real_mysql_close(m));
}

/* Ends lease L of M: park its connection after a reset, close it for real, or free a husk. */
static void release(const ps_client_ops *cl, ps_lease *l, enum ps_lease_state was, MYSQL *m)
{
    ps_conn *c = l->activity.conn;
    if (!c) { /* reaped: a husk with no connection */
        cl->close_husk(m);
        return;
    }
    if (was == PS_LEASE_INHERITED) {
        /* the parent's session must not get our COM_QUIT */
        cl->abandon(m);
        c->handle = NULL;
        ps_pool_close(c, PS_CLOSE_ABANDONED);
        return;
    }
    const char *why = ps_lease_awaiting(l) ? "a command's answer not yet read" : cl->unparkable(m);
    if (!why && !ps_client_reset(cl, m, c, l->session.lasting, ps_cfg.defer_reset))
        why = "reset failed";
    if (!why) {
        void *parked = cl->detach(m);
        if (parked) {
            ps_pool_park(c, parked);
            return;
        }
        why = "out of memory";
    }
    ps_debug(ps_pool_label(c->pool), "closing for real: %s", why);
    real_close(m);
    c->handle = NULL;
    ps_pool_close(c, PS_CLOSE_DISCARDED);
}

void ps_hook_mysql_close(MYSQL *m)
{
    const ps_client_ops *cl = ps_shim_enter();
    if (!ps_real_mysql_close)
        return;
    if (cl && m && ps_depth == 0 && ps_close_guard(cl, m))
        return; /* already closed and freed: see hook_init.c */
    enum ps_lease_state was;
    ps_lease *l = (cl && m && ps_depth == 0) ? ps_lease_take(m, cl->transport(m), &was) : NULL;
    if (!l) {
        real_close(m);
        return;
    }
    release(cl, l, was, m);
    ps_lease_free(l);
    ps_housekeep(cl);
    ps_metrics_tick();
}

int ps_hook_mysql_close_start(MYSQL *m)
{
    const ps_client_ops *cl = ps_shim_enter();
    int r = 0;
    if (!ps_real_mysql_close_start)
        return 0;
    if (cl && m && ps_depth == 0 && ps_lease_held(m, cl->transport(m))) {
        ps_hook_mysql_close(m); /* parking is quick; report completion at once */
        return 0;
    }
    PS_NESTED(r = ps_real_mysql_close_start(m));
    return r;
}

/* mysql_server_end (mysql_library_end): the program ends the library, often to start it again
 * at its next connect (DBD::MariaDB does so whenever its last handle closes). Parked
 * connections are the shim's, not the library's: the end does not track them, and they stay
 * usable once the next mysql_init has initialised the library again, so they are kept for the
 * next connect (closed when due by the keeper, restarted after the end, or at exit, as always);
 * only those the end could break are closed now. */
void ps_hook_mysql_server_end(void)
{
    const ps_client_ops *cl = ps_shim_enter();
    if (cl && ps_depth == 0) {
        int kept = 0, closed = ps_pool_drain_except(cl->outlives_library_end, &kept);
        ps_debug(NULL,
                 "mysql_server_end: %d parked connection(s) kept for the next connect, %d closed "
                 "(compressed, or TLS the end would break)",
                 kept, closed);
    }
    if (ps_real_mysql_server_end)
        PS_NESTED(ps_real_mysql_server_end());
    /* The drain stopped the keeper so that none of its closes overlaps the end; the kept
     * connections are still closed when due, whether or not the program connects again. */
    if (cl && ps_depth == 0)
        ps_pool_wake_keeper();
}
