/* bad_input SCENARIO
 *
 * Programs that misuse the client API, one per SCENARIO, printing what they observe as KEY=value
 * lines (return values, mysql_errno, mysql_sqlstate, mysql_error) so that a run under the shim can
 * be compared with a run without it. Keys starting with x_ hold values that differ between any
 * two runs (connection ids, address reuse) and are not for comparison. stdout is unbuffered and
 * each risky call is announced by a step= line, so a crash shows where it happened. Some
 * scenarios crash without the shim (the library dereferences NULL or freed memory); the exit
 * status is then the signal's. Scenarios: see the table at the end of this file. */
#include <unistd.h>

#include "app_common.h"

/* Prints KEY=<formatted value>. */
__attribute__((format(printf, 2, 3))) static void say(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s=", key);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* Prints WHAT_rc, WHAT_errno, WHAT_sqlstate and WHAT_error of a call on M that returned RC. */
static void report(const char *what, MYSQL *m, long rc)
{
    unsigned err = mysql_errno(m);
    const char *state = mysql_sqlstate(m), *msg = mysql_error(m);
    printf("%s_rc=%ld\n%s_errno=%u\n%s_sqlstate=%s\n%s_error=%s\n", what, rc, what, err, what,
           state, what, msg);
}

/* Connects M with the sandbox DSN (unix socket) and PASSWORD (NULL: the right one); reports the
 * outcome as WHAT. Returns true on success. */
static bool connect_as(MYSQL *m, const char *what, const char *password)
{
    app_dsn d = app_user_dsn(false);
    d.password = password ? password : d.password;
    bool ok = app_connect(m, &d) != NULL;
    report(what, m, ok);
    return ok;
}

/* Connects M or dies. */
static void must_connect(MYSQL *m)
{
    app_dsn d = app_user_dsn(false);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
}

/* Runs SELECT 1 on M (result read) and reports it as WHAT. */
static void select_1(MYSQL *m, const char *what)
{
    int rc = mysql_query(m, "SELECT 1");
    if (rc == 0)
        mysql_free_result(mysql_store_result(m));
    report(what, m, rc);
}

/* Prints x_<KEY>=CONNECTION_ID() of M (or 0 when it fails). */
static void print_id(MYSQL *m, const char *key)
{
    unsigned long id = 0;
    if (mysql_query(m, "SELECT CONNECTION_ID()") == 0) {
        MYSQL_RES *r = mysql_store_result(m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        id = row && row[0] ? strtoul(row[0], NULL, 10) : 0;
        mysql_free_result(r);
    }
    printf("x_%s=%lu\n", key, id);
}

static void close_null(void)
{
    say("step", "mysql_close(NULL)");
    mysql_close(NULL);
    say("close_null", "returned");
    say("step", "mysql_close_start(NULL)");
    say("close_start_null_rc", "%d", mysql_close_start(NULL));
}

static void getters_null(void)
{
    say("errno_null", "%u", mysql_errno(NULL));
    say("error_null", "%s", mysql_error(NULL));
    mysql_free_result(NULL);
    say("free_result_null", "returned");
}

static void connect_null(void)
{
    app_dsn d = app_user_dsn(false);
    say("step", "mysql_real_connect(NULL)");
    MYSQL *r = mysql_real_connect(NULL, d.host, d.user, d.password, d.db, d.port, d.socket, 0);
    say("returned_null", "%d", r == NULL);
}

static void connect_start_null(void)
{
    app_dsn d = app_user_dsn(false);
    MYSQL *r = NULL;
    say("step", "mysql_real_connect_start(NULL)");
    int rc =
        mysql_real_connect_start(&r, NULL, d.host, d.user, d.password, d.db, d.port, d.socket, 0);
    say("rc", "%d", rc);
}

static void select_db_null(void)
{
    say("step", "mysql_select_db(NULL)");
    say("rc", "%d", mysql_select_db(NULL, "t"));
}

static void change_user_null(void)
{
    say("step", "mysql_change_user(NULL)");
    say("rc", "%d", mysql_change_user(NULL, "app", "apppw", "t"));
}

static void reconnect_null(void)
{
    say("step", "mariadb_reconnect(NULL)");
    say("rc", "%d", mariadb_reconnect(NULL));
}

static void init_close_never_connected(void)
{
    MYSQL *h = mysql_init(NULL);
    mysql_close(h);
    say("heap_closed", "returned");
    MYSQL s;
    mysql_init(&s);
    mysql_close(&s);
    say("stack_closed", "returned");
    mysql_close(&s);
    say("stack_closed_again", "returned");
    mysql_init(&s); /* the same storage, initialised again: a new handle */
    if (connect_as(&s, "stack_reinit_connect", NULL))
        select_1(&s, "stack_reinit_select");
    mysql_close(&s);
}

static void failed_connect_then_close(void)
{
    MYSQL *h = mysql_init(NULL);
    connect_as(h, "heap_connect", "wrong");
    mysql_close(h);
    say("heap_closed", "returned");
    MYSQL s;
    mysql_init(&s);
    connect_as(&s, "stack_connect", "wrong");
    mysql_close(&s);
    mysql_close(&s);
    say("stack_closed_twice", "returned");
    h = mysql_init(NULL); /* retry on the same handle, as connect loops do */
    connect_as(h, "retry_wrong", "wrong");
    if (connect_as(h, "retry_right", NULL))
        select_1(h, "retry_select");
    mysql_close(h);
}

static void double_close_stack(void)
{
    MYSQL s;
    mysql_init(&s);
    must_connect(&s);
    select_1(&s, "select");
    mysql_close(&s);
    say("step", "second mysql_close");
    mysql_close(&s);
    say("second_close", "returned");
    select_1(&s, "after");
}

static void double_close_heap(void)
{
    MYSQL *h = mysql_init(NULL);
    must_connect(h);
    select_1(h, "select");
    mysql_close(h);
    say("step", "second mysql_close");
    mysql_close(h);
    say("second_close", "returned");
    MYSQL *n = mysql_init(NULL); /* the program goes on */
    if (connect_as(n, "next_connect", NULL))
        select_1(n, "next_select");
    mysql_close(n);
}

static void double_close_heap_never_connected(void)
{
    MYSQL *h = mysql_init(NULL);
    mysql_close(h);
    say("step", "second mysql_close");
    mysql_close(h);
    say("second_close", "returned");
}

/* Closes a connected heap handle, then reuses its address the ways a program legitimately can:
 * a new handle from mysql_init(NULL), its own storage initialised with mysql_init, a copy of an
 * initialised MYSQL struct that it connects. None of the closes that follow may be taken for a
 * double close. x_*_reused says whether malloc did hand out the closed handle's address again. */
static void closed_heap_address_reused(void)
{
    MYSQL *a = mysql_init(NULL);
    must_connect(a);
    mysql_close(a);
    MYSQL *b = mysql_init(NULL);
    say("x_heap_reused", "%d", a == b);
    mysql_close(b); /* never connected: closed for real, freed */
    say("heap_closed", "returned");

    MYSQL *c = mysql_init(NULL);
    must_connect(c);
    mysql_close(c);
    MYSQL *own = malloc(sizeof *own);
    say("x_own_reused", "%d", own == c);
    mysql_init(own);
    mysql_close(own);
    say("own_closed", "returned");
    mysql_init(own);
    if (connect_as(own, "own_connect", NULL))
        select_1(own, "own_select");
    mysql_close(own);
    free(own);

    MYSQL *d = mysql_init(NULL), tmpl;
    must_connect(d);
    mysql_close(d);
    MYSQL *copy = malloc(sizeof *copy); /* before mysql_init: its allocations may take D's */
    say("x_copy_reused", "%d", copy == d);
    mysql_init(&tmpl);
    *copy = tmpl; /* the program's copy replaces TMPL, which is not used again */
    if (connect_as(copy, "copy_connect", NULL))
        select_1(copy, "copy_select");
    mysql_close(copy);
    free(copy);
    say("copy_closed", "returned");
}

static void ops_on_closed_stack_handle(void)
{
    MYSQL s;
    mysql_init(&s);
    must_connect(&s);
    select_1(&s, "select");
    mysql_close(&s);
    say("closed_sqlstate", "%s", mysql_sqlstate(&s));
    say("closed_affected_rows", "%lld", (long long)mysql_affected_rows(&s));
    say("closed_proto_info", "%u", mysql_get_proto_info(&s));
    select_1(&s, "query");
    report("ping", &s, mysql_ping(&s));
    report("select_db", &s, mysql_select_db(&s, "t"));
    report("reset", &s, mysql_reset_connection(&s));
    mysql_close(&s);
    say("closed_again", "returned");
}

static void change_user_on_closed_stack_handle(void)
{
    MYSQL s;
    mysql_init(&s);
    must_connect(&s);
    mysql_close(&s);
    say("step", "mysql_change_user on the closed handle");
    report("change_user", &s, mysql_change_user(&s, "app", "apppw", "t"));
    mysql_close(&s);
}

static void change_user_never_connected(void)
{
    MYSQL s;
    mysql_init(&s);
    say("step", "mysql_change_user on a never connected handle");
    report("change_user", &s, mysql_change_user(&s, "app", "apppw", "t"));
    mysql_close(&s);
}

/* Run with POOLSHIM_MAX_PER_KEY=1: B's connect at the cap reaps idle handle A; then A is used
 * again (and must get a connection back by reaping B), then B. */
static void use_after_reap(void)
{
    MYSQL *a = mysql_init(NULL), *b = mysql_init(NULL);
    must_connect(a);
    select_1(a, "a_select");
    print_id(a, "a_id_before");
    usleep(100 * 1000); /* idle past a small POOLSHIM_REAP_IDLE_MS */
    connect_as(b, "b_connect", NULL);
    print_id(b, "b_id");
    select_1(a, "a_after_reap");
    print_id(a, "a_id_after");
    report("a_ping", a, mysql_ping(a));
    report("a_select_db", a, mysql_select_db(a, "t"));
    report("a_change_user", a, mysql_change_user(a, "app", "apppw", "t"));
    select_1(a, "a_after_change_user");
    select_1(b, "b_again");
    mysql_close(a);
    mysql_close(b);
    say("closed", "returned");
}

/* Run with POOLSHIM_MAX_PER_KEY=1: A is reaped by B's connect, then closed twice. */
static void double_close_after_reap(void)
{
    MYSQL *a = mysql_init(NULL), *b = mysql_init(NULL);
    must_connect(a);
    select_1(a, "a_select");
    connect_as(b, "b_connect", NULL);
    mysql_close(a);
    say("step", "second mysql_close of the reaped handle");
    mysql_close(a);
    say("second_close", "returned");
    select_1(b, "b_select");
    mysql_close(b);
}

static void connect_after_library_end(void)
{
    MYSQL *h = mysql_init(NULL);
    must_connect(h);
    select_1(h, "first_select");
    mysql_close(h);
    mysql_library_end();
    say("library_end", "returned");
    h = mysql_init(NULL);
    if (connect_as(h, "second_connect", NULL))
        select_1(h, "second_select");
    mysql_close(h);
}

typedef struct scenario {
    const char *name;
    void (*run)(void);
} scenario;

static const scenario scenarios[] = {
    {"close_null", close_null},
    {"getters_null", getters_null},
    {"connect_null", connect_null},
    {"connect_start_null", connect_start_null},
    {"select_db_null", select_db_null},
    {"change_user_null", change_user_null},
    {"reconnect_null", reconnect_null},
    {"init_close_never_connected", init_close_never_connected},
    {"failed_connect_then_close", failed_connect_then_close},
    {"double_close_stack", double_close_stack},
    {"double_close_heap", double_close_heap},
    {"double_close_heap_never_connected", double_close_heap_never_connected},
    {"closed_heap_address_reused", closed_heap_address_reused},
    {"ops_on_closed_stack_handle", ops_on_closed_stack_handle},
    {"change_user_on_closed_stack_handle", change_user_on_closed_stack_handle},
    {"change_user_never_connected", change_user_never_connected},
    {"use_after_reap", use_after_reap},
    {"double_close_after_reap", double_close_after_reap},
    {"connect_after_library_end", connect_after_library_end},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    for (size_t i = 0; argc == 2 && i < sizeof scenarios / sizeof *scenarios; i++) {
        if (!strcmp(argv[1], scenarios[i].name)) {
            scenarios[i].run();
            say("done", "1");
            return 0;
        }
    }
    app_die(0, "usage: bad_input SCENARIO (see the scenario table in tests/apps/bad_input.c)");
}
