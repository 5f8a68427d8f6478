/* reset_probe SCENARIO [--tcp]
 *
 * A legacy-style program for the session state COM_RESET_CONNECTION leaves behind (README
 * "What the reset covers"). It connects (handle A), records CONNECTION_ID(), changes the session
 * the SCENARIO's way and closes A; then connects again (handle B) with the same DSN and flags and
 * reads, as B's very first statement, what the scenario is about. Run it without and with the
 * shim: B must read the same (what a fresh connection reads).
 * Prints: reused=<1 when B got A's server connection> value=<what B read>.
 *
 * reset_probe pin-SCENARIO [--tcp]: the reaper's side. Handle A changes the session, then the
 * program resets its own session (mysql_reset_connection, which keeps that state), idles past
 * POOLSHIM_REAP_IDLE_MS while handle B connects and closes, and reads on A again.
 * Prints: value=<what A read at the end> id_same=<1 when A still has its server connection>.
 *
 * The users, role, procedure and tables named here are made by tests/integration/test_reset.c. */
#include "app_common.h"

#include <unistd.h>

typedef struct scenario {
    const char *name;
    const char *user, *password; /* NULL: the app user; "@admin": PSTEST_ADMIN_* */
    unsigned long flags;
    void (*dirty)(MYSQL *a);
    const char *(*check)(MYSQL *b);
} scenario;

static bool use_tcp;
static char out[1024];

/* "ok" or "err N" for SQL on M, every result of a multi-statement read and freed. */
static const char *outcome(MYSQL *m, const char *sql)
{
    static char r[32];
    int rc = mysql_query(m, sql);
    while (rc == 0) {
        mysql_free_result(mysql_store_result(m));
        rc = mysql_next_result(m);
    }
    if (rc > 0)
        snprintf(r, sizeof r, "err %u", mysql_errno(m));
    return rc > 0 ? r : "ok";
}

static void set_option(MYSQL *m, enum enum_mysql_set_option o)
{
    if (mysql_set_server_option(m, o))
        app_die(mysql_errno(m), "set_server_option: %s", mysql_error(m));
}

/* ---- roles (issue 9 item 3) ---------------------------------------------------------------- */

static void dirty_set_role(MYSQL *a)
{
    app_run(a, "SET ROLE reset_r1");
}
static void dirty_role_none(MYSQL *a)
{
    app_run(a, "SET ROLE NONE");
}
static void dirty_role_in_procedure(MYSQL *a)
{
    app_run(a, "CALL t.reset_setrole()");
}
static void dirty_role_immediate(MYSQL *a)
{
    app_run(a, "EXECUTE IMMEDIATE 'SET ROLE reset_r1'");
}
static void dirty_default_role(MYSQL *a)
{
    app_run(a, "SET DEFAULT ROLE reset_r1");
}
/* The current role and whether the role's table can be read. */
static const char *check_role(MYSQL *b)
{
    char *role = app_scalar(b, "SELECT CURRENT_ROLE()");
    const char *read = outcome(b, "SELECT COUNT(*) FROM reset_roledb.secret");
    snprintf(out, sizeof out, "role=%s read=%s", role, read);
    free(role);
    return out;
}

/* ---- server options (issue 9 item 2) ------------------------------------------------------- */

