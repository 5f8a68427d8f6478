/* mysql_autocommit: answered without a round trip on a live pooled session with nothing
 * pending; the mode reaches the server with the handle's next command, if any (README
 * "Autocommit without a round trip"). Everything else runs the library's own. */
#include "poolshim/hooks.h"
#include "poolshim/lease.h"
#include "poolshim/real.h"
#include "poolshim/shim.h"

/* True when mysql_autocommit(M, MODE) was answered (M then reads as after the library's
 * successful call). The lease is entered as for a result read (never renews), so no reaper
 * moves the connection while it is looked at. */
static bool answered(const ps_client_ops *cl, MYSQL *m, bool mode)
{
    enum ps_enter how = PS_ENTER_UNTRACKED;
    ps_lease *l = ps_lease_enter(m, cl->transport(m), 0, &how);
    if (!l)
        return false;
    bool done = how == PS_ENTER_CALL && cl->answer_autocommit(m, l->conn, mode); /* live */
    static const ps_call_outcome nothing = {.statement = false};
    ps_lease_leave(l, &nothing);
    return done;
}

my_bool ps_hook_mysql_autocommit(MYSQL *m, my_bool mode)
{
    const ps_client_ops *cl = ps_shim();
    if (!ps_real_mysql_autocommit)
        return 1;
    if (cl && m && ps_depth == 0 && answered(cl, m, mode != 0))
        return 0;
    /* Not nested: "SET autocommit=N" goes through the tracked methods like any statement. */
    return ps_real_mysql_autocommit(m, mode);
}
