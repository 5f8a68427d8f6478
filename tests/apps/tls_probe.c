/* tls_probe: connect-per-request over TLS (TCP, server verified against PSTEST_TLS_CA).
 *
 *   tls_probe reuse N   N requests: connect, check the session is TLS (Ssl_cipher, and
 *                       mysql_get_ssl_cipher), check no user variable of the previous request
 *                       is visible, set one, close. Prints requests, tls_ok, stale_state,
 *                       distinct_ids (server sessions used), cipher.
 *   tls_probe killed    connect twice (the second lease reuses a parked TLS connection), KILL
 *                       the session, query: the library reports the TLS read error on the
 *                       program's handle (prints errno, error), then reconnects (reconnect_ok). */
#include "app_common.h"

static app_dsn dsn;

/* A TLS connection or death. */
static MYSQL *connect_tls(void)
{
    MYSQL *m = mysql_init(NULL);
    if (!app_connect(m, &dsn))
        app_die(mysql_errno(m), "connect: %s", app_error(m));
    return m;
}

/* Mode "reuse". */
static int run_reuse(long n)
{
    long tls_ok = 0, stale = 0, distinct = 0;
    unsigned long ids[64] = {0};
    char cipher[64] = "";
    for (long i = 0; i < n; i++) {
        MYSQL *m = connect_tls();
        char *c = app_scalar(m, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                                "WHERE VARIABLE_NAME = 'Ssl_cipher'");
        const char *lib_cipher = mysql_get_ssl_cipher(m);
        if (*c && strcmp(c, "NULL") && lib_cipher && strcmp(c, lib_cipher) == 0)
            tls_ok++;
        snprintf(cipher, sizeof cipher, "%s", c);
        free(c);
        if (app_expect(m, "SELECT @tls_probe", "NULL"))
            stale++;
        app_run(m, "SET @tls_probe = 1");
        char *id = app_scalar(m, "SELECT CONNECTION_ID()");
        unsigned long v = strtoul(id, NULL, 10);
        free(id);
        bool seen = false;
        for (long j = 0; j < distinct && j < 64; j++)
            seen = seen || ids[j] == v;
        if (!seen && distinct < 64)
            ids[distinct++] = v;
        mysql_close(m);
    }
    printf("requests=%ld\ntls_ok=%ld\nstale_state=%ld\ndistinct_ids=%ld\ncipher=%s\n", n, tls_ok,
           stale, distinct, cipher);
    return 0;
}

/* Mode "killed". */
static int run_killed(void)
{
    mysql_close(connect_tls());
    MYSQL *m = connect_tls();
    char *id = app_scalar(m, "SELECT CONNECTION_ID()");
    app_kill(strtoul(id, NULL, 10));
    free(id);
    int rc = mysql_query(m, "SELECT 1");
    printf("query_rc=%d\nerrno=%u\nerror=%s\n", rc, mysql_errno(m), mysql_error(m));
    mysql_close(m);
    m = connect_tls();
    printf("reconnect_ok=%d\n", app_query(m, "SELECT 1"));
    mysql_close(m);
    return 0;
}

int main(int argc, char **argv)
{
    dsn = app_tls_dsn();
    if (argc > 2 && strcmp(argv[1], "reuse") == 0)
        return run_reuse(app_long_arg("N", argv[2]));
    if (argc > 1 && strcmp(argv[1], "killed") == 0)
        return run_killed();
    app_die(0, "usage: tls_probe reuse N | killed");
}
