/* What COM_RESET_CONNECTION leaves behind (README "What the reset covers", measured by
 * tests/apps/reset_audit): for each such kind of session state, tests/apps/reset_probe runs the
 * same program without and with the shim; the next lease must read exactly what a fresh
 * connection reads, and either reuse the connection (the shim restores the state) or not (the
 * shim closes connections it cannot restore). The reaper must never take such a session. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

/* Roles, users, a procedure and a table the probes use (idempotent; server defaults back). */
static void objects(void)
{
    MYSQL *a = pstest_admin();
    const char *app = pstest_env("PSTEST_USER");
    pstest_exec(a, "CREATE DATABASE IF NOT EXISTS reset_roledb");
    pstest_exec(a, "CREATE TABLE IF NOT EXISTS reset_roledb.secret (x INT)");
    pstest_exec(a, "CREATE ROLE IF NOT EXISTS reset_r1");
    pstest_exec(a, "GRANT SELECT ON reset_roledb.secret TO reset_r1");
    pstest_exec(a, "GRANT reset_r1 TO '%s'@'localhost', '%s'@'%%'", app, app);
    const char *users[][2] = {{"reset_dr", "drpw"}, {"reset_nd", "ndpw"}};
    for (int i = 0; i < 2; i++) {
        pstest_exec(a, "CREATE USER IF NOT EXISTS '%s'@'localhost' IDENTIFIED BY '%s'", users[i][0],
                    users[i][1]);
        pstest_exec(a, "GRANT ALL ON t.* TO '%s'@'localhost'", users[i][0]);
        pstest_exec(a, "GRANT reset_r1 TO '%s'@'localhost'", users[i][0]);
    }
    pstest_exec(a, "SET DEFAULT ROLE reset_r1 FOR 'reset_dr'@'localhost'");
    pstest_exec(a, "SET DEFAULT ROLE NONE FOR 'reset_nd'@'localhost'");
    pstest_exec(a, "CREATE OR REPLACE PROCEDURE t.reset_setrole() SQL SECURITY INVOKER "
                   "SET ROLE reset_r1");
    pstest_exec(a, "CREATE TABLE IF NOT EXISTS t.victim (id INT PRIMARY KEY)");
    pstest_exec(a, "SET GLOBAL init_connect = '', GLOBAL interactive_timeout = DEFAULT");
    mysql_close(a);
}

/* Undoes what a test changed server-wide (also when it failed). */
static void server_defaults(void)
{
    MYSQL *a = pstest_admin();
    pstest_exec(a, "SET GLOBAL init_connect = '', GLOBAL interactive_timeout = DEFAULT");
    pstest_exec(a, "SET DEFAULT ROLE NONE FOR 'reset_nd'@'localhost'");
    mysql_close(a);
}

/* Runs SQL as the admin user. */
static void admin_exec(const char *sql)
{
    MYSQL *a = pstest_admin();
    pstest_exec(a, "%s", sql);
    mysql_close(a);
}

/* A malloc'd copy of the KEY= line of R's output (fails the test when there is none). */
static char *line(const pstest_result *r, const char *key)
{
    const char *v = pstest_line_value(r->out, key);
    cr_assert_not_null(v, "no %s= line in:\n%s%s", key, r->out, r->err);
    return strdup(v);
}

/* SQL the admin runs before each run of a probe (the account's state a run changes); NULL:
 * none. Set by a test for its own runs. */
static const char *before_each_run;

/* Runs reset_probe SCENARIO (OPT may be NULL) without the shim, where its value must be FRESH
 * (NULL: not checked) and nothing is reused, then with the shim and ENV: the value must be the
 * same, and the connection reused when REUSED (else closed for real instead of parked). */
