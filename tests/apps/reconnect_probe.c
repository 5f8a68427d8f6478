/* reconnect_probe [--tcp] [--no-reconnect]
 *
 * The library's own auto-reconnect (MYSQL_OPT_RECONNECT) on a pooled handle: connect, have an
 * admin connection KILL our server thread, then mysql_ping. With reconnect on, the library
 * reconnects (through mysql_init/real_connect/close on a stack temporary); the shim must let
 * that pass and keep tracking the new connection, which is parked at close and reused by the
 * next connect. Prints: ping_rc= ping_errno= id_before= id_after= id_next= query_ok= */
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

int main(int argc, char **argv)
{
    bool tcp = false, reconnect = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--no-reconnect"))
            reconnect = false;
    }
    app_dsn d = app_user_dsn(tcp);
    MYSQL *m = mysql_init(NULL);
    my_bool on = reconnect;
    mysql_options(m, MYSQL_OPT_RECONNECT, &on);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    unsigned long before = conn_id(m);

    app_kill(before);

    int rc = mysql_ping(m);
    unsigned ping_errno = mysql_errno(m);
    unsigned long after = rc == 0 ? conn_id(m) : 0;
    bool query_ok = rc == 0 && app_query(m, "SELECT COUNT(*) FROM items");
    mysql_close(m);

    MYSQL *n = mysql_init(NULL);
    if (!app_connect(n, &d))
        app_die(mysql_errno(n), "connect after reconnect: %s", app_error(n));
    unsigned long next = conn_id(n);
    mysql_close(n);
    printf("ping_rc=%d\nping_errno=%u\nid_before=%lu\nid_after=%lu\nid_next=%lu\nquery_ok=%d\n", rc,
           ping_errno, before, after, next, query_ok);
    return 0;
}
