/* mysql_init, and the double-close guard it serves.
 *
 * mysql_init is interposed only for bookkeeping: it passes straight through to the library (which
 * also calls it through the PLT, on a stack temporary, during its own reconnect).
 *
 * The guard's contract. mysql_close of a handle that mysql_init(NULL) allocated frees it; closing
 * the same pointer again is a use after free that crashes the library (SIGSEGV inside mysql_close,
 * measured) and, with the shim, would first make the shim read the freed struct. So, while
 * pooling is on (the MariaDB 3.3 layout is verified):
 *  - at the start of every top-level mysql_close, ps_close_guard remembers the handle's address in
 *    a small ring (the last PS_CLOSED_SLOTS ones) when the library will free it (free_me), before
 *    the close frees it;
 *  - a later top-level mysql_close of a remembered address is ignored, with one warning line;
 *  - an address is forgotten as soon as it names a valid handle again: passed to or returned by
 *    mysql_init (malloc reused it for a new handle; a program re-initialises its own storage),
 *    or passed to mysql_real_connect;
 *  - stack and embedded handles (free_me 0) are never remembered: the library tolerates closing
 *    them twice, and so does the shim.
 * Remembering before the free makes it thread-safe: the free happens before malloc can hand the
 * address to another thread, whose mysql_init then forgets it.
 * Limits: a close more than PS_CLOSED_SLOTS heap-handle closes later is not recognised (it crashes
 * as without the shim). A program that copies a MYSQL struct into memory malloc just reused from a
 * closed handle and closes that copy, with neither mysql_init nor mysql_real_connect on the new
 * address, has that close ignored (connection left open, warning logged); and handles reached
 * through the library's own symbols (dlsym on the library) bypass the guard entirely. */
#include <stdatomic.h>
#include <stdint.h>

#include "poolshim/hooks.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/shim.h"

#define PS_CLOSED_SLOTS 32

static _Atomic uintptr_t closed[PS_CLOSED_SLOTS]; /* 0 = empty slot */
static atomic_uint next_slot;

/* True when address A is in the ring. Relaxed loads suffice: a close that remembered A happened
 * before the free, which happened before anyone could get A again. */
static bool remembered(uintptr_t a)
{
    for (int i = 0; i < PS_CLOSED_SLOTS; i++)
        if (atomic_load_explicit(&closed[i], memory_order_relaxed) == a)
            return true;
    return false;
}

/* Puts address A in the ring, over its oldest entry. */
static void remember(uintptr_t a)
{
    unsigned i = atomic_fetch_add(&next_slot, 1) % PS_CLOSED_SLOTS;
    atomic_store(&closed[i], a);
}

/* Forgets every copy of M's address (contract in hooks.h). */
void ps_close_guard_forget(MYSQL *m)
{
    uintptr_t a = (uintptr_t)m;
    if (!a)
        return;
    for (int i = 0; i < PS_CLOSED_SLOTS; i++) {
        uintptr_t expected = a; /* a plain load first: no locked instruction per slot */
        if (atomic_load_explicit(&closed[i], memory_order_relaxed) == a)
            atomic_compare_exchange_strong(&closed[i], &expected, 0);
    }
}

/* Ignores a second close of a freed handle, else remembers one this close frees (hooks.h). */
bool ps_close_guard(const ps_client_ops *cl, MYSQL *m)
{
    if (remembered((uintptr_t)m)) {
        ps_warn(NULL, "mysql_close called twice on handle %p; ignored", (void *)m);
        return true;
    }
    if (cl->close_frees(m))
        remember((uintptr_t)m);
    return false;
}

/* The library's mysql_init; the handle it returns is valid again for the guard. */
MYSQL *ps_hook_mysql_init(MYSQL *m)
{
    MYSQL *r = NULL;
    ps_shim_enter();
    if (!ps_real_mysql_init)
        return NULL;
    PS_NESTED(r = ps_real_mysql_init(m));
    ps_close_guard_forget(r); /* r is M when M is not NULL */
    return r;
}
