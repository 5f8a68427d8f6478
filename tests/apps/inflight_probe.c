/* inflight_probe: a handle with a command's answer still on the wire, as a program that sends
 * with mysql_send_query and reads later (or never) has.
 *
 *   inflight_probe reap|rows|stmt-close|close|use-free|multi|multi-use|reconnect-fail|
 *                  skip-read|skip-read-close [--rounds N]
 *     reap   each round: handle A sends "SELECT 'a<round>'" without reading the answer, handle B
 *            connects, runs "SELECT 'b<round>'" and closes, then A reads its answer and closes.
 *            Under the shim with POOLSHIM_MAX_PER_KEY=1 and POOLSHIM_REAP_MIN_IDLE_MS=0, B's
 *            connect looks for a handle to reap: A is idle, but must not be taken with its
 *            answer in flight.
 *     rows   as reap, but A's statement is a query whose answer's header was read and whose
 *            rows were not, with the handle showing ready: what mysql_store_result does before it
 *            reads the rows (it marks the handle ready, then allocates the result, where a
 *            thread can sleep on the allocator's lock); A then reads the rows as it would.
 *     stmt-close  as reap, but after the send A closes a prepared statement (COM_STMT_CLOSE,
 *            which the server does not answer: A's answer is still the one on the wire).
 *     close  each round: A sends "SELECT 'a<round>'" and closes without reading the answer (the
 *            connection must not be parked with it), then B connects and runs "SELECT 'b<round>'".
 *     use-free  each round: A reads the first row of a 1,000-row unbuffered result
 *            (mysql_use_result), frees the result (the library drains the other rows) and
 *            closes: the connection is parked (not closed for real), which the shim's summary
 *            shows.
 *     multi  as reap, but A (connected with CLIENT_MULTI_STATEMENTS) runs "SELECT 'a<round>';
 *            SELECT 'a<round>x'" and stores its first result only: the second is still on the
 *            wire, for mysql_next_result. A then reads it.
 *     multi-use  as multi, but A reads its first result unbuffered (mysql_use_result), takes
 *            one of its two rows and frees it early (the library drains the other through
 *            db_skip_result, whose status still says another result follows).
 *     reconnect-fail  as reap, but after the send A calls mariadb_reconnect, which fails
 *            without touching the connection (A has not set MYSQL_OPT_RECONNECT): A's answer is
 *            still the one on the wire.
 *     skip-read  as reap, but A sends with mysql_real_query while its
 *            MARIADB_OPT_SKIP_READ_RESPONSE option is set (the library sends and returns
 *            without reading), then clears the option; A reads its answer after B.
 *     skip-read-close  as close, but A sends as skip-read does.
 * Prints rounds, errors, wrong (an answer that was not the statement's own) and first_problem;
 * the same with and without the shim. */
#include "app_common.h"

static app_problems problems;

/* Counts a problem in problems (see app_problem). */
static void problem(bool is_wrong, const char *what, MYSQL *m)
{
    app_problem(&problems, is_wrong, what, m);
}

/* A connected handle (with client FLAGS), or NULL (counted). */
static MYSQL *open_handle_with(unsigned long flags)
{
    MYSQL *m = mysql_init(NULL);
    app_dsn d = app_user_dsn(false);
    if (mysql_real_connect(m, d.host, d.user, d.password, d.db, d.port, d.socket, flags))
        return m;
    problem(false, "connect", m);
    mysql_close(m);
    return NULL;
}

/* A connected handle, or NULL (counted). */
static MYSQL *open_handle(void)
{
    return open_handle_with(0);
}

/* Reads the answer of the SELECT that M sent, expecting WANT. */
static void read_answer(MYSQL *m, const char *want)
{
    if (mysql_read_query_result(m)) {
        problem(false, "read_query_result", m);
        return;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || mysql_num_fields(r) != 1 || !row[0] || strcmp(row[0], want))
        problem(true, want, m);
    mysql_free_result(r);
}

/* Sends "SELECT 'TAG'" on M without reading it; false (counted) when it could not be sent. */
static bool send_select(MYSQL *m, const char *tag)
{
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT '%s'", tag);
    if (!mysql_send_query(m, sql, (unsigned long)strlen(sql)))
        return true;
    problem(false, "send_query", m);
    return false;
}

/* Sends "SELECT 'TAG'" on M with mysql_real_query, the responses skipped (see the header);
 * false (counted) when it could not be sent. */
static bool send_skipping(MYSQL *m, const char *tag)
{
    char sql[64];
    my_bool on = 1, off = 0;
    snprintf(sql, sizeof sql, "SELECT '%s'", tag);
    mysql_optionsv(m, MARIADB_OPT_SKIP_READ_RESPONSE, &on);
    bool sent = !mysql_real_query(m, sql, (unsigned long)strlen(sql));
    mysql_optionsv(m, MARIADB_OPT_SKIP_READ_RESPONSE, &off);
    if (!sent)
        problem(false, "real_query", m);
    return sent;
}

/* B's part of a round: connect (with client FLAGS), "SELECT 'TAG'" read back, close. */
static void other_handle_with(unsigned long flags, const char *tag)
{
    MYSQL *b = open_handle_with(flags);
    if (b && send_select(b, tag))
        read_answer(b, tag);
    mysql_close(b);
}

/* other_handle_with, no flags. */
static void other_handle(const char *tag)
{
    other_handle_with(0, tag);
}

