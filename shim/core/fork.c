/* Fork safety (see fork.h). */
#include "poolshim/fork.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/keeper.h"
#include "poolshim/leak.h"
#include "poolshim/querylog.h"
#include "poolshim/log.h"
#include "poolshim/metrics.h"
#include "poolshim/sql_effects.h"

static const ps_client_ops *client;

void ps_fork_init(const ps_client_ops *cl)
{
    client = cl;
}

void ps_fork_prepare(void)
{
    ps_keeper_before_fork();
    ps_leak_before_fork();
    ps_lease_before_fork();
    ps_pool_before_fork();
}

void ps_fork_parent(void)
{
    ps_pool_after_fork_parent();
    ps_lease_after_fork_parent();
    ps_leak_after_fork();
    ps_keeper_after_fork_parent();
}

void ps_fork_child(void)
{
    ps_pool_after_fork_child();
    ps_lease_after_fork_child(client ? client->mute : NULL, client ? client->track : NULL);
    ps_leak_after_fork();
    ps_qlog_after_fork_child();
    ps_metrics_after_fork_child();
    ps_keeper_after_fork_child(); /* no keeper thread here: the child's first park starts one */
}

/* Why the session of inherited lease L cannot move to a new connection; NULL when it can. */
static const char *unmovable(const ps_client_ops *cl, ps_lease *l)
{
    enum ps_hold hold;
    const char *why = cl->unreapable(l->handle, &hold);
    ps_lease_session s = ps_lease_session_get(l);
    if (!why && !ps_lease_replayable(l))
        why = ps_sql_effect_reason(ps_lease_session_dirt(&s));
    if (!why && (s.effects & PS_SQL_VARIABLES) &&
        ((s.effects & PS_SQL_READ_BACK) || !l->told_variables || l->told_variables_partial))
        why = "session variables set with SET, which only the parent's connection could tell";
    return why;
}

/* Gives inherited lease L's renewal the SET of the session variables the server's tracker
 * reported (the parent's connection cannot be asked); false on OOM. */
static bool replay_told_variables(ps_lease *l)
{
    ps_lease_session s = ps_lease_session_get(l);
    if (!(s.effects & PS_SQL_VARIABLES))
        return true;
    size_t n = strlen(l->told_variables) + sizeof "SET ";
    char *set = malloc(n);
    if (!set)
        return false;
    snprintf(set, n, "SET %s", l->told_variables);
    free(l->husk_variables); /* the lease is MOVING: the caller's alone */
    l->husk_variables = set;
    return true;
}

bool ps_fork_take_over(const ps_client_ops *cl, ps_lease *l)
{
    void *h = l->handle;
    ps_conn *c = l->activity.conn;
    const char *why = unmovable(cl, l);
    if (!why && !replay_told_variables(l))
        why = "out of memory";
    char *info = NULL;
    void *parked = cl->husk(h, cl->save_results(h), &info);
    if (!parked) {
        why = "out of memory";
    } else {
        free(l->husk_info);
        l->husk_info = info;
        cl->abandon(parked);
    }
    ps_lease_drop_conn(l);
    c->handle = NULL;
    ps_pool_close(c, PS_CLOSE_ABANDONED);
    if (!why) {
        ps_debug(ps_pool_label(l->pool), "handle %p inherited across fork: reconnecting", h);
        return true;
    }
    ps_warn(ps_pool_label(l->pool),
            "handle %p inherited across fork holds session state a new connection cannot "
            "have (%s): reporting the connection as lost",
            h, why);
    cl->fail(h, PS_FAIL_GONE, NULL);
    return false;
}
