/* libctor_connect.so: a library that uses MySQL before main() runs, as some plugins and legacy
 * libraries do: its constructor connects with the sandbox DSN (unix socket), reads
 * CONNECTION_ID() and closes. ctor_connect_probe() is the same probe for the program's own use. */
#include "../apps/app_common.h"

int ctor_connect_probe(const char *who);
int ctor_connect_ran(void);

static int ran;

/* Connects, reads CONNECTION_ID(), closes. Prints <WHO>_ok=1 and x_<WHO>_id=<id>, or
 * <WHO>_ok=0 and <WHO>_error=<errno>: <message>. Returns 1 when it worked. */
int ctor_connect_probe(const char *who)
{
    app_dsn d = app_user_dsn(false);
    MYSQL *m = mysql_init(NULL);
    int ok = m && app_connect(m, &d);
    printf("%s_ok=%d\n", who, ok);
    if (ok) {
        char *id = app_scalar(m, "SELECT CONNECTION_ID()");
        printf("x_%s_id=%s\n", who, id);
        free(id);
    } else {
        printf("%s_error=%u: %s\n", who, mysql_errno(m), app_error(m));
    }
    mysql_close(m);
    return ok;
}

/* 1 once the constructor below has run (and its probe worked). */
int ctor_connect_ran(void)
{
    return ran;
}

/* Runs the probe as "lib_ctor" at load time. */
__attribute__((constructor)) static void ctor_connect(void)
{
    ran = ctor_connect_probe("lib_ctor");
}
