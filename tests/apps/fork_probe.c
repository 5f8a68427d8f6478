/* fork_probe: a prefork-style program. The parent connects, then forks children that use the
 * handle they inherited, while the parent keeps querying on it.
 *
 *   fork_probe inherit N [--tcp|--tls]
 *       N children each run queries on the inherited handle, connect a handle of their own, and
 *       close both; the parent queries between forks. Prints parent_errors, child_failures,
 *       children_fresh (children whose inherited handle reached a session other than the
 *       parent's), child_took_parked (a child's own connect got the parent's parked
 *       connection), parent_session_kept and parked_reused.
 *   fork_probe dirty
 *       the handle holds a user variable at fork: the child's first query fails (prints
 *       child_errno), its second runs in a fresh session (child_var=NULL); the parent still
 *       sees its variable.
 *   fork_probe threads N [--tcp]
 *       8 threads connect/query/close in a loop while the main thread forks N children that
 *       connect/query/close within 30 s (5 s under ASan/TSan; a deadlock in a child shows as
 *       child_failures, one in a sanitizer's allocator as child_sanitizer_hangs).
 * Without the shim, children using the inherited handle corrupt or end the parent's session. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_common.h"

static app_dsn dsn;

/* A new connection or death. */
static MYSQL *connect_or_die(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &dsn))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* CONNECTION_ID() of M, or 0 on error. */
static unsigned long session_of(MYSQL *m)
{
    if (mysql_query(m, "SELECT CONNECTION_ID()"))
        return 0;
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    unsigned long id = row && row[0] ? strtoul(row[0], NULL, 10) : 0;
    mysql_free_result(r);
    return id;
}

/* True when a small query on M returns the rows it should. */
static bool query_ok(MYSQL *m)
{
    char *v = NULL;
    if (mysql_query(m, "SELECT COUNT(*) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) t"))
        return false;
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    v = row && row[0] ? row[0] : NULL;
    bool ok = v && strcmp(v, "3") == 0;
    mysql_free_result(r);
    return ok;
}

/* A child's work on the inherited handle H (parent session PARENT_ID, parent's parked
 * connection PARKED_ID). Exit status: bit 0 failure, bit 1 fresh session, bit 2 took parked. */
static int child_work(MYSQL *h, unsigned long parent_id, unsigned long parked_id)
{
    int status = 0;
    unsigned long id = session_of(h);
    if (id == 0 || !query_ok(h) || session_of(h) != id)
        status |= 1;
    if (id != 0 && id != parent_id)
        status |= 2;
    MYSQL *own = mysql_init(NULL);
    if (!app_connect(own, &dsn) || !query_ok(own))
        status |= 1;
    if (session_of(own) == parked_id)
        status |= 4;
    mysql_close(own);
    mysql_close(h);
    return status;
}

/* Mode "inherit": N children share the parent's handle while the parent queries. */
static int run_inherit(long n)
{
    MYSQL *parked = connect_or_die(), *h = connect_or_die();
    unsigned long parked_id = session_of(parked), parent_id = session_of(h);
    mysql_close(parked); /* parked in the parent's pool (under the shim) */
    long parent_errors = 0, failures = 0, fresh = 0, took_parked = 0;
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    for (long i = 0; i < n; i++) {
        fflush(stdout);
        pids[i] = fork();
        if (pids[i] == 0)
            exit(child_work(h, parent_id, parked_id)); /* exit, not _exit: atexit handlers run */
        for (int q = 0; q < 5; q++)
            if (!query_ok(h))
                parent_errors++;
    }
    for (long i = 0; i < n; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        failures += code & 1;
        fresh += (code >> 1) & 1;
        took_parked += (code >> 2) & 1;
    }
    for (int q = 0; q < 20; q++)
        if (!query_ok(h))
            parent_errors++;
    printf("parent_errors=%ld\nchild_failures=%ld\nchildren_fresh=%ld\nchild_took_parked=%ld\n",
           parent_errors, failures, fresh, took_parked);
    printf("parent_session_kept=%d\n", session_of(h) == parent_id);
    MYSQL *again = connect_or_die();
    printf("parked_reused=%d\n", session_of(again) == parked_id && query_ok(again));
    mysql_close(again);
    mysql_close(h);
    free(pids);
    return 0;
}

/* Mode "dirty": the inherited session holds a user variable set by an expression (one set to
 * a literal would be replayed). */
