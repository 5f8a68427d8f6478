/* The interposed behaviour, one ps_hook_<name> per exported function (see interpose.def). */
#ifndef POOLSHIM_HOOKS_H
#define POOLSHIM_HOOKS_H

#include <mysql.h>
#include <stdbool.h>

#include "poolshim/client.h"

#define PS_HOOK(ret, name, params, args) ret ps_hook_##name params;
#include "poolshim/interpose.def"
#undef PS_HOOK

/* The double-close guard (hook_init.c). At the start of a top-level mysql_close of M while
 * pooling is on: true when M is a handle the program already closed and the library freed, so
 * the caller must ignore this close without touching M (one warning line is logged); otherwise
 * M is remembered when this close will free it. */
bool ps_close_guard(const ps_client_ops *cl, MYSQL *m);

/* M is a valid handle again (re-initialised, or handed to mysql_real_connect): a close of M is
 * no longer a double close. M may be NULL. */
void ps_close_guard_forget(MYSQL *m);

#endif
