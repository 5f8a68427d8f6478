/* reconnect_probe [--tcp] [--no-reconnect] [--query] [--remember]
 *
 * The library's own auto-reconnect (MYSQL_OPT_RECONNECT) on a pooled handle: connect, have an
 * admin connection KILL our server thread, then mysql_ping. With reconnect on, the library
 * reconnects (through mysql_init/real_connect/close on a stack temporary); the shim must let
 * that pass and keep tracking the new connection, which is parked at close and reused by the
 * next connect. --query: no ping; the program's next queries meet the killed connection (the
 * first reports the loss, the library reconnects at the next). --remember: every connect
 * passes CLIENT_REMEMBER_OPTIONS, as DBD::MariaDB and Ruby mysql2 do.
 * Prints: ping_rc= ping_errno= id_before= id_after= id_next= query_ok= (with --query,
 * ping_rc/ping_errno are those of the first query after the KILL). */
#include "app_common.h"

/* CONNECTION_ID() of M, or 0 on error. */
static unsigned long conn_id(MYSQL *m)
{
    if (mysql_query(m, "SELECT CONNECTION_ID()"))
        return 0;
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    unsigned long id = row ? strtoul(row[0], NULL, 10) : 0;
    mysql_free_result(r);
    return id;
}

/* Connects M with D, passing CLIENT_REMEMBER_OPTIONS when REMEMBER; dies on failure. */
static void connect_or_die(MYSQL *m, const app_dsn *d, bool remember)
{
    if (!mysql_real_connect(m, d->host, d->user, d->password, d->db, d->port, d->socket,
                            remember ? CLIENT_REMEMBER_OPTIONS : 0))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
}

/* The first command after the KILL: a ping, or (QUERY) a query; its errno goes to *ERR. */
static int first_command(MYSQL *m, bool query, unsigned *err)
{
    int rc = query ? mysql_query(m, "SELECT 1") : mysql_ping(m);
    *err = mysql_errno(m);
    if (query && rc == 0)
        mysql_free_result(mysql_store_result(m));
    return rc;
}

int main(int argc, char **argv)
{
    bool tcp = false, reconnect = true, query = false, remember = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--no-reconnect"))
            reconnect = false;
        else if (!strcmp(argv[i], "--query"))
            query = true;
        else if (!strcmp(argv[i], "--remember"))
            remember = true;
    }
    app_dsn d = app_user_dsn(tcp);
    MYSQL *m = mysql_init(NULL);
    my_bool on = reconnect;
    mysql_options(m, MYSQL_OPT_RECONNECT, &on);
    connect_or_die(m, &d, remember);
    unsigned long before = conn_id(m);

    app_kill(before);

    unsigned ping_errno;
    int rc = first_command(m, query, &ping_errno);
    unsigned long after = rc == 0 || (query && reconnect) ? conn_id(m) : 0;
    bool query_ok = after && app_query(m, "SELECT COUNT(*) FROM items");
    mysql_close(m);

    MYSQL *n = mysql_init(NULL);
    connect_or_die(n, &d, remember);
    unsigned long next = conn_id(n);
    mysql_close(n);
    printf("ping_rc=%d\nping_errno=%u\nid_before=%lu\nid_after=%lu\nid_next=%lu\nquery_ok=%d\n", rc,
           ping_errno, before, after, next, query_ok);
    return 0;
}
