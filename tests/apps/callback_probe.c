/* callback_probe: a program that uses one handle from inside the library's callback on another
 * (a LOAD DATA LOCAL INFILE read callback), which the library runs inside its own read.
 *
 *   callback_probe
 * B (LOCAL INFILE on) runs "LOAD DATA LOCAL INFILE" whose read callback runs "SET @v = 42" on
 * C; then D connects (at POOLSHIM_MAX_PER_KEY=2 its connect reclaims the least recently used
 * idle handle: C, whose session must then come back with @v), and C reads "SELECT @v".
 * Prints v (42 without the shim), errors, wrong, first_problem. */
#include "app_common.h"

static MYSQL *c;
static app_problems problems;

/* B's LOCAL INFILE read's first step: the statement on C. */
static void set_on_c(void)
{
    if (mysql_query(c, "SET @v = 42"))
        app_problem(&problems, false, "SET on C (in the callback)", c);
}

/* A connected handle (LOCAL INFILE on when INFILE); exits on failure. */
static MYSQL *connected(bool infile)
{
    MYSQL *m = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    unsigned int on = 1;
    if (infile)
        mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &on);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        app_die(0, "usage: callback_probe");
    c = connected(false);
    MYSQL *b = connected(true);
    if (mysql_query(b, "CREATE TEMPORARY TABLE callback_rows (x INT)"))
        app_die(mysql_errno(b), "create: %s", app_error(b));
    app_infile file = {.before = set_on_c};
    app_infile_set(b, &file);
    if (mysql_query(b, "LOAD DATA LOCAL INFILE 'rows' INTO TABLE callback_rows"))
        app_problem(&problems, false, "load data", b);
    MYSQL *d = connected(false); /* at a cap of 2: reclaims C, the least recently used */
    if (mysql_query(d, "SELECT 1"))
        app_problem(&problems, false, "query D", d);
    else
        mysql_free_result(mysql_store_result(d));
    const char *v = NULL;
    MYSQL_RES *r = mysql_query(c, "SELECT @v") ? NULL : mysql_store_result(c);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!r)
        app_problem(&problems, false, "SELECT @v", c);
    else
        v = row && row[0] ? row[0] : "NULL";
    printf("v=%s\n", v ? v : "-");
    mysql_free_result(r);
    mysql_close(d);
    mysql_close(b);
    mysql_close(c);
    return app_report(&problems);
}
