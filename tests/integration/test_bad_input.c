/* Bad input: NULL handles, double and never-connected closes, calls on closed and reaped handles,
 * MySQL used from constructors, garbage in every POOLSHIM_* variable, an unsupported client
 * library version. The requirement: the same behaviour as without the shim (byte-identical
 * KEY=value output, the same exit status or signal), or a clear log line; never a crash the
 * library alone would not have. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pstest.h"

/* Asserts that R exited 0, printing its output otherwise. */
static void assert_ok(const pstest_result *r, const char *what)
{
    cr_assert_eq(r->exit_code, 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s", what, r->exit_code,
                 r->out, r->err);
}

/* True when line LINE (up to its newline) starts with "KEY=" for a KEY in SKIP (NULL-ended). */
static bool skipped_key(const char *line, const char *const *skip)
{
    for (size_t i = 0; skip && skip[i]; i++) {
        size_t n = strlen(skip[i]);
        if (!strncmp(line, skip[i], n) && line[n] == '=')
            return true;
    }
    return false;
}

/* A malloc'd copy of OUT without its x_* lines (run-specific values) and SKIP's keys. */
static char *comparable(const char *out, const char *const *skip)
{
    char *copy = malloc(strlen(out) + 1), *w = copy;
    cr_assert_not_null(copy);
    for (const char *line = out; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
        if (strncmp(line, "x_", 2) && !skipped_key(line, skip)) {
            memcpy(w, line, len);
            w += len;
        }
        line += len;
    }
    *w = '\0';
    return copy;
}

/* How many lines of ERR the shim wrote. */
static int shim_lines(const char *err)
{
    int n = 0;
    for (const char *p = err; (p = strstr(p, "poolshim[")); p++)
        n++;
    return n;
}

/* How many times NEEDLE occurs in HAY. */
static int occurrences(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Runs bad_input SCENARIO with ENV, with and without the shim. */
static void run_both(const char *scenario, const char *const env[], pstest_result *with,
                     pstest_result *without)
{
    const char *argv[] = {"bad_input", scenario, NULL};
    *with = pstest_run(argv, env, true);
    *without = pstest_run(argv, env, false);
}

/* Asserts that SCENARIO behaves exactly as without the shim: the same exit status (or signal),
 * the same output except x_* lines and the keys in KNOWN (differences owned elsewhere), and no
 * line from the shim. Returns the run with the shim (caller frees). */
static pstest_result same_as_without_shim(const char *scenario, const char *const env[],
                                          const char *const *known)
{
    pstest_result with, without;
    run_both(scenario, env, &with, &without);
    cr_assert_eq(with.exit_code, without.exit_code,
                 "%s: exit %d with the shim, %d without\nwith:\n%s%s\nwithout:\n%s%s", scenario,
                 with.exit_code, without.exit_code, with.out, with.err, without.out, without.err);
    char *a = comparable(with.out, known), *b = comparable(without.out, known);
    cr_assert_str_eq(a, b, "%s: with the shim:\n%s\nwithout:\n%s", scenario, with.out, without.out);
    cr_assert_eq(shim_lines(with.err), 0, "%s: the shim logged:\n%s", scenario, with.err);
    free(a);
    free(b);
    pstest_result_free(&without);
    return with;
}

Test(null_handle, calls_the_library_tolerates_behave_as_without_the_shim)
{
    const char *const scenarios[] = {"close_null", "getters_null"};
    for (size_t i = 0; i < 2; i++) {
        pstest_result r = same_as_without_shim(scenarios[i], NULL, NULL);
        assert_ok(&r, scenarios[i]);
        pstest_result_free(&r);
    }
}

Test(null_handle, interposed_calls_that_crash_the_library_crash_the_same_way)
{
    const char *const scenarios[] = {"connect_null", "connect_start_null", "select_db_null",
                                     "change_user_null", "reconnect_null"};
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++) {
        pstest_result r = same_as_without_shim(scenarios[i], NULL, NULL);
        cr_assert_geq(r.exit_code, 128, "%s did not crash:\n%s", scenarios[i], r.out);
        cr_assert_null(strstr(r.out, "done=1"), "%s", r.out);
        pstest_result_free(&r);
    }
}

