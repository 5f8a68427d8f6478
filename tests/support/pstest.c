/* Helpers for criterion integration tests: see pstest.h for the contracts. */
#include "pstest.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *pstest_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        cr_assert_fail("%s not set: run the tests through scripts/test", name);
    return v;
}

/* Connects as admin over the sandbox socket; returns NULL (and the error in ERR) on failure.
 * Asserts nothing, so it is safe on the sampler thread. */
static MYSQL *admin_connect(char *err, size_t errlen)
{
    const char *sock = getenv("PSTEST_SOCKET"), *user = getenv("PSTEST_ADMIN_USER");
    const char *pw = getenv("PSTEST_ADMIN_PASSWORD");
    MYSQL *c = mysql_init(NULL);
    if (!c) {
        snprintf(err, errlen, "mysql_init failed");
        return NULL;
    }
    if (!mysql_real_connect(c, "localhost", user, pw, NULL, 0, sock, 0)) {
        snprintf(err, errlen, "admin connect to %s failed: %u: %s", sock ? sock : "(null)",
                 mysql_errno(c), mysql_error(c));
        mysql_close(c);
        return NULL;
    }
    return c;
}

MYSQL *pstest_admin(void)
{
    char err[512];
    pstest_env("PSTEST_SOCKET");
    pstest_env("PSTEST_ADMIN_USER");
    pstest_env("PSTEST_ADMIN_PASSWORD");
    MYSQL *c = admin_connect(err, sizeof err);
    if (!c)
        cr_assert_fail("%s", err);
    return c;
}

/* Formats and runs a statement; asserts success. Returns the stored result (NULL when the
 * statement has none). The caller frees it. */
static MYSQL_RES *run_query(MYSQL *c, const char *fmt, va_list ap)
{
    char *sql = NULL;
    cr_assert(vasprintf(&sql, fmt, ap) >= 0, "out of memory");
    int rc = mysql_real_query(c, sql, strlen(sql));
    if (rc != 0)
        cr_assert_fail("query failed: %s\n  error %u: %s", sql, mysql_errno(c), mysql_error(c));
    MYSQL_RES *res = mysql_store_result(c);
    if (!res && mysql_field_count(c) != 0)
        cr_assert_fail("reading result failed: %s\n  error %u: %s", sql, mysql_errno(c),
                       mysql_error(c));
    free(sql);
    return res;
}

void pstest_exec(MYSQL *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    MYSQL_RES *res = run_query(c, fmt, ap);
    va_end(ap);
    mysql_free_result(res);
}

/* First column of the first row of RES (freed here) as a malloc'd string or NULL for SQL NULL;
 * asserts that the row exists. */
static char *first_value(MYSQL_RES *res)
{
    cr_assert(res != NULL, "query returned no result set");
    MYSQL_ROW row = mysql_fetch_row(res);
    if (!row) {
        mysql_free_result(res);
        cr_assert_fail("query returned no rows");
    }
    char *v = row[0] ? strdup(row[0]) : NULL;
    mysql_free_result(res);
    return v;
}

