/* Reclaiming connections from handles programs never close: the seeds' leaky legacy code,
 * against servers whose limits are lower than the shim's defaults. Each test that needs its
 * own server limits starts a throwaway one (scripts/sandbox) and points itself and the apps it
 * runs at it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pstest.h"

static void small_server(void)
{
    pstest_sandbox_start("--max-connections=50");
}

static void tiny_server(void)
{
    pstest_sandbox_start("--max-connections=8");
}

static void impatient_server(void)
{
    pstest_sandbox_start("--wait-timeout=2");
}

/* The integer value of KEY= in TEXT (stdout line, or a field of the shim's summary). */
static long long number(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(text, pat);
    cr_assert_not_null(p, "no %s in:\n%s", pat, text);
    return atoll(p + strlen(pat));
}

/* Seconds since an arbitrary start (monotonic). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs ARGV under the shim with default configuration; returns its result, the server's
 * Connections delta and peak Threads_connected (minus the sampler's and the admin's own
 * connections), and (SECONDS, unless NULL) how long the run took -- never asserted itself, only
 * used where a bound of the shim's contract depends on the run's length. */
static pstest_result observed_run(const char *const argv[], const char *const env[],
                                  long long *delta, long long *peak, double *seconds)
{
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_sampler *s = pstest_sampler_start();
    double t0 = now();
    pstest_result r = pstest_run(argv, env, true);
    if (seconds)
        *seconds = now() - t0;
    *peak = pstest_sampler_stop(s) - 2;
    *delta = pstest_status(admin, "Connections") - before - 1; /* the sampler's */
    mysql_close(admin);
    return r;
}

/* Never-closed connects, 40 times what the server admits (10 times when slow): without
 * reclaiming, request 51 would fail. How fast leaking runs next to closing is a figure of
 * scripts/bench (never-closed handles), not something a test can assert on a shared VM. */
Test(leak, never_closed_connects_far_beyond_max_connections_50, .init = small_server,
     .fini = pstest_sandbox_stop, .timeout = 300)
{
    const char *n = pstest_count(2000, 500);
    const char *leak[] = {"leaky", "--requests", n, "--select1", NULL};
    long long delta, peak;
    pstest_result r = observed_run(leak, NULL, &delta, &peak, NULL);
    pstest_assert_ok(&r, "leaky (never closes)");
    cr_assert_eq(number(r.out, "ok"), atoll(n), "%s", r.out);
    cr_assert_eq(number(r.out, "errors"), 0, "%s", r.out);
    cr_assert_leq(peak, 20, "peak Threads_connected %lld above the cap", peak);
    cr_assert_leq(delta, 20, "Connections grew by %lld", delta);
    cr_log_info("leak: %s requests, peak %lld, Connections +%lld", n, peak, delta);
    pstest_result_free(&r);
}

Test(leak, server_refusals_are_answered_with_reclaimable_handles, .init = tiny_server,
     .fini = pstest_sandbox_stop, .timeout = 120)
{
    /* The server takes 8 connections, the shim's default cap is 20: the server refuses (1040)
     * before the pool is full, and the shim must reclaim instead of failing. */
    const char *leak[] = {"leaky", "--requests", "500", NULL};
    long long delta, peak;
    double secs;
    pstest_result r = observed_run(leak, NULL, &delta, &peak, &secs);
    pstest_assert_ok(&r, "leaky against max_connections=8");
    cr_assert_eq(number(r.out, "ok"), 500, "%s", r.out);
    cr_assert_leq(peak, 9, "peak %lld: more than the server admits (8 + 1 SUPER)", peak);
    /* Connections counts refused attempts too. After a 1040 the pool caps itself at what the
     * server took for 5 s, then tries once more: at most 8 connects + 1 refusal, plus one more
     * refusal per 5 s the run lasted. A run shorter than 5 s (natively, a fraction of a second)
     * keeps the old bound of 9; a slow one must not fail for being slow (under valgrind, 3000
     * such requests took 7 s and made 11). */
    long long bound = 9 + (long long)(secs / 5);
    cr_assert_leq(delta, bound, "Connections grew by %lld in %.1f s", delta, secs);
    pstest_result_free(&r);
}

/* Runs a driver script in leak mode against the small server. */
static void driver_leaks(const char *interpreter, const char *script)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/drivers/%s", PSTEST_SOURCE_DIR, script);
    const char *argv[] = {interpreter, path, "500", "--leak", NULL};
    long long delta, peak;
    pstest_result r = observed_run(argv, NULL, &delta, &peak, NULL);
    pstest_assert_ok(&r, script);
    cr_assert_eq(number(r.out, "errors"), 0, "%s", r.out);
    cr_assert_leq(peak, 20, "peak Threads_connected %lld", peak);
    cr_assert_leq(delta, 20, "Connections grew by %lld", delta);
    pstest_result_free(&r);
}

