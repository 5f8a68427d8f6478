/* Threads: 64 threads connecting per request, closing their handles or never closing them, for
 * a bounded time (PSTEST_STORM_SECONDS each, default 10): no errors, no session state seen by
 * another request, no stall, and the server never sees more than the shim's cap (20) at once.
 * scripts/test --tsan runs the same programs with the shim under ThreadSanitizer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "pstest.h"

#define CAP 20 /* POOLSHIM_MAX_PER_KEY's default */

/* Seconds each storm runs. */
static const char *storm_seconds(void)
{
    const char *s = getenv("PSTEST_STORM_SECONDS");
    return s && *s ? s : "10";
}

/* Runs thread_storm MODE with 64 threads over TRANSPORT (NULL: socket) and checks it. */
static void storm(const char *mode, const char *transport)
{
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_sampler *s = pstest_sampler_start();
    const char *argv[] = {"thread_storm", mode, "64", storm_seconds(), transport, NULL};
    pstest_result r = pstest_run(argv, NULL, true);
    long long peak = pstest_sampler_stop(s);
    long long opened = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    pstest_assert_ok(&r, mode);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "stale_state"), 0, "%s", r.out);
    cr_expect_gt(pstest_value_ll(&r, "requests"), 1000, "%s", r.out);
    /* + the admin connection and the sampler's own */
    cr_expect_leq(peak, CAP + 2, "peak Threads_connected %lld\n%s", peak, r.out);
    cr_expect_leq(opened, CAP + 1, "%lld server connections for one key\n%s", opened, r.out);
    fprintf(stderr, "storm %s%s: %s peak Threads_connected=%lld, Connections +%lld\n", mode,
            transport ? " tcp" : "", pstest_line_value(r.out, "requests"), peak, opened);
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
