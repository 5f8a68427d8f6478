/* route_probe [--tcp] [--host H] [--port N] [--socket S] [--n N]
 *
 * Connects N times (default 10) with the given overrides of the sandbox DSN, each time reading
 * which server the session is on (@@port, @@server_id) and its CONNECTION_ID(), then closes.
 * What POOLSHIM_ROUTE does is seen only from the server's side: the program asks for H:N.
 * Prints: requests= errors= port= server_id= mixed_servers= distinct_ids= first_error= */
#include "app_common.h"

#define MAX_IDS 1024

/* The sandbox DSN with the command line's overrides. */
static app_dsn parse_args(int argc, char **argv, long *n)
{
    bool tcp = false;
    const char *host = NULL, *sock = NULL;
    long port = -1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--host") && v)
            host = argv[++i];
        else if (!strcmp(argv[i], "--socket") && v)
            sock = argv[++i];
        else if (!strcmp(argv[i], "--port") && v)
            port = app_long_arg("--port", argv[++i]);
        else if (!strcmp(argv[i], "--n") && v)
            *n = app_long_arg("--n", argv[++i]);
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    app_dsn d = app_user_dsn(tcp);
    d.host = host ? host : d.host;
    d.socket = sock ? sock : d.socket;
    d.port = port >= 0 ? (unsigned)port : d.port;
    return d;
}

int main(int argc, char **argv)
{
    long n = 10, errors = 0, mixed = 0, n_ids = 0;
    unsigned long ids[MAX_IDS];
    char port[32] = "", server_id[32] = "", first_error[300] = "";
    app_dsn d = parse_args(argc, argv, &n);
    for (long i = 0; i < n; i++) {
        MYSQL *m = mysql_init(NULL);
        MYSQL_RES *res = NULL;
        MYSQL_ROW row = NULL;
        if (app_connect(m, &d) && !mysql_query(m, "SELECT @@port, @@server_id, CONNECTION_ID()") &&
            (res = mysql_store_result(m)) && (row = mysql_fetch_row(res))) {
            mixed += i > 0 && (strcmp(port, row[0]) || strcmp(server_id, row[1]));
            snprintf(port, sizeof port, "%s", row[0]);
            snprintf(server_id, sizeof server_id, "%s", row[1]);
            unsigned long id = strtoul(row[2], NULL, 10);
            long j = 0;
            while (j < n_ids && ids[j] != id)
                j++;
            if (j == n_ids && n_ids < MAX_IDS)
                ids[n_ids++] = id;
        } else {
            if (!errors++)
                snprintf(first_error, sizeof first_error, "%u: %s", mysql_errno(m), app_error(m));
        }
        if (res)
            mysql_free_result(res);
        mysql_close(m);
    }
    printf("requests=%ld\nerrors=%ld\nport=%s\nserver_id=%s\nmixed_servers=%ld\n"
           "distinct_ids=%ld\nfirst_error=%s\n",
           n, errors, port, server_id, mixed, n_ids, first_error);
    return errors ? 1 : 0;
}
