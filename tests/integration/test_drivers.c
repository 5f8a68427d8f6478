/* Real-world drivers under the shim: Perl DBD::mysql and DBD::MariaDB, Python MySQLdb and Ruby
 * mysql2 connect/disconnect in a loop. With the shim their connections must be reused; without
 * it every iteration is a new server connection (which proves the assertion can fail). The same
 * drivers leaking their handles against a server that admits 50 connections must not run out.
 * DBD::MariaDB and mysql2 pass CLIENT_REMEMBER_OPTIONS on every connect, and DBD::MariaDB ends
 * the library (mysql_server_end) whenever its last handle closes: the library_end and
 * reconnect tests cover both in C, with the library's own auto-reconnect next to them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

#define ITERATIONS 500

/* Runs driver script SCRIPT (tests/drivers/...) with interpreter INTERP for ITERATIONS
 * iterations; asserts success and returns distinct_ids; *CONN_DELTA gets the server's
 * Connections delta. */
static long run_driver(const char *interp, const char *script, bool preload, long long *conn_delta)
{
    MYSQL *admin = pstest_admin();
    char path[4096], n[16];
    snprintf(path, sizeof path, "%s/tests/drivers/%s", PSTEST_SOURCE_DIR, script);
    snprintf(n, sizeof n, "%d", ITERATIONS);
    const char *argv[] = {interp, path, n, NULL};
    long long before = pstest_status(admin, "Connections");
    pstest_result r = pstest_run(argv, NULL, preload);
    *conn_delta = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    cr_assert_eq(r.exit_code, 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s", script, r.exit_code,
                 r.out, r.err);
    const char *errors = pstest_line_value(r.out, "errors");
    cr_assert(errors && atol(errors) == 0, "%s reported errors:\n%s", script, r.out);
    const char *ids = pstest_line_value(r.out, "distinct_ids");
    cr_assert_not_null(ids, "%s printed no distinct_ids:\n%s", script, r.out);
    long distinct = atol(ids);
    pstest_result_free(&r);
    return distinct;
}

/* Asserts that SCRIPT's connections were pooled under the shim. */
static void expect_pooled(const char *interp, const char *script)
{
    long long delta;
    long distinct = run_driver(interp, script, true, &delta);
    cr_expect_leq(delta, 5, "%s: server Connections grew by %lld over %d iterations", script, delta,
                  ITERATIONS);
    cr_expect_leq(distinct, 5, "%s: %ld distinct CONNECTION_ID()s over %d iterations", script,
                  distinct, ITERATIONS);
}

/* Asserts that without the shim every iteration was a new server connection. */
static void expect_unpooled(const char *interp, const char *script)
{
    long long delta;
    long distinct = run_driver(interp, script, false, &delta);
    cr_expect_eq(distinct, ITERATIONS, "%s without the shim: %ld distinct ids", script, distinct);
    cr_expect_geq(delta, ITERATIONS, "%s without the shim: Connections grew by %lld", script,
                  delta);
}

Test(drivers, perl_dbd_mysql_pooled)
{
    expect_pooled("perl", "dbd_loop.pl");
}

Test(drivers, perl_dbd_mysql_without_shim)
{
    expect_unpooled("perl", "dbd_loop.pl");
}

Test(drivers, python_mysqldb_pooled)
{
    expect_pooled("/usr/bin/python3", "mysqldb_loop.py");
}

Test(drivers, python_mysqldb_without_shim)
{
    expect_unpooled("/usr/bin/python3", "mysqldb_loop.py");
}

Test(drivers, perl_dbd_mariadb_pooled)
{
    expect_pooled("perl", "dbd_mariadb_loop.pl");
}

Test(drivers, perl_dbd_mariadb_without_shim)
{
    expect_unpooled("perl", "dbd_mariadb_loop.pl");
}

Test(drivers, ruby_mysql2_pooled)
{
    expect_pooled("ruby", "mysql2_loop.rb");
}

Test(drivers, ruby_mysql2_without_shim)
{
    expect_unpooled("ruby", "mysql2_loop.rb");
}

/* ---- leaks: handles never closed, against max_connections=50 -------------------------------- */

static void small_server(void)
{
    pstest_sandbox_start("--max-connections=50");
}

/* Runs SCRIPT with INTERP for 500 iterations in leak mode under the shim: no errors, at most the
 * shim's cap (20) of server connections made or open at once. */
static void driver_leaks(const char *interp, const char *script)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/drivers/%s", PSTEST_SOURCE_DIR, script);
    const char *argv[] = {interp, path, "500", "--leak", NULL};
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_sampler *s = pstest_sampler_start();
    pstest_result r = pstest_run(argv, NULL, true);
    long long peak = pstest_sampler_stop(s) - 2; /* the sampler's and the admin's */
    long long delta = pstest_status(admin, "Connections") - before - 1; /* the sampler's */
    mysql_close(admin);
    pstest_assert_ok(&r, script);
    cr_assert_eq(pstest_value_ll(&r, "errors"), 0, "%s", r.out);
    cr_assert_leq(peak, 20, "%s: peak Threads_connected %lld", script, peak);
    cr_assert_leq(delta, 20, "%s: Connections grew by %lld", script, delta);
    pstest_result_free(&r);
}

