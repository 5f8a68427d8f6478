/* Limits derived from the server: the warning when the cap could take the server past 80 % of
 * max_connections, POOLSHIM_MAX_PER_KEY=auto, and the idle timeout and lifetime kept below a
 * small wait_timeout. Each test changes a global of the shared server (SET GLOBAL, ALTER USER)
 * and puts it back in its .fini. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

static long long saved_max_connections, saved_wait_timeout;

static void save_globals(void)
{
    MYSQL *admin = pstest_admin();
    saved_max_connections = pstest_query_ll(admin, "SELECT @@global.max_connections");
    saved_wait_timeout = pstest_query_ll(admin, "SELECT @@global.wait_timeout");
    mysql_close(admin);
}

/* Gives the app user's accounts (socket and TCP) a MAX_USER_CONNECTIONS of N (0: none). */
static void set_max_user_connections(MYSQL *admin, int n)
{
    const char *user = pstest_env("PSTEST_USER");
    pstest_exec(admin, "ALTER USER '%s'@'%%' WITH MAX_USER_CONNECTIONS %d", user, n);
    pstest_exec(admin, "ALTER USER '%s'@'localhost' WITH MAX_USER_CONNECTIONS %d", user, n);
}

static void restore_globals(void)
{
    MYSQL *admin = pstest_admin();
    pstest_exec(admin, "SET GLOBAL max_connections = %lld", saved_max_connections);
    pstest_exec(admin, "SET GLOBAL wait_timeout = %lld", saved_wait_timeout);
    set_max_user_connections(admin, 0);
    mysql_close(admin);
}

/* Runs SQL (printf-style) as the admin. */
static void admin_exec(const char *sql, long long value)
{
    MYSQL *admin = pstest_admin();
    pstest_exec(admin, sql, value);
    mysql_close(admin);
}

/* The integer after KEY= in the shim's summary line of ERR. */
static long long summary(const char *err, const char *key)
{
    const char *s = strstr(err, "summary:");
    cr_assert_not_null(s, "no summary in:\n%s", err);
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(s, pat);
    cr_assert_not_null(p, "no %s in the summary:\n%s", key, err);
    return atoll(p + strlen(pat));
}

TestSuite(server_limits, .init = save_globals, .fini = restore_globals);

Test(server_limits, a_cap_past_80_percent_of_max_connections_is_reported_once)
{
    admin_exec("SET GLOBAL max_connections = %lld", 20);
    const char *argv[] = {"querylog_probe", "idle", "0", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=17", NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "cap 17 of 20");
    const char *w = strstr(r.err, "POOLSHIM_MAX_PER_KEY=17 could take the server past 80 % of "
                                  "its max_connections (16 of 20)");
    cr_assert_not_null(w, "no warning:\n%s", r.err);
    cr_expect_null(strstr(strchr(w, '\n'), "could take the server"), "warned twice:\n%s", r.err);
    pstest_result_free(&r);

    const char *at16[] = {"POOLSHIM_MAX_PER_KEY=16", NULL}; /* 80 % exactly: fine */
    r = pstest_run(argv, at16, true);
    pstest_assert_ok(&r, "cap 16 of 20");
    cr_expect_null(strstr(r.err, "could take the server"), "%s", r.err);
    pstest_result_free(&r);
}

Test(server_limits, auto_caps_at_80_percent_of_max_connections_and_max_user_connections)
{
    admin_exec("SET GLOBAL max_connections = %lld", 20);
    const char *argv[] = {"leaky", "--dirty", "--requests", "30", "--max-errors", "1", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=auto", "POOLSHIM_WAIT_TIMEOUT_MS=0",
                         "POOLSHIM_OVERFLOW=0", "POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r = pstest_run(argv, env, true);
    cr_assert_neq(r.exit_code, 0, "the 17th connect should have failed:\n%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "ok"), 16, "%s", r.out);
    cr_expect(strstr(r.out, "all 16 connections of this process"), "%s", r.out);
    cr_expect(strstr(r.err, "max_connections=20 max_user_connections=0; cap 16 (auto)"), "%s",
              r.err);
    cr_expect_null(strstr(r.err, "could take the server"), "%s", r.err);
    pstest_result_free(&r);

    MYSQL *admin = pstest_admin();
    set_max_user_connections(admin, 5);
    mysql_close(admin);
    r = pstest_run(argv, env, true);
    cr_assert_neq(r.exit_code, 0, "the 6th connect should have failed:\n%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "ok"), 5, "%s", r.out);
    cr_expect(strstr(r.out, "all 5 connections of this process"), "%s", r.out);
    pstest_result_free(&r);
}

Test(server_limits, idle_timeout_and_lifetime_stay_below_a_small_wait_timeout)
{
    admin_exec("SET GLOBAL wait_timeout = %lld", 3);
    const char *env[] = {"POOLSHIM_LOG_LEVEL=info", NULL};
    /* parked, idle 2.5 s (past 3 s minus the margin, 2.25 s): not reused, closed */
    const char *idle[] = {"querylog_probe", "idle", "2500", NULL};
    pstest_result r = pstest_run(idle, env, true);
    pstest_assert_ok(&r, "idle 2.5 s");
    cr_expect(strstr(r.err, "wait_timeout=3 s") &&
                  strstr(r.err, "idle connections retired after 2250 ms, lifetime 2250 ms"),
              "%s", r.err);
    cr_expect_eq(summary(r.err, "connects"), 2, "%s", r.err);
    cr_expect_eq(summary(r.err, "reuses"), 0, "%s", r.err);
    pstest_result_free(&r);
    /* leased 2.5 s: past its lifetime at the close, closed instead of parked */
    const char *hold[] = {"querylog_probe", "hold", "2500", NULL};
    r = pstest_run(hold, env, true);
    pstest_assert_ok(&r, "hold 2.5 s");
    cr_expect_eq(summary(r.err, "parks"), 0, "%s", r.err);
    cr_expect_geq(summary(r.err, "expired"), 1, "%s", r.err);
    pstest_result_free(&r);

    /* the scenario: with the server's default wait_timeout both connections are kept */
    admin_exec("SET GLOBAL wait_timeout = %lld", saved_wait_timeout);
    r = pstest_run(idle, env, true);
    pstest_assert_ok(&r, "idle 2.5 s, default wait_timeout");
    cr_expect_eq(summary(r.err, "connects"), 1, "%s", r.err);
    pstest_result_free(&r);
    r = pstest_run(hold, env, true);
    pstest_assert_ok(&r, "hold 2.5 s, default wait_timeout");
    cr_expect_eq(summary(r.err, "parks"), 1, "%s", r.err);
    pstest_result_free(&r);
}
