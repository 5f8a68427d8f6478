/* gap_borrow [--tcp] [--gaps G] [--gap-ms MS] [--until-gone] [--borrows N] [--held K]
 *
 * Bursts of connect/query/close ("borrows") separated by idle gaps, with K handles that stay
 * open for the whole run and are used in every burst: against a server whose wait_timeout is
 * shorter than the gap, every pooled and held connection dies in each gap. Without the shim
 * the held handles fail ("server has gone away"); with it, the program must see no error.
 * A gap sleeps MS (default 0), then with --until-gone lasts until the server has closed every
 * connection of PSTEST_USER (watched from an admin connection every 20 ms; after 120 s it
 * gives up with an error): each gap then ends when the server has really dropped everything,
 * however fast or slow the machine is.
 * Prints: borrows= held_uses= errors= first_error= */
#include <unistd.h>

#include "app_common.h"

static long errors;
static char first_error[300];

/* Records a failure on M. */
static void fail(MYSQL *m)
{
    if (!errors++)
        snprintf(first_error, sizeof first_error, "%u: %s", mysql_errno(m), app_error(m));
}

/* Waits until the server has no connection of the app user left (see the header). */
static void wait_until_gone(void)
{
    MYSQL *admin = app_admin();
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'",
             app_env("PSTEST_USER"));
    double give_up = app_now() + 120;
    for (;;) {
        char *n = app_scalar(admin, sql);
        bool gone = strcmp(n, "0") == 0;
        free(n);
        if (gone)
            break;
        if (app_now() > give_up)
            app_die(0, "the server kept connections of %s for 120 s", app_env("PSTEST_USER"));
        usleep(20 * 1000);
    }
    mysql_close(admin);
}

/* One query on M; false (recorded) on error. */
static bool use(MYSQL *m)
{
    if (app_query(m, "SELECT COUNT(*) FROM items"))
        return true;
    fail(m);
    return false;
}

int main(int argc, char **argv)
{
    bool tcp = false, until_gone = false;
    long gaps = 10, gap_ms = 0, borrows = 10000, held_n = 3, held_uses = 0, done = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--gaps"))
            gaps = app_long_arg("--gaps", v), i++;
        else if (!strcmp(argv[i], "--gap-ms"))
            gap_ms = app_long_arg("--gap-ms", v), i++;
        else if (!strcmp(argv[i], "--until-gone"))
            until_gone = true;
        else if (!strcmp(argv[i], "--borrows"))
            borrows = app_long_arg("--borrows", v), i++;
        else if (!strcmp(argv[i], "--held"))
            held_n = app_long_arg("--held", v), i++;
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    app_dsn d = app_user_dsn(tcp);
    MYSQL *held[16];
    held_n = held_n > 16 ? 16 : held_n;
    for (long i = 0; i < held_n; i++)
        if (!app_connect(held[i] = mysql_init(NULL), &d))
            app_die(mysql_errno(held[i]), "connect: %s", app_error(held[i]));
    for (long burst = 0; burst <= gaps; burst++) {
        if (burst > 0) {
            usleep((useconds_t)gap_ms * 1000);
            if (until_gone)
                wait_until_gone();
        }
        for (long i = 0; i < held_n; i++)
            held_uses += use(held[i]);
        long n = borrows / (gaps + 1) + (burst == gaps ? borrows % (gaps + 1) : 0);
        for (long i = 0; i < n; i++, done++) {
            MYSQL *m = mysql_init(NULL);
            if (!app_connect(m, &d))
                fail(m);
            else
                use(m);
            mysql_close(m);
        }
    }
    for (long i = 0; i < held_n; i++)
        mysql_close(held[i]);
    printf("borrows=%ld\nheld_uses=%ld\nerrors=%ld\nfirst_error=%s\n", done, held_uses, errors,
           errors ? first_error : "none");
    return errors ? 1 : 0;
}
