/* The query log (POOLSHIM_QUERY_LOG) and leak reports that name the statement: a known
 * workload's lines against what the server counted (Questions), redaction of literals and of
 * passwords, whole lines from concurrent threads, and the statement and stack of a pinned
 * session in its leak warning. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pstest.h"

/* A fresh path for a query log (removed first). */
static const char *log_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "/tmp/pstest-%s-%d.log", name, (int)getpid());
    unlink(path);
    return path;
}

/* The whole file at PATH (malloc'd; "" when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    cr_assert_not_null(m);
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            fwrite(chunk, 1, n, m);
        fclose(f);
    }
    fclose(m);
    return buf;
}

/* The lines of TEXT as an array (strdup'd in one block; *N lines). */
static char **split_lines(char *text, int *n)
{
    int cap = 16;
    char **lines = malloc(sizeof *lines * (size_t)cap);
    *n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (*n == cap)
            lines = realloc(lines, sizeof *lines * (size_t)(cap *= 2));
        lines[(*n)++] = l;
    }
    return lines;
}

/* The statement of query log line L: what follows its " lease=N " field. */
static const char *statement_of(const char *l)
{
    const char *p = strstr(l, " lease=");
    cr_assert_not_null(p, "not a query log line: %s", l);
    p = strchr(p + 1, ' ');
    cr_assert_not_null(p, "no statement: %s", l);
    return p + 1;
}

/* Asserts that L is a whole query log line of process PID (0: any) and key user USER. */
static void expect_line_shape(const char *l, int pid, const char *user)
{
    int y, mo, d, h, mi, s, us;
    long long sec, frac;
    char rest[64];
    cr_assert_eq(sscanf(l, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ %lld.%6lld %63s", &y, &mo, &d, &h, &mi, &s,
                        &us, &sec, &frac, rest),
                 10, "not a query log line: %s", l);
    char want[64];
    snprintf(want, sizeof want, " key=%s@", user);
    cr_assert(!strncmp(rest, "pid=", 4) && strstr(l, want), "%s", l);
    if (pid)
        cr_assert_eq(atoi(rest + 4), pid, "%s", l);
}

/* Literals of querylog_probe's workload that must not reach any statement in the query log;
 * the first SECRETS of them (text no address or number can spell) reach no log at all. */
static const char *const workload_literals[] = {"secret-pw-9876",
                                                "literal-abc",
                                                "row-value-xyz",
                                                "prepared-literal",
                                                "nope-1",
                                                "4242",
                                                "777",
                                                "1000",
                                                "32",
                                                "'",
                                                "\"",
                                                NULL};
enum { SECRETS = 5 };

