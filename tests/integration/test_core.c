/* The pool core end to end: legacy C programs run under LD_PRELOAD against the sandbox server,
 * asserted the way a DBA sees it (Connections, Threads_connected, Aborted_clients) and the way
 * the program sees it (results, errors, session state). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pstest.h"

/* Runs app ARGV with the shim (PRELOAD) and extra ENV; returns the result. */
static pstest_result run_app(const char *const argv[], const char *const env[], bool preload)
{
    return pstest_run(argv, env, preload);
}

/* Runs ARGV under the shim and returns how much the server's Connections grew. */
static long long connections_during(const char *const argv[], const char *const env[],
                                    pstest_result *out)
{
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    *out = run_app(argv, env, true);
    long long after = pstest_status(admin, "Connections");
    mysql_close(admin);
    return after - before;
}

static const char *const scenarios[] = {
    "user_var",   "temp_table",   "session_var",    "sql_prepare", "open_txn",
    "autocommit", "use_db",       "select_db",      "set_names",   "lock_tables",
    "get_lock",   "init_command", "last_insert_id", "stmt"};

/* Runs every scenario of session_probe with the transport/storage option OPT (or NULL). */
static void probe_all(const char *opt)
{
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        const char *argv[] = {"session_probe", scenarios[i], opt, NULL};
        pstest_result r = run_app(argv, NULL, true);
        pstest_assert_ok(&r, scenarios[i]);
        cr_assert_str_eq(pstest_line_value(r.out, "clean"), "1", "%s: %s", scenarios[i], r.out);
        cr_assert_str_eq(pstest_line_value(r.out, "reused"), "1",
                         "%s: the connection was not reused\n%s", scenarios[i], r.out);
        pstest_result_free(&r);
    }
}

Test(state, no_session_state_crosses_a_lease_over_the_socket)
{
    probe_all(NULL);
}

/* Not under valgrind (pstest_slow): the same client code as over the socket, whose memory the
 * socket run checks; the plain, ASan and TSan runs cover TCP. */
Test(state, no_session_state_crosses_a_lease_over_tcp)
{
    if (pstest_slow())
        cr_skip_test("valgrind: the socket run checks the same code's memory");
    probe_all("--tcp");
}

Test(state, no_session_state_crosses_a_lease_with_stack_handles)
{
    probe_all("--stack");
}

Test(state, without_the_shim_nothing_is_reused)
{
    const char *argv[] = {"session_probe", "user_var", NULL};
    pstest_result r = run_app(argv, NULL, false);
    pstest_assert_ok(&r, "session_probe without shim");
    cr_assert_str_eq(pstest_line_value(r.out, "reused"), "0", "%s", r.out);
    pstest_result_free(&r);
}

/* 10,000 connect/SELECT/close requests (500 when slow: valgrind, where each request is a
 * memory check, not a count): the server sees at most the pool size. */
static void loop_requests(const char *opt)
{
    const char *n = pstest_count(10000, 500);
    const char *argv[] = {"connect_loop", "--n", n, opt, NULL};
    pstest_result r;
    MYSQL *admin = pstest_admin();
    long long aborted = pstest_status(admin, "Aborted_clients");
    long long delta = connections_during(argv, NULL, &r);
    pstest_assert_ok(&r, "connect_loop");
    cr_assert_eq(pstest_value_ll(&r, "requests"), atoll(n));
    cr_assert_leq(delta, 20, "Connections grew by %lld for %s requests", delta, n);
    cr_assert_eq(pstest_status(admin, "Aborted_clients"), aborted,
                 "parked connections were not closed politely at exit");
    mysql_close(admin);
    pstest_result_free(&r);
}

Test(loop, connect_per_request_heap_handles_socket)
{
    loop_requests(NULL);
}

Test(loop, connect_per_request_stack_handles)
{
    loop_requests("--stack");
}

Test(loop, connect_per_request_tcp)
{
    loop_requests("--tcp");
}