long long pstest_query_ll(MYSQL *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    MYSQL_RES *res = run_query(c, fmt, ap);
    va_end(ap);
    char *v = first_value(res);
    cr_assert(v != NULL, "query returned SQL NULL where a number was expected");
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

char *pstest_query_str(MYSQL *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    MYSQL_RES *res = run_query(c, fmt, ap);
    va_end(ap);
    return first_value(res);
}

/* Reads one global status counter; returns -1 (with the error in ERR) on failure. Asserts
 * nothing, so it is safe on the sampler thread. */
static long long read_status(MYSQL *c, const char *name, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SHOW GLOBAL STATUS LIKE '%s'", name);
    if (mysql_query(c, sql) != 0) {
        snprintf(err, errlen, "%s failed: %u: %s", sql, mysql_errno(c), mysql_error(c));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(c);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    long long v = (row && row[1]) ? strtoll(row[1], NULL, 10) : -1;
    if (v < 0)
        snprintf(err, errlen, "%s returned no value (%u: %s)", sql, mysql_errno(c), mysql_error(c));
    mysql_free_result(res);
    return v;
}

long long pstest_status(MYSQL *admin, const char *name)
{
    char err[512];
    long long v = read_status(admin, name, err, sizeof err);
    if (v < 0)
        cr_assert_fail("%s", err);
    return v;
}

/* Questions and Threads_connected in one reading (itself one Question); false on error. */
static bool read_questions(MYSQL *c, long long *questions, long long *threads)
{
    *questions = *threads = -1;
    if (mysql_query(c, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', "
                       "'Threads_connected')") != 0)
        return false;
    MYSQL_RES *res = mysql_store_result(c);
    MYSQL_ROW row;
    while (res && (row = mysql_fetch_row(res)) != NULL)
        *(strcmp(row[0], "Questions") ? threads : questions) = strtoll(row[1], NULL, 10);
    mysql_free_result(res);
    return *questions >= 0 && *threads >= 0;
}

long long pstest_questions_settled(MYSQL *admin, long long threads)
{
    long long q = -1, t, prev = -2, reads = 0;
    for (int i = 0; i < 10000; i++) {
        prev = q;
        if (!read_questions(admin, &q, &t))
            cr_assert_fail("SHOW GLOBAL STATUS failed: %u: %s", mysql_errno(admin),
                           mysql_error(admin));
        reads++;
        if (t <= threads && q == prev + 1)
            return q - reads;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    cr_assert_fail("Threads_connected stayed above %lld, or Questions moved, for 10 s", threads);
    return -1;
}

/* ---- running programs ------------------------------------------------------------------ */

/* A growable NULL-terminated array of strings (argv or envp under construction). */
typedef struct {
    char **v;
    size_t n, cap;
} strvec;

/* Appends S (not copied) to V, keeping V NULL-terminated. */
static void strvec_push(strvec *v, char *s)
{
    if (v->n + 2 > v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        cr_assert(v->v != NULL, "out of memory");
    }
    v->v[v->n++] = s;
    v->v[v->n] = NULL;
}

/* True when the "K=V" entries A and B name the same variable. */
static bool same_key(const char *a, const char *b)
{
    size_t la = strcspn(a, "="), lb = strcspn(b, "=");
    return la == lb && strncmp(a, b, la) == 0;
}

/* Builds the child's environment (see pstest_run). Strings point into environ/ENV or into
 * *PRELOAD_KV, which the caller frees. */
static strvec build_env(const char *const env[], bool preload, char **preload_kv)
{
    strvec e = {0};
    bool explicit_preload = false;
    *preload_kv = NULL;
    for (size_t i = 0; env && env[i]; i++)
        explicit_preload |= same_key(env[i], "LD_PRELOAD=");
    for (char **p = environ; *p; p++) {
        bool drop = same_key(*p, "LD_PRELOAD=");
        for (size_t i = 0; env && env[i] && !drop; i++)
            drop = same_key(*p, env[i]);
        if (!drop)
            strvec_push(&e, *p);
    }
    if (preload && !explicit_preload) {
        const char *lib = getenv("PSTEST_PRELOAD");
        cr_assert(asprintf(preload_kv, "LD_PRELOAD=%s", lib && *lib ? lib : POOLSHIM_LIB) >= 0);
        strvec_push(&e, *preload_kv);
    }
    for (size_t i = 0; env && env[i]; i++)
        strvec_push(&e, (char *)env[i]);
    return e;
}

/* True when a run with ENV (and the shim preloaded when PRELOAD) loads the shim. */
static bool loads_shim(const char *const env[], bool preload)
{
    for (size_t i = 0; !preload && env && env[i]; i++)
        preload = strncmp(env[i], "LD_PRELOAD=", 11) == 0;
    return preload;
}

/* Builds the child's argv: the PSTEST_WRAPPER words (C apps that load the shim: WRAP; a run
 * without it checks no code of ours, and valgrind would only make it slow), then the resolved
 * program, then argv[1..]. *APP_PATH and *WRAPPER_COPY hold storage the caller frees. Sets
 * *USE_PATH when the program must be looked up on PATH. */
static strvec build_argv(const char *const argv[], bool wrap, char **app_path, char **wrapper_copy,
                         bool *use_path)
{
    strvec a = {0};
    const char *prog = argv[0];
    *app_path = *wrapper_copy = NULL;
    *use_path = false;
    if (!strchr(prog, '/')) {
        cr_assert(asprintf(app_path, "%s/%s", PSTEST_APPS_DIR, prog) >= 0);
        if (access(*app_path, X_OK) == 0) {
            const char *w = wrap ? getenv("PSTEST_WRAPPER") : NULL;
            if (w && *w) {
                char *save = NULL;
                *wrapper_copy = strdup(w);
                for (char *t = strtok_r(*wrapper_copy, " ", &save); t;
                     t = strtok_r(NULL, " ", &save))
                    strvec_push(&a, t);
            }
            prog = *app_path;
        } else {
            *use_path = true;
        }
    }
    strvec_push(&a, (char *)prog);
    for (size_t i = 1; argv[i]; i++)
        strvec_push(&a, (char *)argv[i]);
    if (a.v[0] != prog) /* wrapped: exec the wrapper's first word from PATH */
        *use_path = true;
    return a;
}

/* Reads everything from the two pipe fds into malloc'd strings until both reach EOF. */
static void drain(int fds[2], char *bufs[2])
{
    size_t len[2] = {0, 0}, cap[2] = {4096, 4096};
    bufs[0] = malloc(cap[0]);
    bufs[1] = malloc(cap[1]);
    cr_assert(bufs[0] && bufs[1], "out of memory");
    struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
        if (poll(pfd, 2, -1) < 0) {
            cr_assert(errno == EINTR, "poll: %s", strerror(errno));
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            if (cap[i] - len[i] < 4096) {
                cap[i] *= 2;
                bufs[i] = realloc(bufs[i], cap[i]);
                cr_assert(bufs[i] != NULL, "out of memory");
            }
            ssize_t n = read(pfd[i].fd, bufs[i] + len[i], cap[i] - len[i] - 1);
            if (n > 0) {
                len[i] += (size_t)n;
            } else if (n == 0 || errno != EINTR) {
                close(pfd[i].fd);
                pfd[i].fd = -1;
            }
        }
    }
    bufs[0][len[0]] = '\0';
    bufs[1][len[1]] = '\0';
}

pstest_result pstest_run(const char *const argv[], const char *const env[], bool preload)
{
    cr_assert(argv && argv[0], "pstest_run: empty argv");
    char *app_path, *wrapper_copy, *preload_kv;
    bool use_path;
    strvec a = build_argv(argv, loads_shim(env, preload), &app_path, &wrapper_copy, &use_path);
    strvec e = build_env(env, preload, &preload_kv);
    int out[2], err[2];
    cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0, "pipe: %s",
              strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        if (use_path)
            execvpe(a.v[0], a.v, e.v);
        else
            execve(a.v[0], a.v, e.v);
        dprintf(2, "pstest_run: exec %s: %s\n", a.v[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    pstest_result r = {.exit_code = -1};
    char *bufs[2];
    drain((int[2]){out[0], err[0]}, bufs);
    r.out = bufs[0];
    r.err = bufs[1];
    int status;
    while (waitpid(pid, &status, 0) < 0)
        cr_assert(errno == EINTR, "waitpid: %s", strerror(errno));
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    free(a.v);
    free(e.v);
    free(app_path);
    free(wrapper_copy);
    free(preload_kv);
    return r;
}

void pstest_result_free(pstest_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *pstest_line_value(const char *out, const char *key)
{
    static _Thread_local char buf[4096];
    size_t klen = strlen(key);
    const char *line = out;
    while (line && *line) {
        if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
            const char *v = line + klen + 1;
            size_t n = strcspn(v, "\n");
            if (n >= sizeof buf)
                n = sizeof buf - 1;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return buf;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NULL;
}

/* ---- Threads_connected peak sampler ---------------------------------------------------- */

struct pstest_sampler {
    pthread_t thread;
    MYSQL *conn;
    atomic_bool stop;
    atomic_long samples; /* successful samples so far */
    atomic_bool ended;   /* the thread has returned (asked to stop, or a sample failed) */
    long long peak;      /* written by the thread only until it is joined */
    char err[512];       /* first sampling error, reported by pstest_sampler_stop */
};

/* Takes one sample into S->peak; returns false on failure (the first error is kept in S->err). */
static bool sample(pstest_sampler *s)
{
    char err[sizeof s->err];
    long long v = read_status(s->conn, "Threads_connected", err, sizeof err);
    if (v < 0 && s->err[0] == '\0')
        memcpy(s->err, err, sizeof err);
    if (v > s->peak)
        s->peak = v;
    if (v >= 0)
        atomic_fetch_add(&s->samples, 1);
    return v >= 0;
}

/* Sampler thread body: samples every 5 ms until asked to stop or a query fails. */
static void *sampler_main(void *arg)
{
    pstest_sampler *s = arg;
    const struct timespec tick = {0, 5 * 1000 * 1000};
    while (!atomic_load(&s->stop) && sample(s))
        nanosleep(&tick, NULL);
    atomic_store(&s->ended, true);
    return NULL;
}

pstest_sampler *pstest_sampler_start(void)
{
    pstest_sampler *s = calloc(1, sizeof *s);
    cr_assert(s != NULL, "out of memory");
    s->conn = pstest_admin();
    s->peak = -1;
    atomic_init(&s->stop, false);
    atomic_init(&s->samples, 0);
    atomic_init(&s->ended, false);
    cr_assert(sample(s), "sampler: %s", s->err);
    cr_assert(pthread_create(&s->thread, NULL, sampler_main, s) == 0, "pthread_create failed");
    return s;
}

void pstest_sampler_wait(pstest_sampler *s, long n)
{
    const struct timespec tick = {0, 1000 * 1000};
    long target = atomic_load(&s->samples) + n;
    while (atomic_load(&s->samples) < target) {
        if (atomic_load(&s->ended))
            cr_assert_fail("the sampler thread ended: %s", s->err);
        nanosleep(&tick, NULL);
    }
}

long long pstest_sampler_stop(pstest_sampler *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    sample(s); /* catches a peak reached right at the end */
    mysql_close(s->conn);
    long long peak = s->peak;
    char err[sizeof s->err];
    memcpy(err, s->err, sizeof err);
    free(s);
    cr_assert(err[0] == '\0', "sampler: %s", err);
    return peak;
}

bool pstest_slow(void)
{
    const char *slow = getenv("PSTEST_SLOW"), *wrapper = getenv("PSTEST_WRAPPER");
    return (slow && strcmp(slow, "1") == 0) || (wrapper && *wrapper);
}

const char *pstest_count(long n, long slow_n)
{
    static _Thread_local char buf[4][24];
    static _Thread_local unsigned next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "%ld", pstest_slow() ? slow_n : n);
    return b;
}

/* ---- Throwaway servers of a test's own ----------------------------------------------- */

static char sandbox_dir[128];

void pstest_shell(const char *cmd)
{
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    cr_assert_eq(r.exit_code, 0, "%s failed:\n%s\n%s", cmd, r.out, r.err);
    pstest_result_free(&r);
}

/* Exports every "export K=V" line of the sandbox's env file to this process. */
static void load_sandbox_env(void)
{
    char path[160], line[512];
    snprintf(path, sizeof path, "%s/env", sandbox_dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    while (fgets(line, sizeof line, f)) {
        char *kv = strncmp(line, "export ", 7) ? line : line + 7, *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        eq[1 + strcspn(eq + 1, "\n")] = '\0';
        setenv(kv, eq + 1, 1);
    }
    fclose(f);
}

void pstest_sandbox_start(const char *options)
{
    snprintf(sandbox_dir, sizeof sandbox_dir, "/tmp/pstest-sandbox-XXXXXX");
    cr_assert_not_null(mkdtemp(sandbox_dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s start %s %s >/dev/null", pstest_env("PSTEST_SANDBOX_SCRIPT"),
             sandbox_dir, options);
    pstest_shell(cmd);
    load_sandbox_env();
}

void pstest_sandbox_ctl(const char *action)
{
    char cmd[512];
    cr_assert(sandbox_dir[0], "no sandbox of this test is running");
    snprintf(cmd, sizeof cmd, "%s %s %s >/dev/null", pstest_env("PSTEST_SANDBOX_SCRIPT"), action,
             sandbox_dir);
    pstest_shell(cmd);
}

void pstest_sandbox_stop(void)
{
    if (!sandbox_dir[0])
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s stop %s >/dev/null; rm -rf %s",
             pstest_env("PSTEST_SANDBOX_SCRIPT"), sandbox_dir, sandbox_dir);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pstest_result r = pstest_run(argv, NULL, false);
    pstest_result_free(&r);
    sandbox_dir[0] = '\0';
}

void pstest_assert_ok(const pstest_result *r, const char *what)
{
    cr_assert_eq(r->exit_code, 0, "%s exited %d\nstdout:\n%s\nstderr:\n%s", what, r->exit_code,
                 r->out, r->err);
}

long long pstest_value_ll(const pstest_result *r, const char *key)
{
    const char *v = pstest_line_value(r->out, key);
    cr_assert_not_null(v, "no %s= line in:\n%s\n%s", key, r->out, r->err);
    return atoll(v);
}

const char *pstest_sandbox_dir(void)
{
    cr_assert(sandbox_dir[0], "no sandbox of this test is running");
    return sandbox_dir;
}

void pstest_expect_same_values(const pstest_result *with, const pstest_result *without,
                               const char *const keys[], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = pstest_line_value(without->out, keys[i]);
        cr_assert_not_null(v, "no %s= line without the shim:\n%s", keys[i], without->out);
        char *want = strdup(v);
        const char *got = pstest_line_value(with->out, keys[i]);
        cr_expect(got && strcmp(got, want) == 0, "%s: shim '%s', no shim '%s'\n%s", keys[i],
                  got ? got : "(none)", want, with->err);
        free(want);
    }
}

long long pstest_summary_sum(const char *text, const char *key)
{
    char pat[64], pool[128];
    snprintf(pat, sizeof pat, " %s=", key);
    snprintf(pool, sizeof pool, "[%s@", pstest_env("PSTEST_USER"));
    long long sum = 0;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char *copy = strndup(line, len);
        cr_assert_not_null(copy);
        const char *v = strstr(copy, pat);
        if (strstr(copy, pool) && strstr(copy, "summary:") && v)
            sum += atoll(v + strlen(pat));
        free(copy);
        line = end ? end + 1 : NULL;
    }
    return sum;
}

void pstest_exec_all(MYSQL *c, const char *const stmts[], size_t n)
{
    for (size_t i = 0; i < n; i++)
        pstest_exec(c, "%s", stmts[i]);
}

const char *const pstest_reaping_env[] = {"POOLSHIM_MAX_PER_KEY=1",
                                          "POOLSHIM_WAIT_TIMEOUT_MS=0",
                                          "POOLSHIM_REAP_IDLE_MS=50",
                                          "POOLSHIM_REAP_MIN_IDLE_MS=0",
                                          "POOLSHIM_LOG_LEVEL=info",
                                          "POOLSHIM_OVERFLOW=0",
                                          NULL};
