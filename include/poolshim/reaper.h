/* Reaping: taking the connection back from a leased handle the program keeps idle (typically
 * one it never closes), when its session holds nothing the shim cannot give back exactly.
 * No background thread: reaps happen when a connect meets the cap or a server refusal, during
 * connects and closes (handles idle past POOLSHIM_REAP_IDLE_MS), and lazily when an idle
 * handle is used again. */
#ifndef POOLSHIM_REAPER_H
#define POOLSHIM_REAPER_H

#include <stdbool.h>

#include "poolshim/client.h"
#include "poolshim/lease.h"

/* Reaps one reapable lease of P (least recently used first): its connection is reset and
 * parked. True when one was reaped. */
bool ps_reap_for(const ps_client_ops *cl, ps_pool *p);

/* Cheap periodic work at connect/close (rate-limited): reaps handles idle past the reap
 * threshold and warns about dirty handles held past POOLSHIM_LEAK_WARN_MS. */
void ps_housekeep(const ps_client_ops *cl);

/* Gets a connection for P into HANDLE, which is either unconnected (a connect: ARGS used for
 * a real connect) or a husk (a re-lease: the pool's arguments used, the session replayed).
 * Reaps at the cap and on the server's 1040. Returns the leased connection, or NULL with the
 * error set in HANDLE; *UNPOOLED is set when HANDLE got a connection the pool can't keep (it
 * is connected, just not pooled). When a husk's replay fails it is a husk again and
 * *HUSK_INFO receives its new mysql_info() copy. */
ps_conn *ps_obtain(const ps_client_ops *cl, ps_pool *p, void *handle, const ps_connect_args *a,
                   bool husk, unsigned long long last_insert_id, bool *unpooled, char **husk_info);

/* Starts a lease for connection C now in HANDLE, capturing where it was connected. */
void ps_lease_start(const ps_client_ops *cl, ps_conn *c, void *handle);

/* pthread_atfork handlers (parent and child alike after fork) for the call-site cache lock. */
void ps_reaper_before_fork(void);
void ps_reaper_after_fork(void);

#endif
