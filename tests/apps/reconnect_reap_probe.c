/* reconnect_reap_probe: a program calls mariadb_reconnect on the handle it keeps while another
 * of its threads may be reaping that handle (at POOLSHIM_MAX_PER_KEY=1 with a small
 * POOLSHIM_REAP_MIN_IDLE_MS, every connect of the other thread reaps it once it has idled that
 * long).
 *
 *   reconnect_reap_probe [--rounds N]
 * Each round the main thread connects a handle H, runs "SELECT 'a<i>'" on it, sleeps up to
 * 30 ms, calls mariadb_reconnect(H), runs "SELECT 'b<i>'" on H and closes it. Meanwhile a second
 * thread loops connect / "SELECT 'r<i>'" / close. Every reconnect must succeed and every answer be
 * its own statement's, as without the shim. Prints rounds, a_wrong, a_errors, reconnect_errors,
 * r_wrong, r_errors; exit 0 when nothing was wrong. */
#include <pthread.h>
#include <unistd.h>

#include "app_common.h"

int main(int argc, char **argv)
{
    long rounds = 300, a_wrong = 0, a_errors = 0, reconnect_errors = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = app_long_arg("--rounds", argv[++i]);
        else
            app_die(0, "bad argument '%s'", argv[i]);
    }
    alarm(300); /* a hang ends in SIGALRM */
    /* the other thread: connect / SELECT / close (each connect reaps H at the cap) */
    app_churn churn = {.reconnect = true};
    pthread_t t;
    pthread_create(&t, NULL, app_churn_run, &churn);
    for (long i = 0; i < rounds; i++) {
        MYSQL *h = app_open_handle(true);
        if (!h) {
            a_errors++;
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "a%ld", i);
        app_count_tag(h, want, &a_wrong, &a_errors);
        struct timespec ts = {0, (long)(i * 7919 % 30000) * 1000L};
        nanosleep(&ts, NULL);
        if (mariadb_reconnect(h))
            reconnect_errors++;
        snprintf(want, sizeof want, "b%ld", i);
        app_count_tag(h, want, &a_wrong, &a_errors);
        mysql_close(h);
    }
    __atomic_store_n(&churn.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    printf("rounds=%ld\na_wrong=%ld\na_errors=%ld\nreconnect_errors=%ld\nr_wrong=%ld\n"
           "r_errors=%ld\n",
           rounds, a_wrong, a_errors, reconnect_errors, churn.wrong, churn.errors);
    return a_wrong || a_errors || reconnect_errors || churn.wrong || churn.errors ? 1 : 0;
}
