/* outage_probe: a connect-per-request program living through server faults.
 *
 *   outage_probe restart N         4 threads connect/SELECT/close (2 ms apart); once they have
 *                                  made 20 requests, the main thread runs $PSTEST_RESTART_CMD (a
 *                                  server restart); each thread stops when N of the requests it
 *                                  started after that command returned have succeeded (after
 *                                  120 s without, the probe gives up: error=). A handle held
 *                                  across the restart is used after it. Counts, not time, decide
 *                                  how much runs. Prints requests, requests_after (started after
 *                                  the restart command returned), errors, errors_after (of
 *                                  those), error_codes, dead_handouts (a connect that succeeded
 *                                  after the restart whose first statement failed), held_errno.
 *   outage_probe restart_parked    parks 5 connections, restarts the server ($PSTEST_RESTART_CMD)
 *                                  and runs 5 requests: prints requests, errors, dead_handouts.
 *   outage_probe kill_leased       KILLs its own session, then queries: prints the errno and
 *                                  error the program sees, then reconnects (reconnect_ok).
 *   outage_probe unreachable N PORT [PAUSE_MS]  N connects to 127.0.0.1:PORT, then (with
 *                                  PAUSE_MS) a pause of at least PAUSE_MS and one more connect;
 *                                  prints errors, error_codes, first_error, last_error,
 *                                  elapsed_ms. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "app_common.h"

static app_dsn dsn;
static long want_after;                     /* restart: successes after the restart, per thread */
static long started_before;                 /* requests started before the restart command */
static int64_t restart_done_ms = INT64_MAX; /* when the restart command returned */
static long requests, requests_after, errors, errors_after, dead_handouts;
static unsigned long codes_seen[8];

/* Remembers error CODE in the small set of codes seen. */
static void note_code(unsigned code)
{
    for (int i = 0; i < 8; i++) {
        unsigned long cur = __atomic_load_n(&codes_seen[i], __ATOMIC_RELAXED);
        if (cur == code)
            return;
        if (cur == 0 && __atomic_compare_exchange_n(&codes_seen[i], &cur, code, false,
                                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return;
    }
}

/* One request; counts its outcome. True when it started after the restart and succeeded. */
static bool request(void)
{
    int64_t started = (int64_t)(app_now() * 1000);
    bool after = started >= __atomic_load_n(&restart_done_ms, __ATOMIC_SEQ_CST);
    MYSQL *m = mysql_init(NULL);
    bool connected = app_connect(m, &dsn) != NULL;
    bool ok = connected && app_query(m, "SELECT 1");
    if (!ok) {
        __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
        note_code(mysql_errno(m));
        if (after)
            __atomic_add_fetch(&errors_after, 1, __ATOMIC_RELAXED);
        if (connected && after)
            __atomic_add_fetch(&dead_handouts, 1, __ATOMIC_RELAXED);
    }
    mysql_close(m);
    __atomic_add_fetch(&requests, 1, __ATOMIC_RELAXED);
    if (after)
        __atomic_add_fetch(&requests_after, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&started_before, 1, __ATOMIC_SEQ_CST);
    return ok && after;
}

/* A worker: requests, a short pause between them, until WANT_AFTER of its requests started
 * after the restart have succeeded. */
static void *worker(void *arg)
{
    (void)arg;
    long ok_after = 0;
    double give_up = 0;
    while (ok_after < want_after) {
        ok_after += request();
        usleep(2000);
        if (!give_up && __atomic_load_n(&restart_done_ms, __ATOMIC_SEQ_CST) != INT64_MAX)
            give_up = app_now() + 120;
        if (give_up && app_now() > give_up)
            app_die(0,
                    "no recovery: %ld of %ld requests succeeded in the 120 s after the "
                    "restart",
                    ok_after, want_after);
    }
    return NULL;
}

/* Mode "restart". */
static int run_restart(long n)
{
    const char *cmd = app_env("PSTEST_RESTART_CMD");
    MYSQL *held = mysql_init(NULL);
    if (!app_connect(held, &dsn))
        app_die(mysql_errno(held), "connect: %s", app_error(held));
    want_after = n;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    while (__atomic_load_n(&started_before, __ATOMIC_SEQ_CST) < 4 * 5) /* traffic is flowing */
        usleep(1000);
    if (system(cmd) != 0)
        app_die(0, "%s failed", cmd);
    __atomic_store_n(&restart_done_ms, (int64_t)(app_now() * 1000), __ATOMIC_SEQ_CST);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    unsigned held_errno = app_query(held, "SELECT 1") ? 0 : mysql_errno(held);
    mysql_close(held);
    printf("requests=%ld\nrequests_after=%ld\nerrors=%ld\nerrors_after=%ld\ndead_handouts=%ld\n"
           "held_errno=%u\n",
           requests, requests_after, errors, errors_after, dead_handouts, held_errno);
    printf("error_codes=");
    for (int i = 0; i < 8 && codes_seen[i]; i++)
        printf("%s%lu", i ? "," : "", codes_seen[i]);
    printf("\n");
    return 0;
}

/* Mode "restart_parked": parks 5 connections, restarts the server, then runs 5 requests. */
static int run_restart_parked(void)
{
    MYSQL *m[5];
    for (int i = 0; i < 5; i++)
        if (!app_connect(m[i] = mysql_init(NULL), &dsn))
            app_die(mysql_errno(m[i]), "connect: %s", app_error(m[i]));
    for (int i = 0; i < 5; i++)
        mysql_close(m[i]);
    if (system(app_env("PSTEST_RESTART_CMD")) != 0)
        app_die(0, "restart failed");
    restart_done_ms = (int64_t)(app_now() * 1000);
    for (int i = 0; i < 5; i++)
        (void)request();
    printf("requests=%ld\nerrors=%ld\ndead_handouts=%ld\n", requests, errors, dead_handouts);
    return 0;
}

/* Mode "kill_leased". */
static int run_kill_leased(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &dsn))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    char *id = app_scalar(m, "SELECT CONNECTION_ID()");
    app_kill(strtoul(id, NULL, 10));
    int rc = mysql_query(m, "SELECT 1");
    printf("query_rc=%d\nerrno=%u\nsqlstate=%s\nerror=%s\n", rc, mysql_errno(m), mysql_sqlstate(m),
           mysql_error(m));
    rc = mysql_query(m, "SELECT 1");
    printf("again_errno=%u\nagain_error=%s\n", mysql_errno(m), mysql_error(m));
    mysql_close(m);
    MYSQL *n = mysql_init(NULL);
    bool ok = app_connect(n, &dsn) && app_query(n, "SELECT 1");
    char *id2 = ok ? app_scalar(n, "SELECT CONNECTION_ID()") : strdup("0");
    printf("reconnect_ok=%d\nnew_session=%d\n", ok, strcmp(id, id2) != 0);
    mysql_close(n);
    free(id), free(id2);
    return 0;
}

