/* metrics_workload [--n N] [--dirty] --ready FILE --go FILE
 *
 * A known workload for the metrics file (test_metrics): N connect/"SELECT 1"/close requests
 * over the socket; with --dirty (run with POOLSHIM_MAX_PER_KEY=4, POOLSHIM_WAIT_TIMEOUT_MS=200,
 * POOLSHIM_LEAK_WARN_MS=1000, POOLSHIM_REAP_IDLE_MS=0, POOLSHIM_OVERFLOW=0; with overflow on,
 * h6 overflows instead) then four handles that cannot all be
 * reclaimed: h1 sets a user variable, h2 stays in a transaction, h3 holds a GET_LOCK, h4 is
 * clean; h5's connect reaps h4 (h1, h2 and h3 are passed over), h5 is closed, h4's next command
 * renews it and sets a user variable, and h6's connect finds nothing to reclaim and gets 1040
 * after the wait. Then it waits over a second and makes one more shim call, so the file holds
 * every count (plain: a "SELECT 1" on a held handle, or one more connect when the first
 * failed; --dirty: h4's close, whose housekeeping
 * warns about h1, h2 and h3), writes its pid to FILE --ready (renamed into place) and waits
 * until FILE --go exists; then it closes every handle and exits 0.
 * Prints: requests= errors= h6_errno= */
#include <unistd.h>

#include "app_common.h"

static long requests, errors;

/* A connected handle, or NULL (counted as an error) with its errno in *ERR. */
static MYSQL *open_handle(const app_dsn *d, unsigned *err)
{
    MYSQL *m = mysql_init(NULL);
    requests++;
    if (!app_connect(m, d)) {
        *err = mysql_errno(m);
        errors++;
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Runs SQL on M (NULL: nothing), counting a failure. */
static void run(MYSQL *m, const char *sql)
{
    if (m && !app_query(m, sql))
        errors++;
}

/* The --dirty scenario; H gets the handles still open (h1 to h3; h4 is closed here last). */
static unsigned dirty(const app_dsn *d, MYSQL *h[3])
{
    unsigned err = 0;
    h[0] = open_handle(d, &err);
    run(h[0], "SET @metrics_x = 1 + 0"); /* a literal would be replayed */
    h[1] = open_handle(d, &err);
    run(h[1], "BEGIN");
    run(h[1], "SELECT 1");
    h[2] = open_handle(d, &err);
    run(h[2], "SELECT GET_LOCK('metrics_workload', 0)");
    MYSQL *h4 = open_handle(d, &err);
    run(h4, "SELECT 1");
    MYSQL *h5 = open_handle(d, &err); /* reaps h4 */
    run(h5, "SELECT 1");
    mysql_close(h5);
    run(h4, "SELECT 1"); /* renewed */
    run(h4, "SET @metrics_y = 1 + 0");
    unsigned h6_err = 0;
    MYSQL *h6 = open_handle(d, &h6_err); /* nothing to reclaim: 1040 (or overflow) */
    if (h6)
        mysql_close(h6);
    else
        errors--; /* expected */
    usleep(1100 * 1000);
    mysql_close(h4); /* the last call: housekeeping (leak warnings), then the file */
    return h6_err;
}

/* Writes this process's pid to PATH, renamed into place. */
static void announce(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0 || rename(tmp, path))
        app_die(0, "cannot write %s", path);
}

int main(int argc, char **argv)
{
    long n = 20;
    bool with_dirty = false;
    const char *ready = NULL, *go = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = app_long_arg("--n", argv[++i]);
        else if (!strcmp(argv[i], "--dirty"))
            with_dirty = true;
        else if (!strcmp(argv[i], "--ready") && i + 1 < argc)
            ready = argv[++i];
        else if (!strcmp(argv[i], "--go") && i + 1 < argc)
            go = argv[++i];
        else
            app_die(0, "usage: metrics_workload [--n N] [--dirty] --ready FILE --go FILE");
    }
    if (!ready || !go)
        app_die(0, "--ready and --go are required");
    mysql_library_init(0, NULL, NULL);
    app_dsn d = app_user_dsn(false);
    unsigned err = 0, h6_err = 0;
    for (long i = 0; i < n; i++) {
        MYSQL *m = open_handle(&d, &err);
        run(m, "SELECT 1");
        if (m)
            mysql_close(m);
    }
    MYSQL *held[3] = {NULL, NULL, NULL};
    if (with_dirty) {
        h6_err = dirty(&d, held);
    } else {
        held[0] = open_handle(&d, &err);
        usleep(1100 * 1000);
        if (held[0])
            run(held[0], "SELECT 1"); /* the last call: the file */
        else
            held[0] = open_handle(&d, &err); /* the server is unreachable: the last call */
    }
    announce(ready);
    while (access(go, F_OK) != 0)
        usleep(10 * 1000);
    for (int i = 0; i < 3; i++)
        if (held[i])
            mysql_close(held[i]);
    printf("requests=%ld\nerrors=%ld\nh6_errno=%u\nfirst_errno=%u\n", requests, errors, h6_err,
           err);
    mysql_library_end();
    return 0;
}
