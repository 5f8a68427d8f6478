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
 *   nonblock_probe --infile [--rounds N]
 * Each round: A starts a 4 MB query with mysql_real_query_start (its write suspends: A's send
 * buffer is made a few KB); B runs
 * LOAD DATA LOCAL INFILE, whose read callback drives A's query to its end with
 * mysql_real_query_cont (so A's send returns inside B's read, nested in the shim's view); A is
 * closed with its result unread, and B runs "SELECT 'b<i>'". Under ASan or valgrind a call of
 * A's left open past its close shows as a use after free.
 * Prints rounds, suspended (rounds whose query suspended), errors, wrong, first_problem. */
#include <poll.h>
#include <sys/socket.h>

#include "app_common.h"

static app_problems problems;
static long suspended;

/* Counts a problem in problems (see app_problem). */
static void problem(bool is_wrong, const char *what, MYSQL *m)
{
    app_problem(&problems, is_wrong, what, m);
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

/* The --infile round's state: A's handle and its suspended call, driven from B's callback. */
static MYSQL *infile_a;
static int infile_status, infile_err;

/* B's LOCAL INFILE read's first step: drives A's query to its end. */
static void drive_a(void)
{
    if (infile_status)
        infile_err = finish(infile_a, infile_status);
    infile_status = 0;
}

/* An --infile round (see the header); B is connected with LOCAL INFILE on. */
static void infile_round(MYSQL *b, const char *sql, unsigned long len, long i)
{
    MYSQL *a = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    if (!app_connect(a, &d) || mysql_options(a, MYSQL_OPT_NONBLOCK, 0)) {
        problem(false, "connect A", a);
        mysql_close(a);
        return;
    }
    /* a send buffer of a few KB: the 4 MB write fills it and suspends however fast the server
     * reads (with the default one a slow client, under TSan or valgrind, may never see it
     * full) */
    int fd = (int)mysql_get_socket(a), small = 4096;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small))
        problem(false, "SO_SNDBUF", a);
    app_infile file = {.before = drive_a};
    infile_a = a;
    infile_err = 0;
    app_infile_set(b, &file);
    infile_status = mysql_real_query_start(&infile_err, a, sql, len);
    if (infile_status)
        suspended++;
    if (mysql_query(b, "LOAD DATA LOCAL INFILE 'rows' INTO TABLE nonblock_rows"))
        problem(false, "load data", b);
    if (infile_status) /* the callback did not run: finish here */
        infile_err = finish(a, infile_status);
    if (infile_err)
        problem(false, "big query", a);
    mysql_close(a); /* its result unread */
    char tag[32], q[64];
    snprintf(tag, sizeof tag, "b%ld", i);
    snprintf(q, sizeof q, "SELECT '%s'", tag);
    if (mysql_query(b, q))
        problem(false, "query B", b);
    else
        result_is(b, 0, tag);
}

/* The --infile rounds. */
static void infile_rounds(long rounds)
{
    MYSQL *b = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    unsigned int on = 1;
    mysql_options(b, MYSQL_OPT_LOCAL_INFILE, &on);
    if (!app_connect(b, &d))
        app_die(mysql_errno(b), "connect B: %s", app_error(b));
    if (mysql_query(b, "CREATE TEMPORARY TABLE nonblock_rows (x INT)"))
        app_die(mysql_errno(b), "create: %s", app_error(b));
    size_t big = 4u << 20;
    char *sql = malloc(big + 64);
    if (!sql)
        app_die(0, "out of memory");
    int n = sprintf(sql, "SELECT LENGTH('");
    memset(sql + n, 'x', big);
    n += (int)big;
    n += sprintf(sql + n, "')");
    for (long i = 0; i < rounds; i++)
        infile_round(b, sql, (unsigned long)n, i);
    free(sql);
    mysql_close(b);
}

int main(int argc, char **argv)
{
    long rounds = 20;
    bool infile = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = app_long_arg("--rounds", argv[++i]);
        else if (!strcmp(argv[i], "--infile"))
            infile = true;
        else
            app_die(0, "usage: nonblock_probe [--infile] [--rounds N]");
    }
    if (infile) {
        infile_rounds(rounds);
    } else {
        MYSQL *a = mysql_init(NULL);
        app_dsn d = app_user_dsn(false);
        if (!app_connect(a, &d))
            app_die(mysql_errno(a), "connect: %s", app_error(a));
        if (mysql_options(a, MYSQL_OPT_NONBLOCK, 0))
            app_die(0, "MYSQL_OPT_NONBLOCK refused");
        for (long i = 0; i < rounds; i++)
            round_of(a, i);
        mysql_close(a);
    }
    printf("rounds=%ld\nsuspended=%ld\n", rounds, suspended);
    return app_report(&problems);
}
