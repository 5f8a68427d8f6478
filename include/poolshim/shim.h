/* Process-wide shim state: initialisation, the active flag and the selected client layer. */
#ifndef POOLSHIM_SHIM_H
#define POOLSHIM_SHIM_H

#include <stdbool.h>

#include "poolshim/client.h"

/* Initialises the shim once (config, log, real symbols, client layer, fork handlers).
 * Returns the client layer when pooling is on, NULL for pass-through. Cheap after the first
 * call; safe to call from any thread and from constructors. */
const ps_client_ops *ps_shim(void);

/* The start of an interposed call: ps_shim(), and, for the program's own call (ps_depth 0),
 * the end of a call the client layer left open on this thread for a read that did not come
 * (ps_client_ops.end_open_call), so that no hook ever sees a lease with a call of this
 * thread's still counted. */
const ps_client_ops *ps_shim_enter(void);

/* Writes the per-pool exit summary at info level (also used by mysql_server_end). */
void ps_shim_summary(void);

#endif