/* A's part of a rows round: "SELECT 'TAG'" sent and its header read, the handle shown ready
 * as mysql_store_result shows it before it reads the rows; false (counted) on failure. */
static bool header_read(MYSQL *a, const char *tag)
{
    if (!send_select(a, tag))
        return false;
    if (mysql_read_query_result(a)) {
        problem(false, "read_query_result", a);
        return false;
    }
    a->status = MYSQL_STATUS_READY;
    return true;
}

/* Reads M's current result (unbuffered when USE) and counts it wrong unless its first value is
 * WANT; frees it after that row (an unbuffered one's other rows drained by the library). */
static void result_is(MYSQL *m, const char *want, bool use)
{
    MYSQL_RES *r = use ? mysql_use_result(m) : mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || !row[0] || strcmp(row[0], want))
        problem(true, want, m);
    mysql_free_result(r);
}

/* The rest of a rows round: A reads its rows, as mysql_store_result goes on to. */
static void rows_read(MYSQL *a, const char *want)
{
    a->status = MYSQL_STATUS_GET_RESULT;
    result_is(a, want, false);
}

/* A prepared statement of A's, closed after A's send (none when it cannot be prepared:
 * counted). */
static MYSQL_STMT *prepared(MYSQL *a)
{
    MYSQL_STMT *s = mysql_stmt_init(a);
    if (s && !mysql_stmt_prepare(s, "SELECT 1", 8))
        return s;
    problem(false, "stmt_prepare", a);
    if (s)
        mysql_stmt_close(s);
    return NULL;
}

/* A use-free round: the first row of an unbuffered result, the result freed early, closed. */
static void use_free(void)
{
    MYSQL *a = open_handle();
    if (!a)
        return;
    MYSQL_RES *r = mysql_query(a, "SELECT seq FROM seq_1_to_1000") ? NULL : mysql_use_result(a);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || !row[0] || strcmp(row[0], "1"))
        problem(r != NULL, "use_result", a);
    mysql_free_result(r);
    mysql_close(a);
}

/* A multi round (see the header; USE: multi-use): A's second result read after B's connect and
 * close. */
static void multi(const char *a_tag, const char *b_tag, bool use)
{
    MYSQL *a = open_handle_with(CLIENT_MULTI_STATEMENTS);
    if (!a)
        return;
    char sql[160], second[40];
    snprintf(second, sizeof second, "%sx", a_tag);
    snprintf(sql, sizeof sql,
             use ? "SELECT '%s' UNION ALL SELECT 'z'; SELECT '%s'" : "SELECT '%s'; SELECT '%s'",
             a_tag, second);
    bool sent = !mysql_real_query(a, sql, (unsigned long)strlen(sql));
    if (sent)
        result_is(a, a_tag, use);
    else
        problem(false, "multi-statement", a);
    other_handle_with(CLIENT_MULTI_STATEMENTS, b_tag); /* A's key: A's connection if it could */
    if (sent && mysql_next_result(a) != 0)
        problem(false, "next_result", a);
    else if (sent)
        result_is(a, second, false);
    mysql_close(a);
}

static void round_of(const char *mode, long i)
{
    if (!strcmp(mode, "use-free")) {
        use_free();
        return;
    }
    char a_tag[32], b_tag[32];
    snprintf(a_tag, sizeof a_tag, "a%ld", i);
    snprintf(b_tag, sizeof b_tag, "b%ld", i);
    if (!strncmp(mode, "multi", 5)) {
        multi(a_tag, b_tag, !strcmp(mode, "multi-use"));
        return;
    }
    MYSQL *a = open_handle();
    if (!a)
        return;
    bool rows = !strcmp(mode, "rows"), skipping = !strncmp(mode, "skip-read", 9);
    MYSQL_STMT *stmt = !strcmp(mode, "stmt-close") ? prepared(a) : NULL;
    bool sent = rows       ? header_read(a, a_tag)
                : skipping ? send_skipping(a, a_tag)
                           : send_select(a, a_tag);
    if (stmt)
        mysql_stmt_close(stmt);
    if (sent && !strcmp(mode, "reconnect-fail") && !mariadb_reconnect(a))
        problem(false, "mariadb_reconnect succeeded without MYSQL_OPT_RECONNECT", a);
    if (!strcmp(mode, "close") || !strcmp(mode, "skip-read-close")) {
        mysql_close(a);
        other_handle(b_tag);
        return;
    }
    other_handle(b_tag);
    if (sent && rows)
        rows_read(a, a_tag);
    else if (sent)
        read_answer(a, a_tag);
    mysql_close(a);
}

int main(int argc, char **argv)
{
    long rounds = 20;
    static const char *const modes[] = {
        "reap",  "rows",      "stmt-close",     "close",     "use-free",
        "multi", "multi-use", "reconnect-fail", "skip-read", "skip-read-close"};
    bool known = false;
    for (size_t i = 0; argc >= 2 && i < sizeof modes / sizeof *modes; i++)
        known = known || !strcmp(argv[1], modes[i]);
    if (!known)
        app_die(0, "usage: inflight_probe reap|rows|stmt-close|close|use-free|multi|multi-use|"
                   "reconnect-fail|skip-read|skip-read-close [--rounds N]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = app_long_arg("--rounds", argv[++i]);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    for (long i = 0; i < rounds; i++)
        round_of(argv[1], i);
    printf("rounds=%ld\n", rounds);
    return app_report(&problems);
}
