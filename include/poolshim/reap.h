/* Reaping: taking the connection back from a leased handle the program keeps idle (typically
 * one it never closes), when its session holds nothing the shim cannot give back exactly.
 * Reaps happen when a connect meets the cap or a server refusal, during connects and closes
 * (handles idle past POOLSHIM_REAP_IDLE_MS), and when an idle handle is used again past the
 * server's patience (then its own thread reaps it and renews it at once). */
#ifndef POOLSHIM_REAP_H
#define POOLSHIM_REAP_H

#include <stdbool.h>

#include "poolshim/client.h"
#include "poolshim/lease.h"

/* Takes the connection back from lease L (MOVING, the caller's): saves what the handle shows,
 * reads what the renewal must give back (LAST_INSERT_ID(), FOUND_ROWS(), ROW_COUNT()), resets
 * the session and parks the connection (a dead one
 * is closed), leaving the handle a husk and L without a connection, still MOVING (the caller
 * settles it REAPED or renews it). When the handle cannot be reaped, L is settled LIVE with
 * the reason and false is returned. */
bool ps_reap(const ps_client_ops *cl, ps_lease *l);

/* Reaps one reapable lease of P (least recently used first). True when one was reaped. */
bool ps_reap_for(const ps_client_ops *cl, ps_pool *p);

/* Cheap periodic work at connect/close (rate-limited): reaps handles idle past the reap
 * threshold and reports leaks due. */
void ps_housekeep(const ps_client_ops *cl);

#endif
