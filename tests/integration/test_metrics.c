/* The metrics file (POOLSHIM_METRICS_DIR), poolshim-stat and node_exporter's textfile collector,
 * against a known workload (tests/apps/metrics_workload): the file's values equal what the
 * workload did and what the server counted (Connections, Threads_connected), it is mode 0600
 * and removed at exit, a killed process's file is marked stale, poolshim-stat's rows, --json and
 * exit statuses, and node_exporter serves the same values over HTTP. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pstest.h"

#define STAT_TOOL     PSTEST_SOURCE_DIR "/scripts/poolshim-stat"
#define NODE_EXPORTER "/usr/bin/prometheus-node-exporter"

/* A workload app running on a thread of its own (pstest_run waits for its end). */
typedef struct app_run {
    char dir[64];   /* POOLSHIM_METRICS_DIR */
    char ready[96]; /* the app writes its pid here once its file holds every count */
    char go[96];    /* the app finishes once this exists */
    const char *argv[8];
    const char *env[8];
    char env_dir[96];
    pstest_result r;
    pthread_t thread;
    long pid;
} app_run;

static void *run_app(void *arg)
{
    app_run *a = arg;
    a->r = pstest_run(a->argv, a->env, true);
    return NULL;
}

/* Reads the whole file PATH (NULL when it does not exist). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, out);
    fclose(f);
    fclose(out);
    return buf;
}

/* Starts metrics_workload with EXTRA (NULL-terminated "K=V" settings, at most 6) and ARG (NULL
 * or "--dirty"), and waits until it is ready (its file then holds every count). */
static void start_app(app_run *a, const char *arg, const char *const *extra)
{
    memset(a, 0, sizeof *a);
    strcpy(a->dir, "/tmp/pstest-metrics-XXXXXX");
    cr_assert_not_null(mkdtemp(a->dir));
    snprintf(a->ready, sizeof a->ready, "%s.ready", a->dir);
    snprintf(a->go, sizeof a->go, "%s.go", a->dir);
    snprintf(a->env_dir, sizeof a->env_dir, "POOLSHIM_METRICS_DIR=%s", a->dir);
    const char *argv[] = {"metrics_workload", "--ready", a->ready, "--go", a->go, arg, NULL};
    memcpy(a->argv, argv, sizeof argv);
    a->env[0] = a->env_dir;
    for (int i = 0; extra && extra[i]; i++)
        a->env[i + 1] = extra[i];
    cr_assert_eq(pthread_create(&a->thread, NULL, run_app, a), 0);
    char *pid = NULL;
    for (int i = 0; !(pid = slurp(a->ready)); i++) { /* liveness bound: 120 s for seconds */
        cr_assert(i < 12000, "metrics_workload never got ready");
        cr_assert(pthread_tryjoin_np(a->thread, NULL) == EBUSY,
                  "metrics_workload ended early:\n%s\n%s", a->r.out, a->r.err);
        usleep(10000);
    }
    a->pid = atol(pid);
    free(pid);
    cr_assert_gt(a->pid, 0);
}

/* Lets the app finish (GO) or kills it (signal SIG), and collects its result. */
static void end_app(app_run *a, int sig)
{
    if (sig)
        kill((pid_t)a->pid, sig);
    else
        fclose(fopen(a->go, "w"));
    pthread_join(a->thread, NULL);
}

/* Removes the app's files and directory. */
static void cleanup_app(app_run *a)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", a->dir, a->ready, a->go);
    pstest_shell(cmd);
    pstest_result_free(&a->r);
}

/* This process's file of A. */
static void prom_path(const app_run *a, char *out, size_t size)
{
    snprintf(out, size, "%s/poolshim-%ld.prom", a->dir, a->pid);
}

/* The value of the series of METRIC (full name) whose labels include pid PID and, unless NULL,
 * LABEL (e.g. reason="lock"), in exposition TEXT, whatever the order of the labels. */
