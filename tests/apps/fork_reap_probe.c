/* fork_reap_probe: a program forks while another of its threads may be reaping the handle the
 * forking thread keeps (at POOLSHIM_MAX_PER_KEY=1 with a small POOLSHIM_REAP_MIN_IDLE_MS, every
 * connect of the other thread reaps it once it has idled that long), and the child uses that
 * handle.
 *
 *   fork_reap_probe [--rounds N]
 * The main thread runs "SELECT 'a<i>'" on its handle H, sleeps up to 10 ms, forks; the child
 * runs "SELECT CONNECTION_ID()" on H and reports through a pipe. Meanwhile a second thread
 * loops connect / "SELECT 'r<i>'" / close. The parent's answers must always be its own
 * statements' (a child that wrote on a connection a parent thread was moving would leave an
 * answer on it for the next user); the child's query either runs on a connection of its own
 * or fails as on a lost connection, never on the parent's. Prints rounds, a_wrong, a_errors,
 * churn.wrong, churn.errors, child_ok, child_failed, child_on_parents; exit 0 when nothing was
 * wrong. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_common.h"

/* Forks a child that queries H and reports "ok ID" or "failed"; returns what it reported. */
static void fork_child(MYSQL *h, char *report, size_t n)
{
    int p[2];
    if (pipe(p))
        app_die(0, "pipe failed");
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        char *id = app_value(h, "SELECT CONNECTION_ID()");
        dprintf(p[1], "%s %s", id ? "ok" : "failed", id ? id : "-");
        _exit(0);
    }
    close(p[1]);
    ssize_t got = read(p[0], report, n - 1);
    report[got > 0 ? got : 0] = '\0';
    close(p[0]);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    long rounds = 300, a_wrong = 0, a_errors = 0, child_ok = 0, child_failed = 0, on_parents = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = app_long_arg("--rounds", argv[++i]);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    alarm(300); /* a hang (an answer left on a connection, waited for) ends in SIGALRM */
    MYSQL *h = app_open_handle(false);
    if (!h)
        app_die(0, "connect failed");
    /* the other thread: connect / SELECT / close (each connect reaps H at the cap) */
    app_churn churn = {.reconnect = false};
    pthread_t t;
    pthread_create(&t, NULL, app_churn_run, &churn);
    for (long i = 0; i < rounds; i++) {
        char want[32], report[128];
        snprintf(want, sizeof want, "a%ld", i);
        app_count_tag(h, want, &a_wrong, &a_errors);
        unsigned long parent_id = mysql_thread_id(h);
        struct timespec ts = {0, (long)(i * 7919 % 10000) * 1000L};
        nanosleep(&ts, NULL);
        fork_child(h, report, sizeof report);
        unsigned long id = 0;
        if (sscanf(report, "ok %lu", &id) != 1)
            child_failed++;
        else if (id == parent_id)
            on_parents++;
        else
            child_ok++;
    }
    __atomic_store_n(&churn.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    mysql_close(h);
    printf("rounds=%ld\na_wrong=%ld\na_errors=%ld\nr_wrong=%ld\nr_errors=%ld\nchild_ok=%ld\n"
           "child_failed=%ld\nchild_on_parents=%ld\n",
           rounds, a_wrong, a_errors, churn.wrong, churn.errors, child_ok, child_failed,
           on_parents);
    return a_wrong || churn.wrong || on_parents ? 1 : 0;
}
