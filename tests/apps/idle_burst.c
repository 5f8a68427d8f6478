/* idle_burst: programs that use MySQL in a burst and then go quiet, for the housekeeping tests.
 * All connect as PSTEST_USER over PSTEST_SOCKET.
 *
 *   idle_burst park N FIFO [--library-end]
 *                            opens N connections at once, runs a query on each, closes them all
 *                            (under the shim they are parked), with --library-end then calls
 *                            mysql_library_end (as DBD::MariaDB does when its last handle
 *                            closes), prints parked=N, then blocks in open(2) and read(2) of
 *                            the named pipe FIFO without calling the client library, until the
 *                            writer closes it; prints released=1.
 *   idle_burst hold M        opens M connections at once, each holding a user variable (so the
 *                            shim cannot take it back while it is open), then closes them all.
 *                            Prints ok= errors= first_error= (exit 0 either way).
 *   idle_burst threads       counts its threads (/proc/self/task): tasks_start after
 *                            mysql_library_init, tasks_leased with a connection open,
 *                            tasks_failed after a failed connect, tasks_parked after closing.
 *   idle_burst fork          (POOLSHIM_MIN_IDLE=1, a short POOLSHIM_SURPLUS_IDLE_MS, a long
 *                            POOLSHIM_IDLE_TIMEOUT_MS) the parent parks 2, waits for its surplus
 *                            one to be closed, forks; the child parks 3 of its own and waits for
 *                            its 2 surplus ones to be closed, then exits; the parent then reuses
 *                            its warm parked connection. Prints parent_* and child_* lines.
 * Waits are bounded (60 s) polls of information_schema.PROCESSLIST on an admin connection. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_common.h"

#define MAX_CONNS 64
#define WAIT_S    60.0

/* The number of threads of this process. */
static int tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        app_die(0, "opendir /proc/self/task failed");
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* A connection as the app user, or death. */
static MYSQL *app_open(void)
{
    app_dsn d = app_user_dsn(false);
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* A connection as the admin user over the socket, or death. */
static MYSQL *admin_open(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, "localhost", app_env("PSTEST_ADMIN_USER"),
                            app_env("PSTEST_ADMIN_PASSWORD"), NULL, 0, app_env("PSTEST_SOCKET"), 0))
        app_die(mysql_errno(m), "admin connect: %s", app_error(m));
    return m;
}

/* CONNECTION_ID() of M, or death. */
static unsigned long session_id(MYSQL *m)
{
    char *v = app_scalar(m, "SELECT CONNECTION_ID()");
    unsigned long id = strtoul(v, NULL, 10);
    free(v);
    return id;
}

/* True when server connection ID exists (seen from ADMIN). */
static bool alive(MYSQL *admin, unsigned long id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lu",
             id);
    char *v = app_scalar(admin, sql);
    bool yes = strcmp(v, "0") != 0;
    free(v);
    return yes;
}

/* Waits (at most WAIT_S) until none of the N connections IDS exists; true when none does. */
static bool wait_gone(MYSQL *admin, const unsigned long *ids, int n)
{
    const struct timespec tick = {0, 20 * 1000 * 1000};
    for (double end = app_now() + WAIT_S; app_now() < end; nanosleep(&tick, NULL)) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += alive(admin, ids[i]);
        if (!left)
            return true;
    }
    return false;
}

/* Opens N connections at once (ids to IDS), then closes them in reverse order, so that the
 * first one opened is the last parked (the warm one of a LIFO idle list). */
static void burst(int n, unsigned long *ids)
{
    MYSQL *m[MAX_CONNS];
    for (int i = 0; i < n; i++) {
        m[i] = app_open();
        ids[i] = session_id(m[i]);
    }
    for (int i = n - 1; i >= 0; i--)
        mysql_close(m[i]);
}

/* park N FIFO [--library-end] */
static int park(int n, const char *fifo, bool library_end)
{
    unsigned long ids[MAX_CONNS];
    burst(n, ids);
    if (library_end)
        mysql_library_end();
    printf("parked=%d\n", n);
    fflush(stdout);
    int fd = open(fifo, O_RDONLY); /* blocks until the test opens it for writing */
    if (fd < 0)
        app_die(0, "open %s failed", fifo);
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        continue;
    close(fd);
    printf("released=1\n");
    return 0;
}