Test(loop, threads_and_two_users_never_share_a_connection)
{
    const char *n = pstest_count(500, 100); /* per thread (valgrind: 100) */
    const char *argv[] = {"connect_loop",      "--n",   n,   "--threads", "8",
                          "--alternate-users", "--tcp", NULL};
    pstest_result r;
    long long delta = connections_during(argv, NULL, &r);
    pstest_assert_ok(&r, "connect_loop threads");
    cr_assert_eq(pstest_value_ll(&r, "requests"), 8 * atoll(n));
    cr_assert_eq(pstest_value_ll(&r, "wrong_user"), 0, "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "shared_ids"), 0, "a connection served two users\n%s", r.out);
    cr_assert_leq(delta, 2 * 20, "Connections grew by %lld", delta);
    pstest_result_free(&r);
}

/* nonblock_probe: a handle switched to the non-blocking API suspends inside its query's read
 * (mysql_real_query_start) 20 times while the same thread connects, queries and closes
 * another handle: those connects are the program's own and pooled (1 server connection for
 * them, 19 reuses), every answer its own, as without the shim. Mutation with the thread's
 * nesting depth raised across the suspension (before the fix): 20 server connections, 0
 * reuses (every such connect and close passed through). */
Test(loop, a_suspended_non_blocking_read_leaves_the_threads_other_handles_pooled)
{
    const char *argv[] = {"nonblock_probe", "--rounds", "20", NULL};
    pstest_result without = run_app(argv, NULL, false);
    pstest_assert_ok(&without, "nonblock_probe without the shim");
    cr_expect_eq(pstest_value_ll(&without, "suspended"), 20, "%s", without.out);
    pstest_result_free(&without);
    static const char *const env[] = {"POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r;
    long long delta = connections_during(argv, env, &r);
    pstest_assert_ok(&r, "nonblock_probe");
    cr_expect_eq(pstest_value_ll(&r, "suspended"), 20, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "wrong"), 0, "%s", r.out);
    cr_expect_eq(pstest_summary_sum(r.err, "reuses"), 19, "%s", r.err);
    cr_expect_eq(delta, 2, "A's connection and one for B's 20 connects: %lld\n%s", delta, r.err);
    pstest_result_free(&r);
}

/* nonblock_probe --infile: a non-blocking query's send resumed, and its answer read, from
 * inside another handle's LOAD DATA LOCAL INFILE callback (nested in the shim's view), then
 * its handle closed with the result unread, then a query on the other handle: every answer
 * its own, as without the shim. Mutation with the query's call deferred at any depth and
 * not ended at the close's entry: a use after free of the closed handle's lease under ASan
 * and valgrind (either fix alone passes). */
Test(loop, a_non_blocking_query_driven_from_another_handles_read_ends_its_own_call)
{
    const char *argv[] = {"nonblock_probe", "--infile", "--rounds", "3", NULL};
    pstest_result without = run_app(argv, NULL, false);
    pstest_assert_ok(&without, "nonblock_probe --infile without the shim");
    cr_expect_eq(pstest_value_ll(&without, "suspended"), 3, "%s", without.out);
    pstest_result_free(&without);
    pstest_result r = run_app(argv, NULL, true);
    pstest_assert_ok(&r, "nonblock_probe --infile");
    cr_expect_eq(pstest_value_ll(&r, "suspended"), 3, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "wrong"), 0, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s", r.out);
    pstest_result_free(&r);
}

/* callback_probe: a statement the program runs on handle C from inside the library's LOAD DATA
 * LOCAL INFILE callback on handle B ("SET @v = 42") is the program's own: C's session keeps
 * @v across the reap of C that D's connect makes at POOLSHIM_MAX_PER_KEY=2 (v = 42, as without
 * the shim). Mutation with the read nested by the thread's depth (as before): the statement
 * passes untracked, the reap drops @v, v = NULL. */
Test(loop, a_statement_from_inside_a_library_callback_is_the_programs_own)
{
    const char *argv[] = {"callback_probe", NULL};
    pstest_result without = run_app(argv, NULL, false);
    pstest_assert_ok(&without, "callback_probe without the shim");
    cr_expect_str_eq(pstest_line_value(without.out, "v"), "42", "%s", without.out);
    pstest_result_free(&without);
    static const char *const env[] = {"POOLSHIM_MAX_PER_KEY=2", "POOLSHIM_REAP_MIN_IDLE_MS=0",
                                      "POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r = run_app(argv, env, true);
    pstest_assert_ok(&r, "callback_probe");
    cr_expect_str_eq(pstest_line_value(r.out, "v"), "42", "%s\n%s", r.out, r.err);
    cr_expect_geq(pstest_summary_sum(r.err, "reaped"), 1, "C was not reaped: %s", r.err);
    pstest_result_free(&r);
}

Test(loop, kill_switch_passes_everything_through)
{
    const char *argv[] = {"connect_loop", "--n", "50", NULL};
    const char *env[] = {"POOLSHIM_DISABLE=1", NULL};
    pstest_result r;
    long long delta = connections_during(argv, env, &r);
    pstest_assert_ok(&r, "connect_loop disabled");
    cr_assert_geq(delta, 50);
    cr_assert_eq(pstest_value_ll(&r, "distinct_ids"), 50);
    pstest_result_free(&r);
}

Test(loop, garbage_config_logs_one_line_and_keeps_pooling)
{
    const char *argv[] = {"connect_loop", "--n", "100", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=banana", "POOLSHIM_LOG_LEVEL=loud", NULL};
    pstest_result r;
    long long delta = connections_during(argv, env, &r);
    pstest_assert_ok(&r, "connect_loop with garbage config");
    const char *first = strstr(r.err, "POOLSHIM_MAX_PER_KEY='banana'");
    cr_assert_not_null(first, "no warning about the bad value:\n%s", r.err);
    cr_assert_null(strstr(first + 1, "POOLSHIM_MAX_PER_KEY='banana'"), "warned twice:\n%s", r.err);
    cr_assert_not_null(strstr(r.err, "POOLSHIM_LOG_LEVEL='loud'"), "%s", r.err);
    cr_assert_leq(delta, 2);
    pstest_result_free(&r);
}

/* Runs connect_once with ARGS with and without the shim; both outputs must be identical. */
static void same_error_as_without_shim(const char *const argv[])
{
    pstest_result with = run_app(argv, NULL, true), without = run_app(argv, NULL, false);
    pstest_assert_ok(&with, "connect_once with shim");
    pstest_assert_ok(&without, "connect_once without shim");
    cr_assert_str_eq(pstest_line_value(without.out, "result"), "error", "%s", without.out);
    cr_assert_str_eq(with.out, without.out, "with the shim:\n%s\nwithout:\n%s", with.out,
                     without.out);
    pstest_result_free(&with);
    pstest_result_free(&without);
}

Test(errors, wrong_password_gives_the_unshimmed_error)
{
    const char *argv[] = {"connect_once", "--password", "wrong", NULL};
    same_error_as_without_shim(argv);
}

Test(errors, wrong_password_never_gets_a_parked_connection)
{
    const char *argv[] = {"connect_once", "--warm", "--password", "wrong", NULL};
    same_error_as_without_shim(argv);
    const char *tcp[] = {"connect_once", "--warm", "--tcp", "--password", "wrong", NULL};
    same_error_as_without_shim(tcp);
}

Test(errors, unknown_user_gives_the_unshimmed_error)
{
    const char *user[] = {"connect_once", "--warm", "--user", "nobody", NULL};
    same_error_as_without_shim(user);
}

Test(errors, unreachable_server_gives_the_unshimmed_error)
{
    const char *tcp[] = {"connect_once", "--tcp", "--port", "1", NULL};
    same_error_as_without_shim(tcp);
    const char *sock[] = {"connect_once", "--socket", "/nonexistent/mysqld.sock", NULL};
    same_error_as_without_shim(sock);
}

/* Expects the server's Threads_connected back at BEFORE once it has noticed an exited
 * program's sockets closing, which it does asynchronously (waits up to 60 s, a bound only for a
 * server that never does). */
static void expect_threads_back(MYSQL *admin, long long before)
{
    for (int i = 0; i < 3000 && pstest_status(admin, "Threads_connected") != before; i++)
        usleep(20000);
    cr_assert_eq(pstest_status(admin, "Threads_connected"), before);
}

Test(errors, a_hard_cap_and_its_wait_end_in_error_1040_for_handles_that_cannot_be_reclaimed)
{
    const char *argv[] = {"leaky", "--requests", "5", "--dirty", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=3", "POOLSHIM_WAIT_TIMEOUT_MS=300",
                         "POOLSHIM_OVERFLOW=0", NULL};
    pstest_result r;
    MYSQL *admin = pstest_admin();
    long long threads_before = pstest_status(admin, "Threads_connected");
    long long delta = connections_during(argv, env, &r);
    cr_assert_eq(pstest_value_ll(&r, "ok"), 3, "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "errors"), 2, "%s", r.out);
    const char *first = pstest_line_value(r.out, "first_error");
    cr_assert(first && !strncmp(first, "1040: Too many connections", 26), "%s", r.out);
    cr_assert_eq(delta, 3);
    expect_threads_back(admin, threads_before);
    mysql_close(admin);
    pstest_result_free(&r);
}

/* Never worse than no shim: with every connection of the key held by a session the shim can
 * never reclaim (a temporary table), a connect goes through as overflow, at once (the 1 h
 * wait would otherwise make it wait an hour: the test would time out), as it would without
 * the shim; what comes back over the cap is closed, not parked. */
Test(errors, at_a_cap_held_by_unreclaimable_handles_connects_overflow_at_once)
{
    const char *argv[] = {"leaky", "--requests", "5", "--dirty", "--hold", "5", "--close", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=3", "POOLSHIM_WAIT_TIMEOUT_MS=3600000",
                         "POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r;
    MYSQL *admin = pstest_admin();
    long long threads_before = pstest_status(admin, "Threads_connected");
    long long delta = connections_during(argv, env, &r);
    pstest_result without;
    long long delta_without = connections_during(argv, NULL, &without);
    cr_assert_eq(pstest_value_ll(&r, "ok"), 5, "%s\n%s", r.out, r.err);
    cr_assert_eq(pstest_value_ll(&r, "errors"), 0, "%s", r.out);
    cr_assert_eq(pstest_value_ll(&without, "ok"), 5, "%s", without.out);
    cr_assert_eq(delta, delta_without, "server connections: %lld with the shim, %lld without",
                 delta, delta_without);
    cr_assert(strstr(r.err, "overflows=2") && strstr(r.err, "parks=3") &&
                  strstr(r.err, "expired=2"),
              "2 overflows, closed when they came back; 3 parked:\n%s", r.err);
    expect_threads_back(admin, threads_before);
    mysql_close(admin);
    pstest_result_free(&r);
    pstest_result_free(&without);
}

Test(fields, a_reused_handle_reads_like_a_fresh_connect)
{
    const char *const variants[][3] = {{"field_probe", NULL, NULL},
                                       {"field_probe", "--init", NULL},
                                       {"field_probe", "--tcp", NULL}};
    for (size_t i = 0; i < 3; i++) {
        pstest_result r = run_app(variants[i], NULL, true);
        pstest_assert_ok(&r, "field_probe");
        cr_assert_str_eq(pstest_line_value(r.out, "reused"), "1", "%s", r.out);
        cr_assert_str_eq(pstest_line_value(r.out, "same"), "1", "%s", r.out);
        pstest_result_free(&r);
    }
}

Test(reconnect, library_auto_reconnect_works_and_the_new_connection_is_pooled)
{
    const char *argv[] = {"reconnect_probe", NULL};
    pstest_result r = run_app(argv, NULL, true);
    pstest_assert_ok(&r, "reconnect_probe");
    cr_assert_eq(pstest_value_ll(&r, "ping_rc"), 0, "%s", r.out);
    cr_assert_neq(pstest_value_ll(&r, "id_after"), pstest_value_ll(&r, "id_before"), "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "query_ok"), 1, "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "id_next"), pstest_value_ll(&r, "id_after"),
                 "the reconnected connection was not parked and reused\n%s", r.out);
    pstest_result_free(&r);
}

Test(reconnect, without_reconnect_the_error_is_the_unshimmed_one)
{
    const char *argv[] = {"reconnect_probe", "--no-reconnect", NULL};
    pstest_result with = run_app(argv, NULL, true), without = run_app(argv, NULL, false);
    pstest_assert_ok(&with, "reconnect_probe with shim");
    pstest_assert_ok(&without, "reconnect_probe without shim");
    cr_assert_str_eq(pstest_line_value(with.out, "ping_errno"),
                     pstest_line_value(without.out, "ping_errno"));
    cr_assert_str_eq(pstest_line_value(with.out, "ping_rc"),
                     pstest_line_value(without.out, "ping_rc"));
    cr_assert_neq(pstest_value_ll(&with, "id_next"), pstest_value_ll(&with, "id_before"),
                  "a killed connection was handed out again\n%s", with.out);
    pstest_result_free(&with);
    pstest_result_free(&without);
}

Test(validation, a_parked_connection_killed_by_the_server_is_never_handed_out)
{
    const char *const variants[][4] = {{"identity_probe", "stale", NULL},
                                       {"identity_probe", "stale", "--tcp"}};
    for (size_t i = 0; i < 2; i++) {
        pstest_result r = run_app(variants[i], NULL, true);
        pstest_assert_ok(&r, "identity_probe stale");
        cr_assert_neq(pstest_value_ll(&r, "id_second"), pstest_value_ll(&r, "id_first"), "%s",
                      r.out);
        cr_assert_eq(pstest_value_ll(&r, "query_ok"), 1, "%s", r.out);
        pstest_result_free(&r);
    }
}

/* A handle moved to another key by mysql_change_user idles as that key's handles may: past its
 * server's wait_timeout (learned by the new key), its next command renews it first. */
Test(identity, change_user_takes_the_new_keys_patience)
{
    const char *argv[] = {"identity_probe", "change_user_patience", NULL};
    const char *env[] = {"POOLSHIM_REAP_IDLE_MS=0", NULL};
    pstest_result r = run_app(argv, env, true);
    cr_expect_eq(pstest_value_ll(&r, "session_wait_timeout"), 3, "the scenario\n%s", r.out);
    pstest_assert_ok(&r, "identity_probe change_user_patience");
    cr_assert_eq(pstest_value_ll(&r, "query_ok"), 1, "%s\n%s", r.out, r.err);
    pstest_result_free(&r);
}

Test(identity, change_user_moves_the_connection_to_the_new_users_pool)
{
    const char *argv[] = {"identity_probe", "change_user", NULL};
    pstest_result r = run_app(argv, NULL, true);
    pstest_assert_ok(&r, "identity_probe change_user");
    const char *user2 = pstest_env("PSTEST_USER2"), *user1 = pstest_env("PSTEST_USER");
    cr_assert(!strncmp(pstest_line_value(r.out, "changed_user"), user2, strlen(user2)), "%s",
              r.out);
    cr_assert(!strncmp(pstest_line_value(r.out, "user2_is"), user2, strlen(user2)), "%s", r.out);
    cr_assert(!strncmp(pstest_line_value(r.out, "user1_is"), user1, strlen(user1)), "%s", r.out);
    cr_assert_eq(pstest_value_ll(&r, "id_user2"), pstest_value_ll(&r, "id_changed"),
                 "the changed connection was not parked under the new user\n%s", r.out);
    cr_assert_neq(pstest_value_ll(&r, "id_user1"), pstest_value_ll(&r, "id_changed"),
                  "user 1 got user 2's connection\n%s", r.out);
    pstest_result_free(&r);
}

Test(reap, leaked_clean_handles_are_reclaimed_at_the_cap)
{
    const char *argv[] = {"leaky", "--requests", "200", NULL};
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=3", "POOLSHIM_WAIT_TIMEOUT_MS=300", NULL};
    pstest_result r;
    long long delta = connections_during(argv, env, &r);
    pstest_assert_ok(&r, "leaky with a cap of 3");
    cr_assert_eq(pstest_value_ll(&r, "ok"), 200, "%s", r.out);
    cr_assert_leq(delta, 3, "Connections grew by %lld", delta);
    pstest_result_free(&r);
}
