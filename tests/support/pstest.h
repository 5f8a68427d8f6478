/* Helpers for criterion integration tests that run against the sandbox server.
 *
 * The sandbox (scripts/sandbox) exports PSTEST_* variables; scripts/test sources them before
 * running the tests. The test process itself is never preloaded: connections made here are
 * real server connections. Every helper asserts with criterion (cr_assert/cr_fail), so a failure
 * ends the current test with a message that includes the MySQL error text. */
#ifndef PSTEST_H
#define PSTEST_H

#include <stdbool.h>
#include <mysql.h>

#define PSTEST_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))

/* Value of the environment variable NAME; fails the test when it is not set. */
const char *pstest_env(const char *name);

/* A new real connection as PSTEST_ADMIN_USER over PSTEST_SOCKET (no default database).
 * Close it with mysql_close(). */
MYSQL *pstest_admin(void);

/* Runs the printf-formatted statement on C, asserts success and discards any result. */
void pstest_exec(MYSQL *c, const char *fmt, ...) PSTEST_PRINTF(2, 3);

/* Runs the query and returns the first column of the first row as an integer; asserts that the
 * query succeeds and that this value exists and is not SQL NULL. */
long long pstest_query_ll(MYSQL *c, const char *fmt, ...) PSTEST_PRINTF(2, 3);

/* Runs the query and returns a malloc'd copy of the first column of the first row, or NULL when
 * that value is SQL NULL; asserts that the query succeeds and returns at least one row. */
char *pstest_query_str(MYSQL *c, const char *fmt, ...) PSTEST_PRINTF(2, 3);

/* The server's global status counter NAME (e.g. "Connections"), via SHOW GLOBAL STATUS LIKE.
 * Reading it on an existing connection does not change "Connections". */
long long pstest_status(MYSQL *admin, const char *name);

/* The server's Questions once every session beyond THREADS (Threads_connected) has gone and its
 * counts have reached the global ones, less the status reads this took: a close's COM_QUIT
 * counts in Questions when the server reads it, after the client has returned, and a session's
 * counts join the global ones only after it has left Threads_connected. Reads until two
 * readings in a row differ by their own share alone, at most 10 s (then fails the test). */
long long pstest_questions_settled(MYSQL *admin, long long threads);

/* Outcome of pstest_run(): exit code (128+signal when killed), all of stdout and stderr as
 * NUL-terminated malloc'd strings (never NULL). */
typedef struct {
    int exit_code;
    char *out;
    char *err;
} pstest_result;

/* Runs argv (NULL-terminated) to completion and captures its output.
 * - argv[0] without '/': PSTEST_APPS_DIR/argv[0] if that file is executable (a C test app),
 *   otherwise looked up on PATH (e.g. "perl"). argv[0] with '/' is executed as given.
 * - Environment: this process's environment, then the NULL-terminated "K=V" list ENV (may be
 *   NULL) overriding it.
 * - PRELOAD true: LD_PRELOAD=$PSTEST_PRELOAD if set, else POOLSHIM_LIB. PRELOAD false:
 *   LD_PRELOAD is removed (unless ENV sets it explicitly).
 * - PSTEST_WRAPPER (e.g. "valgrind --quiet --error-exitcode=97"), split on spaces, prefixes the
 *   command for C test apps that load the shim only (not for perl/python, nor for a run
 *   without the shim, which checks no code of ours).
 * stdin is /dev/null. Free the result with pstest_result_free(). */
pstest_result pstest_run(const char *const argv[], const char *const env[], bool preload);

/* Frees the captured output and clears R. */
void pstest_result_free(pstest_result *r);

/* Value of the first line "KEY=value" in OUT (apps print results this way), or NULL when there is
 * no such line. The returned string is a thread-local copy valid until the next call. */
const char *pstest_line_value(const char *out, const char *key);

/* Samples the server's Threads_connected every 5 ms on a background thread with its own admin
 * connection (which is itself counted). pstest_sampler_start() takes a first sample before it
 * returns; pstest_sampler_stop() joins the thread, frees S and returns the peak seen.
 * pstest_sampler_wait(S, N) returns once N more samples have completed than when it was called
 * (with N >= 2, at least one of them started after the call), however long that takes: no
 * assertion may depend on the sampler keeping pace with the server. */
typedef struct pstest_sampler pstest_sampler;
pstest_sampler *pstest_sampler_start(void);
void pstest_sampler_wait(pstest_sampler *s, long n);
long long pstest_sampler_stop(pstest_sampler *s);

/* True when the test apps run slowly by design: under valgrind (PSTEST_WRAPPER set) or with
 * PSTEST_SLOW=1 (scripts/test --valgrind sets it). Expensive tests then use
 * smaller counts; they never loosen a bound, and no test asserts a speed or a duration. */
bool pstest_slow(void);

/* N, or SLOW_N when pstest_slow(), as a decimal string for an app's argv (thread-local storage
 * of 4 slots, so up to 4 such strings can be used in one argv). */
const char *pstest_count(long n, long slow_n);

/* Asserts that R exited 0, showing its output otherwise (WHAT names the run). */
void pstest_assert_ok(const pstest_result *r, const char *what);

/* Runs each of the N statements STMTS on C (pstest_exec), in order. */
void pstest_exec_all(MYSQL *c, const char *const stmts[], size_t n);

/* The environment of the reap probes (test_classifier, test_replay): one connection per key as
 * a hard cap (POOLSHIM_OVERFLOW=0) and no waiting for it, so a second handle's connect reaps the
 * first one or fails with 1040; handles idle 50 ms are reaped, and the summary is logged at exit
 * (pstest_summary_sum reads it). */
extern const char *const pstest_reaping_env[];

/* The sum of " KEY=<n>" over the shim's exit summary lines (POOLSHIM_LOG_LEVEL=info) in TEXT
 * of the pools of the app user (PSTEST_USER): a probe's admin connection, reaped or not, does
 * not count. */
long long pstest_summary_sum(const char *text, const char *key);

/* The integer value of the "KEY=value" line of R's stdout; fails the test when there is none. */
long long pstest_value_ll(const pstest_result *r, const char *key);

/* Expects each "KEY=value" line named in KEYS (N of them) to read the same in WITH (the run under
 * the shim) as in WITHOUT, where every one must be present. */
void pstest_expect_same_values(const pstest_result *with, const pstest_result *without,
                               const char *const keys[], size_t n);

/* Runs the shell command CMD (without the shim), failing the test when it fails. */
void pstest_shell(const char *cmd);

/* Starts a throwaway server of this test's own (scripts/sandbox) with extra mariadbd OPTIONS
 * and exports its PSTEST_* settings to this process, so helpers and apps use it. */
void pstest_sandbox_start(const char *options);

/* Runs scripts/sandbox ACTION ("stop", "restart", "start") on this test's server. */
void pstest_sandbox_ctl(const char *action);

/* The directory of this test's server (scripts/sandbox DIR). */
const char *pstest_sandbox_dir(void);

/* Stops and removes this test's server (no-op when none); usable as a criterion .fini. */
void pstest_sandbox_stop(void);

#endif