Test(never_connected, closes_of_never_connected_and_failed_handles_behave_as_without_the_shim)
{
    const char *const scenarios[] = {"init_close_never_connected", "failed_connect_then_close"};
    for (size_t i = 0; i < 2; i++) {
        pstest_result r = same_as_without_shim(scenarios[i], NULL, NULL);
        assert_ok(&r, scenarios[i]);
        pstest_result_free(&r);
    }
}

Test(double_close, a_stack_handle_closed_twice_behaves_as_without_the_shim)
{
    pstest_result r = same_as_without_shim("double_close_stack", NULL, NULL);
    assert_ok(&r, "double_close_stack");
    cr_assert_str_eq(pstest_line_value(r.out, "after_errno"), "2006", "%s", r.out);
    pstest_result_free(&r);
}

/* SCENARIO closes a heap handle twice: without the shim the library reads freed memory and
 * crashes; with it the second close is ignored with one warning and the program goes on. */
static void second_close_is_ignored(const char *scenario, const char *const env[])
{
    pstest_result with, without;
    run_both(scenario, env, &with, &without);
    cr_assert_neq(without.exit_code, 0, "%s survived without the shim:\n%s", scenario, without.out);
    assert_ok(&with, scenario);
    cr_assert(!strncmp(with.out, without.out, strlen(without.out)),
              "%s: the output before the second close differs\nwith:\n%s\nwithout:\n%s", scenario,
              with.out, without.out);
    cr_assert_str_eq(pstest_line_value(with.out, "second_close"), "returned", "%s", with.out);
    cr_assert_eq(shim_lines(with.err), 1, "%s: expected one log line:\n%s", scenario, with.err);
    cr_assert_eq(occurrences(with.err, "mysql_close called twice on handle 0x"), 1, "%s", with.err);
    cr_assert_not_null(strstr(with.err, "; ignored\n"), "%s", with.err);
    pstest_result_free(&with);
    pstest_result_free(&without);
}

Test(double_close, a_heap_handle_closed_twice_is_ignored_with_one_warning)
{
    second_close_is_ignored("double_close_heap", NULL);
    second_close_is_ignored("double_close_heap_never_connected", NULL);
}

/* True when the apps run under a wrapper (valgrind: PSTEST_WRAPPER). */
static bool wrapped(void)
{
    const char *wrapper = getenv("PSTEST_WRAPPER");
    return wrapper && *wrapper;
}

/* True when the apps run with an allocator that quarantines freed memory (ASan, valgrind), so
 * that a freed address is not handed out again at once. */
static bool quarantined_allocator(void)
{
    const char *preload = getenv("PSTEST_PRELOAD");
    return (preload && strstr(preload, "libasan")) || wrapped();
}

Test(double_close, addresses_reused_after_a_close_are_not_taken_for_a_second_close)
{
    pstest_result r = same_as_without_shim("closed_heap_address_reused", NULL, NULL);
    assert_ok(&r, "closed_heap_address_reused");
    cr_assert_str_eq(pstest_line_value(r.out, "own_select_rc"), "0", "%s", r.out);
    cr_assert_str_eq(pstest_line_value(r.out, "copy_select_rc"), "0", "%s", r.out);
    /* Only meaningful when malloc did hand the closed handles' addresses out again. */
    const char *const reuse[] = {"x_heap_reused", "x_own_reused", "x_copy_reused"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = pstest_line_value(r.out, reuse[i]);
        if (quarantined_allocator())
            cr_log_info("allocator quarantine: %s=%s", reuse[i], v);
        else
            cr_assert_str_eq(v, "1", "malloc did not reuse the address (%s):\n%s", reuse[i], r.out);
    }
    pstest_result_free(&r);
}

Test(double_close, a_reaped_heap_handle_closed_twice_is_ignored_with_one_warning)
{
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=1", "POOLSHIM_WAIT_TIMEOUT_MS=2000", NULL};
    second_close_is_ignored("double_close_after_reap", env);
}

Test(closed_handle, calls_on_a_closed_stack_handle_fail_as_without_the_shim)
{
    pstest_result r = same_as_without_shim("ops_on_closed_stack_handle", NULL, NULL);
    assert_ok(&r, "ops_on_closed_stack_handle");
    cr_assert_not_null(pstest_line_value(r.out, "closed_sqlstate"), "%s", r.out);
    cr_assert_str_eq(pstest_line_value(r.out, "query_errno"), "2006", "%s", r.out);
    cr_assert_str_eq(pstest_line_value(r.out, "reset_errno"), "2006", "%s", r.out);
    pstest_result_free(&r);
}

