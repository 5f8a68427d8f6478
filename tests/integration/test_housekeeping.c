/* Housekeeping: a connection the program closed goes back to the server within the idle
 * timeout whether or not the program ever calls the client library again (issue 9 item 7: a
 * process that parked connections and went quiet starved every other client of the server).
 * The shim's keeper thread closes parked connections when they are due; it touches nothing
 * else, does not exist in a process that never parks, and keeps to its own process across
 * fork. Every wait here is a bounded poll of the server, never a timed assertion. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pstest.h"

#define WAIT_S 120 /* the bound of every wait: generous, valgrind included */

/* Big enough for the admin connection and B's 10, not for A's 5 as well. */
static void small_server(void)
{
    pstest_sandbox_start("--max-connections=12");
}

/* Seconds on the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    const struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

/* Server connections of USER right now. */
static long long connections_of(MYSQL *admin, const char *user)
{
    return pstest_query_ll(
        admin, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'", user);
}

/* Waits (at most WAIT_S) until USER has at most AT_MOST server connections; returns the count
 * last seen. */
static long long wait_connections(MYSQL *admin, const char *user, long long at_most)
{
    long long n = connections_of(admin, user);
    for (double end = now_s() + WAIT_S; n > at_most && now_s() < end; pause_ms(20))
        n = connections_of(admin, user);
    return n;
}

/* A quiet process: idle_burst park N, run in the background until its pipe is closed. */
typedef struct quiet {
    const char *argv[6];
    const char *const *env;
    bool preload;
    char dir[64], fifo[96], n[16];
    pthread_t thread;
    int fd; /* the pipe's write end: the process waits on it */
    int done;
    pstest_result r;
} quiet;

static void *quiet_main(void *v)
{
    quiet *q = v;
    q->r = pstest_run(q->argv, q->env, q->preload);
    __atomic_store_n(&q->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Starts idle_burst park N (environment ENV, under the shim when PRELOAD; with LIBRARY_END it
 * ends the client library after closing) and returns once it has closed its N connections and
 * sits blocked on its pipe, calling nothing. */
static quiet *quiet_start_with(int n, const char *const env[], bool preload, bool library_end)
{
    quiet *q = calloc(1, sizeof *q);
    cr_assert_not_null(q);
    snprintf(q->dir, sizeof q->dir, "/tmp/pstest-hk-XXXXXX");
    cr_assert_not_null(mkdtemp(q->dir));
    snprintf(q->fifo, sizeof q->fifo, "%s/quiet", q->dir);
    cr_assert_eq(mkfifo(q->fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    snprintf(q->n, sizeof q->n, "%d", n);
    const char *argv[] = {"idle_burst", "park", q->n, q->fifo, library_end ? "--library-end" : NULL,
                          NULL};
    memcpy(q->argv, argv, sizeof argv);
    q->env = env;
    q->preload = preload;
    cr_assert_eq(pthread_create(&q->thread, NULL, quiet_main, q), 0);
    /* opening a pipe's write end without blocking fails (ENXIO) until the reader has it open */
    double end = now_s() + WAIT_S;
    while ((q->fd = open(q->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        cr_assert_eq(errno, ENXIO, "open %s: %s", q->fifo, strerror(errno));
        if (__atomic_load_n(&q->done, __ATOMIC_SEQ_CST) || now_s() > end) {
            pthread_join(q->thread, NULL);
            cr_assert_fail("idle_burst park never waited on its pipe:\n%s\n%s", q->r.out, q->r.err);
        }
        pause_ms(10);
    }
    return q;
}

/* quiet_start_with, the library left alone. */
static quiet *quiet_start(int n, const char *const env[], bool preload)
{
    return quiet_start_with(n, env, preload, false);
}

/* Lets the quiet process go (end of file on its pipe) and returns its result once it exited,
 * which it must have done cleanly after it was let go. */
static pstest_result quiet_stop(quiet *q)
{
    close(q->fd);
    pthread_join(q->thread, NULL);
    pstest_result r = q->r;
    unlink(q->fifo);
    rmdir(q->dir);
    free(q);
    pstest_assert_ok(&r, "idle_burst park");
    cr_assert_eq(pstest_value_ll(&r, "released"), 1, "%s", r.out);
    return r;
}

/* Issue 9 item 7, under the shim or not: A parks 5 connections and goes quiet; once the server
 * shows none of A's (waiting at most WAIT_S), B opens 10 against max_connections=12. Returns
 * B's result; *A_OUT gets A's. */
static pstest_result starve_scenario(bool preload, pstest_result *a_out)
{
    static const char *const a_env[] = {"POOLSHIM_IDLE_TIMEOUT_MS=1000", "POOLSHIM_LOG_LEVEL=info",
                                        NULL};
    static const char *const b_env[] = {"POOLSHIM_WAIT_TIMEOUT_MS=1000", NULL};
    const char *user = pstest_env("PSTEST_USER");
    MYSQL *admin = pstest_admin();
    quiet *a = quiet_start(5, a_env, preload);
    long long left = wait_connections(admin, user, 0);
    cr_assert_eq(left, 0, "the quiet process still holds %lld connections after %d s", left,
                 WAIT_S);
    const char *b_argv[] = {"idle_burst", "hold", "10", NULL};
    pstest_result b = pstest_run(b_argv, b_env, preload);
    *a_out = quiet_stop(a);
    mysql_close(admin);
    pstest_assert_ok(&b, "idle_burst hold");
    return b;
}

/* Aborted_clients now (its own admin connection, so none stays open across a scenario). */
static long long aborted_clients(void)
{
    MYSQL *admin = pstest_admin();
    long long n = pstest_status(admin, "Aborted_clients");
    mysql_close(admin);
    return n;
}

Test(housekeeping, a_quiet_process_gives_its_parked_connections_back_within_the_idle_timeout,
     .init = small_server, .fini = pstest_sandbox_stop, .timeout = 600)
{
    long long aborted = aborted_clients();
    pstest_result a_without, a_with;
    pstest_result without = starve_scenario(false, &a_without);
    pstest_result with = starve_scenario(true, &a_with);
    /* (pstest_line_value's buffer is reused: one value per call) */
    fprintf(stderr, "quiet process, then 10 connects: no shim errors=%lld, ",
            pstest_value_ll(&without, "errors"));
    fprintf(stderr, "shim errors=%lld\n", pstest_value_ll(&with, "errors"));
    const char *const keys[] = {"ok", "errors"};
    pstest_expect_same_values(&with, &without, keys, 2);
    cr_expect_eq(pstest_value_ll(&with, "errors"), 0, "%s", with.out);
    cr_expect(strstr(a_with.err, "parks=5") && strstr(a_with.err, "expired=5"),
              "the quiet process's summary:\n%s", a_with.err);
    cr_expect_eq(aborted_clients(), aborted, "a parked connection was cut without COM_QUIT");
    pstest_result_free(&without);
    pstest_result_free(&with);
    pstest_result_free(&a_without);
    pstest_result_free(&a_with);
}

Test(housekeeping, parked_connections_kept_past_the_quiet_start_would_starve_the_other_process,
     .init = small_server, .fini = pstest_sandbox_stop, .timeout = 300)
{
    /* The scenario is sharp: with A's connections kept (an hour's idle timeout, all warm), the
     * same B gets errors. */
    static const char *const a_env[] = {"POOLSHIM_IDLE_TIMEOUT_MS=3600000", "POOLSHIM_MIN_IDLE=5",
                                        NULL};
    MYSQL *admin = pstest_admin();
    quiet *a = quiet_start(5, a_env, true);
    cr_expect_eq(connections_of(admin, pstest_env("PSTEST_USER")), 5);
    mysql_close(admin);
    const char *b_argv[] = {"idle_burst", "hold", "10", NULL};
    pstest_result b = pstest_run(b_argv, NULL, false);
    pstest_result r = quiet_stop(a);
    pstest_assert_ok(&b, "idle_burst hold");
    cr_expect_gt(pstest_value_ll(&b, "errors"), 0, "the test proves nothing:\n%s", b.out);
    pstest_result_free(&b);
    pstest_result_free(&r);
}

/* mysql_library_end stops the keeper (none of its closes may overlap the end) and keeps the
 * parked connections for the next connect: the keeper must start again after it, or a program
 * that ends the library when its last handle closes (DBD::MariaDB) and then goes quiet keeps
 * them for good. */
Test(housekeeping, the_keeper_starts_again_after_the_library_end, .timeout = 300)
{
    static const char *const env[] = {"POOLSHIM_IDLE_TIMEOUT_MS=1000", "POOLSHIM_LOG_LEVEL=debug",
                                      NULL};
    const char *user = pstest_env("PSTEST_USER");
    MYSQL *admin = pstest_admin();
    cr_assert_eq(connections_of(admin, user), 0, "a connection of %s is left over", user);
    quiet *q = quiet_start_with(3, env, true, true);
    long long left = wait_connections(admin, user, 0);
    pstest_result r = quiet_stop(q);
    mysql_close(admin);
    cr_expect_eq(left, 0, "%lld parked connections outlived the idle timeout by %d s", left,
                 WAIT_S);
    cr_expect(strstr(r.err, "3 parked connection(s) kept for the next connect"),
              "the end did not keep them (the test proves nothing):\n%s", r.err);
    cr_expect(strstr(r.err, "expired=3"), "the summary:\n%s", r.err);
    pstest_result_free(&r);
}

/* The quiet process as PSTEST_USER2 with EXTRA configuration (up to 3 entries, NULL-ended), on
 * the shared server; waits until it holds at most KEEP connections, expects exactly KEEP, lets
 * it go and expects EXPIRED expirations in its summary and no aborted client. */
static void warm_minimum(const char *const extra[], long long keep, int expired)
{
    char user[64], pw[64];
    snprintf(user, sizeof user, "PSTEST_USER=%s", pstest_env("PSTEST_USER2"));
    snprintf(pw, sizeof pw, "PSTEST_PASSWORD=%s", pstest_env("PSTEST_PASSWORD2"));
    const char *env[] = {user, pw, "POOLSHIM_LOG_LEVEL=info", NULL, NULL, NULL, NULL};
    for (int i = 0; extra[i]; i++)
        env[3 + i] = extra[i];
    long long aborted = aborted_clients();
    MYSQL *admin = pstest_admin();
    quiet *a = quiet_start(5, env, true);
    long long left = wait_connections(admin, pstest_env("PSTEST_USER2"), keep);
    cr_expect_eq(left, keep, "the quiet process holds %lld connections", left);
    pstest_result r = quiet_stop(a);
    char want[32];
    snprintf(want, sizeof want, "expired=%d ", expired);
    cr_expect(strstr(r.err, want) != NULL, "wanted %s in:\n%s", want, r.err);
    cr_expect_eq(wait_connections(admin, pstest_env("PSTEST_USER2"), 0), 0);
    mysql_close(admin);
    cr_expect_eq(aborted_clients(), aborted, "the exit drain cut a connection");
    pstest_result_free(&r);
}

Test(housekeeping, the_surplus_goes_back_first_and_the_warm_minimum_stays, .timeout = 300)
{
    const char *const extra[] = {"POOLSHIM_IDLE_TIMEOUT_MS=3600000", "POOLSHIM_MIN_IDLE=2",
                                 "POOLSHIM_SURPLUS_IDLE_MS=300", NULL};
    warm_minimum(extra, 2, 3);
}

Test(housekeeping, by_default_one_warm_connection_stays_a_minute_the_surplus_goes, .timeout = 300)
{
    const char *const none[] = {NULL};
    warm_minimum(none, 1, 4); /* the surplus after 5 s, the warm one only after 60 s */
}

Test(housekeeping, a_process_that_never_parks_starts_no_thread, .timeout = 120)
{
    const char *argv[] = {"idle_burst", "threads", NULL};
    pstest_result r = pstest_run(argv, NULL, true);
    pstest_assert_ok(&r, "idle_burst threads");
    long long start = pstest_value_ll(&r, "tasks_start");
    cr_expect_eq(pstest_value_ll(&r, "tasks_leased"), start, "a thread with nothing parked:\n%s",
                 r.out);
    cr_expect_eq(pstest_value_ll(&r, "tasks_failed"), start, "a failed connect started one:\n%s",
                 r.out);
    cr_expect_gt(pstest_value_ll(&r, "tasks_parked"), start, "the first park starts it:\n%s",
                 r.out);
    pstest_result_free(&r);
    r = pstest_run(argv, NULL, false);
    pstest_assert_ok(&r, "idle_burst threads (no shim)");
    cr_expect_eq(pstest_value_ll(&r, "tasks_parked"), pstest_value_ll(&r, "tasks_start"),
                 "without the shim the program has no other thread:\n%s", r.out);
    pstest_result_free(&r);
}

Test(housekeeping, a_forked_child_expires_its_own_parked_connections_never_the_parents,
     .timeout = 300)
{
    static const char *const env[] = {"POOLSHIM_MIN_IDLE=1", "POOLSHIM_SURPLUS_IDLE_MS=200",
                                      "POOLSHIM_IDLE_TIMEOUT_MS=600000", NULL};
    long long aborted = aborted_clients();
    const char *argv[] = {"idle_burst", "fork", NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "idle_burst fork");
    const char *const ones[] = {"parent_surplus_closed", "parent_warm_kept",
                                "child_surplus_closed",  "child_warm_kept",
                                "child_parent_kept",     "parent_kept_after_child",
                                "parent_parked_reused"};
    for (size_t i = 0; i < sizeof ones / sizeof *ones; i++)
        cr_expect_eq(pstest_value_ll(&r, ones[i]), 1, "%s:\n%s\n%s", ones[i], r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "child_tasks_at_fork"), 1, "%s", r.out);
    cr_expect_gt(pstest_value_ll(&r, "child_tasks_parked"), 1, "no keeper in the child:\n%s",
                 r.out);
    cr_expect_eq(pstest_value_ll(&r, "child_took_parent"), 0, "%s", r.out);
    cr_expect_eq(pstest_value_ll(&r, "child_exit"), 0, "%s", r.out);
    cr_expect_eq(aborted_clients(), aborted, "a connection was cut without COM_QUIT\n%s", r.err);
    pstest_result_free(&r);
}