static void same_as_fresh(const char *scenario, const char *opt, const char *const env[],
                          bool reused, const char *fresh)
{
    const char *argv[] = {"reset_probe", scenario, opt, NULL};
    if (before_each_run)
        admin_exec(before_each_run);
    pstest_result without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&without, scenario);
    char *v0 = line(&without, "value"), *r0 = line(&without, "reused");
    cr_assert_str_eq(r0, "0", "%s: reused without the shim", scenario);
    if (fresh)
        cr_assert_str_eq(v0, fresh, "%s without the shim: the scenario does not hold", scenario);
    if (before_each_run)
        admin_exec(before_each_run);
    pstest_result with = pstest_run(argv, env, true);
    pstest_assert_ok(&with, scenario);
    char *v = line(&with, "value"), *r = line(&with, "reused");
    cr_expect_str_eq(v, v0, "%s%s%s: the next lease read '%s', a fresh connection '%s'\n%s",
                     scenario, opt ? " " : "", opt ? opt : "", v, v0, with.err);
    cr_expect_str_eq(r, reused ? "1" : "0", "%s: %s\n%s", scenario,
                     reused ? "the connection was not reused" : "the connection was reused",
                     with.err);
    free(v0), free(r0), free(v), free(r);
    pstest_result_free(&without);
    pstest_result_free(&with);
}

TestSuite(roles, .init = objects, .fini = server_defaults);
TestSuite(server_options, .init = objects, .fini = server_defaults);
TestSuite(login_state, .init = objects, .fini = server_defaults);
TestSuite(results, .init = objects, .fini = server_defaults);
TestSuite(reaping, .init = objects, .fini = server_defaults);

/* Issue 9 item 3. */
Test(roles, set_role_does_not_survive_close_and_reconnect)
{
    same_as_fresh("set_role", NULL, NULL, true, "role=NULL read=err 1142");
    same_as_fresh("set_role", "--tcp", NULL, true, "role=NULL read=err 1142");
}

Test(roles, set_role_none_does_not_survive_when_the_account_has_a_default_role)
{
    same_as_fresh("role_none_with_default_role", NULL, NULL, true, "role=reset_r1 read=ok");
}

Test(roles, set_role_inside_a_procedure_does_not_survive)
{
    same_as_fresh("role_in_procedure", NULL, NULL, true, "role=NULL read=err 1142");
}

Test(roles, set_role_by_execute_immediate_does_not_survive)
{
    same_as_fresh("role_execute_immediate", NULL, NULL, true, "role=NULL read=err 1142");
}

/* The account's new default role reaches only new logins: that connection is not parked. Each
 * run starts with an account without a default role. */
Test(roles, set_default_role_gives_the_next_connect_the_new_default)
{
    before_each_run = "SET DEFAULT ROLE NONE FOR 'reset_nd'@'localhost'";
    same_as_fresh("set_default_role", NULL, NULL, false, "role=reset_r1 read=ok");
    before_each_run = NULL;
}

/* Issue 9 item 2. */
Test(server_options, multi_statements_on_does_not_survive_close_and_reconnect)
{
    same_as_fresh("multi_statements_on", NULL, NULL, true, "multi=err 1064 victim_rows=3");
    same_as_fresh("multi_statements_on", "--tcp", NULL, true, "multi=err 1064 victim_rows=3");
}

Test(server_options, multi_statements_off_does_not_survive_into_a_multi_statement_key)
{
    same_as_fresh("multi_statements_off", NULL, NULL, true, "multi=ok victim_rows=0");
}

Test(login_state, client_interactive_keeps_interactive_timeout_as_wait_timeout)
{
    admin_exec("SET GLOBAL interactive_timeout = 1234");
    same_as_fresh("interactive", NULL, NULL, true, "wait_timeout=1234");
}

Test(login_state, client_ignore_space_keeps_ignore_space_in_sql_mode)
{
    same_as_fresh("ignore_space", NULL, NULL, true, NULL);
}

Test(login_state, the_servers_init_connect_runs_again)
{
    admin_exec("SET GLOBAL init_connect = 'SET @ic = 42'");
    same_as_fresh("init_connect", NULL, NULL, true, "init_connect_vars=42/NULL");
}

Test(login_state, a_multi_statement_init_connect_runs_again_on_both_kinds_of_keys)
{
    admin_exec("SET GLOBAL init_connect = 'SET @ic = 42; SET @ic2 = 43'");
    same_as_fresh("init_connect", NULL, NULL, true, "init_connect_vars=42/43");
    same_as_fresh("init_connect_multi_key", NULL, NULL, true, "init_connect_vars=42/43");
}

Test(login_state, init_connect_is_not_run_for_users_the_server_exempts)
{
    admin_exec("SET GLOBAL init_connect = 'SET @ic = 42'");
    same_as_fresh("init_connect_exempt_admin", NULL, NULL, true, "init_connect_vars=NULL/NULL");
}

