/* Calls that change which server session or identity a handle has: the library's reconnect,
 * mysql_change_user (re-keys the lease); mysql_select_db is in hook_answer.c. */
#include <stdlib.h>
#include <string.h>

#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/calls.h"
#include "poolshim/lease.h"
#include "poolshim/user_vars.h"
#include "poolshim/shim.h"

/* Lets go of M's husk lease (reaped, or broken) after the library's own reconnect gave M a new
 * session (in the husk's database, as without the shim): the program asked for it, and it is
 * not pooled (a renewal would put a pooled connection over it, and leak it). */
static void forget_husk(const ps_client_ops *cl, MYSQL *m)
{
    enum ps_lease_state was;
    ps_lease_free(ps_lease_take(m, cl->transport(m), &was));
}

/* Makes lease L follow M's new session after the library's reconnect. */
static void follow_new_session(const ps_client_ops *cl, ps_lease *l, MYSQL *m)
{
    ps_user_vars_reset(&l->user_vars); /* a new session: its user variables are gone */
    ps_lease_set_transport(l, cl->transport(m));
    cl->track(m);
    if (l->activity.conn) /* a new session: it owes no answers, and shows its own mode */
        l->activity.conn->replies_pending = l->activity.conn->sync_pending = false;
}

my_bool ps_hook_mariadb_reconnect(MYSQL *m)
{
    const ps_client_ops *cl = ps_shim_enter();
    my_bool r = 1;
    if (!ps_real_mariadb_reconnect)
        return 1;
    ps_lease *l = (cl && m && ps_depth == 0) ? ps_lease_find(m, cl->transport(m)) : NULL;
    if (l && l->state == PS_LEASE_INHERITED) {
        /* The library's close of the old connection must not reach the parent's session, and
         * the new connection is the child's own, unpooled. */
        enum ps_lease_state was;
        l = ps_lease_take(m, cl->transport(m), &was);
        cl->mute(m);
        if (l && l->activity.conn) {
            l->activity.conn->handle = NULL;
            ps_pool_close(l->activity.conn, PS_CLOSE_ABANDONED);
        }
        ps_lease_free(l);
        l = NULL;
    }
    /* Counted as a call on M's lease: no reap takes M's connection while the library
     * replaces it. Inside, the library runs mysql_init/real_connect on a stack temporary and
     * closes M: all nested, all passed through. Then the lease follows the new transport, and
     * M's I/O is tracked again (the struct copy brought the library's methods back). */
    ps_call call = {.activity = NULL};
    if (l && l->state != PS_LEASE_BROKEN && !ps_call_begin(&call, m, false))
        call.activity = NULL; /* a read's begin goes ahead: never taken */
    PS_NESTED(r = ps_real_mariadb_reconnect(m));
    /* the lease's state is the owner's now (counted, or a husk): no reap moves it */
    bool husk = l && (l->state == PS_LEASE_BROKEN || l->state == PS_LEASE_REAPED);
    if (call.activity && r == 0 && !husk)
        follow_new_session(cl, ps_lease_of(call.activity), m);
    if (call.activity) {
        /* a failed reconnect that kept the connection kept its awaited answer too */
        bool kept = r != 0 && cl->transport(m) == call.transport;
        ps_call_outcome o = {.reply = kept ? PS_REPLY_UNCHANGED : PS_REPLY_NONE};
        ps_call_end(&call, m, &o);
    }
    if (r == 0 && husk)
        forget_husk(cl, m);
    return r;
}

/* Moves lease L of M to the pool of its new identity (USER, PASSWD, DB). */
static void rekey(const ps_client_ops *cl, ps_lease *l, MYSQL *m, const char *user,
                  const char *passwd, const char *db)
{
    const ps_connect_args *old = ps_pool_args(l->pool);
    if (!old || !l->activity.conn)
        return;
    ps_connect_args a = {old->host, user, passwd, db, old->socket, old->port, old->flags};
    ps_key k;
    char label[256];
    ps_key_init(&k);
    cl->build_key(m, &a, &k);
    const char *key = ps_key_str(&k);
    ps_key_label(label, sizeof label, user, old->host, old->port, old->socket, db);
    ps_pool *to = key ? ps_pool_get(key, label) : NULL;
    ps_key_free(&k);
    if (!to) /* out of memory: keep the old key; release will reset to it (change_user) */
        return;
    ps_pool_set_args(to, &a);
    void *facts = cl->record(m);
    if (!facts) /* out of memory: keep the old key; release will reset to it (change_user) */
        return;
    cl->free_facts(l->activity.conn->facts);
    l->activity.conn->facts = facts;
    ps_pool_move(l->activity.conn, to);
    ps_lease_set_pool(l, to); /* its key, and with it its patience */
}

my_bool ps_hook_mysql_change_user(MYSQL *m, const char *user, const char *passwd, const char *db)
{
    const ps_client_ops *cl = ps_shim_enter();
    my_bool r = 1;
    if (!ps_real_mysql_change_user)
        return 1;
    ps_call call = {.activity = NULL};
    if (cl && m && ps_depth == 0 && !ps_call_begin(&call, m, true))
        return 1; /* a reaped handle could not get a connection back */
    if (cl && m && ps_depth == 0 && !call.activity && cl->unconnected(m)) {
        /* The library would write through the NULL net.read_pos of a handle that was never
         * connected or that the shim closed (the library's own close leaves it dangling, and
         * then fails with 2006). Fail with 2006 without calling it. */
        cl->fail(m, PS_FAIL_GONE, NULL);
        return 1;
    }
    PS_NESTED(r = ps_real_mysql_change_user(m, user, passwd, db));
    if (call.activity && r == 0)
        rekey(cl, ps_lease_of(call.activity), m, user, passwd, db);
    ps_call_outcome o = {.statement = true, .app_reset = r == 0}; /* a new session, if r == 0 */
    ps_call_end(&call, m, &o);
    return r;
}
