/* connect_once [--tcp] [--warm] [--user U] [--password P] [--host H] [--port N] [--socket S]
 *
 * One connect with the given overrides of the sandbox DSN, printing exactly what the program
 * sees: errno, sqlstate and message (or the connection's user on success). With --warm it first
 * makes and closes a correct connection for the same user, so a pooled connection is parked
 * when the real attempt runs. Prints: result=ok|error errno= sqlstate= message= */
#include "app_common.h"

int main(int argc, char **argv)
{
    bool tcp = false, warm = false;
    const char *user = NULL, *password = NULL, *host = NULL, *sock = NULL;
    long port = -1;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--tcp"))
            tcp = true;
        else if (!strcmp(argv[i], "--warm"))
            warm = true;
        else if (!strcmp(argv[i], "--user") && v)
            user = argv[++i];
        else if (!strcmp(argv[i], "--password") && v)
            password = argv[++i];
        else if (!strcmp(argv[i], "--host") && v)
            host = argv[++i];
        else if (!strcmp(argv[i], "--socket") && v)
            sock = argv[++i];
        else if (!strcmp(argv[i], "--port") && v)
            port = app_long_arg("--port", argv[++i]);
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    app_dsn d = app_user_dsn(tcp);
    if (warm) {
        MYSQL *w = mysql_init(NULL);
        if (!app_connect(w, &d))
            app_die(mysql_errno(w), "warm-up connect: %s", app_error(w));
        mysql_close(w);
    }
    d.user = user ? user : d.user;
    d.password = password ? password : d.password;
    d.host = host ? host : d.host;
    d.socket = sock ? sock : d.socket;
    d.port = port >= 0 ? (unsigned)port : d.port;
    MYSQL *m = mysql_init(NULL);
    if (app_connect(m, &d)) {
        app_query(m, "SELECT 1");
        printf("result=ok\nerrno=0\nsqlstate=%s\nmessage=%s\n", mysql_sqlstate(m), d.user);
    } else {
        printf("result=error\nerrno=%u\nsqlstate=%s\nmessage=%s\n", mysql_errno(m),
               mysql_sqlstate(m), mysql_error(m));
    }
    mysql_close(m);
    return 0;
}