static int run_dirty(void)
{
    MYSQL *h = connect_or_die();
    app_run(h, "SET @probe = 40 + 2");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = mysql_query(h, "SELECT @probe");
        printf("child_first_rc=%d\nchild_errno=%u\n", rc, mysql_errno(h));
        if (rc == 0)
            mysql_free_result(mysql_store_result(h));
        char *v = app_scalar(h, "SELECT @probe");
        printf("child_var=%s\n", v);
        free(v);
        mysql_close(h);
        fflush(stdout);
        exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    char *v = app_scalar(h, "SELECT @probe");
    printf("child_exit=%d\nparent_var=%s\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1, v);
    free(v);
    mysql_close(h);
    return 0;
}

static volatile int stop_threads;
static long thread_errors;

/* A busy thread of the parent: connect/query/close until told to stop. */
static void *churn(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop_threads, __ATOMIC_RELAXED)) {
        MYSQL *m = mysql_init(NULL);
        if (!app_connect(m, &dsn) || !query_ok(m))
            __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
        mysql_close(m);
    }
    return NULL;
}

/* SIGALRM in a child that hung: prints where (the child has one thread), then exits 4 when
 * the interrupted code is a sanitizer runtime's (its allocator is not fork-safe: a lock held
 * by a parent thread at fork stays held in the child, with or without the shim), else 3. */
static void report_hang(int sig)
{
    (void)sig;
    void *frames[32];
    static const char msg[] = "fork_probe: child hung at:\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    int n = backtrace(frames, 32);
    backtrace_symbols_fd(frames, n, 2);
    Dl_info where; /* frames: backtrace, this handler, the signal trampoline, the hung code */
    bool sanitizer = n > 3 && dladdr(frames[3], &where) && where.dli_fname &&
                     (strstr(where.dli_fname, "libasan") || strstr(where.dli_fname, "libtsan"));
    _exit(sanitizer ? 4 : 3);
}

/* Mode "threads": forks while other threads are inside the pool. */
static int run_threads(long n)
{
    pthread_t t[8];
    long failures = 0, sanitizer_hangs = 0;
    /* How long a child may take before it counts as hung. Its work takes milliseconds, but a
     * slow, loaded machine (valgrind: a child easily needs a second there) must never make a
     * child that is merely late count as hung: 30 s. Under ASan/TSan a child can hang in the
     * sanitizer's allocator (not fork-safe; not a failure) about once in 100 forks, and each
     * such hang costs the whole wait: 5 s there, where children run a few times slower than
     * natively, not a hundred. Decided here: dlsym is not safe in a child of threads. */
    unsigned hung_after =
        dlsym(RTLD_DEFAULT, "__asan_init") || dlsym(RTLD_DEFAULT, "__tsan_init") ? 5 : 30;
    MYSQL *warm = connect_or_die(); /* library and TLS initialised before any thread runs, as a */
    mysql_close(warm);              /* prefork server does: their init is not fork-safe */
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    for (long i = 0; i < n; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGALRM, report_hang);
            alarm(hung_after); /* a deadlock ends as SIGALRM: a failure, with where it hung */
            MYSQL *m = mysql_init(NULL);
            bool ok = app_connect(m, &dsn) && query_ok(m);
            mysql_close(m);
            exit(ok ? 0 : 1);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        sanitizer_hangs += code == 4;
        failures += code != 0 && code != 4;
    }
    __atomic_store_n(&stop_threads, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    printf("child_failures=%ld\nchild_sanitizer_hangs=%ld\nthread_errors=%ld\n", failures,
           sanitizer_hangs, thread_errors);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        app_die(0, "usage: fork_probe inherit N|dirty|threads N [--tcp|--tls]");
    bool tcp = argc > 3 && strcmp(argv[3], "--tcp") == 0;
    dsn = argc > 3 && strcmp(argv[3], "--tls") == 0 ? app_tls_dsn() : app_user_dsn(tcp);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "inherit") == 0 && argc > 2)
        return run_inherit(app_long_arg("N", argv[2]));
    if (strcmp(argv[1], "dirty") == 0)
        return run_dirty();
    if (strcmp(argv[1], "threads") == 0 && argc > 2)
        return run_threads(app_long_arg("N", argv[2]));
    app_die(0, "unknown mode %s", argv[1]);
}
