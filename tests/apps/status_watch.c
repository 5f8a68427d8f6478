/* status_watch: watches the server while another program runs (used by scripts/demo).
 *
 *   status_watch [--settle N]
 *
 * Connects as PSTEST_ADMIN_USER over PSTEST_SOCKET. With --settle N it first waits (up to 10 s)
 * until Threads_connected <= N (its own connection included), so connections of a previous run
 * are gone. Then it runs FLUSH STATUS (which resets the server's Max_used_connections high-water
 * mark but not Connections), reads Connections, prints "ready=1", and samples Threads_connected
 * every 5 ms until its stdin reaches EOF. Finally it prints:
 *   connections_delta       server Connections after - before (its own connection excluded)
 *   peak_threads_connected  highest of the sampled Threads_connected and the server's own
 *                           high-water mark Max_used_connections (exact even for runs shorter
 *                           than a sample), minus its own connection. Both briefly include
 *                           connections that the server is refusing (error 1040).
 *   baseline_threads_connected  Threads_connected at "ready", minus its own connection
 *   samples                 number of samples taken */
#include "app_common.h"

#include <poll.h>
#include <unistd.h>

/* Global status counter NAME; dies on error. */
static long long status(MYSQL *m, const char *name)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SHOW GLOBAL STATUS LIKE '%s'", name);
    if (mysql_query(m, sql) != 0)
        app_die(mysql_errno(m), "%s", mysql_error(m));
    MYSQL_RES *res = mysql_store_result(m);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row || !row[1])
        app_die(mysql_errno(m), "no value for %s", name);
    long long v = atoll(row[1]);
    mysql_free_result(res);
    return v;
}

/* True once stdin has reached EOF (or failed); waits at most TIMEOUT_MS for it. */
static bool stdin_closed(int timeout_ms)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    char buf[256];
    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    return read(0, buf, sizeof buf) <= 0;
}

int main(int argc, char **argv)
{
    long settle = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--settle"))
            settle = app_long_arg("--settle", i + 1 < argc ? argv[++i] : NULL);
        else
            app_die(0, "usage: status_watch [--settle N]");
    }
    MYSQL *m = mysql_init(NULL);
    if (!m ||
        !mysql_real_connect(m, "localhost", app_env("PSTEST_ADMIN_USER"),
                            app_env("PSTEST_ADMIN_PASSWORD"), NULL, 0, app_env("PSTEST_SOCKET"), 0))
        app_die(m ? mysql_errno(m) : 0, "%s", m ? mysql_error(m) : "mysql_init failed");
    double deadline = app_now() + 10;
    while (settle >= 0 && status(m, "Threads_connected") > settle && app_now() < deadline)
        usleep(20 * 1000);

    if (mysql_query(m, "FLUSH STATUS") != 0)
        app_die(mysql_errno(m), "FLUSH STATUS: %s", mysql_error(m));
    long long before = status(m, "Connections");
    long long base = status(m, "Threads_connected"), peak = base, samples = 1;
    printf("ready=1\n");
    fflush(stdout);
    while (!stdin_closed(5)) {
        long long v = status(m, "Threads_connected");
        peak = v > peak ? v : peak;
        samples++;
    }
    long long v = status(m, "Max_used_connections");
    peak = v > peak ? v : peak;
    printf("connections_delta=%lld\npeak_threads_connected=%lld\n",
           status(m, "Connections") - before, peak - 1);
    printf("baseline_threads_connected=%lld\nsamples=%lld\n", base - 1, samples + 1);
    mysql_close(m);
    return 0;
}