/* True when V is a FOUND_ROWS() a new lease may read: never the 5 the previous lease counted.
 * What a fresh server session reads is not fixed: measured without the shim, 0 or 1 mostly,
 * and 2500 once — the server keeps a THD across connections in its thread cache, and with it
 * the last count of whatever connection ran on it before (so a fresh session can read another
 * program's count, or its predecessor's; the shim's lease must never read its predecessor's). */
static bool fresh_found_rows(const char *v)
{
    return !strncmp(v, "found_rows=", 11) && strcmp(v, "found_rows=5") != 0;
}

Test(results, found_rows_after_sql_calc_found_rows_does_not_survive)
{
    const char *argv[] = {"reset_probe", "found_rows", NULL};
    pstest_result without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&without, "found_rows");
    char *v0 = line(&without, "value");
    /* (reported, not asserted: a fresh session may even read 5, left on its THD by the probe's
     * first connection; the shim must do better than that, never worse) */
    fprintf(stderr, "found_rows: a fresh session without the shim read %s\n", v0);
    pstest_result with = pstest_run(argv, NULL, true);
    pstest_assert_ok(&with, "found_rows");
    char *v = line(&with, "value"), *r = line(&with, "reused");
    cr_expect(fresh_found_rows(v), "found_rows: the next lease read '%s'\n%s", v, with.err);
    cr_expect_str_eq(r, "1", "found_rows: the connection was not reused\n%s", with.err);
    free(v0), free(v), free(r);
    pstest_result_free(&without);
    pstest_result_free(&with);
}

/* No reset clears the profiling history: that connection is closed, not parked. */
Test(results, the_profiling_history_never_reaches_the_next_lease)
{
    same_as_fresh("profiling", NULL, NULL, false, NULL);
}

/* Runs reset_probe pin-SCENARIO without and with the shim (reaping after 1 s idle): the same
 * value at the end; with the shim, the handle kept its connection and nothing was reaped. */
static void never_reaped(const char *scenario)
{
    char arg[64];
    snprintf(arg, sizeof arg, "pin-%s", scenario);
    const char *argv[] = {"reset_probe", arg, NULL};
    const char *env[] = {"POOLSHIM_REAP_IDLE_MS=1000", "POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result without = pstest_run(argv, NULL, false), with = pstest_run(argv, env, true);
    pstest_assert_ok(&without, arg);
    pstest_assert_ok(&with, arg);
    char *v0 = line(&without, "value"), *v = line(&with, "value"), *same = line(&with, "id_same");
    cr_expect_str_eq(v, v0, "%s: read '%s', without the shim '%s'\n%s", arg, v, v0, with.err);
    cr_expect_str_eq(same, "1", "%s: the handle lost its connection\n%s", arg, with.err);
    const char *reaped = strstr(with.err, "reaped=");
    cr_assert_not_null(reaped, "no summary:\n%s", with.err);
    cr_expect_eq(atoll(reaped + 7), 0, "%s: reaped\n%s", arg, with.err);
    free(v0), free(v), free(same);
    pstest_result_free(&without);
    pstest_result_free(&with);
}

/* The program's own mysql_reset_connection keeps the role: the handle stays pinned. */
Test(reaping, a_handle_whose_role_was_set_is_never_reaped)
{
    never_reaped("set_role");
}

Test(reaping, a_handle_whose_server_options_changed_is_never_reaped)
{
    never_reaped("multi_statements_on");
}

/* Control: the same program with nothing left behind is reaped. */
Test(reaping, a_clean_handle_in_the_same_program_is_reaped)
{
    const char *argv[] = {"reset_probe", "pin-unchanged", NULL};
    const char *env[] = {"POOLSHIM_REAP_IDLE_MS=1000", "POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result with = pstest_run(argv, env, true);
    pstest_assert_ok(&with, "pin-unchanged");
    const char *reaped = strstr(with.err, "reaped=");
    cr_assert_not_null(reaped, "no summary:\n%s", with.err);
    cr_expect_geq(atoll(reaped + 7), 1, "the control was not reaped\n%s", with.err);
    pstest_result_free(&with);
}