Test(closed_handle, change_user_on_a_closed_stack_handle_fails_as_without_the_shim)
{
    pstest_result with, without;
    run_both("change_user_on_closed_stack_handle", NULL, &with, &without);
    assert_ok(&with, "change_user_on_closed_stack_handle");
    /* Without the shim the library writes a byte into the network buffer its close freed:
     * harmless in practice, but valgrind reports it (exit 97). The shim answers without calling
     * the library (hook_identity.c), as its own close leaves no buffer to write to. */
    cr_assert(without.exit_code == 0 || (wrapped() && without.exit_code == 97),
              "exit %d without the shim:\n%s%s", without.exit_code, without.out, without.err);
    cr_assert_str_eq(with.out, without.out, "with the shim:\n%s\nwithout:\n%s", with.out,
                     without.out);
    cr_assert_str_eq(pstest_line_value(with.out, "change_user_errno"), "2006", "%s", with.out);
    cr_assert_eq(shim_lines(with.err), 0, "%s", with.err);
    pstest_result_free(&with);
    pstest_result_free(&without);
}

Test(closed_handle, change_user_on_a_never_connected_handle_fails_instead_of_crashing)
{
    pstest_result with, without;
    run_both("change_user_never_connected", NULL, &with, &without);
    cr_assert_geq(without.exit_code, 128, "the library no longer crashes here:\n%s", without.out);
    assert_ok(&with, "change_user_never_connected");
    cr_assert_str_eq(pstest_line_value(with.out, "change_user_rc"), "1", "%s", with.out);
    cr_assert_str_eq(pstest_line_value(with.out, "change_user_errno"), "2006", "%s", with.out);
    cr_assert_str_eq(pstest_line_value(with.out, "change_user_error"), "Server has gone away");
    pstest_result_free(&with);
    pstest_result_free(&without);
}

Test(reap, a_handle_used_after_it_was_reaped_works_as_without_the_shim)
{
    const char *env[] = {"POOLSHIM_MAX_PER_KEY=1", "POOLSHIM_REAP_IDLE_MS=50",
                         "POOLSHIM_WAIT_TIMEOUT_MS=2000", NULL};
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    pstest_result r = same_as_without_shim("use_after_reap", env, NULL);
    long long delta = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    assert_ok(&r, "use_after_reap");
    cr_assert_str_eq(pstest_line_value(r.out, "a_after_reap_errno"), "0", "%s", r.out);
    char b_id[32];
    snprintf(b_id, sizeof b_id, "%s", pstest_line_value(r.out, "x_b_id"));
    cr_assert_str_eq(pstest_line_value(r.out, "x_a_id_before"), b_id,
                     "B did not get A's connection: A was not reaped\n%s", r.out);
    /* 1 with the shim (cap 1, so A and B took turns), 2 more for the unshimmed run. */
    cr_assert_eq(delta, 3, "Connections grew by %lld", delta);
    pstest_result_free(&r);
}

Test(library_end, the_library_can_be_used_again_after_mysql_library_end)
{
    pstest_result r = same_as_without_shim("connect_after_library_end", NULL, NULL);
    assert_ok(&r, "connect_after_library_end");
    cr_assert_str_eq(pstest_line_value(r.out, "second_select_rc"), "0", "%s", r.out);
    pstest_result_free(&r);
}

