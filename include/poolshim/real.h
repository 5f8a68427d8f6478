/* The real client-library functions, resolved once at the first interposed call. */
#ifndef POOLSHIM_REAL_H
#define POOLSHIM_REAL_H

#include <mysql.h>
#include <stdbool.h>

#define PS_REAL(ret, name, params, required) extern ret(*ps_real_##name) params;
#include "poolshim/real.def"
#undef PS_REAL

/* Resolves every ps_real_* pointer (thread-safe, once). Tries dlsym(RTLD_NEXT) and falls back
 * to dlopen(RTLD_NOLOAD) of the known client libraries, for hosts (Perl, Python) that loaded
 * the library RTLD_LOCAL. Rejects a lookup that returns the shim's own function. Records where
 * the library is mapped (ps_real_in_library) and pins it: it is never unloaded while the
 * process runs. Returns true when every required function was found. */
bool ps_real_resolve(void) __attribute__((warn_unused_result));

/* True when ADDR lies in the client library the real functions were resolved in: a call
 * that returns there comes from the library itself (say, its reconnect calling
 * mysql_real_connect through its own PLT). False before ps_real_resolve. */
bool ps_real_in_library(const void *addr);

/* Nesting depth of the current thread inside real client-library calls. While it is > 0,
 * every interposed call passes straight through: the library is calling itself (reconnect on a
 * stack temporary, init commands, close of a half-made handle). */
extern __thread int ps_depth __attribute__((tls_model("initial-exec")));

/* The return address of the program's current interposed call (where it called the
 * library), set by the exported wrappers. */
extern __thread void *ps_caller __attribute__((tls_model("initial-exec")));

/* Runs STMT (a real call) with the nesting depth raised. */
#define PS_NESTED(stmt)                                                                            \
    do {                                                                                           \
        ps_depth++;                                                                                \
        stmt;                                                                                      \
        ps_depth--;                                                                                \
    } while (0)

#endif
