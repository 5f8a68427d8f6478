/* Reaped handles whose session cannot be given back, and the diagnostics a program asks for
 * after a reap (issue 9 items 5 and 6). tests/apps/replay_probe.c runs each scenario without
 * the shim and with it (POOLSHIM_MAX_PER_KEY=1: the probe's second handle takes the first
 * one's connection when it can, and fails with 1040 at once when it cannot), and the two runs
 * are compared statement by statement:
 *  - item 5 (failed): the database a reaped handle was in is dropped or revoked before its
 *    next statement. The shim may fail where the program fails without it, and where it cannot
 *    know (2006, as if the server had dropped the session), but a statement that succeeds
 *    under the shim must give what it gives without it: never a count from another schema.
 *  - item 6 (diagnostics): FOUND_ROWS(), ROW_COUNT(), SHOW WARNINGS / ERRORS, GET DIAGNOSTICS,
 *    @@error_count and the session status counters read after a reap say what they say
 *    without the shim: the shim either replays the value (the reap shows in its reaped=
 *    counter) or keeps the handle (the second handle's connect fails with 1040, reaped=0).
 *  - limits: the differences README's limits name are measured. */
#include <criterion/criterion.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

/* The objects the probe uses, made again before every run (the scenarios drop and revoke). */
static const char *const fixtures[] = {
    "DROP DATABASE IF EXISTS rp_db2",
    "CREATE DATABASE rp_db2",
    "CREATE TABLE rp_db2.rp_t (x INT)",
    "INSERT INTO rp_db2.rp_t VALUES (1), (2), (3)",
    "CREATE OR REPLACE TABLE t.rp_t (x INT)",
    "INSERT INTO t.rp_t VALUES (1), (2), (3), (4), (5)",
    "CREATE OR REPLACE TABLE t.rp_rows (x INT)",
    "INSERT INTO t.rp_rows SELECT seq FROM t.seq_1_to_2500",
    "CREATE OR REPLACE TABLE t.rp_scratch (x INT)",
};

static void make_fixtures(void)
{
    MYSQL *admin = pstest_admin();
    pstest_exec_all(admin, fixtures, sizeof fixtures / sizeof *fixtures);
    const char *user = pstest_env("PSTEST_USER");
    pstest_exec(admin, "GRANT ALL ON rp_db2.* TO '%s'@'localhost', '%s'@'%%'", user, user);
    mysql_close(admin);
}

static void drop_fixtures(void)
{
    MYSQL *admin = pstest_admin();
    pstest_exec(admin, "DROP DATABASE IF EXISTS rp_db2");
    pstest_exec(admin, "DROP TABLE IF EXISTS t.rp_t, t.rp_rows, t.rp_scratch, t.rp_ddl");
    mysql_close(admin);
}

/* The two runs of a scenario. */
typedef struct runs {
    const char *scenario;
    pstest_result without, with;
} runs;

/* Runs replay_probe SCENARIO (with --reconnect when RECONNECT) without and with the shim, each
 * on fresh fixtures. */
static runs run_both(const char *scenario, bool reconnect)
{
    const char *argv[] = {"replay_probe", scenario, reconnect ? "--reconnect" : NULL, NULL};
    runs r = {.scenario = scenario};
    make_fixtures();
    r.without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&r.without, scenario);
    make_fixtures();
    r.with = pstest_run(argv, pstest_reaping_env, true);
    pstest_assert_ok(&r.with, scenario);
    return r;
}

static void free_runs(runs *r)
{
    pstest_result_free(&r->without);
    pstest_result_free(&r->with);
}

/* Expects KEY's line of RESULT (WHICH names the run) to read WANT. */
static void expect_line(const pstest_result *result, const char *which, const char *key,
                        const char *want)
{
    const char *got = pstest_line_value(result->out, key);
    cr_expect(got && !strcmp(got, want), "%s: %s=%s, expected %s\n%s\n%s", which, key,
              got ? got : "(none)", want, result->out, result->err);
}

/* Item 5's rule for every line KEYS names: where the shim's run succeeded (ok:...), the run
 * without the shim succeeded with the very same rows. */
static void never_succeeds_differently(const runs *r, const char *const keys[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = pstest_line_value(r->without.out, keys[i]);
        cr_assert_not_null(v, "%s: no %s= without the shim:\n%s", r->scenario, keys[i],
                           r->without.out);
        char *want = strdup(v);
        const char *got = pstest_line_value(r->with.out, keys[i]);
        cr_assert_not_null(got, "%s: no %s= with the shim:\n%s", r->scenario, keys[i], r->with.out);
        cr_expect(strncmp(got, "ok:", 3) != 0 || !strcmp(got, want),
                  "%s: %s succeeded with the shim as '%s', without it as '%s'\n%s\n%s", r->scenario,
                  keys[i], got, want, r->with.out, r->with.err);
        free(want);
    }
}