/* Both fill the victim table first: the check's second statement empties it when it runs. */
static void dirty_multi_on(MYSQL *a)
{
    app_run(a, "REPLACE INTO victim VALUES (1), (2), (3)");
    set_option(a, MYSQL_OPTION_MULTI_STATEMENTS_ON);
}
static void dirty_multi_off(MYSQL *a)
{
    app_run(a, "REPLACE INTO victim VALUES (1), (2), (3)");
    set_option(a, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
}
/* The injection of issue 9: does a second statement run, and did it delete anything? */
static const char *check_multi(MYSQL *b)
{
    const char *r = outcome(b, "SELECT id FROM victim WHERE id = 1; DELETE FROM victim");
    snprintf(out, sizeof out, "multi=%s", r);
    char *n = app_scalar(b, "SELECT COUNT(*) FROM victim");
    snprintf(out + strlen(out), sizeof out - strlen(out), " victim_rows=%s", n);
    free(n);
    return out;
}

/* ---- what a login sets and the reset drops --------------------------------------------------- */

static void dirty_nothing(MYSQL *a)
{
    (void)a;
}
static void dirty_timeouts(MYSQL *a)
{
    app_run(a, "SET wait_timeout = 77, sql_mode = 'ANSI'");
}
static const char *check_wait_timeout(MYSQL *b)
{
    char *v = app_scalar(b, "SELECT @@wait_timeout");
    snprintf(out, sizeof out, "wait_timeout=%s", v);
    free(v);
    return out;
}
static const char *check_sql_mode(MYSQL *b)
{
    char *v = app_scalar(b, "SELECT @@sql_mode");
    snprintf(out, sizeof out, "sql_mode=%s", v);
    free(v);
    return out;
}
static void dirty_init_connect_vars(MYSQL *a)
{
    app_run(a, "SET @ic = 0, @ic2 = 0");
}
static const char *check_init_connect(MYSQL *b)
{
    char *v = app_scalar(b, "SELECT CONCAT_WS('/', IFNULL(@ic, 'NULL'), IFNULL(@ic2, 'NULL'))");
    snprintf(out, sizeof out, "init_connect_vars=%s", v);
    free(v);
    return out;
}

/* ---- FOUND_ROWS and profiling --------------------------------------------------------------- */

static void dirty_found_rows(MYSQL *a)
{
    /* five rows counted, none sent: FOUND_ROWS() is 5 here, 0 or 1 in a fresh session */
    app_run(a, "SELECT SQL_CALC_FOUND_ROWS * FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL "
               "SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5) AS five LIMIT 0");
}
static const char *check_found_rows(MYSQL *b)
{
    char *v = app_scalar(b, "SELECT FOUND_ROWS()");
    snprintf(out, sizeof out, "found_rows=%s", v);
    free(v);
    return out;
}
static void dirty_profiling(MYSQL *a)
{
    app_run(a, "SET profiling = 1");
    app_run(a, "SELECT 'lease-a-statement'");
}
/* What SHOW PROFILES lists once B turns profiling on: only B's own statements. */
static const char *check_profiling(MYSQL *b)
{
    app_run(b, "SET profiling = 1");
    app_run(b, "SELECT 'lease-b-statement'");
    if (mysql_query(b, "SHOW PROFILES"))
        app_die(mysql_errno(b), "SHOW PROFILES: %s", mysql_error(b));
    MYSQL_RES *r = mysql_store_result(b);
    bool saw_a = false;
    for (MYSQL_ROW row; r && (row = mysql_fetch_row(r));)
        saw_a |= row[2] && strstr(row[2], "lease-a-statement");
    snprintf(out, sizeof out, "profiles=%llu saw_lease_a=%d",
             r ? (unsigned long long)mysql_num_rows(r) : 0ULL, saw_a);
    mysql_free_result(r);
    return out;
}

static const scenario scenarios[] = {
    {"set_role", NULL, NULL, 0, dirty_set_role, check_role},
    {"role_in_procedure", NULL, NULL, 0, dirty_role_in_procedure, check_role},
    {"role_execute_immediate", NULL, NULL, 0, dirty_role_immediate, check_role},
    {"role_none_with_default_role", "reset_dr", "drpw", 0, dirty_role_none, check_role},
    {"set_default_role", "reset_nd", "ndpw", 0, dirty_default_role, check_role},
    {"multi_statements_on", NULL, NULL, 0, dirty_multi_on, check_multi},
    {"multi_statements_off", NULL, NULL, CLIENT_MULTI_STATEMENTS, dirty_multi_off, check_multi},
    {"interactive", NULL, NULL, CLIENT_INTERACTIVE, dirty_timeouts, check_wait_timeout},
    {"ignore_space", NULL, NULL, CLIENT_IGNORE_SPACE, dirty_timeouts, check_sql_mode},
    {"init_connect", NULL, NULL, 0, dirty_init_connect_vars, check_init_connect},
    {"init_connect_multi_key", NULL, NULL, CLIENT_MULTI_STATEMENTS, dirty_init_connect_vars,
     check_init_connect},
    {"init_connect_exempt_admin", "@admin", NULL, 0, dirty_init_connect_vars, check_init_connect},
    {"found_rows", NULL, NULL, 0, dirty_found_rows, check_found_rows},
    {"profiling", NULL, NULL, 0, dirty_profiling, check_profiling},
    {"unchanged", NULL, NULL, 0, dirty_nothing, check_role},
};

/* Connects a new handle as SC's user with SC's flags. */
static MYSQL *open_handle(const scenario *sc)
{
    MYSQL *m = mysql_init(NULL);
    app_dsn d = app_user_dsn(use_tcp);
    if (sc->user && !strcmp(sc->user, "@admin")) {
        d.user = app_env("PSTEST_ADMIN_USER");
        d.password = app_env("PSTEST_ADMIN_PASSWORD");
    } else if (sc->user) {
        d.user = sc->user;
        d.password = sc->password;
    }
    if (!mysql_real_connect(m, d.host, d.user, d.password, d.db, d.port, d.socket, sc->flags))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* Lease A changes the session and closes; B reads first thing. */
static int probe_next_lease(const scenario *sc)
{
    MYSQL *a = open_handle(sc);
    char *id_a = app_scalar(a, "SELECT CONNECTION_ID()");
    sc->dirty(a);
    mysql_close(a);
    MYSQL *b = open_handle(sc);
    const char *v = sc->check(b);
    char *id_b = app_scalar(b, "SELECT CONNECTION_ID()");
    printf("reused=%d\nvalue=%s\n", !strcmp(id_a, id_b), v);
    mysql_close(b);
    free(id_a);
    free(id_b);
    return 0;
}

/* A changes the session, resets it itself, idles while B comes and goes, then reads. */
static int probe_pinned(const scenario *sc)
{
    MYSQL *a = open_handle(sc);
    char *id_a = app_scalar(a, "SELECT CONNECTION_ID()");
    sc->dirty(a);
    if (mysql_reset_connection(a))
        app_die(mysql_errno(a), "reset_connection: %s", mysql_error(a));
    usleep(1500 * 1000); /* past POOLSHIM_REAP_IDLE_MS (the test sets 1000) */
    MYSQL *b = open_handle(sc);
    app_run(b, "SELECT 1");
    mysql_close(b); /* housekeeping: reaps what is idle and reapable */
    const char *v = sc->check(a);
    char *id_now = app_scalar(a, "SELECT CONNECTION_ID()");
    printf("value=%s\nid_same=%d\n", v, !strcmp(id_a, id_now));
    mysql_close(a);
    free(id_a);
    free(id_now);
    return 0;
}

int main(int argc, char **argv)
{
    const scenario *sc = NULL;
    bool pin = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            use_tcp = true;
        const char *name = !strncmp(argv[i], "pin-", 4) ? argv[i] + 4 : argv[i];
        for (size_t j = 0; j < sizeof scenarios / sizeof *scenarios; j++)
            if (!strcmp(name, scenarios[j].name)) {
                sc = &scenarios[j];
                pin = name != argv[i];
            }
    }
    if (!sc)
        app_die(0, "usage: reset_probe [pin-]SCENARIO [--tcp]");
    return pin ? probe_pinned(sc) : probe_next_lease(sc);
}
