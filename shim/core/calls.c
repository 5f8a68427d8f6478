/* Activity tracking (see calls.h): the lease's bookkeeping around each call, and the renewal
 * of a reaped or inherited handle before its next command. */
#include "poolshim/calls.h"

#include "poolshim/acquire.h"
#include "poolshim/fork.h"
#include "poolshim/lease.h"
#include "poolshim/reap.h"

static const ps_client_ops *client;

const ps_call_hooks ps_call_hooks_table = {.begin = ps_call_begin, .end = ps_call_end};

void ps_calls_init(const ps_client_ops *cl)
{
    client = cl;
}

/* Gets moving lease L (the caller's) a connection of its own before its call, per HOW.
 * True when the call may go on (L is LIVE). */
static bool renew(const ps_client_ops *cl, ps_lease *l, enum ps_enter how)
{
    if (how == PS_ENTER_TAKEOVER && !ps_fork_take_over(cl, l))
        return false;
    if (l->conn && !ps_reap(cl, l))
        return true; /* idle past the server's patience, but not reapable: settled LIVE */
    return ps_acquire_renew(cl, l);
}

bool ps_call_begin(ps_call *call, void *h, bool sends_command)
{
    const ps_client_ops *cl = client;
    enum ps_enter how = PS_ENTER_UNTRACKED;
    ps_lease *l = cl ? ps_lease_enter(h, cl->transport(h), sends_command, &how) : NULL;
    call->lease = l;
    if (how == PS_ENTER_UNTRACKED || how == PS_ENTER_CALL || renew(cl, l, how))
        return true;
    static const ps_call_outcome failed = {false, 0, false, 0};
    ps_lease_settle(l, NULL, NULL, NULL); /* a husk, REAPED */
    ps_lease_leave(l, &failed);
    call->lease = NULL;
    return false;
}

void ps_call_end(ps_call *call, void *h, const ps_call_outcome *o)
{
    (void)h;
    if (call->lease)
        ps_lease_leave(call->lease, o);
}
