/* Calls that change which server session or identity a handle has: the library's reconnect,
 * mysql_change_user (re-keys the lease) and mysql_select_db. */
#include <stdlib.h>
#include <string.h>

#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/registry.h"
#include "poolshim/shim.h"

my_bool ps_hook_mariadb_reconnect(MYSQL *m)
{
    const ps_client_ops *cl = ps_shim();
    my_bool r = 1;
    if (!ps_real_mariadb_reconnect)
        return 1;
    void *before = (cl && m) ? cl->transport(m) : NULL;
    /* Inside, the library runs mysql_init/real_connect on a stack temporary and closes M:
     * all nested, all passed through. Then the lease follows the new transport. */
    PS_NESTED(r = ps_real_mariadb_reconnect(m));
    if (before && r == 0 && cl->transport(m) != before)
        ps_registry_rekey(before, cl->transport(m), m);
    return r;
}

/* Moves the lease of M to the pool of its new identity (USER, PASSWD, DB). */
static void rekey(const ps_client_ops *cl, MYSQL *m, const char *user, const char *passwd,
                  const char *db)
{
    ps_conn *c = ps_registry_take(cl->transport(m), m);
    if (!c)
        return;
    ps_connect_args a = {c->host, user, passwd, db, c->socket, c->port, c->flags};
    ps_key k;
    char label[256];
    ps_key_init(&k);
    cl->build_key(m, &a, &k);
    const char *key = ps_key_str(&k);
    ps_key_label(label, sizeof label, user, c->host, c->port, c->socket, db);
    ps_pool *to = key ? ps_pool_get(key, label) : NULL;
    ps_key_free(&k);
    free(c->dsn_db);
    c->dsn_db = NULL;
    cl->record(m, c);
    if (to) {
        ps_pool_move(c, to);
        ps_registry_add(c, cl->transport(m), m);
    } else {
        ps_pool_drop(c, false); /* out of memory: the handle continues unpooled */
    }
}

my_bool ps_hook_mysql_change_user(MYSQL *m, const char *user, const char *passwd, const char *db)
{
    const ps_client_ops *cl = ps_shim();
    my_bool r = 1;
    if (!ps_real_mysql_change_user)
        return 1;
    bool leased = cl && m && ps_depth == 0 && ps_registry_has(cl->transport(m), m);
    PS_NESTED(r = ps_real_mysql_change_user(m, user, passwd, db));
    if (leased && r == 0)
        rekey(cl, m, user, passwd, db);
    return r;
}

int ps_hook_mysql_select_db(MYSQL *m, const char *db)
{
    int r = 1;
    ps_shim();
    if (!ps_real_mysql_select_db)
        return 1;
    /* The key keeps the connect-time database; release restores it (see client reset). */
    PS_NESTED(r = ps_real_mysql_select_db(m, db));
    return r;
}
