/* TLS: connect-per-request over TLS is pooled like plain TCP. The TLS session moves with the
 * connection into each program handle (its back-pointer to the handle is fixed up), nothing of
 * one request's session reaches the next, and the library's TLS error paths report on the
 * program's own handle (valgrind/ASan runs would catch a stale pointer). */
#include <criterion/criterion.h>

#include "pstest.h"

/* Runs tls_probe with ARGS under the shim or not; asserts it succeeded. */
static pstest_result tls_probe(const char *a1, const char *a2, bool preload)
{
    const char *argv[] = {"tls_probe", a1, a2, NULL};
    pstest_result r = pstest_run(argv, NULL, preload);
    pstest_assert_ok(&r, a1);
    return r;
}

Test(tls, tls_connections_are_reused_with_clean_sessions, .timeout = 120)
{
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_result r = tls_probe("reuse", "200", true);
    long long opened = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    cr_expect_eq(pstest_value_ll(&r, "tls_ok"), 200, "not every request ran over TLS\n%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "stale_state"), 0, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "distinct_ids"), 1, "%s\n%s", r.out, r.err);
    cr_expect_leq(opened, 1, "%lld server connections for 200 TLS requests", opened);
    pstest_result_free(&r);
}

Test(tls, without_the_shim_every_tls_request_is_a_new_session, .timeout = 120)
{
    pstest_result r = tls_probe("reuse", "50", false);
    cr_expect_eq(pstest_value_ll(&r, "tls_ok"), 50, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "distinct_ids"), 50, "%s", r.out);
    pstest_result_free(&r);
}

Test(tls, tls_error_on_a_reused_connection_reaches_the_program_handle, .timeout = 60)
{
    static const char *const keys[] = {"query_rc", "errno", "error", "reconnect_ok"};
    pstest_result plain = tls_probe("killed", NULL, false);
    pstest_result r = tls_probe("killed", NULL, true);
    pstest_expect_same_values(&r, &plain, keys, sizeof keys / sizeof *keys);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}
