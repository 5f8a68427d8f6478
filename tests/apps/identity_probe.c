/* identity_probe stale|change_user [--tcp]
 *
 * stale: connect, close (the connection is parked), have an admin KILL that server connection,
 *   wait past the validation window, connect again: the program must get a working connection,
 *   never the dead one. Prints: id_first= id_second= query_ok=
 * change_user: connect as PSTEST_USER, mysql_change_user to PSTEST_USER2, check CURRENT_USER(),
 *   close; connect as user 2 (should reuse that connection) and as user 1 (must not).
 *   Prints: changed_user= id_changed= id_user2= id_user1=
 * change_user_patience: connect as PSTEST_USER (its key learns the server's default
 *   wait_timeout), SET GLOBAL wait_timeout = 3, mysql_change_user to PSTEST_USER2 (the session
 *   takes the new global), connect a second handle as user 2 (that key learns 3 s), put the
 *   global back, leave the first handle idle 4 s (the server closes its session) and query on
 *   it: the shim must renew it first, as any handle of user 2's key idle past 3 s.
 *   Prints: session_wait_timeout= id_before= query_ok= id_after= */
#include <unistd.h>

#include "app_common.h"

/* Connects as USER/PASSWORD (NULL: the sandbox app user). */
static MYSQL *connect_as(bool tcp, const char *user, const char *password)
{
    app_dsn d = app_user_dsn(tcp);
    d.user = user ? user : d.user;
    d.password = password ? password : d.password;
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect as %s: %s", d.user, app_error(m));
    return m;
}

static int stale(bool tcp)
{
    MYSQL *m = connect_as(tcp, NULL, NULL);
    char *first = app_scalar(m, "SELECT CONNECTION_ID()");
    mysql_close(m);
    app_kill(strtoul(first, NULL, 10));
    usleep(700 * 1000); /* past POOLSHIM_VALIDATE_IDLE_MS (500) */
    m = connect_as(tcp, NULL, NULL);
    char *second = app_scalar(m, "SELECT CONNECTION_ID()");
    bool ok = app_query(m, "SELECT COUNT(*) FROM items");
    mysql_close(m);
    printf("id_first=%s\nid_second=%s\nquery_ok=%d\n", first, second, ok);
    return ok ? 0 : 1;
}

static int change_user(bool tcp)
{
    const char *user2 = app_env("PSTEST_USER2"), *pw2 = app_env("PSTEST_PASSWORD2");
    MYSQL *m = connect_as(tcp, NULL, NULL);
    if (mysql_change_user(m, user2, pw2, app_env("PSTEST_DB")))
        app_die(mysql_errno(m), "change_user: %s", mysql_error(m));
    char *who = app_scalar(m, "SELECT CURRENT_USER()");
    char *id_changed = app_scalar(m, "SELECT CONNECTION_ID()");
    mysql_close(m);
    m = connect_as(tcp, user2, pw2);
    char *id_user2 = app_scalar(m, "SELECT CONNECTION_ID()");
    char *who2 = app_scalar(m, "SELECT CURRENT_USER()");
    mysql_close(m);
    m = connect_as(tcp, NULL, NULL);
    char *id_user1 = app_scalar(m, "SELECT CONNECTION_ID()");
    char *who1 = app_scalar(m, "SELECT CURRENT_USER()");
    mysql_close(m);
    printf("changed_user=%s\nid_changed=%s\nid_user2=%s\nuser2_is=%s\nid_user1=%s\nuser1_is=%s\n",
           who, id_changed, id_user2, who2, id_user1, who1);
    return 0;
}

static int change_user_patience(bool tcp)
{
    const char *user2 = app_env("PSTEST_USER2"), *pw2 = app_env("PSTEST_PASSWORD2");
    MYSQL *m = connect_as(tcp, NULL, NULL);
    char *global = app_scalar(m, "SELECT @@global.wait_timeout");
    char sql[96];
    app_admin_run("SET GLOBAL wait_timeout = 3");
    if (mysql_change_user(m, user2, pw2, app_env("PSTEST_DB")))
        app_die(mysql_errno(m), "change_user: %s", mysql_error(m));
    char *session = app_scalar(m, "SELECT @@session.wait_timeout");
    char *id_before = app_scalar(m, "SELECT CONNECTION_ID()");
    MYSQL *m2 = connect_as(tcp, user2, pw2); /* user 2's key: its first connect */
    app_run(m2, "SELECT 1");
    mysql_close(m2);
    snprintf(sql, sizeof sql, "SET GLOBAL wait_timeout = %s", global);
    app_admin_run(sql);
    sleep(4); /* past the session's wait_timeout: the server closes it */
    bool ok = app_query(m, "SELECT 1");
    printf("session_wait_timeout=%s\nid_before=%s\nquery_ok=%d\n", session, id_before, ok);
    if (!ok)
        printf("error=%u %s\n", mysql_errno(m), mysql_error(m));
    else
        printf("id_after=%s\n", app_scalar(m, "SELECT CONNECTION_ID()"));
    mysql_close(m);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    bool tcp = argc > 2 && !strcmp(argv[2], "--tcp");
    if (argc > 1 && !strcmp(argv[1], "stale"))
        return stale(tcp);
    if (argc > 1 && !strcmp(argv[1], "change_user"))
        return change_user(tcp);
    if (argc > 1 && !strcmp(argv[1], "change_user_patience"))
        return change_user_patience(tcp);
    app_die(0, "usage: identity_probe stale|change_user|change_user_patience [--tcp]");
}
