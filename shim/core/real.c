/* Resolution of the real client-library functions (see real.h). */
#include "poolshim/real.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include "poolshim/log.h"

__thread int ps_depth __attribute__((tls_model("initial-exec")));
__thread void *ps_caller __attribute__((tls_model("initial-exec")));

#define PS_REAL(ret, name, params, required) ret(*ps_real_##name) params;
#include "poolshim/real.def"
#undef PS_REAL

/* One row per function: where its pointer goes, its name, whether the shim needs it. */
typedef struct real_symbol {
    void **slot;
    const char *name;
    int required;
} real_symbol;

static const real_symbol symbols[] = {
#define PS_REAL(ret, name, params, required) {(void **)&ps_real_##name, #name, required},
#include "poolshim/real.def"
#undef PS_REAL
};

/* Client libraries tried, already loaded only, when RTLD_NEXT finds nothing. */
static const char *const client_libraries[] = {"libmariadb.so.3", "libmysqlclient.so.21",
                                               "libmysqlclient.so.18", "libmariadbclient.so.18"};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool resolved_ok;

/* True when ADDR lies in this shared object (a lookup that found our own wrapper). */
static bool is_own_symbol(void *addr)
{
    Dl_info mine, found;
    if (!dladdr((void *)&ps_real_resolve, &mine) || !dladdr(addr, &found))
        return false;
    return mine.dli_fbase == found.dli_fbase;
}

/* Looks NAME up after the shim, then in an already-loaded client library. */
static void *lookup(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p && !is_own_symbol(p))
        return p;
    for (size_t i = 0; i < sizeof client_libraries / sizeof client_libraries[0]; i++) {
        void *lib = dlopen(client_libraries[i], RTLD_LAZY | RTLD_NOLOAD);
        if (!lib)
            continue;
        p = dlsym(lib, name);
        dlclose(lib); /* NOLOAD took a reference; the library stays loaded */
        if (p && !is_own_symbol(p))
            return p;
    }
    return NULL;
}

/* Fills every pointer; logs the missing required ones. */
static void resolve_all(void)
{
    resolved_ok = true;
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        *symbols[i].slot = lookup(symbols[i].name);
        if (!*symbols[i].slot && symbols[i].required) {
            ps_warn(NULL, "client library function %s not found; pooling disabled",
                    symbols[i].name);
            resolved_ok = false;
        }
    }
}

bool ps_real_resolve(void)
{
    pthread_once(&once, resolve_all);
    return resolved_ok;
}