Test(constructor, connects_from_library_and_program_constructors_work_and_are_pooled)
{
    const char *preload = getenv("PSTEST_PRELOAD");
    if (preload && strstr(preload, "libtsan"))
        /* The loader runs this library's constructor before libtsan's own initialiser (a
         * preloaded object initialises after the ones the program links), so the instrumented
         * shim would run before its runtime exists. The plain and ASan runs cover it. */
        cr_skip_test("a constructor runs before the TSan runtime is initialised");
    const char *argv[] = {"ctor_connect_app", NULL};
    MYSQL *admin = pstest_admin();
    long long c0 = pstest_status(admin, "Connections");
    pstest_result with = pstest_run(argv, NULL, true);
    long long c1 = pstest_status(admin, "Connections");
    pstest_result without = pstest_run(argv, NULL, false);
    long long c2 = pstest_status(admin, "Connections");
    mysql_close(admin);
    assert_ok(&with, "ctor_connect_app with the shim");
    assert_ok(&without, "ctor_connect_app without the shim");
    char *a = comparable(with.out, NULL), *b = comparable(without.out, NULL);
    cr_assert_str_eq(a, b, "with the shim:\n%s\nwithout:\n%s", with.out, without.out);
    char lib_id[32];
    snprintf(lib_id, sizeof lib_id, "%s", pstest_line_value(with.out, "x_lib_ctor_id"));
    cr_assert_str_eq(pstest_line_value(with.out, "x_main_ctor_id"), lib_id, "%s", with.out);
    cr_assert_str_eq(pstest_line_value(with.out, "x_main_id"), lib_id, "%s", with.out);
    cr_assert_eq(c1 - c0, 1, "with the shim, Connections grew by %lld", c1 - c0);
    cr_assert_eq(c2 - c1, 3, "without the shim, Connections grew by %lld", c2 - c1);
    cr_assert_eq(shim_lines(with.err), 0, "%s", with.err);
    free(a);
    free(b);
    pstest_result_free(&with);
    pstest_result_free(&without);
}

/* LD_PRELOAD=<the shim as the tests preload it> <PSTEST_LIBS_DIR>/LIB, in a static buffer. */
static const char *preload_after_shim(const char *lib)
{
    static char kv[4096];
    const char *base = getenv("PSTEST_PRELOAD");
    snprintf(kv, sizeof kv, "LD_PRELOAD=%s %s/%s", base && *base ? base : POOLSHIM_LIB,
             PSTEST_LIBS_DIR, lib);
    return kv;
}

/* Runs connect_loop --n 5 with ENV under the shim; returns the growth of Connections. */
static long long loop_5(const char *const env[], pstest_result *r)
{
    const char *argv[] = {"connect_loop", "--n", "5", NULL};
    MYSQL *admin = pstest_admin();
    long long before = pstest_status(admin, "Connections");
    *r = pstest_run(argv, env, true);
    long long delta = pstest_status(admin, "Connections") - before;
    mysql_close(admin);
    assert_ok(r, "connect_loop");
    cr_assert_str_eq(pstest_line_value(r->out, "errors"), "0", "%s", r->out);
    return delta;
}

Test(version, an_unsupported_client_library_version_is_logged_once_and_passed_through)
{
    const char *env[] = {preload_after_shim("libfake_client_version.so"), NULL};
    pstest_result r;
    long long delta = loop_5(env, &r);
    cr_assert_eq(occurrences(r.err, "libmariadb 3.1.5 is not a supported version (3.3.x); "
                                    "passing everything through\n"),
                 1, "%s", r.err);
    cr_assert_eq(shim_lines(r.err), 1, "one line, and only one:\n%s", r.err);
    cr_assert_eq(delta, 5, "one server connection per connect expected, got %lld", delta);
    cr_assert_str_eq(pstest_line_value(r.out, "distinct_ids"), "5", "%s", r.out);
    pstest_result_free(&r);
    /* Control: the same run without the fake library pools. */
    delta = loop_5(NULL, &r);
    cr_assert_eq(delta, 1, "%s", r.out);
    cr_assert_eq(shim_lines(r.err), 0, "%s", r.err);
    pstest_result_free(&r);
}

/* ---- garbage in every POOLSHIM_* variable ------------------------------------------------ */

typedef struct cfg_var {
    const char *name, *type;
} cfg_var;

/* Every variable, straight from the table the shim is built from: none can be missed. */
static const cfg_var cfg_vars[] = {
#define PS_CFG(NAME, type, field, dflt, min, max, doc) {"POOLSHIM_" #NAME, #type},
#include "poolshim/config.def"
#undef PS_CFG
};

#define LONG_VALUE                                                                                 \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* Values that are not a number, a boolean or a level, whatever the range. */
static const char *const not_a_value[] = {"abc",
                                          "-1",
                                          "99999999999999999999",
                                          "",
                                          "1e3",
                                          " 5",
                                          "\xff\xfe\xc3",
                                          LONG_VALUE,
                                          "1\npoolshim[1]: warn: forged line",
                                          NULL};