Test(leak, perl_dbd_mysql_leaks_are_reclaimed, .init = small_server, .fini = pstest_sandbox_stop,
     .timeout = 120)
{
    driver_leaks("perl", "dbd_loop.pl");
}

Test(leak, python_mysqldb_leaks_are_reclaimed, .init = small_server, .fini = pstest_sandbox_stop,
     .timeout = 120)
{
    driver_leaks("/usr/bin/python3", "mysqldb_loop.py");
}

/* Each gap lasts until the server has closed every connection of the app (gap_borrow
 * --until-gone: its wait_timeout is 2 s), so the shim always faces dead connections, on any
 * machine, and the run without the shim always fails. */
Test(leak, idle_gaps_longer_than_wait_timeout_cause_no_errors, .init = impatient_server,
     .fini = pstest_sandbox_stop, .timeout = 180)
{
    const char *borrows = pstest_count(10000, 500);
    const char *argv[] = {"gap_borrow", "--gaps", "5", "--until-gone", "--borrows", borrows,
                          "--held",     "3",      NULL};
    pstest_result r = pstest_run(argv, NULL, true);
    pstest_assert_ok(&r, "gap_borrow under the shim");
    cr_assert_eq(number(r.out, "borrows"), atoll(borrows));
    cr_assert_eq(number(r.out, "held_uses"), 3 * 6, "%s", r.out); /* 3 handles, 6 bursts */
    pstest_result_free(&r);
    const char *quick[] = {"gap_borrow", "--gaps", "1", "--until-gone", "--borrows", "10",
                           "--held",     "1",      NULL};
    r = pstest_run(quick, NULL, false); /* proves the scenario: without the shim it fails */
    cr_assert_neq(r.exit_code, 0, "without the shim the held handle should have gone away");
    pstest_result_free(&r);
}

/* A held handle that idled past its patience (the server's wait_timeout, 2 s, less the margin:
 * 1.5 s) with no other call in the process meanwhile (no housekeeping ran: nothing was parked
 * before) is renewed by its next command itself, before it goes out. Counts, not times: the gap
 * sleeps 2.5 s, so the handle is past its patience however slow the machine; without the check at
 * the command's entry the query goes out on the old connection (renewed=0, and an error once the
 * server has closed it). */
Test(leak, a_held_handle_past_its_patience_is_renewed_by_its_own_next_command,
     .init = impatient_server, .fini = pstest_sandbox_stop, .timeout = 60)
{
    const char *argv[] = {"gap_borrow", "--gaps", "1",      "--gap-ms", "2500",
                          "--borrows",  "0",      "--held", "1",        NULL};
    const char *env[] = {"POOLSHIM_LOG_LEVEL=info", NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "gap_borrow under the shim");
    cr_assert_eq(number(r.out, "held_uses"), 2, "%s", r.out);
    cr_assert_eq(pstest_summary_sum(r.err, "renewed"), 1, "%s", r.err);
    pstest_result_free(&r);
}

/* reap_probe environment: reap after 100 ms idle, warn about leaks after 100 ms, log every reap
 * (debug). The probe idles PROBE_IDLE_MS: at least that long, which is more than both thresholds
 * and the shim's 100 ms between two housekeeping runs, so a slower machine only makes the handle
 * idler (the reap or the warning is due all the same). */
static const char *const probe_env[] = {"POOLSHIM_REAP_IDLE_MS=100", "POOLSHIM_LEAK_WARN_MS=100",
                                        "POOLSHIM_LOG_LEVEL=debug", NULL};
#define PROBE_IDLE_MS "250"

/* How often the shim reaped the probe's handle after the probe had made its session state (the
 * probe's "state of handle 0x... made" line on ERR; a stall while it was being made may give a
 * legitimate reap before that line, as the handle was still clean). */
