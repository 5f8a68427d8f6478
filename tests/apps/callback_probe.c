/* callback_probe: a program that uses one handle from inside the library's callback on another
 * (a LOAD DATA LOCAL INFILE read callback), which the library runs inside its own read.
 *
 *   callback_probe
 * B (LOCAL INFILE on) runs "LOAD DATA LOCAL INFILE" whose read callback runs "SET @v = 42" on
 * C; then D connects (at POOLSHIM_MAX_PER_KEY=2 its connect reclaims the least recently used
 * idle handle: C, whose session must then come back with @v), and C reads "SELECT @v".
 * Prints v (42 without the shim), callback_errors, errors, first_problem. */
#include "app_common.h"

static MYSQL *c;
static long callback_errors, errors;
static char first_problem[512];

/* Counts an error (in the callback when IN_CALLBACK) and keeps the first one's text. */
static void problem(bool in_callback, const char *what, MYSQL *m)
{
    if (!errors && !callback_errors)
        snprintf(first_problem, sizeof first_problem, "%s: %u %s", what, m ? mysql_errno(m) : 0,
                 m ? app_error(m) : "");
    if (in_callback)
        callback_errors++;
    else
        errors++;
}

static int infile_init(void **ptr, const char *name, void *data)
{
    (void)name;
    *ptr = data;
    return 0;
}

/* B's LOCAL INFILE read: the statement on C first, then one row, then EOF. */
static int infile_read(void *ptr, char *buf, unsigned int len)
{
    bool *given = ptr;
    if (*given || len < 2)
        return 0;
    if (mysql_query(c, "SET @v = 42"))
        problem(true, "SET on C", c);
    *given = true;
    memcpy(buf, "1\n", 2);
    return 2;
}

static void infile_end(void *ptr)
{
    (void)ptr;
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
    (void)ptr;
    snprintf(msg, len, "infile");
    return 1;
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
    bool given = false;
    mysql_set_local_infile_handler(b, infile_init, infile_read, infile_end, infile_error, &given);
    if (mysql_query(b, "LOAD DATA LOCAL INFILE 'rows' INTO TABLE callback_rows"))
        problem(false, "load data", b);
    MYSQL *d = connected(false); /* at a cap of 2: reclaims C, the least recently used */
    if (mysql_query(d, "SELECT 1"))
        problem(false, "query D", d);
    else
        mysql_free_result(mysql_store_result(d));
    const char *v = NULL;
    MYSQL_RES *r = mysql_query(c, "SELECT @v") ? NULL : mysql_store_result(c);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!r)
        problem(false, "SELECT @v", c);
    else
        v = row && row[0] ? row[0] : "NULL";
    printf("v=%s\ncallback_errors=%ld\nerrors=%ld\nfirst_problem=%s\n", v ? v : "-",
           callback_errors, errors, first_problem);
    mysql_free_result(r);
    mysql_close(d);
    mysql_close(b);
    mysql_close(c);
    return errors || callback_errors ? 1 : 0;
}
