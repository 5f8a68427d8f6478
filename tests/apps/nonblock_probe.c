/* nonblock_probe: a handle connected the blocking way, then switched to the non-blocking API
 * (MYSQL_OPT_NONBLOCK), whose query suspends inside its answer's read while the same thread
 * uses another handle.
 *
 *   nonblock_probe [--rounds N]
 * Each round: A starts "SELECT SLEEP(0.02), 'a<i>'" with mysql_real_query_start (it suspends:
 * the server answers after 20 ms); meanwhile the thread connects B, runs "SELECT 'b<i>'" and
 * closes it; then A's query is driven to its end with mysql_real_query_cont (poll on its
 * socket) and its result read. Under the shim B is pooled like any handle (its connect and
 * close are the program's own, not the library's); A's answers must be its own.
 * Prints rounds, suspended (rounds whose query suspended), errors, wrong, first_problem. */
#include <poll.h>

#include "app_common.h"

static long errors, wrong, suspended;
static char first_problem[512];

/* Counts a problem (WRONG or an error) and keeps the first one's text. */
static void problem(bool is_wrong, const char *what, MYSQL *m)
{
    if (!errors && !wrong)
        snprintf(first_problem, sizeof first_problem, "%s: %u %s", what, m ? mysql_errno(m) : 0,
                 m ? app_error(m) : "");
    if (is_wrong)
        wrong++;
    else
        errors++;
}

/* Counts M's first row wrong unless its column COL is WANT (M's result read and freed). */
static void result_is(MYSQL *m, unsigned col, const char *want)
{
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || mysql_num_fields(r) <= col || !row[col] || strcmp(row[col], want))
        problem(true, want, m);
    mysql_free_result(r);
}

/* B's part of a round: connect, "SELECT 'TAG'" read back, close. */
static void other_handle(const char *tag)
{
    MYSQL *b = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT '%s'", tag);
    if (!app_connect(b, &d))
        problem(false, "connect", b);
    else if (mysql_query(b, sql))
        problem(false, "query", b);
    else
        result_is(b, 0, tag);
    mysql_close(b);
}

/* Drives A's suspended call (STATUS: what it waits for) to its end; its return value. */
static int finish(MYSQL *a, int status)
{
    int err = 0;
    while (status) {
        struct pollfd p = {.fd = mysql_get_socket(a)};
        p.events =
            (status & MYSQL_WAIT_READ ? POLLIN : 0) | (status & MYSQL_WAIT_WRITE ? POLLOUT : 0);
        int n = poll(&p, 1, 5000);
        int ready = n > 0 ? (p.revents & POLLIN ? MYSQL_WAIT_READ : 0) |
                                (p.revents & POLLOUT ? MYSQL_WAIT_WRITE : 0)
                          : MYSQL_WAIT_TIMEOUT;
        status = mysql_real_query_cont(&err, a, ready);
    }
    return err;
}

static void round_of(MYSQL *a, long i)
{
    char sql[64], a_tag[32], b_tag[32];
    snprintf(a_tag, sizeof a_tag, "a%ld", i);
    snprintf(b_tag, sizeof b_tag, "b%ld", i);
    snprintf(sql, sizeof sql, "SELECT SLEEP(0.02), '%s'", a_tag);
    int err = 0;
    int status = mysql_real_query_start(&err, a, sql, (unsigned long)strlen(sql));
    if (status)
        suspended++;
    other_handle(b_tag);
    if (status)
        err = finish(a, status);
    if (err)
        problem(false, "real_query", a);
    else
        result_is(a, 1, a_tag);
}

int main(int argc, char **argv)
{
    long rounds = 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = app_long_arg("--rounds", argv[++i]);
        else
            app_die(0, "usage: nonblock_probe [--rounds N]");
    }
    MYSQL *a = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    if (!app_connect(a, &d))
        app_die(mysql_errno(a), "connect: %s", app_error(a));
    if (mysql_options(a, MYSQL_OPT_NONBLOCK, 0))
        app_die(0, "MYSQL_OPT_NONBLOCK refused");
    for (long i = 0; i < rounds; i++)
        round_of(a, i);
    mysql_close(a);
    printf("rounds=%ld\nsuspended=%ld\nerrors=%ld\nwrong=%ld\nfirst_problem=%s\n", rounds,
           suspended, errors, wrong, first_problem);
    return errors || wrong ? 1 : 0;
}
