/* library_end_probe [--tcp | --tls] [ROUNDS]
 *
 * What DBD::MariaDB does whenever its last handle closes: ROUNDS times (default 3) connect,
 * query, close, mysql_library_end() (mysql_server_end), and connect again on the re-initialised
 * library. Each round checks the session works (a query, the TLS cipher with --tls) and is
 * clean (no user variable of the previous round). Prints rounds, ok (rounds whose every check
 * passed), tls_ok (rounds whose session was TLS), stale_state (rounds that saw the previous
 * round's user variable) and distinct_ids (server sessions used). */
#include "app_common.h"

/* One round on a new handle: connect with D, check, mark the session, close. Returns the
 * session's CONNECTION_ID(); *OK, *TLS_OK, *STALE count what it saw. */
static unsigned long round_trip(const app_dsn *d, long *ok, long *tls_ok, long *stale)
{
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, d))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    char *id = app_scalar(m, "SELECT CONNECTION_ID()");
    unsigned long v = strtoul(id, NULL, 10);
    free(id);
    char *seen = app_scalar(m, "SELECT @library_end_probe");
    *stale += strcmp(seen, "NULL") != 0;
    free(seen);
    const char *cipher = mysql_get_ssl_cipher(m);
    *tls_ok += d->tls_ca && cipher && *cipher;
    bool works =
        app_query(m, "SELECT COUNT(*) FROM items") && app_query(m, "SET @library_end_probe = 1");
    *ok += works;
    mysql_close(m);
    return v;
}

int main(int argc, char **argv)
{
    bool tcp = false, tls = false;
    long rounds = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--tls"))
            tls = true;
        else
            rounds = app_long_arg("ROUNDS", argv[i]);
    }
    app_dsn d = tls ? app_tls_dsn() : app_user_dsn(tcp);
    long ok = 0, tls_ok = 0, stale = 0, distinct = 0;
    unsigned long ids[64];
    for (long r = 0; r < rounds; r++) {
        mysql_library_init(0, NULL, NULL);
        unsigned long v = round_trip(&d, &ok, &tls_ok, &stale);
        bool known = false;
        for (long j = 0; j < distinct; j++)
            known = known || ids[j] == v;
        if (!known && distinct < 64)
            ids[distinct++] = v;
        mysql_library_end();
    }
    printf("rounds=%ld\nok=%ld\ntls_ok=%ld\nstale_state=%ld\ndistinct_ids=%ld\n", rounds, ok,
           tls_ok, stale, distinct);
    return 0;
}
