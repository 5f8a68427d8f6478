/* Activity tracking of leased handles: every command and result read on a pooled handle is
 * bracketed by ps_call_begin/ps_call_end, which is how the shim knows a handle is idle, what its
 * session holds, and when a reaped handle needs its connection back. The client layer's I/O
 * wrappers reach them only through the ps_call_hooks table (client.h) that shim.c installs;
 * the hooks that run library calls themselves (mysql_change_user) call them directly. */
#ifndef POOLSHIM_CALLS_H
#define POOLSHIM_CALLS_H

#include <stdbool.h>

#include "poolshim/client.h" /* ps_call */

/* Starts a call on H. MAY_RELESE: this call sends a command, so a reaped H gets a connection
 * back first (with its session replayed). Returns false when that failed: H then carries the
 * error and the call must fail without touching the network. */
bool ps_call_begin(ps_call *call, void *h, bool may_relese) __attribute__((warn_unused_result));

/* Ends a call on H: STATEMENT when it ran a statement (resets per-statement state), EFFECTS its
 * ps_sql_effect bits, APP_RESET when the program reset its own session. */
void ps_call_end(ps_call *call, void *h, bool statement, unsigned effects, bool app_reset);

#endif
