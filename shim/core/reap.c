/* Reaping (see reap.h). */
#include "poolshim/reap.h"

#include <stdint.h>
#include <stdlib.h>

#include "poolshim/config.h"
#include "poolshim/leak.h"
#include "poolshim/log.h"
#include "poolshim/sql_effects.h"

/* Parks (or, dead, closes) connection C whose session was reset, now in handle PARKED. */
static void give_back(const ps_client_ops *cl, ps_conn *c, void *parked, bool alive)
{
    if (alive) {
        ps_pool_park(c, parked);
        return;
    }
    cl->close(parked);
    c->handle = NULL;
    ps_pool_close(c, PS_CLOSE_GONE);
}

/* Why idle handle H of lease L (MOVING: the caller's) cannot be reaped now (NULL: it can);
 * the reason's class goes to L->unreapable_hold. */
static const char *unreapable(const ps_client_ops *cl, ps_lease *l, void *h)
{
    if (ps_lease_awaiting(l)) {
        l->unreapable_hold = PS_HOLD_RESULTS;
        return "a command's answer not yet read (mysql_send_query)";
    }
    const char *why = cl->unreapable(h, &l->unreapable_hold);
    if (!why && (l->session.effects & PS_SQL_VARIABLES) && !cl->variables_replayable(h)) {
        why = "session variables set on a server whose variables the shim does not replay";
        l->unreapable_hold = PS_HOLD_SESSION;
    }
    return why;
}

bool ps_reap(const ps_client_ops *cl, ps_lease *l)
{
    void *h = l->handle;
    const char *why = unreapable(cl, l, h);
    bool alive = cl->transport(h) != NULL;
    if (why && alive) {
        ps_lease_settle(l, l->activity.conn, l->transport, why);
        return false;
    }
    ps_conn *c = l->activity.conn;
    void *saved = cl->save_results(h);
    /* What the renewal gives back, read before the reset in one query: the diagnostics and,
     * when the program set any, the session variables. Unread (a dead connection): the last
     * generated id an OK packet reported (the statements that set LAST_INSERT_ID() otherwise
     * keep a handle from being reaped), no diagnostics, and variables lost. */
    ps_replay_values v = l->session.values;
    v.diagnostics_known = false;
    char *vars = NULL;
    bool set_vars = (l->session.effects & PS_SQL_VARIABLES) != 0;
    alive = alive && saved && (!c->replies_pending || cl->settle(h, c)) &&
            cl->read_values(h, &v, set_vars ? &vars : NULL) &&
            ps_client_reset(cl, h, c, l->session.lasting, false);
    char *info = NULL;
    void *parked = cl->husk(h, saved, &info);
    if (!parked) {
        free(vars);
        l->unreapable_hold = PS_HOLD_OTHER;
        ps_lease_settle(l, l->activity.conn, l->transport, "out of memory");
        return false;
    }
    l->husk_info = info; /* the lease is MOVING: the caller's alone */
    free(l->husk_variables);
    l->husk_variables = vars;
    l->husk_variables_lost = set_vars && !vars;
    l->session.values = v;
    ps_lease_drop_conn(l);
    ps_pool_note(c->pool, PS_EV_REAPED);
    ps_debug(ps_pool_label(c->pool), "reaped idle handle %p (%s)", h,
             alive ? "connection parked" : "connection was dead");
    give_back(cl, c, parked, alive);
    return true;
}

/* Reaps leases picked with MIN_IDLE_SELF/MIN_IDLE_OTHER in POOL (any when NULL) until one is
 * reaped or MAX_TRIES were picked; the number reaped. */
static int reap_picked(const ps_client_ops *cl, ps_pool *pool, int64_t min_idle_self,
                       int64_t min_idle_other, int max_tries, bool stop_at_first)
{
    int reaped = 0;
    ps_lease *l;
    for (int i = 0; i < max_tries; i++) {
        if (!(l = ps_lease_pick_reapable(pool, min_idle_self, min_idle_other)))
            break;
        if (!ps_reap(cl, l))
            continue;
        ps_lease_settle(l, NULL, NULL, NULL);
        reaped++;
        if (stop_at_first)
            break;
    }
    return reaped;
}

bool ps_reap_for(const ps_client_ops *cl, ps_pool *p)
{
    return reap_picked(cl, p, 0, ps_cfg.reap_min_idle_ms, INT32_MAX, true) > 0;
}

void ps_housekeep(const ps_client_ops *cl)
{
    static int64_t next_ms;
    int64_t now = ps_now_ms(), next = __atomic_load_n(&next_ms, __ATOMIC_RELAXED);
    if (now < next || !__atomic_compare_exchange_n(&next_ms, &next, now + 100, false,
                                                   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        return;
    if (ps_cfg.reap_idle_ms > 0)
        reap_picked(cl, NULL, ps_cfg.reap_idle_ms, ps_cfg.reap_idle_ms, 8, false);
    ps_leak_report_due();
}
