/* libfake_client_version.so: defines mysql_get_client_version() only, reporting MariaDB
 * Connector/C 3.1.5. Preloaded after libpoolshim.so it comes first in the shim's
 * dlsym(RTLD_NEXT) lookup, so the shim sees an unsupported client library version while every
 * other call still reaches the real libmariadb. */
#include <mysql.h>

/* 3.1.5, in the library's encoding (major * 10000 + minor * 100 + patch). */
unsigned long STDCALL mysql_get_client_version(void)
{
    return 30105;
}
