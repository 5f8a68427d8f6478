/* The counting code of scripts/bench (bench_connect round-trips), which reports round trips per
 * request from the server's own counters: what it prints must be exact, so that a count can be
 * asserted (speeds never are). Without the shim every request is one connection, one SELECT and
 * one COM_QUIT; with it no request connects, each still runs its SELECT, and everything else the
 * server counts is an admin command (the reset; none once a clean return costs nothing). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

/* Creates the bench's table (bench_connect setup, without the shim). */
static void bench_table(void)
{
    const char *argv[] = {"bench_connect", "setup", NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    pstest_assert_ok(&r, "bench_connect setup");
    pstest_result_free(&r);
}

/* Runs bench_connect round-trips over N point-SELECT requests (with the shim when PRELOAD) and
 * returns its output; the caller frees it. */
static pstest_result round_trips(const char *n, bool preload)
{
    const char *argv[] = {"bench_connect", "round-trips", "--point", "--ops", n, NULL};
    /* no re-verification (COM_CHANGE_USER + SELECT 1 once a second) in the middle of the count,
     * and no reap of the admin connection, idle while the requests run (slow under valgrind) */
    const char *env[] = {"POOLSHIM_REVERIFY_MS=3600000", "POOLSHIM_REAP_IDLE_MS=0", NULL};
    pstest_result r = pstest_run(argv, env, preload);
    pstest_assert_ok(&r, "bench_connect round-trips");
    cr_assert_str_eq(pstest_line_value(r.out, "requests"), n, "%s", r.out);
    return r;
}

/* KEY of R's output, which must be there. */
static double per_request(const pstest_result *r, const char *key)
{
    const char *v = pstest_line_value(r->out, key);
    cr_assert_not_null(v, "no %s in:\n%s", key, r->out);
    return atof(v);
}

Test(round_trips, counts_exactly_without_the_shim)
{
    bench_table();
    pstest_result r = round_trips(pstest_count(200, 50), false);
    cr_expect_eq(per_request(&r, "connections_per_request"), 1.0, "%s", r.out);
    cr_expect_eq(per_request(&r, "selects_per_request"), 1.0, "%s", r.out);
    /* the SELECT and the COM_QUIT, counted when the server reads it (after mysql_close) */
    cr_expect_eq(per_request(&r, "questions_per_request"), 2.0, "%s", r.out);
    cr_expect_eq(per_request(&r, "admin_commands_per_request"), 0.0, "%s", r.out);
    cr_expect_eq(per_request(&r, "change_db_per_request"), 0.0, "%s", r.out);
    pstest_result_free(&r);
}

Test(round_trips, counts_the_pooled_requests)
{
    bench_table();
    pstest_result r = round_trips(pstest_count(200, 50), true);
    cr_expect_eq(per_request(&r, "connections_per_request"), 0.0, "%s", r.out);
    cr_expect_eq(per_request(&r, "selects_per_request"), 1.0, "%s", r.out);
    cr_expect_eq(per_request(&r, "change_db_per_request"), 0.0, "%s", r.out);
    /* nothing but the program's own SELECT and admin commands (COM_RESET_CONNECTION counts in
     * both Questions and Com_admin_commands) */
    cr_expect_eq(per_request(&r, "questions_per_request"),
                 1.0 + per_request(&r, "admin_commands_per_request"), "%s", r.out);
    pstest_result_free(&r);
}