/* One connect to 127.0.0.1:PORT; counts a failure and keeps its text in ERR (LEN bytes). */
static void connect_once(long port, long *failed, char *err, size_t len)
{
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, "127.0.0.1", dsn.user, dsn.password, dsn.db, (unsigned)port, NULL,
                            0)) {
        (*failed)++;
        note_code(mysql_errno(m));
        snprintf(err, len, "%u %s %s", mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    }
    mysql_close(m);
}

/* Mode "unreachable". */
static int run_unreachable(long n, long port, long pause_ms)
{
    double start = app_now();
    long failed = 0;
    char first[512] = "", last[512] = "";
    for (long i = 0; i < n; i++)
        connect_once(port, &failed, i ? last : first, i ? sizeof last : sizeof first);
    if (pause_ms > 0) {
        usleep((useconds_t)pause_ms * 1000);
        connect_once(port, &failed, last, sizeof last);
    }
    printf("errors=%ld\nfirst_error=%s\nlast_error=%s\nerror_codes=", failed, first, last);
    for (int i = 0; i < 8 && codes_seen[i]; i++)
        printf("%s%lu", i ? "," : "", codes_seen[i]);
    printf("\nelapsed_ms=%.0f\n", (app_now() - start) * 1000);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        app_die(0, "usage: outage_probe restart N | restart_parked | kill_leased | "
                   "unreachable N PORT [PAUSE_MS]");
    dsn = app_user_dsn(false);
    if (strcmp(argv[1], "restart") == 0 && argc > 2)
        return run_restart(app_long_arg("N", argv[2]));
    if (strcmp(argv[1], "restart_parked") == 0)
        return run_restart_parked();
    if (strcmp(argv[1], "kill_leased") == 0)
        return run_kill_leased();
    if (strcmp(argv[1], "unreachable") == 0 && argc > 3)
        return run_unreachable(app_long_arg("N", argv[2]), app_long_arg("PORT", argv[3]),
                               argc > 4 ? app_long_arg("PAUSE_MS", argv[4]) : 0);
    app_die(0, "unknown mode %s", argv[1]);
}
