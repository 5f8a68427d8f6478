/* Real-world drivers under the shim: Perl DBD::mysql and Python MySQLdb connect/disconnect in a
 * loop. With the shim their connections must be reused; without it every iteration is a new
 * server connection (which proves the assertion can fail). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

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
