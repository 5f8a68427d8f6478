/* What the login gave a pooled connection's session, read in one round trip with the shim's
 * own state tracking turned on (mdb_read_login), and the two halves of a pipelined query that
 * the reset uses too. Every query here runs nested. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "poolshim/real.h"

/* The role the login set, the server's init_connect (empty when the server exempts this user:
 * SUPER or CONNECTION ADMIN, as its login decides), wait_timeout (CLIENT_INTERACTIVE logins
 * get interactive_timeout), and the connection limits: max_connections and the account's
 * max_user_connections. */
static const char login_query[] =
    "SELECT CURRENT_ROLE(), IF(@@global.init_connect = '' OR EXISTS(SELECT 1 FROM "
    "information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('SUPER', 'CONNECTION ADMIN') "
    "AND GRANTEE = CONCAT('''', LEFT(CURRENT_USER(), CHAR_LENGTH(CURRENT_USER()) - "
    "CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), '@', -1)) - 1), '''@''', "
    "SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')), '', @@global.init_connect), "
    "@@wait_timeout, @@max_connections, @@max_user_connections";

/* A malloc'd copy of V; NULL for NULL. *OK becomes false when the copy failed. */
static char *copy_value(const char *v, bool *ok)
{
    char *c = v ? strdup(v) : NULL;
    if (v && !c)
        *ok = false;
    return c;
}

/* The assignment that makes a session report every change of its state (the shim's tracking,
 * README "Clean return"): a reset and a re-authentication turn it off again. */
const char mdb_tracking_on[] =
    "session_track_state_change = ON, session_track_system_variables = '*', "
    "session_track_schema = ON";

/* True when H's server can report state changes (session tracking, MariaDB 10.2 and later). */
static bool tracking_possible(const MYSQL *h)
{
    return (h->server_capabilities & CLIENT_SESSION_TRACKING) && h->server_version &&
           strstr(h->server_version, "MariaDB");
}

bool mdb_send_query(MYSQL *h, const char *query)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_send_query(h, query, (unsigned long)strlen(query)));
    return rc == 0;
}

bool mdb_read_answer(MYSQL *h)
{
    my_bool rc;
    PS_NESTED(rc = ps_real_mysql_read_query_result(h));
    return rc == 0;
}

bool mdb_read_discarding(MYSQL *h)
{
    if (!mdb_read_answer(h))
        return false;
    MYSQL_RES *res;
    PS_NESTED(res = ps_real_mysql_store_result(h));
    if (res)
        ps_real_mysql_free_result(res);
    return res || !ps_real_mysql_errno(h);
}

/* Fills F from the login query's row ROW (NULL: it failed). */
static void take_login_row(MYSQL_ROW row, mdb_facts *f)
{
    bool ok = row && row[1] && row[2] && row[3] && row[4];
    if (ok) {
        f->max_connections = strtoll(row[3], NULL, 10);
        f->max_user_connections = strtoll(row[4], NULL, 10);
        f->role = copy_value(row[0], &ok);
        f->init_connect = *row[1] ? copy_value(row[1], &ok) : NULL;
        f->wait_timeout_ms = (int64_t)strtoull(row[2], NULL, 10) * 1000;
    }
    f->login_known = ok;
}

void mdb_read_login(MYSQL *h, mdb_facts *f)
{
    /* One round trip: the login query and "SET session_track_state_change = ON", pipelined;
     * the SET last, so that ROW_COUNT() reads 0 as in a fresh session (a SELECT leaves -1). */
    char set[256];
    snprintf(set, sizeof set, "SET %s", mdb_tracking_on);
    bool sent = h->net.pvio && mdb_send_query(h, login_query);
    bool tracking = sent && tracking_possible(h) && mdb_send_query(h, set);
    MYSQL_RES *res = NULL;
    if (sent && mdb_read_answer(h))
        PS_NESTED(res = ps_real_mysql_store_result(h));
    f->tracking = tracking && mdb_read_answer(h);
    take_login_row(res ? ps_real_mysql_fetch_row(res) : NULL, f);
    if (res)
        ps_real_mysql_free_result(res);
    f->role_known = f->login_known && h->server_version && strstr(h->server_version, "MariaDB");
}
