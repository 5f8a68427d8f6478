/* Resolution of the real client-library functions (see real.h). */
#include "poolshim/real.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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
/* The address range [lib_lo, lib_hi) the client library is mapped at (0, 0: unknown). */
static uintptr_t lib_lo, lib_hi;

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

/* dl_iterate_phdr callback: when the object INFO describes holds the address *DATA, records
 * the span of its loaded segments as the library's range and stops. */
static int find_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t addr = *(const uintptr_t *)data, lo = UINTPTR_MAX, hi = 0;
    bool holds = false;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        holds = holds || (addr >= start && addr < end);
        lo = start < lo ? start : lo;
        hi = end > hi ? end : hi;
    }
    if (!holds)
        return 0;
    lib_lo = lo;
    lib_hi = hi;
    return 1;
}

/* Records where the library holding FN is mapped, and pins it (RTLD_NODELETE): the parked
 * connections and the resolved pointers use its code and data, so a program's dlclose (after
 * its mysql_library_end, say) must not unmap it while the shim runs. */
static void locate_library(void *fn)
{
    uintptr_t addr = (uintptr_t)fn;
    dl_iterate_phdr(find_range, &addr);
    Dl_info info;
    if (dladdr(fn, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE); /* never closed */
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
    if (ps_real_mysql_real_connect)
        locate_library(*(void **)&ps_real_mysql_real_connect);
}

bool ps_real_resolve(void)
{
    pthread_once(&once, resolve_all);
    return resolved_ok;
}

bool ps_real_in_library(const void *addr)
{
    uintptr_t a = (uintptr_t)addr;
    return lib_lo < lib_hi && a >= lib_lo && a < lib_hi;
}
