/* revoke_probe --user U --case alter|drop|lock|expire|revoke [--warm N] [--sleep-ms MS]
 *              [--after N] [--held]
 *
 * A login right revoked while a pooled connection of user U is parked. User U (password "pw",
 * all privileges on PSTEST_DB, at localhost) must exist; the program connects as U over the
 * unix socket with database PSTEST_DB. It makes --warm (default 2) connect/SELECT/close rounds
 * as U (under the shim the connection is parked, then reused), then, on an admin connection
 * (PSTEST_ADMIN_*), revokes U's right to log in by CASE:
 *   alter   ALTER USER U IDENTIFIED BY 'new'   (the program keeps using 'pw')
 *   drop    DROP USER U
 *   lock    ALTER USER U ACCOUNT LOCK
 *   expire  ALTER USER U PASSWORD EXPIRE
 *   revoke  REVOKE ALL ON PSTEST_DB.* FROM U
 * sleeps MS (default 0), and connects as U --after times (default 1) with the old password,
 * running SELECT CURRENT_USER() and INSERT INTO items (v) VALUES ('after:U') whenever the
 * connect succeeds. Prints what the program sees at the first attempt, then counts:
 *   connect=ok|error errno= sqlstate= message= select= insert=
 *   connects_ok= selects_ok= inserts_ok=
 * With --held the first handle is never closed instead: after one SELECT on it the program
 * sleeps MS, revokes (the admin's connect lets the shim reap the idle handle), then runs the
 * SELECT and the INSERT on that same handle; prints held_select= held_insert=. */
#include <unistd.h>

#include "app_common.h"

static const char *user, *what;

/* Connects M as U with the old password; NULL on failure (the error is in M). */
static MYSQL *connect_user(MYSQL *m)
{
    return mysql_real_connect(m, "localhost", user, "pw", app_env("PSTEST_DB"), 0,
                              app_env("PSTEST_SOCKET"), 0);
}

/* Runs SQL on M; prints "ok <first value>" or "error <errno> <sqlstate> <message>" into OUT. */
static bool outcome(MYSQL *m, const char *sql, char *out, size_t n)
{
    if (mysql_query(m, sql)) {
        snprintf(out, n, "error %u %s %s", mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
        return false;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    snprintf(out, n, "ok %s", row && row[0] ? row[0] : "-");
    mysql_free_result(r);
    return true;
}

/* Revokes U's right to log in as CASE says, on an admin connection of its own. */
static void take_right_away(void)
{
    char sql[512];
    const char *db = app_env("PSTEST_DB");
    if (!strcmp(what, "alter"))
        snprintf(sql, sizeof sql, "ALTER USER '%s'@'localhost' IDENTIFIED BY 'new'", user);
    else if (!strcmp(what, "drop"))
        snprintf(sql, sizeof sql, "DROP USER '%s'@'localhost'", user);
    else if (!strcmp(what, "lock"))
        snprintf(sql, sizeof sql, "ALTER USER '%s'@'localhost' ACCOUNT LOCK", user);
    else if (!strcmp(what, "expire"))
        snprintf(sql, sizeof sql, "ALTER USER '%s'@'localhost' PASSWORD EXPIRE", user);
    else if (!strcmp(what, "revoke"))
        snprintf(sql, sizeof sql, "REVOKE ALL ON %s.* FROM '%s'@'localhost'", db, user);
    else
        app_die(0, "unknown case %s", what);
    app_admin_run(sql);
}

/* One connect/SELECT/close round before the revocation; dies when it fails. */
static void warm_round(void)
{
    char out[600];
    MYSQL *m = mysql_init(NULL);
    if (!connect_user(m))
        app_die(mysql_errno(m), "connect before the revocation: %s", app_error(m));
    if (!outcome(m, "SELECT CURRENT_USER()", out, sizeof out))
        app_die(mysql_errno(m), "SELECT before the revocation: %s", out);
    mysql_close(m);
}

/* The connects after the revocation; the first one is printed in full. */
static void attempts(long n)
{
    char insert[256], sel[600] = "none", ins[600] = "none", scratch[600];
    long connects_ok = 0, selects_ok = 0, inserts_ok = 0;
    snprintf(insert, sizeof insert, "INSERT INTO items (v) VALUES ('after:%s')", user);
    for (long i = 0; i < n; i++) {
        MYSQL *m = mysql_init(NULL);
        bool ok = connect_user(m) != NULL;
        if (i == 0)
            printf("connect=%s\nerrno=%u\nsqlstate=%s\nmessage=%s\n", ok ? "ok" : "error",
                   mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
        if (ok) {
            connects_ok++;
            selects_ok += outcome(m, "SELECT CURRENT_USER()", i ? scratch : sel, sizeof sel);
            inserts_ok += outcome(m, insert, i ? scratch : ins, sizeof ins);
        }
        mysql_close(m);
    }
    printf("select=%s\ninsert=%s\nconnects_ok=%ld\nselects_ok=%ld\ninserts_ok=%ld\n", sel, ins,
           connects_ok, selects_ok, inserts_ok);
}

/* --held: the handle stays open across the revocation. */
static void held(long sleep_ms)
{
    char insert[256], out[600];
    MYSQL *m = mysql_init(NULL);
    if (!connect_user(m))
        app_die(mysql_errno(m), "connect before the revocation: %s", app_error(m));
    if (!outcome(m, "SELECT CURRENT_USER()", out, sizeof out))
        app_die(mysql_errno(m), "SELECT before the revocation: %s", out);
    usleep((useconds_t)sleep_ms * 1000);
    take_right_away();
    outcome(m, "SELECT CURRENT_USER()", out, sizeof out);
    printf("held_select=%s\n", out);
    snprintf(insert, sizeof insert, "INSERT INTO items (v) VALUES ('held:%s')", user);
    outcome(m, insert, out, sizeof out);
    printf("held_insert=%s\n", out);
    mysql_close(m);
}

int main(int argc, char **argv)
{
    long warm = 2, sleep_ms = 0, after = 1;
    bool hold = false;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--user") && v)
            user = argv[++i];
        else if (!strcmp(argv[i], "--case") && v)
            what = argv[++i];
        else if (!strcmp(argv[i], "--warm") && v)
            warm = app_long_arg("--warm", argv[++i]);
        else if (!strcmp(argv[i], "--sleep-ms") && v)
            sleep_ms = app_long_arg("--sleep-ms", argv[++i]);
        else if (!strcmp(argv[i], "--after") && v)
            after = app_long_arg("--after", argv[++i]);
        else if (!strcmp(argv[i], "--held"))
            hold = true;
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    if (!user || !what)
        app_die(0, "usage: revoke_probe --user U --case CASE [--warm N] [--sleep-ms MS] "
                   "[--after N] [--held]");
    if (hold) {
        held(sleep_ms);
        return 0;
    }
    for (long i = 0; i < warm; i++)
        warm_round();
    take_right_away();
    usleep((useconds_t)sleep_ms * 1000);
    attempts(after);
    return 0;
}
