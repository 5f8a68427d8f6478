/* Threads: 64 threads connecting per request, closing their handles or never closing them, 100
 * requests each (15 when slow: valgrind), and for at least PSTEST_STORM_SECONDS when it is
 * set (longer storms): no errors, no session state seen by another request, no stall, and the
 * server never sees more than the shim's cap (20) at once. scripts/test --tsan runs the same
 * programs with the shim under ThreadSanitizer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "pstest.h"

#define CAP     20   /* POOLSHIM_MAX_PER_KEY's default */
#define THREADS "64" /* per storm */

/* Extra seconds a storm lasts at least (PSTEST_STORM_SECONDS; default none). */
static const char *storm_seconds(void)
{
    const char *s = getenv("PSTEST_STORM_SECONDS");
    return s && *s ? s : "0";
}

/* Runs thread_storm MODE with THREADS threads over TRANSPORT (NULL: socket) and checks it. */
static void storm(const char *mode, const char *transport)
{
    const char *per_thread = pstest_count(100, 15);
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_sampler *s = pstest_sampler_start();
    const char *argv[] = {"thread_storm",  mode,      THREADS, per_thread, "--seconds",
                          storm_seconds(), transport, NULL};
    /* the cap as a hard one: what this checks is that the pool holds it and reaps under a
     * storm (overflow is test_core's and test_reclaim's) */
    static const char *const env[] = {"POOLSHIM_OVERFLOW=0", NULL};
    pstest_result r = pstest_run(argv, env, true);
    long long peak = pstest_sampler_stop(s);
    long long opened = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    pstest_assert_ok(&r, mode);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "stale_state"), 0, "%s", r.out);
    cr_expect_geq(pstest_value_ll(&r, "requests"), atoll(THREADS) * atoll(per_thread), "%s", r.out);
    /* + the admin connection and the sampler's own */
    cr_expect_leq(peak, CAP + 2, "peak Threads_connected %lld\n%s", peak, r.out);
    cr_expect_leq(opened, CAP + 1, "%lld server connections for one key\n%s", opened, r.out);
    fprintf(stderr, "storm %s%s: %s requests, peak Threads_connected=%lld, Connections +%lld\n",
            mode, transport ? " tcp" : "", pstest_line_value(r.out, "requests"), peak, opened);
    pstest_result_free(&r);
}

Test(threads, connect_query_close_storm, .timeout = 600)
{
    storm("close", NULL);
}

Test(threads, connect_query_never_close_storm, .timeout = 600)
{
    storm("leak", NULL);
}

Test(threads, connect_query_close_storm_over_tcp, .timeout = 600)
{
    storm("close", "--tcp");
}
