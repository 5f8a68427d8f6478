/* The registry of leased connections: which application handles hold pooled connections.
 * Keyed by the client's transport object (for MariaDB the MARIADB_PVIO*), which survives
 * programs copying the MYSQL struct (DBD::mysql does). Thread-safe. */
#ifndef POOLSHIM_REGISTRY_H
#define POOLSHIM_REGISTRY_H

#include "poolshim/pool.h"

/* Records C (LEASED) under KEY for application handle HANDLE. A stale entry under the same
 * key (its transport was freed and the address reused) is dropped from its pool first. */
void ps_registry_add(ps_conn *c, void *key, void *handle);

/* Removes and returns the connection registered under KEY, or, when KEY is NULL or unknown,
 * the one last seen in HANDLE. NULL when the handle holds no pooled connection. */
ps_conn *ps_registry_take(void *key, void *handle) __attribute__((warn_unused_result));

/* True when HANDLE (with transport KEY) holds a pooled connection. */
bool ps_registry_has(void *key, void *handle);

/* Re-keys the entry under OLD_KEY to NEW_KEY (after the library reconnected a handle). */
void ps_registry_rekey(void *old_key, void *new_key, void *handle);

/* In a forked child: entries stay (their pid tells they are inherited); re-inits the lock. */
void ps_registry_after_fork_child(void);
void ps_registry_before_fork(void);
void ps_registry_after_fork_parent(void);

#endif