static double value_of(const char *text, const char *metric, long pid, const char *label)
{
    char pidl[32];
    snprintf(pidl, sizeof pidl, "pid=\"%ld\"", pid);
    size_t n = strlen(metric);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line += !!line) {
        const char *end = strchr(line, '\n'), *close = strchr(line, '}');
        if (!end)
            end = line + strlen(line);
        if (strncmp(line, metric, n) || line[n] != '{' || !close || close > end)
            continue;
        char labels[1024];
        snprintf(labels, sizeof labels, "%.*s", (int)(close - line), line);
        if (strstr(labels, pidl) && (!label || strstr(labels, label)))
            return strtod(close + 1, NULL);
    }
    cr_assert_fail("no %s{%s%s%s} in:\n%s", metric, pidl, label ? "," : "", label ? label : "",
                   text);
    return -1;
}

/* Runs poolshim-stat with ARG1 and ARG2 (either may be NULL) on DIR. */
static pstest_result stat_tool(const char *dir, const char *arg1, const char *arg2)
{
    const char *argv[] = {STAT_TOOL, "--dir", dir, arg1, arg2, NULL};
    if (!arg1)
        argv[3] = NULL;
    return pstest_run(argv, NULL, false);
}

static const char *const dirty_config[] = {
    "POOLSHIM_MAX_PER_KEY=4",  "POOLSHIM_WAIT_TIMEOUT_MS=200", "POOLSHIM_LEAK_WARN_MS=1000",
    "POOLSHIM_REAP_IDLE_MS=0", "POOLSHIM_OVERFLOW=0",          NULL};

#define PS "poolshim_"

/* The dirty workload's counts (see metrics_workload.c): 20 requests, h1 to h5, h4's renewal and
 * h6's refused connect; 4 server connections; one reap, passing over h1 (user variable), h2
 * (transaction) and h3 (GET_LOCK), then h4 (user variable) at h6's connect. */
