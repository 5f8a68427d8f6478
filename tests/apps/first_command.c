/* first_command: the first command of a connect whose connection was parked with its reset's
 * answers unread (a deferred reset) is one the library reads the answer of itself, inside
 * the command (mysql_ping, mysql_select_db, mysql_stat, mysql_reset_connection, mysql_kill).
 *
 *   first_command ping|select_db|stat|reset|kill
 * Two leases each set a user variable and close (under the shim, with POOLSHIM_MAX_PER_KEY=1:
 * the same connection, reset at each close); a third connect runs the command, then two
 * SELECTs. Prints what each returned (the same with and without the shim) and exits 0; a hang
 * (an answer read as another's can wait for bytes that never come) ends in SIGALRM at 60 s. */
#include <unistd.h>

#include "app_common.h"

/* A connected handle, or death. */
static MYSQL *open_handle(void)
{
    MYSQL *m = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* Runs the command WHAT on M and prints its outcome as "first=...". */
static void first(MYSQL *m, const char *what)
{
    int rc = 0;
    if (!strcmp(what, "ping")) {
        rc = mysql_ping(m);
    } else if (!strcmp(what, "select_db")) {
        rc = mysql_select_db(m, "no_such_db_first_command");
    } else if (!strcmp(what, "stat")) {
        const char *s = mysql_stat(m); /* its figures change: only its shape is compared */
        rc = !(s && !strncmp(s, "Uptime: ", 8));
    } else if (!strcmp(what, "reset")) {
        rc = mysql_reset_connection(m);
    } else if (!strcmp(what, "kill")) {
        rc = mysql_kill(m, 999999999);
    } else {
        app_die(0, "unknown command '%s'", what);
    }
    printf("first=%s rc=%d errno=%u\n", what, rc != 0, rc ? mysql_errno(m) : 0);
}

/* Prints what "SELECT 'TAG'" on M gave. */
static void select_tag(MYSQL *m, const char *tag)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT '%s'", tag);
    MYSQL_RES *r = mysql_query(m, sql) ? NULL : mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    printf("%s=%s errno=%u\n", tag, row && row[0] ? row[0] : "(none)", mysql_errno(m));
    mysql_free_result(r);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        app_die(0, "usage: first_command ping|select_db|stat|reset|kill");
    alarm(60);
    for (int i = 0; i < 2; i++) {
        MYSQL *dirty = open_handle();
        app_run(dirty, "SET @first_command = 1");
        mysql_close(dirty);
    }
    MYSQL *m = open_handle();
    first(m, argv[1]);
    select_tag(m, "next");
    select_tag(m, "after");
    mysql_close(m);
    return 0;
}
