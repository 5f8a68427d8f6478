/* querylog_probe: the workloads of test_querylog, run under the shim.
 *
 * Usage: querylog_probe workload   as PSTEST_ADMIN_USER over the socket: reads its session's
 *                                  Questions, runs a known mix (literals, an IN list, an
 *                                  INSERT, a prepared statement executed 3 times, CREATE USER
 *                                  ... IDENTIFIED BY a secret, DROP USER), reads Questions again;
 *                                  prints questions_before=, questions_after=
 *        querylog_probe pin MS     as PSTEST_USER: connects, sets a user variable to an
 *                                  expression (the session
 *                                  can no longer be reclaimed) from pin_the_session(), idles MS
 *                                  ms, then connects and closes a second handle (the shim's
 *                                  housekeeping reports leaks then); prints pinned=1
 *        querylog_probe idle MS    as PSTEST_USER: connect, SELECT, close; idle MS ms; connect,
 *                                  SELECT, close (is the parked connection reused?)
 *        querylog_probe hold MS    as PSTEST_USER: connect, SELECT, keep the handle MS ms,
 *                                  close (is the connection parked?) */
#include "app_common.h"

#include <unistd.h>

/* Connects M as the admin user (ADMIN) or the app user, over the socket; dies on failure. */
static MYSQL *connect_as(MYSQL *m, bool admin)
{
    app_dsn d = app_user_dsn(false);
    if (admin) {
        d.user = app_env("PSTEST_ADMIN_USER");
        d.password = app_env("PSTEST_ADMIN_PASSWORD");
    }
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* Runs SQL on M; dies on failure. */
static void run(MYSQL *m, const char *sql)
{
    if (!app_query(m, sql))
        app_die(mysql_errno(m), "%s: %s", sql, app_error(m));
}

/* Prepares SQL on M and executes it N times with the integer parameter i; dies on failure. */
static void prepared(MYSQL *m, const char *sql, int n)
{
    MYSQL_STMT *s = mysql_stmt_init(m);
    if (!s || mysql_stmt_prepare(s, sql, strlen(sql)))
        app_die(mysql_errno(m), "prepare: %s", app_error(m));
    for (int i = 0; i < n; i++) {
        MYSQL_BIND b = {.buffer_type = MYSQL_TYPE_LONG, .buffer = &i};
        if (mysql_stmt_bind_param(s, &b) || mysql_stmt_execute(s) || mysql_stmt_store_result(s))
            app_die(mysql_stmt_errno(s), "execute: %s", mysql_stmt_error(s));
        mysql_stmt_free_result(s);
    }
    mysql_stmt_close(s);
}

/* The known mix of statements (see the usage). */
static int workload(void)
{
    MYSQL *m = connect_as(mysql_init(NULL), true);
    char *before = app_scalar(m, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                                 "WHERE VARIABLE_NAME = 'QUESTIONS'");
    run(m, "SELECT 4242, 'literal-abc', 1.5e3, X'4142'");
    run(m, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN "
           "('mysql', 'nope-1', 'nope-2')");
    run(m, "CREATE TABLE IF NOT EXISTS querylog_t (id INT, v VARCHAR(32))");
    run(m, "INSERT INTO querylog_t VALUES (777, 'row-value-xyz')");
    prepared(m, "SELECT ? + 1000, 'prepared-literal'", 3);
    run(m, "CREATE USER IF NOT EXISTS 'querylog_u'@'localhost' IDENTIFIED BY 'secret-pw-9876'");
    run(m, "DROP USER 'querylog_u'@'localhost'");
    run(m, "DROP TABLE querylog_t");
    char *after = app_scalar(m, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                                "WHERE VARIABLE_NAME = 'QUESTIONS'");
    printf("questions_before=%s\nquestions_after=%s\n", before, after);
    free(before);
    free(after);
    mysql_close(m);
    return 0;
}

/* Makes M's session unreclaimable (kept out of line: its frame is in the leak report). */
__attribute__((noinline)) static void pin_the_session(MYSQL *m)
{
    run(m, "SET @querylog_pin = CONCAT('pin-secret-4711')"); /* a literal would be replayed */
}

/* See the usage. */
static int pin(long idle_ms)
{
    MYSQL *m = connect_as(mysql_init(NULL), false);
    pin_the_session(m);
    usleep((useconds_t)idle_ms * 1000);
    MYSQL *other = connect_as(mysql_init(NULL), false);
    mysql_close(other);
    printf("pinned=1\n");
    mysql_close(m);
    return 0;
}

/* Connects as the app user, runs a SELECT, keeps the handle HOLD_MS ms, closes it. */
static void request(long hold_ms)
{
    MYSQL *m = connect_as(mysql_init(NULL), false);
    run(m, "SELECT 1");
    usleep((useconds_t)hold_ms * 1000);
    mysql_close(m);
}

/* See the usage. */
static int idle(long idle_ms)
{
    request(0);
    usleep((useconds_t)idle_ms * 1000);
    request(0);
    printf("requests=2\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "workload"))
        return workload();
    if (argc == 3 && !strcmp(argv[1], "pin"))
        return pin(app_long_arg("pin", argv[2]));
    if (argc == 3 && !strcmp(argv[1], "idle"))
        return idle(app_long_arg("idle", argv[2]));
    if (argc == 3 && !strcmp(argv[1], "hold")) {
        request(app_long_arg("hold", argv[2]));
        printf("requests=1\n");
        return 0;
    }
    app_die(0, "usage: querylog_probe workload | pin MS | idle MS | hold MS");
}