static void expect_dirty_counts(const char *text, long pid)
{
    static const struct {
        const char *metric, *label;
        double want;
    } rows[] = {
        {PS "connections_requested_total", NULL, 27},
        {PS "connections_reused_total", NULL, 22},
        {PS "connections_failed_total", NULL, 0},
        {PS "connections_timeout_total", NULL, 1},
        {PS "connections_overflow_total", NULL, 0},
        {PS "client_waits_total", NULL, 1},
        {PS "client_waiting_connections", NULL, 0},
        {PS "handles_reaped_total", NULL, 1},
        {PS "handles_renewed_total", NULL, 1},
        {PS "leak_warnings_total", NULL, 3},
        {PS "connections_peak", NULL, 4},
        {PS "connections_max", NULL, 4},
        {PS "connections_active", NULL, 3},
        {PS "connections_idle", NULL, 1},
        {PS "handles_unreclaimable_total", "reason=\"transaction\"", 1},
        {PS "handles_unreclaimable_total", "reason=\"lock\"", 1},
        {PS "handles_unreclaimable_total", "reason=\"session_state\"", 2},
        {PS "handles_unreclaimable_total", "reason=\"reset_keeps\"", 0},
        {PS "handles_unreclaimable_total", "reason=\"other\"", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        cr_expect_eq(value_of(text, rows[i].metric, pid, rows[i].label), rows[i].want,
                     "%s%s: %g, expected %g", rows[i].metric, rows[i].label ? rows[i].label : "",
                     value_of(text, rows[i].metric, pid, rows[i].label), rows[i].want);
    /* every park was reset first, or parked as it was (the clean return) */
    cr_expect_eq(value_of(text, PS "resets_total", pid, NULL) +
                     value_of(text, PS "resets_skipped_total", pid, NULL),
                 23);
    double max = value_of(text, PS "client_maxwait_seconds", pid, NULL);
    cr_expect_gt(max, 0, "the refused connect waited");
    cr_expect_eq(value_of(text, PS "client_wait_seconds_total", pid, NULL), max, "one wait");
}

Test(metrics, file_matches_the_workload_and_the_server)
{
    MYSQL *admin = pstest_admin();
    long long conns = pstest_status(admin, "Connections");
    long long threads = pstest_status(admin, "Threads_connected");
    app_run a;
    start_app(&a, "--dirty", dirty_config);
    char path[160];
    prom_path(&a, path, sizeof path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    cr_expect(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600, "mode %o", st.st_mode);
    char *text = slurp(path);
    cr_assert_not_null(text);
    long long made = pstest_status(admin, "Connections") - conns;
    long long open = pstest_status(admin, "Threads_connected") - threads;
    cr_expect_eq(value_of(text, PS "connections_created_total", a.pid, NULL), (double)made,
                 "new server connections = the server's Connections delta (%lld)", made);
    cr_expect_eq(made, 4);
    cr_expect_eq(value_of(text, PS "connections_active", a.pid, NULL) +
                     value_of(text, PS "connections_idle", a.pid, NULL),
                 (double)open, "leased + idle = the server's Threads_connected delta (%lld)", open);
    expect_dirty_counts(text, a.pid);
    cr_expect_not_null(strstr(text, "# TYPE " PS "connections_created_total counter\n"));
    cr_expect_not_null(strstr(text, "# HELP " PS "connections_active "));
    cr_expect_not_null(strstr(text, "program=\"metrics_workload\""));
    cr_expect_null(strstr(text, pstest_env("PSTEST_PASSWORD")), "no password in the file");
    value_of(text, PS "process_start_time_seconds", a.pid, NULL);

    pstest_result s = stat_tool(a.dir, NULL, NULL);
    cr_expect_eq(s.exit_code, 1, "timeouts and leak warnings: exit 1\n%s%s", s.out, s.err);
    char row[64];
    snprintf(row, sizeof row, "\n%-8ld metrics_workload live ", a.pid);
    cr_expect_not_null(strstr(s.out, row), "no live row for %ld in:\n%s", a.pid, s.out);
    pstest_result_free(&s);
    s = stat_tool(a.dir, "--json", NULL);
    cr_expect_eq(s.exit_code, 1);
    snprintf(row, sizeof row, "{\"pid\": %ld, \"program\": \"metrics_workload\"", a.pid);
    cr_expect_not_null(strstr(s.out, row), "%s", s.out);
    cr_expect_not_null(strstr(s.out, "\"stale\": false, \"requested\": 27, \"reused\": 22, "
                                     "\"created\": 4, \"failed\": 0, \"timeouts\": 1"),
                       "%s", s.out);
    cr_expect_not_null(
        strstr(s.out, "\"unreclaimable\": 4, \"leak_warnings\": 3, \"overflows\": 0}"), "%s",
        s.out);
    pstest_result_free(&s);

    end_app(&a, 0);
    pstest_assert_ok(&a.r, "metrics_workload --dirty");
    cr_expect_eq(pstest_value_ll(&a.r, "h6_errno"), 1040);
    cr_expect_eq(pstest_value_ll(&a.r, "errors"), 0);
    cr_expect_eq(access(path, F_OK), -1, "the file is removed at exit");
    pstest_result empty = stat_tool(a.dir, NULL, NULL);
    cr_expect_eq(empty.exit_code, 0, "an empty directory is healthy");
    cr_expect_eq(strchr(empty.out, '\n'), empty.out + strlen(empty.out) - 1, "only the header");
    pstest_result_free(&empty);
    free(text);
    cleanup_app(&a);
    mysql_close(admin);
}

Test(metrics, overflow_counted)
{
    const char *const config[] = {"POOLSHIM_MAX_PER_KEY=4", "POOLSHIM_LEAK_WARN_MS=1000",
                                  "POOLSHIM_REAP_IDLE_MS=0", "POOLSHIM_OVERFLOW=1", NULL};
    MYSQL *admin = pstest_admin();
    long long conns = pstest_status(admin, "Connections");
    app_run a;
    start_app(&a, "--dirty", config);
    char path[160];
    prom_path(&a, path, sizeof path);
    char *text = slurp(path);
    cr_assert_not_null(text);
    long long made = pstest_status(admin, "Connections") - conns;
    /* h6 finds every connection pinned: one more, past the cap, instead of a 1040 */
    cr_expect_eq(value_of(text, PS "connections_overflow_total", a.pid, NULL), 1);
    cr_expect_eq(value_of(text, PS "connections_timeout_total", a.pid, NULL), 0);
    cr_expect_eq(value_of(text, PS "connections_created_total", a.pid, NULL), (double)made);
    cr_expect_eq(made, 5);
    cr_expect_eq(value_of(text, PS "connections_requested_total", a.pid, NULL), 27);
    cr_expect_eq(value_of(text, PS "connections_peak", a.pid, NULL), 5);
    pstest_result s = stat_tool(a.dir, "--json", NULL);
    cr_expect_not_null(strstr(s.out, "\"overflows\": 1}"), "%s", s.out);
    pstest_result_free(&s);
    end_app(&a, 0);
    pstest_assert_ok(&a.r, "metrics_workload --dirty, overflow on");
    cr_expect_eq(pstest_value_ll(&a.r, "h6_errno"), 0);
    cr_expect_eq(pstest_value_ll(&a.r, "errors"), 0);
    free(text);
    cleanup_app(&a);
    mysql_close(admin);
}

Test(metrics, a_killed_process_file_is_stale)
{
    app_run a;
    start_app(&a, NULL, NULL);
    pstest_result s = stat_tool(a.dir, NULL, NULL);
    cr_expect_eq(s.exit_code, 0, "a healthy pool: exit 0\n%s%s", s.out, s.err);
    char row[64];
    snprintf(row, sizeof row, "\n%-8ld metrics_workload live ", a.pid);
    cr_expect_not_null(strstr(s.out, row), "%s", s.out);
    pstest_result_free(&s);
    end_app(&a, SIGKILL);
    cr_expect_eq(a.r.exit_code, 128 + SIGKILL);
    char path[160];
    prom_path(&a, path, sizeof path);
    cr_assert_eq(access(path, F_OK), 0, "a killed process leaves its file");
    s = stat_tool(a.dir, NULL, NULL);
    cr_expect_eq(s.exit_code, 0, "%s%s", s.out, s.err);
    snprintf(row, sizeof row, "\n%-8ld metrics_workload STALE ", a.pid);
    cr_expect_not_null(strstr(s.out, row), "not marked stale:\n%s", s.out);
    pstest_result_free(&s);
    s = stat_tool(a.dir, "--json", NULL);
    cr_expect_not_null(strstr(s.out, "\"stale\": true"), "%s", s.out);
    pstest_result_free(&s);
    cleanup_app(&a);
}

Test(metrics, failures_and_backoffs)
{
    const char *const unreachable[] = {"PSTEST_SOCKET=/nonexistent-dir/mysqld.sock",
                                       "POOLSHIM_CONNECT_RETRY_MS=60000", NULL};
    MYSQL *admin = pstest_admin();
    long long conns = pstest_status(admin, "Connections");
    app_run a;
    start_app(&a, NULL, unreachable);
    char path[160];
    prom_path(&a, path, sizeof path);
    char *text = slurp(path);
    cr_assert_not_null(text);
    /* 20 requests, the held handle's and the last one; only the first tried for real */
    cr_expect_eq(value_of(text, PS "connections_requested_total", a.pid, NULL), 22);
    cr_expect_eq(value_of(text, PS "connections_failed_total", a.pid, NULL), 22);
    cr_expect_eq(value_of(text, PS "connections_backoff_total", a.pid, NULL), 21);
    cr_expect_eq(value_of(text, PS "connections_created_total", a.pid, NULL), 0);
    cr_expect_eq(value_of(text, PS "connections_reused_total", a.pid, NULL), 0);
    cr_expect_eq(pstest_status(admin, "Connections") - conns, 0);
    pstest_result s = stat_tool(a.dir, NULL, NULL);
    cr_expect_eq(s.exit_code, 0, "failures are not timeouts or leaks\n%s%s", s.out, s.err);
    pstest_result_free(&s);
    end_app(&a, 0);
    pstest_assert_ok(&a.r, "metrics_workload against an unreachable server");
    cr_expect_eq(pstest_value_ll(&a.r, "errors"), 22);
    cr_expect_eq(pstest_value_ll(&a.r, "first_errno"), 2002);
    free(text);
    cleanup_app(&a);
    mysql_close(admin);
}

Test(metrics, poolshim_stat_usage_errors)
{
    const char *const bad[][4] = {
        {STAT_TOOL, "--bogus", NULL},
        {STAT_TOOL, "--dir", "/nonexistent/poolshim-metrics", NULL},
        {STAT_TOOL, "--dir", "/tmp", "--watch"},
        {STAT_TOOL, NULL},
    };
    const char *const no_dir[] = {"POOLSHIM_METRICS_DIR=", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *argv[] = {bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL};
        pstest_result r = pstest_run(argv, no_dir, false);
        cr_expect_eq(r.exit_code, 2, "case %zu: %d\n%s%s", i, r.exit_code, r.out, r.err);
        pstest_result_free(&r);
    }
    pstest_result r = stat_tool("/tmp", "--watch", "0");
    cr_expect_eq(r.exit_code, 2, "--watch 0");
    pstest_result_free(&r);
}

Test(metrics, poolshim_stat_watch_prints_again)
{
    /* waits for the second table (polls for it, liveness bound 60 s), then stops the watch; the
     * output file is created before the watch starts and is this test's own */
    char out[] = "/tmp/pstest-metrics-watch-XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    close(fd);
    const char *argv[] = {"sh",
                          "-c",
                          "\"$0\" --dir /tmp --watch 0.1 > \"$1\" & p=$!; i=0; "
                          "while [ \"$(grep -c '^PID ' \"$1\")\" -lt 2 ] && [ $i -lt 600 ]; do "
                          "sleep 0.1; i=$((i + 1)); done; kill $p; wait $p; grep -c '^PID ' \"$1\"",
                          STAT_TOOL,
                          out,
                          NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    cr_expect_geq(atoi(r.out), 2, "the table printed again:\n%s%s", r.out, r.err);
    pstest_result_free(&r);
    unlink(out);
}

Test(metrics, unwritable_directory_logs_once_and_pools)
{
    app_run a;
    const char *const missing[] = {"POOLSHIM_METRICS_DIR=/nonexistent/poolshim-metrics", NULL};
    memset(&a, 0, sizeof a);
    strcpy(a.dir, "/tmp/pstest-metrics-XXXXXX");
    cr_assert_not_null(mkdtemp(a.dir));
    snprintf(a.ready, sizeof a.ready, "%s/ready", a.dir);
    snprintf(a.go, sizeof a.go, "%s", a.dir); /* exists: the app ends once ready */
    const char *argv[] = {"metrics_workload", "--ready", a.ready, "--go", a.go, NULL};
    MYSQL *admin = pstest_admin();
    long long conns = pstest_status(admin, "Connections");
    pstest_result r = pstest_run(argv, missing, true);
    pstest_assert_ok(&r, "metrics_workload with an unwritable POOLSHIM_METRICS_DIR");
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0);
    cr_expect_eq(pstest_status(admin, "Connections") - conns, 1, "pooled all the same");
    const char *line = strstr(r.err, "cannot write the metrics file /nonexistent/");
    cr_expect_not_null(line, "%s", r.err);
    cr_expect(line && !strstr(line + 1, "cannot write the metrics file"), "one line:\n%s", r.err);
    pstest_result_free(&r);
    snprintf(a.go, sizeof a.go, "/nonexistent");
    cleanup_app(&a);
    mysql_close(admin);
}

/* A loopback port nothing listens on now (the kernel's choice). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts node_exporter with only the textfile collector, reading DIR, on 127.0.0.1:PORT. */
static pid_t start_node_exporter(const char *dir, int port)
{
    char listen[64], textdir[128];
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", port);
    snprintf(textdir, sizeof textdir, "--collector.textfile.directory=%s", dir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
        unsetenv("LD_PRELOAD");
        execl(NODE_EXPORTER, NODE_EXPORTER, listen, "--collector.disable-defaults",
              "--collector.textfile", textdir, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* GETs http://127.0.0.1:PORT/metrics with curl until node_exporter answers (polls for the
 * event; liveness bound 60 s); NULL when it exited first (its port was taken). */
static char *scrape(pid_t exporter, int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    const char *argv[] = {"curl", "--silent", "--fail", url, NULL};
    for (int i = 0; i < 600; i++) {
        pstest_result r = pstest_run(argv, NULL, false);
        if (r.exit_code == 0) {
            free(r.err);
            return r.out;
        }
        pstest_result_free(&r);
        int status;
        if (waitpid(exporter, &status, WNOHANG) == exporter)
            return NULL;
        usleep(100000);
    }
    cr_assert_fail("node_exporter on port %d never answered", port);
    return NULL;
}

Test(metrics, node_exporter_serves_the_values)
{
    cr_assert_eq(access(NODE_EXPORTER, X_OK), 0, "%s missing (scripts/deps test)", NODE_EXPORTER);
    MYSQL *admin = pstest_admin();
    long long conns = pstest_status(admin, "Connections");
    long long threads = pstest_status(admin, "Threads_connected");
    app_run a;
    start_app(&a, NULL, NULL);
    long long made = pstest_status(admin, "Connections") - conns;
    long long open = pstest_status(admin, "Threads_connected") - threads;
    char *text = NULL;
    pid_t exporter = -1;
    for (int attempt = 0; !text && attempt < 5; attempt++) { /* a port taken meanwhile */
        int port = free_port();
        exporter = start_node_exporter(a.dir, port);
        if (!(text = scrape(exporter, port)))
            exporter = -1;
    }
    cr_assert_not_null(text, "node_exporter did not start");
    kill(exporter, SIGTERM);
    waitpid(exporter, NULL, 0);
    cr_expect_eq(value_of(text, PS "connections_created_total", a.pid, NULL), (double)made,
                 "created = the server's Connections delta (%lld)", made);
    cr_expect_eq(made, 1);
    cr_expect_eq(value_of(text, PS "connections_active", a.pid, NULL) +
                     value_of(text, PS "connections_idle", a.pid, NULL),
                 (double)open, "leased + idle = the Threads_connected delta (%lld)", open);
    cr_expect_eq(value_of(text, PS "connections_requested_total", a.pid, NULL), 21);
    cr_expect_eq(value_of(text, PS "connections_reused_total", a.pid, NULL), 20);
    cr_expect_eq(value_of(text, PS "resets_total", a.pid, NULL) +
                     value_of(text, PS "resets_skipped_total", a.pid, NULL),
                 20);
    cr_expect_geq(value_of(text, PS "resets_skipped_total", a.pid, NULL), 19,
                  "its connect/SELECT/close requests are clean returns: parked with no reset");
    cr_expect_eq(value_of(text, PS "connections_active", a.pid, NULL), 1);
    cr_expect_not_null(strstr(text, "node_textfile_scrape_error 0"), "%s", text);
    free(text);
    end_app(&a, 0);
    pstest_assert_ok(&a.r, "metrics_workload");
    cleanup_app(&a);
    mysql_close(admin);
}
