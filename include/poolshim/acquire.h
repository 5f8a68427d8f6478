/* Acquiring: getting a connection into an application handle, either at its connect or to
 * renew a reaped handle. A parked connection is validated before it is handed out; otherwise
 * a new one is made; at the cap (or after the server refused a connect) reapable handles give
 * theirs back; then the caller waits FIFO, up to POOLSHIM_WAIT_TIMEOUT_MS. */
#ifndef POOLSHIM_ACQUIRE_H
#define POOLSHIM_ACQUIRE_H

#include <stdbool.h>

#include "poolshim/client.h"
#include "poolshim/lease.h"

enum ps_connected {
    PS_CONNECTED_POOLED,   /* the handle holds a pooled connection under a new lease */
    PS_CONNECTED_UNPOOLED, /* the handle holds a connection the pool does not keep */
    PS_CONNECTED_FAILED,   /* the handle carries the error (the library's, or the cap's 1040) */
    PS_CONNECTED_NOMEM,    /* out of memory before anything happened: connect unpooled */
};

/* Connects unconnected HANDLE for pool P with ARGS (mysql_real_connect). */
enum ps_connected ps_acquire_connect(const ps_client_ops *cl, ps_pool *p, void *handle,
                                     const ps_connect_args *args);

/* Renews lease L (MOVING, the caller's; its handle a husk): gets a connection for L's pool
 * with the pool's arguments and replays the husk's session. DONE: L is LIVE with it.
 * Otherwise the handle carries the error, a husk again, and L is still MOVING, without a
 * connection: LOST when no connection could be had or it failed under the replay (the husk's
 * session is intact: a later renewal may succeed), REFUSED when the server refused part of the
 * session (the caller breaks L). */
enum ps_replay ps_acquire_renew(const ps_client_ops *cl, ps_lease *l);

#endif