Test(querylog, one_line_per_statement_the_server_counted_literals_redacted)
{
    const char *path = log_path("querylog");
    char env_log[600];
    snprintf(env_log, sizeof env_log, "POOLSHIM_QUERY_LOG=%s", path);
    const char *env[] = {env_log, "POOLSHIM_LOG_LEVEL=debug", NULL};
    const char *argv[] = {"querylog_probe", "workload", NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "querylog_probe workload");
    long long questions =
        pstest_value_ll(&r, "questions_after") - pstest_value_ll(&r, "questions_before");

    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "no query log at %s", path);
    cr_expect_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    char *text = slurp(path), *copy = strdup(text);
    for (int i = 0; i < SECRETS; i++) {
        cr_expect_null(strstr(text, workload_literals[i]), "'%s' in the query log:\n%s",
                       workload_literals[i], text);
        cr_expect_null(strstr(r.err, workload_literals[i]), "'%s' in the debug log:\n%s",
                       workload_literals[i], r.err);
        cr_expect_null(strstr(r.out, workload_literals[i]), "'%s' in the output", r.out);
    }
    int n, first = -1, last = -1, prepares = 0, executes = 0;
    char **lines = split_lines(copy, &n);
    for (int i = 0; i < n; i++) {
        expect_line_shape(lines[i], 0, pstest_env("PSTEST_ADMIN_USER"));
        for (int k = 0; workload_literals[k]; k++)
            cr_expect_null(strstr(statement_of(lines[i]), workload_literals[k]),
                           "'%s' in a statement: %s", workload_literals[k], lines[i]);
        if (strstr(lines[i], "SESSION_STATUS WHERE VARIABLE_NAME = ?"))
            last = i, first = first < 0 ? i : first;
    }
    cr_assert(first >= 0 && last > first, "no two Questions reads in:\n%s", text);
    unsigned long prepared = 0, executed;
    for (int i = first + 1; i <= last; i++) {
        const char *sql = statement_of(lines[i]);
        if (sscanf(sql, "PREPARE %lu: ", &prepared) == 1) {
            prepares++;
            cr_expect(strstr(sql, ": SELECT ? + ?, ?"), "%s", sql);
        } else if (sscanf(sql, "EXECUTE %lu", &executed) == 1) {
            executes++;
            cr_expect_eq(executed, prepared, "%s after PREPARE %lu", sql, prepared);
        }
    }
    /* Questions counts every statement but COM_STMT_PREPARE (MariaDB's rule). */
    cr_expect_eq(last - first - prepares, questions, "%lld statements counted, log:\n%s", questions,
                 text);
    cr_expect_eq(prepares, 1);
    cr_expect_eq(executes, 3);
    cr_expect(strstr(text, " SELECT ?, ?, ?, ?\n"), "%s", text);
    cr_expect(strstr(text, " IN (?, ...)\n"), "%s", text);
    cr_expect(strstr(text, " INSERT INTO querylog_t VALUES (?, ?)\n"), "%s", text);
    cr_expect(strstr(text, " CREATE USER <redacted>\n"), "%s", text);
    free(lines);
    free(copy);
    free(text);
    unlink(path);
    pstest_result_free(&r);
}

Test(querylog, off_by_default_and_silent)
{
    const char *path = log_path("querylog-off");
    const char *argv[] = {"querylog_probe", "workload", NULL};
    pstest_result r = pstest_run(argv, NULL, true);
    pstest_assert_ok(&r, "querylog_probe workload");
    cr_expect_neq(access(path, F_OK), 0);
    cr_expect_null(strstr(r.err, "poolshim"), "%s", r.err);
    pstest_result_free(&r);
}

Test(querylog, threads_write_whole_lines)
{
    const char *path = log_path("querylog-threads");
    char env_log[600];
    snprintf(env_log, sizeof env_log, "POOLSHIM_QUERY_LOG=%s", path);
    const char *env[] = {env_log, NULL};
    const char *argv[] = {"thread_storm", "close", "16", pstest_count(20, 5), NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "thread_storm");
    long long requests = pstest_value_ll(&r, "requests");
    char *text = slurp(path);
    int n;
    char **lines = split_lines(text, &n);
    for (int i = 0; i < n; i++)
        expect_line_shape(lines[i], 0, pstest_env("PSTEST_USER"));
    /* each request: SELECT @storm IS NULL, SET @storm, SELECT @storm (see thread_storm.c) */
    cr_expect_eq(n, 3 * requests, "%d lines for %lld requests", n, requests);
    unlink(path);
    free(lines);
    free(text);
    pstest_result_free(&r);
}

Test(leak_report, names_the_statement_and_the_stack_that_pinned_the_session)
{
    const char *env[] = {"POOLSHIM_LEAK_WARN_MS=100", "POOLSHIM_REAP_IDLE_MS=100", NULL};
    const char *argv[] = {"querylog_probe", "pin", "300", NULL};
    pstest_result r = pstest_run(argv, env, true);
    pstest_assert_ok(&r, "querylog_probe pin");
    const char *w = strstr(r.err, "possible connection leak");
    cr_assert_not_null(w, "no leak warning:\n%s", r.err);
    const char *pin =
        strstr(w, "session made unreclaimable by: SET @querylog_pin = CONCAT(?); sent at:");
    cr_assert_not_null(pin, "the warning does not name the statement:\n%s", r.err);
    const char *frames = strchr(pin, '\n');
    cr_assert(frames && strstr(frames, "querylog_probe("), "no frame of the app:\n%s", r.err);
    cr_expect_null(strstr(r.err, "pin-secret-4711"), "a literal in the log:\n%s", r.err);
    pstest_result_free(&r);
}