/* Expects the shim to have reaped the probe's first handle (its second handle connected). */
static void expect_reaped(const runs *r)
{
    cr_expect_geq(pstest_summary_sum(r->with.err, "reaped"), 1, "%s was not reaped:\n%s\n%s",
                  r->scenario, r->with.out, r->with.err);
    expect_line(&r->with, "with the shim", "b1", "0");
}

/* Expects the shim to have kept the probe's first handle (its second handle found the cap). */
static void expect_kept(const runs *r)
{
    cr_expect_eq(pstest_summary_sum(r->with.err, "reaped"), 0, "%s was reaped:\n%s\n%s",
                 r->scenario, r->with.out, r->with.err);
    char refused[16];
    snprintf(refused, sizeof refused, "%d", ER_CON_COUNT_ERROR);
    expect_line(&r->with, "with the shim", "b1", refused);
}

/* ---- item 5: a replay that fails ----------------------------------------------------------- */

TestSuite(failed, .fini = drop_fixtures, .timeout = 120);

static const char *const drop_keys[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"};

Test(failed, a_dropped_database_never_leaves_the_handle_in_another_one)
{
    runs r = run_both("drop_db", false);
    expect_reaped(&r);
    never_succeeds_differently(&r, drop_keys, 9);
    /* without the shim: the session keeps rp_db2 by name, its tables are gone */
    expect_line(&r.without, "without", "s2", "err:1146");
    expect_line(&r.without, "without", "s4", "ok:rp_db2");
    expect_line(&r.without, "without", "s7", "ok:2");
    /* with it: the replay's own error, then a session the server dropped, until closed */
    expect_line(&r.with, "with", "s2", "err:1049");
    expect_line(&r.with, "with", "s3", "err:2006");
    expect_line(&r.with, "with", "db", "rp_db2");
    expect_line(&r.with, "with", "s4", "err:2006");
    expect_line(&r.with, "with", "s6", "err:2006");
    expect_line(&r.with, "with", "s7", "err:2006");
    free_runs(&r);
}

Test(failed, with_auto_reconnect_each_command_tries_the_database_again)
{
    runs r = run_both("drop_db", true);
    expect_reaped(&r);
    never_succeeds_differently(&r, drop_keys, 9);
    expect_line(&r.with, "with", "s2", "err:1049");
    expect_line(&r.with, "with", "s3", "err:1049");
    expect_line(&r.with, "with", "db", "rp_db2");
    expect_line(&r.with, "with", "s5", "err:1049");
    /* rp_db2 is back: the handle gets a session in it again, as the library's reconnect would */
    expect_line(&r.with, "with", "s7", "ok:2");
    expect_line(&r.with, "with", "s8", "ok:rp_db2");
    cr_expect_geq(pstest_summary_sum(r.with.err, "renewed"), 1, "%s", r.with.err);
    free_runs(&r);
}

Test(failed, the_programs_own_reconnect_gets_a_session_in_its_database)
{
    runs r = run_both("drop_db_reconnect_call", true);
    expect_reaped(&r);
    const char *keys[] = {"s0", "s1", "s2", "r1", "s3", "s4"};
    never_succeeds_differently(&r, keys, 6);
    expect_line(&r.with, "with", "s2", "err:1049");
    const char *same[] = {"r1", "s3", "s4"};
    pstest_expect_same_values(&r.with, &r.without, same, 3);
    expect_line(&r.with, "with", "s4", "ok:rp_db2");
    free_runs(&r);
}

static const char *const revoke_keys[] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"};

Test(failed, a_revoked_database_never_leaves_the_handle_in_another_one)
{
    runs r = run_both("revoke_db", false);
    expect_reaped(&r);
    never_succeeds_differently(&r, revoke_keys, 9);
    /* without the shim: the session keeps the privileges it had when it selected rp_db2 */
    expect_line(&r.without, "without", "s2", "ok:3");
    expect_line(&r.without, "without", "s5", "ok:");
    /* with it: a new session is refused rp_db2 (1044), then the handle fails like a dropped one */
    expect_line(&r.with, "with", "s2", "err:1044");
    expect_line(&r.with, "with", "s3", "err:2006");
    expect_line(&r.with, "with", "db", "rp_db2");
    expect_line(&r.with, "with", "s5", "err:2006");
    expect_line(&r.with, "with", "s6", "err:2006");
    expect_line(&r.with, "with", "s8", "err:2006");
    free_runs(&r);
}

Test(failed, a_revoked_database_with_auto_reconnect_comes_back_with_the_grant)
{
    runs r = run_both("revoke_db", true);
    expect_reaped(&r);
    never_succeeds_differently(&r, revoke_keys, 9);
    expect_line(&r.with, "with", "s3", "err:1044");
    expect_line(&r.with, "with", "s7", "ok:rp_db2");
    expect_line(&r.with, "with", "s8", "ok:3");
    free_runs(&r);
}

Test(failed, the_control_a_kept_database_is_replayed)
{
    runs r = run_both("keep_db", false);
    expect_reaped(&r);
    const char *keys[] = {"s0", "s1", "s2", "s3", "db", "s4"};
    pstest_expect_same_values(&r.with, &r.without, keys, 6);
    free_runs(&r);
}

/* ---- item 6: diagnostics after a reap ------------------------------------------------------ */

TestSuite(diagnostics, .fini = drop_fixtures, .timeout = 120);

/* Runs SCENARIO both ways: every line in KEYS must read the same; REAPED: the shim must have
 * reaped (and replayed), else kept the handle. */
static void same_diagnostics(const char *scenario, const char *const keys[], size_t n, bool reaped)
{
    runs r = run_both(scenario, false);
    if (reaped)
        expect_reaped(&r);
    else
        expect_kept(&r);
    pstest_expect_same_values(&r.with, &r.without, keys, n);
    free_runs(&r);
}

Test(diagnostics, found_rows_after_a_plain_select_is_replayed)
{
    const char *keys[] = {"s1", "s2"};
    same_diagnostics("found_rows", keys, 2, true);
}

Test(diagnostics, found_rows_of_thousands_of_rows_is_replayed)
{
    const char *keys[] = {"s1", "s3"};
    same_diagnostics("found_rows_many", keys, 2, true);
}

Test(diagnostics, found_rows_of_an_empty_select_is_replayed)
{
    const char *keys[] = {"s1", "s2"};
    same_diagnostics("found_rows_none", keys, 2, true);
}

Test(diagnostics, row_count_after_ddl_is_replayed)
{
    const char *keys[] = {"s2", "s3"};
    same_diagnostics("row_count_ddl", keys, 2, true);
}

Test(diagnostics, an_error_keeps_the_handle_for_show_warnings)
{
    const char *keys[] = {"s1", "s2", "s3"};
    same_diagnostics("error_warnings", keys, 3, false);
}

Test(diagnostics, an_error_keeps_the_handle_for_get_diagnostics)
{
    const char *keys[] = {"s1", "s2", "s3"};
    same_diagnostics("error_diagnostics", keys, 3, false);
}

Test(diagnostics, a_failed_use_keeps_the_handle_for_show_errors)
{
    const char *keys[] = {"s1", "s2"};
    same_diagnostics("error_select_db", keys, 2, false);
}

Test(diagnostics, a_note_keeps_the_handle_for_show_warnings)
{
    const char *keys[] = {"s2"};
    same_diagnostics("warning_note", keys, 1, false);
}

Test(diagnostics, a_statement_with_a_table_after_an_error_frees_the_handle)
{
    const char *keys[] = {"s1", "s2", "s3"};
    same_diagnostics("error_then_table", keys, 3, true);
}

Test(diagnostics, a_program_that_reads_its_session_status_keeps_its_session)
{
    const char *keys[] = {"s1", "s4"};
    same_diagnostics("session_status", keys, 2, false);
}

Test(diagnostics, reading_session_status_from_information_schema_keeps_the_session)
{
    const char *keys[] = {"s1", "s3"};
    same_diagnostics("session_status_schema", keys, 2, false);
}

/* ---- limits (README "Reaping limits"), measured ------------------------------------------- */

TestSuite(limits, .fini = drop_fixtures, .timeout = 120);

Test(limits, row_count_after_a_row_changing_statement_is_not_replayed)
{
    runs r = run_both("row_count_dml", false);
    expect_reaped(&r);
    expect_line(&r.without, "without", "s3", "ok:2|3");
    expect_line(&r.with, "with", "s3", "ok:0|3"); /* FOUND_ROWS() replayed, ROW_COUNT() not */
    free_runs(&r);
}

Test(limits, an_error_followed_by_a_statement_without_tables_is_forgotten)
{
    runs r = run_both("error_then_tableless", false);
    expect_reaped(&r);
    expect_line(&r.without, "without", "s3", "ok:Error|1054|Unknown column 'nosuch' in 'SELECT'");
    expect_line(&r.with, "with", "s3", "ok:");
    free_runs(&r);
}
