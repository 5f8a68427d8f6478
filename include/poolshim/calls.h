/* Activity tracking of leased handles: the client layer's I/O wrappers report every command
 * and result read on a pooled handle through these two functions (installed as its call
 * hooks), which is how the shim knows a handle is idle, what its session holds, and when a
 * reaped or inherited handle needs a connection of its own first. */
#ifndef POOLSHIM_CALLS_H
#define POOLSHIM_CALLS_H

#include <stdbool.h>

#include "poolshim/client.h"

/* Makes CL the client layer the call hooks work with (once, at initialisation). */
void ps_calls_init(const ps_client_ops *cl);

/* The hooks to install in the client layer, for the configuration loaded (once, after it). */
const ps_call_hooks *ps_calls_hooks(void);

/* Starts a call on H. SENDS_COMMAND: this call sends a command, so a reaped H gets a
 * connection back first (with its session replayed), and an inherited one its own, while a
 * broken one (a renewal the server refused) fails like a connection the server dropped, or
 * tries again when the program set its reconnect option. Returns false when the command
 * cannot go on: H then carries the error and the call must fail without touching the network. */
bool ps_call_begin(ps_call *call, void *h, bool sends_command) __attribute__((warn_unused_result));

/* Ends a call on H with its outcome O. */
void ps_call_end(ps_call *call, void *h, const ps_call_outcome *o);

#endif
