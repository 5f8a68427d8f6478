/* Self-test of tests/support/pstest.c against the sandbox server (no shim involved). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pstest.h"

/* Queries, NULL handling and status counters on a real admin connection. */
Test(support, admin_queries)
{
    MYSQL *admin = pstest_admin();
    pstest_exec(admin, "DO %d", 1);
    cr_expect_eq(pstest_query_ll(admin, "SELECT %d + %d", 40, 2), 42);
    char *s = pstest_query_str(admin, "SELECT '%s'", "hello");
    cr_expect_str_eq(s, "hello");
    free(s);
    cr_expect_null(pstest_query_str(admin, "SELECT NULL"));
    cr_expect_gt(pstest_status(admin, "Connections"), 0);
    cr_expect_geq(pstest_status(admin, "Threads_connected"), 1);
    mysql_close(admin);
}

/* A C app runs unpreloaded, its key=value output is parsed, and the server saw its connections. */
Test(support, run_app_without_preload)
{
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    const char *argv[] = {"leaky", "--close", "--requests", "5", NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    cr_assert_eq(r.exit_code, 0, "leaky failed:\n%s%s", r.out, r.err);
    cr_expect_str_eq(pstest_line_value(r.out, "ok"), "5");
    cr_expect_str_eq(pstest_line_value(r.out, "errors"), "0");
    cr_expect_str_eq(pstest_line_value(r.out, "distinct_threads"), "5");
    cr_expect_str_eq(pstest_line_value(r.out, "first_error"), "");
    cr_expect_null(pstest_line_value(r.out, "nope"));
    cr_expect_geq(pstest_status(admin, "Connections") - before, 5);
    pstest_result_free(&r);
    mysql_close(admin);
}

/* An app error is reported through exit code 1 and an error= line. */
Test(support, run_app_error)
{
    const char *argv[] = {"leaky", "--requests", "2", NULL};
    const char *env[] = {"PSTEST_PASSWORD=wrong", NULL};
    pstest_result r = pstest_run(argv, env, false);
    cr_expect_eq(r.exit_code, 1);
    cr_expect_str_eq(pstest_line_value(r.out, "errors"), "2");
    const char *e = pstest_line_value(r.out, "error");
    cr_assert_not_null(e, "no error line in:\n%s", r.out);
    cr_expect(strncmp(e, "1045: ", 6) == 0, "unexpected error: %s", e);
    pstest_result_free(&r);
}

/* PATH lookup, env override, LD_PRELOAD removal, exit codes and both streams. */
Test(support, run_shell)
{
    setenv("LD_PRELOAD", "", 1); /* must not reach the child when preload is false */
    const char *argv[] = {"sh", "-c",
                          "echo out=$FOO; echo lp=${LD_PRELOAD-unset}; echo e >&2; exit 3", NULL};
    const char *env[] = {"FOO=bar", NULL};
    pstest_result r = pstest_run(argv, env, false);
    cr_expect_eq(r.exit_code, 3);
    cr_expect_str_eq(r.out, "out=bar\nlp=unset\n");
    cr_expect_str_eq(r.err, "e\n");
    pstest_result_free(&r);

    const char *argv2[] = {"sh", "-c", "echo lp=$LD_PRELOAD; kill -TERM $$", NULL};
    setenv("PSTEST_PRELOAD", "/nonexistent/libx.so", 1);
    r = pstest_run(argv2, NULL, true);
    cr_expect_eq(r.exit_code, 128 + 15);
    cr_expect_str_eq(pstest_line_value(r.out, "lp"), "/nonexistent/libx.so");
    pstest_result_free(&r);
}

/* PSTEST_WRAPPER prefixes C apps that load the shim only: with "false" as wrapper such an app
 * never runs; without the shim it runs unwrapped. */
Test(support, run_wrapper)
{
    setenv("PSTEST_WRAPPER", "env false", 1);
    const char *app[] = {"leaky", "--close", "--requests", "1", NULL};
    pstest_result r = pstest_run(app, NULL, true);
    cr_expect_eq(r.exit_code, 1);
    cr_expect_str_eq(r.out, "");
    pstest_result_free(&r);
    r = pstest_run(app, NULL, false);
    cr_expect_eq(r.exit_code, 0, "%s%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "ok"), 1, "%s", r.out);
    pstest_result_free(&r);
    const char *sh[] = {"sh", "-c", "exit 0", NULL};
    r = pstest_run(sh, NULL, false);
    cr_expect_eq(r.exit_code, 0);
    pstest_result_free(&r);
}

/* Output larger than a pipe buffer on both streams at once does not deadlock. */
Test(support, run_large_output)
{
    const char *argv[] = {"sh", "-c",
                          "head -c 300000 /dev/zero | tr '\\0' a; "
                          "head -c 200000 /dev/zero | tr '\\0' b >&2",
                          NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    cr_expect_eq(r.exit_code, 0);
    cr_expect_eq(strlen(r.out), 300000);
    cr_expect_eq(strlen(r.err), 200000);
    pstest_result_free(&r);
}

/* The sampler's background thread sees extra connections while they are held: they are closed
 * only after it has taken two more samples (not after a fixed sleep it might sleep through). */
Test(support, sampler_sees_peak)
{
    pstest_sampler *s = pstest_sampler_start();
    MYSQL *admin = pstest_admin();
    long long base = pstest_status(admin, "Threads_connected");
    MYSQL *extra[5];
    for (int i = 0; i < 5; i++)
        extra[i] = pstest_admin();
    pstest_sampler_wait(s, 2);
    for (int i = 0; i < 5; i++)
        mysql_close(extra[i]);
    long long peak = pstest_sampler_stop(s);
    cr_expect_geq(peak, base + 5, "peak %lld, baseline %lld", peak, base);
    mysql_close(admin);
}
