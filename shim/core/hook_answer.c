/* mysql_autocommit, mysql_select_db and mysql_set_character_set: answered without a round
 * trip on a live pooled session with nothing pending (README "The session model"): the
 * autocommit mode in any case (it reaches the server with the handle's next command, if any:
 * "Autocommit without a round trip"), the database and character set when the session already
 * has them. Everything else runs the library's own, whose commands go through the tracked
 * methods like any statement (the key keeps the connect-time database: the release restores
 * it). */
#include "poolshim/hooks.h"
#include "poolshim/lease.h"
#include "poolshim/real.h"
#include "poolshim/shim.h"

/* What a call asks for. */
enum ask { ASK_AUTOCOMMIT, ASK_DATABASE, ASK_CHARSET };

/* The ps_sql_effect bits of a lease that may have changed a character set variable of its
 * session since the handshake set them (SET NAMES / CHARACTER SET, SET character_set_...,
 * mysql_set_character_set; USE and SET autocommit count too: the bits do not tell). */
#define CHARSET_CHANGES (PS_SQL_REPLAYABLE | PS_SQL_VARIABLES | PS_SQL_READ_BACK)

/* True when the call ASK (ARG; MODE for autocommit) on M's live pooled session was answered (M
 * then reads as after the library's successful call). The lease is entered as for a result
 * read (never renews), so no reaper moves the connection while it is looked at. */
static bool answered(const ps_client_ops *cl, MYSQL *m, enum ask ask, const char *arg, bool mode)
{
    enum ps_enter how = PS_ENTER_UNTRACKED;
    ps_lease *l = ps_lease_enter(m, cl->transport(m), 0, &how);
    if (!l)
        return false;
    bool done = false;
    if (how == PS_ENTER_CALL && ask == ASK_AUTOCOMMIT) /* live: not a husk */
        done = cl->answer_autocommit(m, l->activity.conn, mode);
    else if (how == PS_ENTER_CALL && ask == ASK_DATABASE)
        done = cl->answer_select_db(m, arg);
    else if (how == PS_ENTER_CALL && !(l->session.lasting & CHARSET_CHANGES))
        done = cl->answer_charset(m, arg); /* the lease is the caller's while it is entered */
    static const ps_call_outcome nothing = {.statement = false};
    ps_lease_leave(l, &nothing);
    return done;
}

int ps_hook_mysql_select_db(MYSQL *m, const char *db)
{
    const ps_client_ops *cl = ps_shim_enter();
    if (!ps_real_mysql_select_db)
        return 1;
    if (cl && m && db && ps_depth == 0 && answered(cl, m, ASK_DATABASE, db, false))
        return 0;
    return ps_real_mysql_select_db(m, db);
}

int ps_hook_mysql_set_character_set(MYSQL *m, const char *csname)
{
    const ps_client_ops *cl = ps_shim_enter();
    if (!ps_real_mysql_set_character_set)
        return 1;
    if (cl && m && csname && ps_depth == 0 && answered(cl, m, ASK_CHARSET, csname, false))
        return 0;
    return ps_real_mysql_set_character_set(m, csname);
}

my_bool ps_hook_mysql_autocommit(MYSQL *m, my_bool mode)
{
    const ps_client_ops *cl = ps_shim_enter();
    if (!ps_real_mysql_autocommit)
        return 1;
    if (cl && m && ps_depth == 0 && answered(cl, m, ASK_AUTOCOMMIT, NULL, mode != 0))
        return 0;
    /* Not nested: "SET autocommit=N" goes through the tracked methods like any statement. */
    return ps_real_mysql_autocommit(m, mode);
}
