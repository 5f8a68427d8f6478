/* bench_batches: one side of a comparison between two processes that take turns (for what cannot
 * be compared inside one process: with and without the shim, which is process-wide).
 *
 *   bench_batches WORKLOAD [--threads T] [--tcp|--tls] [--point [--write]]
 *
 *   per-request  each op: mysql_init(NULL) + mysql_real_connect + the query + mysql_close
 *   persistent   each thread opens one connection before the first batch; each op: the query
 *   --threads T  T threads (default 1) share each batch's ops, N/T each (the first ones one more)
 *   --tcp, --tls, --point  as in bench_connect
 *   --write      the point query is an UPDATE that changes nothing (bench_common.h)
 *
 * Prints "ready" once set up, then for each line N read on stdin runs a batch of N ops and
 * prints the seconds it took (from releasing the threads to the last one finishing) on a line
 * of its own; exits 0 at the end of stdin. scripts/lib/bench_alternate.py drives two of them in
 * turns. Stops at the first error (error=..., exit 1). */
#include <pthread.h>

#include "bench_common.h"

enum { MAX_THREADS = 1024 };

static app_dsn dsn;
static bool persistent, point;
static int nthreads = 1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static long batch_ops;      /* ops of the current batch */
static unsigned long batch; /* number of the current batch (0: none yet) */
static int running;         /* threads still working on the current batch */
static int ready;           /* threads set up */
static bool stopping;       /* end of stdin: the threads close their connections and return */

/* Thread I's share of N ops over the threads. */
static long share(long n, int i)
{
    return n / nthreads + (i < n % nthreads ? 1 : 0);
}

/* A worker thread: sets up (its connection), runs its share of every batch, and closes its
 * connection when told to stop. */
static void *worker(void *arg)
{
    int me = (int)(long)arg;
    MYSQL *conn = NULL;
    if (persistent && (!(conn = mysql_init(NULL)) || !app_connect(conn, &dsn)))
        app_die(conn ? mysql_errno(conn) : 0, "%s", app_error(conn));
    unsigned long seen = 0, seq = (unsigned long)me * 7919;
    pthread_mutex_lock(&lock);
    ready++;
    pthread_cond_broadcast(&done);
    for (;;) {
        while (batch == seen && !stopping)
            pthread_cond_wait(&go, &lock);
        if (stopping)
            break;
        seen = batch;
        long n = share(batch_ops, me);
        pthread_mutex_unlock(&lock);
        for (long i = 0; i < n; i++, seq++) {
            if (persistent)
                bench_query(conn, point, seq);
            else
                bench_per_request(&dsn, point, seq);
        }
        pthread_mutex_lock(&lock);
        if (--running == 0)
            pthread_cond_broadcast(&done);
    }
    pthread_mutex_unlock(&lock);
    if (conn)
        mysql_close(conn);
    return NULL;
}

/* Runs one batch of N ops over the threads; returns the seconds it took. */
static double run_batch(long n)
{
    pthread_mutex_lock(&lock);
    batch_ops = n;
    running = nthreads;
    batch++;
    double t0 = app_now();
    pthread_cond_broadcast(&go);
    while (running > 0)
        pthread_cond_wait(&done, &lock);
    double t = app_now() - t0;
    pthread_mutex_unlock(&lock);
    return t;
}

/* Parses the command line into the globals; dies with the usage on anything else. */
static void parse_args(int argc, char **argv)
{
    const char *workload = argc > 1 ? argv[1] : "";
    bool tcp = false, tls = false;
    persistent = !strcmp(workload, "persistent");
    if (!persistent && strcmp(workload, "per-request") != 0)
        app_die(0, "usage: bench_batches per-request|persistent [--threads T] [--tcp|--tls] "
                   "[--point]");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--tls"))
            tls = true;
        else if (!strcmp(argv[i], "--point"))
            point = true;
        else if (!strcmp(argv[i], "--write"))
            bench_write = true;
        else if (!strcmp(argv[i], "--threads"))
            nthreads = (int)app_long_arg("--threads", i + 1 < argc ? argv[++i] : NULL);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    if (nthreads < 1 || nthreads > MAX_THREADS)
        app_die(0, "--threads must be 1-%d", MAX_THREADS);
    dsn = tls ? app_tls_dsn() : app_user_dsn(tcp);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    static pthread_t threads[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&threads[i], NULL, worker, (void *)(long)i))
            app_die(0, "pthread_create failed");
    }
    pthread_mutex_lock(&lock);
    while (ready < nthreads)
        pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    printf("ready\n");
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        printf("%.9f\n", run_batch(app_long_arg("batch size", line)));
    }
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_broadcast(&go);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
