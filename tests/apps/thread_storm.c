/* thread_storm: many threads connecting per request, as a threaded legacy server does.
 *
 *   thread_storm close|leak THREADS N [--tcp] [--seconds S]
 *     close  each request: connect, check the session is fresh (@storm IS NULL), set @storm to
 *            a value of its own and read it back, close.
 *     leak   each request: connect, SELECT, and never close the handle.
 * Each thread makes N requests, and with --seconds goes on until S seconds have passed too (a
 * longer storm; the amount of work is never decided by the clock alone). A watchdog reports a
 * stall (no request finished anywhere for 60 s) and aborts. Prints requests, errors,
 * stale_state (a session that showed another request's @storm), first_error and seconds. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "app_common.h"

static app_dsn dsn;
static double deadline;
static long per_thread;
static bool leak;
static long requests, errors, stale_state;
static char first_error[256];
static pthread_mutex_t first_error_lock = PTHREAD_MUTEX_INITIALIZER;

/* Counts a failed request on M and remembers the first error text. */
static void fail(MYSQL *m, const char *what)
{
    if (__atomic_fetch_add(&errors, 1, __ATOMIC_RELAXED) == 0) {
        pthread_mutex_lock(&first_error_lock);
        snprintf(first_error, sizeof first_error, "%s: %u %s", what, mysql_errno(m), app_error(m));
        pthread_mutex_unlock(&first_error_lock);
    }
}

/* One request that closes its handle; TAG is unique to it. */
static void request_close(long tag)
{
    MYSQL *m = mysql_init(NULL);
    char sql[96], want[32];
    if (!app_connect(m, &dsn)) {
        fail(m, "connect");
        mysql_close(m);
        return;
    }
    MYSQL_RES *r = mysql_query(m, "SELECT @storm") ? NULL : mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!r)
        fail(m, "SELECT @storm");
    else if (row && row[0])
        __atomic_add_fetch(&stale_state, 1, __ATOMIC_RELAXED); /* another request's session */
    mysql_free_result(r);
    snprintf(sql, sizeof sql, "SET @storm = %ld", tag);
    snprintf(want, sizeof want, "%ld", tag);
    if (!app_query(m, sql))
        fail(m, "SET");
    else if (app_expect(m, "SELECT @storm", want))
        __atomic_add_fetch(&stale_state, 1, __ATOMIC_RELAXED);
    mysql_close(m);
}

/* One request that never closes its handle. */
static void request_leak(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &dsn))
        fail(m, "connect");
    else if (!app_query(m, "SELECT 1"))
        fail(m, "SELECT 1");
}

/* A worker thread: PER_THREAD requests, and more until the deadline. ARG is its index. */
static void *worker(void *arg)
{
    long me = (long)(intptr_t)arg, n = 0;
    while (n < per_thread || app_now() < deadline) {
        if (leak)
            request_leak();
        else
            request_close(me * 100000000L + n);
        n++;
        __atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* Aborts the program when no request completes for 60 s (a deadlock or a hang). */
static void *watchdog(void *arg)
{
    (void)arg;
    long last = -1;
    for (;;) {
        sleep(60);
        long now = __atomic_load_n(&requests, __ATOMIC_RELAXED);
        if (now == last) {
            printf("stall=1\n");
            fflush(stdout);
            abort();
        }
        last = now;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "close") && strcmp(argv[1], "leak")))
        app_die(0, "usage: thread_storm close|leak THREADS N [--tcp] [--seconds S]");
    leak = strcmp(argv[1], "leak") == 0;
    long threads = app_long_arg("THREADS", argv[2]);
    per_thread = app_long_arg("N", argv[3]);
    double seconds = 0, start = app_now();
    bool tcp = false;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = (double)app_long_arg("--seconds", argv[++i]);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    dsn = app_user_dsn(tcp);
    deadline = start + seconds;
    pthread_t dog, *t = calloc((size_t)threads, sizeof *t);
    pthread_create(&dog, NULL, watchdog, NULL);
    pthread_detach(dog);
    for (long i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i))
            app_die(0, "pthread_create failed");
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("requests=%ld\nerrors=%ld\nstale_state=%ld\nfirst_error=%s\nseconds=%.1f\n", requests,
           errors, stale_state, first_error, app_now() - start);
    free(t);
    return 0;
}