static int reaps_after_state(const char *err)
{
    static const char mark[] = "reap_probe: state of handle ";
    const char *m = strstr(err, mark);
    char handle[32], needle[64];
    cr_assert(m && sscanf(m + strlen(mark), "%31s", handle) == 1, "no '%s' line:\n%s", mark, err);
    snprintf(needle, sizeof needle, "reaped idle handle %s ", handle);
    int n = 0;
    for (const char *p = m; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* Checks every renewal's replay in ERR (the shim's debug lines) took one round trip, however
 * many statements it sent (before the pipeline each statement was a round trip of its own);
 * the statements of all of them into *STATEMENTS. */
static void expect_one_round_trip(const char *err, const char *kind, unsigned *statements)
{
    static const char mark[] = "replayed the session of handle ";
    int lines = 0;
    for (const char *p = err; (p = strstr(p, mark)) != NULL; p++) {
        unsigned n = 0, trips = 0;
        const char *colon = strchr(p + strlen(mark), ':');
        cr_assert(colon && sscanf(colon, ": %u statement(s) in %u round trip(s)", &n, &trips) == 2,
                  "%s: unreadable line in:\n%s", kind, err);
        cr_expect_eq(trips, (unsigned)(n > 0), "%s: %u statements in %u round trips", kind, n,
                     trips);
        *statements += n;
        lines++;
    }
    cr_expect_geq(lines, 1, "%s: no replay line:\n%s", kind, err);
}

Test(state, replayable_state_survives_a_reap_and_re_lease)
{
    unsigned statements = 0;
    const char *kinds[] = {"autocommit",     "use_db",         "select_db",        "set_names",
                           "last_insert_id", "all_replayable", "session_settings", "nothing"};
    const char *variants[] = {NULL, "--tcp", "--reconnect"};
    /* valgrind (pstest_slow): the socket variant, whose memory is the same code's */
    size_t nvariants = pstest_slow() ? 1 : 3;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        for (size_t t = 0; t < nvariants; t++) {
            const char *argv[] = {"reap_probe",  kinds[i],    "--idle-ms",
                                  PROBE_IDLE_MS, variants[t], NULL};
            pstest_result r = pstest_run(argv, probe_env, true);
            pstest_assert_ok(&r, kinds[i]);
            cr_assert_geq(reaps_after_state(r.err), 1, "%s was not reaped:\n%s", kinds[i], r.err);
            cr_assert_geq(number(r.err, "renewed"), 1, "%s:\n%s", kinds[i], r.err);
            expect_one_round_trip(r.err, kinds[i], &statements);
            pstest_result_free(&r);
        }
    cr_log_info("replays: %u statements, each renewal in one round trip", statements);
}

Test(state, unreplayable_state_is_never_reaped_and_is_reported_as_a_leak)
{
    const char *kinds[] = {"user_var",    "temp_table", "session_var", "sql_prepare", "open_txn",
                           "lock_tables", "get_lock",   "stmt_open",   "found_rows",  "warnings"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        const char *argv[] = {"reap_probe", kinds[i], "--idle-ms", PROBE_IDLE_MS, NULL};
        pstest_result r = pstest_run(argv, probe_env, true);
        pstest_assert_ok(&r, kinds[i]);
        cr_assert_eq(reaps_after_state(r.err), 0, "%s was reaped:\n%s", kinds[i], r.err);
        cr_assert_geq(number(r.err, "leak_warnings"), 1, "%s:\n%s", kinds[i], r.err);
        const char *w = strstr(r.err, "possible connection leak");
        cr_assert(w && strstr(r.err, "[app@") && strstr(w, "cannot be reclaimed") &&
                      strstr(w, "connected at:") && strstr(w, "reap_probe"),
                  "%s: the warning must name the DSN, the reason and the caller:\n%s", kinds[i],
                  r.err);
        cr_assert_null(strstr(r.err, pstest_env("PSTEST_PASSWORD")), "password in the log");
        pstest_result_free(&r);
    }
}

/* inflight_probe: a handle whose command's answer is still on the wire (mysql_send_query, read
 * later or never, also across a COM_STMT_CLOSE, which has no answer; a result set's rows,
 * which mysql_store_result reads after it has shown the handle ready) is neither reaped (the
 * reap's own query would read that answer, and the program the reap's) nor parked at its close
 * (the next user would read it); and once the answer is read to its end (also by
 * mysql_free_result draining an unbuffered result) the connection is parked as usual; the same
 * for the next result of a multi-statement, still on the wire for mysql_next_result (also
 * after its first result read unbuffered and freed early), and across a mariadb_reconnect that
 * failed without touching the connection; and for a query that mysql_real_query sent without
 * reading its answer (MARIADB_OPT_SKIP_READ_RESPONSE: the shim, which ends a query's call at its
 * answer's read when that function reads it next, must see that it does not). */
Test(state, an_answer_still_on_the_wire_is_neither_reaped_nor_parked)
{
    /* one connection per key, reaped at once: B's connect would take A's if it could */
    static const char *const tight[] = {"POOLSHIM_MAX_PER_KEY=1", "POOLSHIM_REAP_MIN_IDLE_MS=0",
                                        "POOLSHIM_LOG_LEVEL=info", NULL};
    static const char *const answered[] = {"POOLSHIM_MAX_PER_KEY=1", "POOLSHIM_DEFER_RESET=0",
                                           "POOLSHIM_LOG_LEVEL=info", NULL};
    enum expect { HELD, CLOSED, PARKED };
    static const struct {
        const char *mode;
        const char *const *env;
        enum expect expect;
    } rows[] = {{"reap", tight, HELD},
                {"rows", tight, HELD},
                {"stmt-close", tight, HELD},
                {"close", tight, CLOSED},
                {"close", answered, CLOSED},
                {"use-free", tight, PARKED},
                {"multi", tight, HELD},
                {"multi-use", tight, HELD},
                {"reconnect-fail", tight, HELD},
                {"skip-read", tight, HELD},
                {"skip-read-close", tight, CLOSED}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        const char *argv[] = {"inflight_probe", rows[i].mode, "--rounds", "20", NULL};
        pstest_result without = pstest_run(argv, NULL, false);
        pstest_assert_ok(&without, "without the shim");
        pstest_result_free(&without);
        pstest_result r = pstest_run(argv, rows[i].env, true);
        pstest_assert_ok(&r, rows[i].mode);
        cr_expect_eq(pstest_value_ll(&r, "wrong"), 0, "%s\n%s", r.out, r.err);
        cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s\n%s", r.out, r.err);
        long long reaped = pstest_summary_sum(r.err, "reaped"),
                  discards = pstest_summary_sum(r.err, "discards");
        switch (rows[i].expect) {
        case HELD: /* A held its connection: B went through as overflow, A was never reaped */
            cr_expect_eq(reaped, 0, "%s: %s", rows[i].mode, r.err);
            cr_expect_eq(pstest_summary_sum(r.err, "overflows"), 20, "%s: %s", rows[i].mode, r.err);
            break;
        case CLOSED: /* A's connection closed for real, never parked with the answer */
            cr_expect_geq(discards, 20, "%s: %s", rows[i].mode, r.err);
            break;
        case PARKED: /* the drained answer left nothing: parked and reused every time */
            cr_expect_eq(discards, 0, "%s: %s", rows[i].mode, r.err);
            cr_expect_eq(pstest_summary_sum(r.err, "reuses"), 19, "%s: %s", rows[i].mode, r.err);
            break;
        }
        pstest_result_free(&r);
    }
}

/* reconnect_reap_probe: the program calls mariadb_reconnect on the handle it keeps while its
 * other thread's connects reap that handle (POOLSHIM_MAX_PER_KEY=1, once it has idled 5 ms):
 * every reconnect succeeds and every answer is its own statement's, as without the shim (the
 * reconnect is counted as a call on the lease, so no reap takes the connection the library is
 * replacing; mutation without the count: 4 runs of 6 failed, with 1-3 failed reconnects, a
 * SIGSEGV or a hang), and no connection is left behind (a reconnect of a reaped handle is the
 * program's own connection, unpooled, as without the shim). Not under TSan: the reap beside the
 * library's bookkeeping after its last read is ordered only by the idle margin, which TSan does not
 * see. */
Test(state, a_reconnect_while_another_thread_reaps_is_the_programs_own, .timeout = 600)
{
    const char *preload = getenv("PSTEST_PRELOAD");
    if (preload && strstr(preload, "libtsan"))
        cr_skip_test("TSan does not see the idle margin that orders the reap and the library");
    static const char *const env[] = {"POOLSHIM_MAX_PER_KEY=1", "POOLSHIM_REAP_MIN_IDLE_MS=5",
                                      "POOLSHIM_LOG_LEVEL=info", NULL};
    const char *rounds = pstest_count(300, 30);
    const char *argv[] = {"reconnect_reap_probe", "--rounds", rounds, NULL};
    pstest_result without = pstest_run(argv, NULL, false);
    pstest_assert_ok(&without, "without the shim");
    pstest_result_free(&without);
    MYSQL *admin = pstest_admin();
    long long aborted = pstest_status(admin, "Aborted_clients");
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "reconnect_reap_probe");
    cr_expect_eq(pstest_value_ll(&r, "reconnect_errors"), 0, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "a_errors") + pstest_value_ll(&r, "a_wrong"), 0, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "r_errors") + pstest_value_ll(&r, "r_wrong"), 0, "%s", r.out);
    cr_expect_gt(pstest_summary_sum(r.err, "reaped"), 0, "the handle was reaped: %s", r.err);
    /* a reconnect of a reaped handle gives it a connection of its own, as without the shim:
     * never one that a renewal covers with a pooled one and leaves behind, unclosed */
    cr_expect_eq(pstest_status(admin, "Aborted_clients"), aborted, "connections left behind");
    mysql_close(admin);
    pstest_result_free(&r);
}