/* Paths the shim cannot log to (%s: a FIFO nobody reads, made by the test). */
static const char *const bad_log_files[] = {LONG_VALUE,
                                            "/",
                                            "/nonexistent-dir/poolshim.log",
                                            "/dev/null/poolshim.log",
                                            "/nonexistent-dir/\xff\nforged",
                                            "%s",
                                            NULL};

/* Directories the shim cannot keep a metrics file in (%s: the FIFO, not a directory). */
static const char *const bad_dirs[] = {
    LONG_VALUE, "/proc", "/nonexistent-dir", "/dev/null", "/nonexistent-dir/\xff\nforged",
    "%s",       NULL};

/* The garbage values for variable NAME of TYPE (config.def). */
static const char *const *garbage_for(const char *name, const char *type)
{
    if (!strcmp(name, "POOLSHIM_METRICS_DIR"))
        return bad_dirs;
    if (!strcmp(type, "STR"))
        return bad_log_files;
    if (!strcmp(type, "BOOL") || !strcmp(type, "INT") || !strcmp(type, "AUTOINT") ||
        !strcmp(type, "MS") || !strcmp(type, "LEVEL"))
        return not_a_value;
    cr_assert(false, "no garbage values for configuration type %s: add them here", type);
    return NULL;
}

/* True when S holds printable ASCII only. */
static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

/* Asserts that ERR is exactly one printable line from the shim that names VAR. */
static void one_clear_line(const char *err, const char *var, const char *value)
{
    const char *nl = strchr(err, '\n');
    cr_assert(nl && nl[1] == '\0', "%s='%s': expected exactly one line, got:\n%s", var, value, err);
    cr_assert(!strncmp(err, "poolshim[", 9), "%s='%s': %s", var, value, err);
    cr_assert_not_null(strstr(err, var), "%s='%s': the line does not name it: %s", var, value, err);
    cr_assert(printable(err, (size_t)(nl - err)), "%s='%s': unprintable bytes: %s", var, value,
              err);
}

/* Runs connect_once under the shim with VAR=VALUE; asserts it works as without the shim (WANT is
 * that output) and logs one clear line. A hang is cut short by timeout(1). */
static void garbage_run(const char *var, const char *value, const char *want)
{
    char kv[1024], app[512];
    snprintf(kv, sizeof kv, "%s=%s", var, value);
    snprintf(app, sizeof app, "%s/connect_once", PSTEST_APPS_DIR);
    const char *argv[] = {"timeout", "30", app, NULL};
    const char *env[] = {kv, NULL};
    pstest_result r = pstest_run(argv, env, true);
    cr_assert_eq(r.exit_code, 0, "%s='%s': exit %d\n%s\n%s", var, value, r.exit_code, r.out, r.err);
    cr_assert_str_eq(r.out, want, "%s='%s': output differs:\n%s", var, value, r.out);
    one_clear_line(r.err, var, value);
    pstest_result_free(&r);
}

Test(config, garbage_in_every_variable_logs_one_clear_line_and_changes_nothing)
{
    const char *argv[] = {"connect_once", NULL};
    pstest_result base = pstest_run(argv, NULL, false);
    assert_ok(&base, "connect_once without the shim");
    char dir[] = "/tmp/pstest-fifo-XXXXXX", fifo[64];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/log", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    size_t n = sizeof cfg_vars / sizeof *cfg_vars;
    cr_assert_geq(n, 11, "config.def lists %zu variables", n);
    for (size_t i = 0; i < n; i++) {
        const char *const *values = garbage_for(cfg_vars[i].name, cfg_vars[i].type);
        for (size_t j = 0; values[j]; j++)
            garbage_run(cfg_vars[i].name, strcmp(values[j], "%s") ? values[j] : fifo, base.out);
    }
    unlink(fifo);
    rmdir(dir);
    pstest_result_free(&base);
}

Test(config, an_empty_log_file_means_stderr_and_is_not_an_error)
{
    const char *argv[] = {"connect_once", NULL};
    const char *env[] = {"POOLSHIM_LOG_FILE=", "POOLSHIM_MAX_PER_KEY=abc", NULL};
    pstest_result r = pstest_run(argv, env, true);
    assert_ok(&r, "connect_once");
    one_clear_line(r.err, "POOLSHIM_MAX_PER_KEY", "abc");
    pstest_result_free(&r);
}