Test(driver_leaks, perl_dbd_mariadb_leaks_are_reclaimed, .init = small_server,
     .fini = pstest_sandbox_stop, .timeout = 120)
{
    driver_leaks("perl", "dbd_mariadb_loop.pl");
}

Test(driver_leaks, ruby_mysql2_leaks_are_reclaimed, .init = small_server,
     .fini = pstest_sandbox_stop, .timeout = 120)
{
    driver_leaks("ruby", "mysql2_loop.rb");
}

/* ---- mysql_library_end between connects (DBD::MariaDB's pattern) ----------------------------- */

/* Runs library_end_probe with ARG (NULL: the socket) for 5 rounds; asserts every round worked on
 * a clean session, over TLS where asked, and returns the number of server sessions used. */
static long library_end_rounds(const char *arg, bool preload)
{
    const char *argv[] = {"library_end_probe", "5", arg, NULL};
    pstest_result r = pstest_run(argv, NULL, preload);
    pstest_assert_ok(&r, "library_end_probe");
    cr_assert_eq(pstest_value_ll(&r, "ok"), 5, "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "stale_state"), 0, "%s", r.out);
    if (arg && !strcmp(arg, "--tls"))
        cr_assert_eq(pstest_value_ll(&r, "tls_ok"), 5, "%s", r.out);
    long distinct = (long)pstest_value_ll(&r, "distinct_ids");
    pstest_result_free(&r);
    return distinct;
}

Test(library_end, parked_connections_outlive_mysql_library_end, .timeout = 120)
{
    const char *variants[] = {NULL, "--tcp", "--tls"};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        const char *v = variants[i] ? variants[i] : "socket";
        cr_expect_eq(library_end_rounds(variants[i], true), 1,
                     "%s: the connection was not kept across mysql_library_end", v);
        cr_expect_eq(library_end_rounds(variants[i], false), 5, "%s without the shim", v);
    }
}

/* ---- the library's own reconnect, next to connects that pass CLIENT_REMEMBER_OPTIONS ----------
 */

/* Runs reconnect_probe with up to two flags under the shim (at debug level) or without it. */
static pstest_result reconnect_probe(const char *a1, const char *a2, bool preload)
{
    const char *argv[] = {"reconnect_probe", a1, a2, NULL};
    const char *env[] = {"POOLSHIM_LOG_LEVEL=debug", NULL};
    pstest_result r = pstest_run(argv, env, preload);
    pstest_assert_ok(&r, "reconnect_probe");
    return r;
}

/* Asserts that the library reconnected R's handle after the KILL, that the shim passed its
 * connect through (and said why at debug level) and that the lease followed: the reconnected
 * connection was parked at close and reused by the next connect. */
static void expect_reconnected_and_followed(const pstest_result *r)
{
    cr_expect_neq(pstest_value_ll(r, "id_after"), 0, "no reconnect\n%s", r->out);
    cr_expect_neq(pstest_value_ll(r, "id_after"), pstest_value_ll(r, "id_before"), "%s", r->out);
    cr_expect_eq(pstest_value_ll(r, "query_ok"), 1, "%s", r->out);
    cr_expect_eq(pstest_value_ll(r, "id_next"), pstest_value_ll(r, "id_after"),
                 "the reconnected connection was not parked and reused\n%s\n%s", r->out, r->err);
    cr_expect(strstr(r->err, "the client library's own reconnect"),
              "the reconnect's connect was not logged as passed through:\n%s", r->err);
}

Test(reconnect, connects_with_client_remember_options_are_pooled)
{
    pstest_result r = reconnect_probe("--remember", NULL, true);
    cr_expect_eq(pstest_value_ll(&r, "ping_rc"), 0, "%s", r.out);
    expect_reconnected_and_followed(&r);
    pstest_result_free(&r);
}

Test(reconnect, the_query_after_a_kill_reconnects_and_the_lease_follows)
{
    const char *const variants[][2] = {{"--query", NULL}, {"--query", "--remember"}};
    static const char *const keys[] = {"ping_rc", "ping_errno", "query_ok"};
    for (size_t i = 0; i < 2; i++) {
        pstest_result with = reconnect_probe(variants[i][0], variants[i][1], true);
        pstest_result without = reconnect_probe(variants[i][0], variants[i][1], false);
        pstest_expect_same_values(&with, &without, keys, 3);
        expect_reconnected_and_followed(&with);
        pstest_result_free(&with);
        pstest_result_free(&without);
    }
}