/* hold M */
static int hold(int n)
{
    MYSQL *m[MAX_CONNS];
    int ok = 0, errors = 0;
    char first[300] = "none";
    for (int i = 0; i < n; i++) {
        app_dsn d = app_user_dsn(false);
        m[i] = mysql_init(NULL);
        if (app_connect(m[i], &d) && app_query(m[i], "SET @hold = 1")) {
            ok++;
        } else if (!errors++) {
            snprintf(first, sizeof first, "%u: %s", mysql_errno(m[i]), app_error(m[i]));
        }
    }
    for (int i = 0; i < n; i++)
        mysql_close(m[i]);
    printf("ok=%d\nerrors=%d\nfirst_error=%s\n", ok, errors, first);
    return 0;
}

/* threads */
static int threads(void)
{
    printf("tasks_start=%d\n", tasks());
    MYSQL *m = app_open();
    app_run(m, "SELECT 1");
    printf("tasks_leased=%d\n", tasks());
    app_dsn d = app_user_dsn(false);
    d.password = "not-the-password";
    MYSQL *bad = mysql_init(NULL);
    if (app_connect(bad, &d))
        app_die(0, "a wrong password connected");
    mysql_close(bad);
    printf("tasks_failed=%d\n", tasks());
    mysql_close(m);
    printf("tasks_parked=%d\n", tasks());
    return 0;
}

/* The child of the fork scenario: parks 3 connections of its own and waits for its 2 surplus
 * ones to go; PARENT is the parent's warm parked connection. Exits. */
static void fork_child(unsigned long parent)
{
    unsigned long ids[3];
    printf("child_tasks_at_fork=%d\n", tasks());
    burst(3, ids);
    printf("child_tasks_parked=%d\n", tasks());
    printf("child_took_parent=%d\n", ids[0] == parent || ids[1] == parent || ids[2] == parent);
    MYSQL *admin = admin_open();
    printf("child_surplus_closed=%d\n", wait_gone(admin, ids + 1, 2));
    printf("child_warm_kept=%d\n", alive(admin, ids[0]));
    printf("child_parent_kept=%d\n", alive(admin, parent));
    printf("child_own=%lu\n", ids[0]);
    mysql_close(admin);
    fflush(stdout);
    exit(0); /* the exit drain closes its warm one; the parent's is only let go */
}

/* fork */
static int fork_scenario(void)
{
    MYSQL *admin = admin_open();
    unsigned long ids[2];
    burst(2, ids);
    printf("parent_tasks_parked=%d\n", tasks());
    printf("parent_surplus_closed=%d\n", wait_gone(admin, ids + 1, 1));
    printf("parent_warm_kept=%d\n", alive(admin, ids[0]));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        app_die(0, "fork failed");
    if (pid == 0)
        fork_child(ids[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child_exit=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    printf("parent_kept_after_child=%d\n", alive(admin, ids[0]));
    MYSQL *m = app_open();
    printf("parent_parked_reused=%d\n", session_id(m) == ids[0]);
    mysql_close(m);
    mysql_close(admin);
    return 0;
}

/* The count argument ARG of MODE, at most MAX_CONNS. */
static int count_arg(const char *mode, const char *arg)
{
    long n = app_long_arg(mode, arg);
    if (n > MAX_CONNS)
        app_die(0, "%s: at most %d connections", mode, MAX_CONNS);
    return (int)n;
}

int main(int argc, char **argv)
{
    mysql_library_init(0, NULL, NULL);
    int rc = 2;
    if ((argc == 4 || (argc == 5 && !strcmp(argv[4], "--library-end"))) && !strcmp(argv[1], "park"))
        rc = park(count_arg("park", argv[2]), argv[3], argc == 5);
    else if (argc == 3 && !strcmp(argv[1], "hold"))
        rc = hold(count_arg("hold", argv[2]));
    else if (argc == 2 && !strcmp(argv[1], "threads"))
        rc = threads();
    else if (argc == 2 && !strcmp(argv[1], "fork"))
        rc = fork_scenario();
    else
        app_die(0, "usage: idle_burst park N FIFO | hold M | threads | fork");
    mysql_library_end();
    return rc;
}
