/* ctor_connect_app
 *
 * MySQL used before main(): by the constructor of a library this program links
 * (libctor_connect.so, tests/libs/ctor_connect.c), then by a constructor of the program itself,
 * then by main. Each connects (unix socket), reads CONNECTION_ID() and closes.
 * Prints <who>_ok=1|0 and x_<who>_id=<connection id> for who = lib_ctor, main_ctor, main (in that
 * order), then lib_ctor_ran=1|0. Exit 0 when all three worked. Under the shim the three share one
 * server connection. */
#include "app_common.h"

int ctor_connect_probe(const char *who);
int ctor_connect_ran(void);

static int main_ctor_ok;

/* The program's own constructor: runs after the library's, before main. */
__attribute__((constructor)) static void main_ctor(void)
{
    main_ctor_ok = ctor_connect_probe("main_ctor");
}

int main(void)
{
    int ok = ctor_connect_probe("main");
    printf("lib_ctor_ran=%d\n", ctor_connect_ran());
    return ok && main_ctor_ok && ctor_connect_ran() ? 0 : 1;
}
