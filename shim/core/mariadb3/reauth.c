/* Re-authenticating a parked connection before reuse (POOLSHIM_REVERIFY_MS): COM_CHANGE_USER
 * as its own user, a statement (an expired password's sandbox session refuses it), then what
 * the login set and the init commands. Every query runs nested. */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

/* ---- re-authentication ------------------------------------------------------------------ */

/* How H's failed call ended: refused when the server answered with an error, failed when the
 * library could not get an answer (its own error codes). *ERR gets H's error. */
static enum ps_reauth reauth_failure(MYSQL *h, ps_connect_error *err)
{
    unsigned e = h->net.last_errno;
    err->code = e;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", h->net.sqlstate);
    snprintf(err->message, sizeof err->message, "%s", h->net.last_error);
    return mdb_server_error(e) && h->net.pvio ? PS_REAUTH_REFUSED : PS_REAUTH_FAILED;
}

/* COM_CHANGE_USER on parked P as its own user, then a statement, then what the login set
 * (restore_login) and P's init commands; P's options are the app's (lent), reconnection off. */
static enum ps_reauth change_user_checked(MYSQL *p, mdb_facts *f, ps_connect_error *err)
{
    my_bool rc;
    PS_NESTED(rc = ps_real_mysql_change_user(p, p->user, p->passwd, f->dsn_db));
    if (rc)
        return reauth_failure(p, err);
    /* An expired password is accepted into a "sandbox" session that refuses every statement
     * but SET (1820): only a statement tells it from a usable session. SELECT 1 also leaves
     * FOUND_ROWS() at 1, as a fresh session has it (COM_CHANGE_USER keeps the old count). */
    if (!mdb_run_discarding(p, "SELECT 1"))
        return reauth_failure(p, err);
    p->charset = f->charset;
    p->server_status = SERVER_STATUS_AUTOCOMMIT;
    /* COM_CHANGE_USER drops what the login set, like COM_RESET_CONNECTION: give it back */
    if (!mdb_restore_login(p, f, 0, false) || !mdb_replay_init_commands(p))
        return reauth_failure(p, err);
    f->autocommit = (p->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    return PS_REAUTH_OK;
}

enum ps_reauth mdb_reauthenticate(void *appv, ps_conn *c, ps_connect_error *err)
{
    MYSQL *app = appv, *p = c->handle;
    mdb_options_extension *ext = mdb_opt_ext(app);
    if (!ext || !ext->status_callback) /* the library calls it with session-tracking data */
        ps_real_mysql_optionsv(app, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    struct st_mysql_options own = p->options;
    p->options = app->options; /* the charset, auth plugin and init commands of a new connect */
    mdb_options_follow(p, app);
    my_bool reconnect = p->options.reconnect;
    p->options.reconnect = 0;
    enum ps_reauth r = change_user_checked(p, c->facts, err);
    p->options.reconnect = reconnect;
    app->options = p->options;
    mdb_options_follow(app, p);
    p->options = own;
    return r;
}
