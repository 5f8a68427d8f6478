/* The client-library layer: everything that knows a client library's handle internals lives
 * behind this table, in one file per library (client_mariadb3.c for MariaDB Connector/C 3.3).
 * Handles are void * so that the rest of the shim never depends on a MYSQL layout. */
#ifndef POOLSHIM_CLIENT_H
#define POOLSHIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "poolshim/key.h"
#include "poolshim/pool.h"

/* The arguments of one mysql_real_connect call. */
typedef struct ps_connect_args {
    const char *host, *user, *passwd, *db, *socket;
    unsigned port;
    unsigned long flags;
} ps_connect_args;

typedef struct ps_client_ops {
    const char *name; /* e.g. "MariaDB Connector/C 3.3" */

    /* NULL when handle H (not yet connected) with args A may be pooled; else why not. */
    const char *(*unpoolable_before)(void *h, const ps_connect_args *a);
    /* Appends every field that makes connections interchangeable (args and options of H). */
    void (*build_key)(void *h, const ps_connect_args *a, ps_key *k);
    /* NULL when the freshly connected H may be pooled; else why not (e.g. TLS). */
    const char *(*unpoolable_after)(void *h);
    /* Records in C what a reset must restore (negotiated charset). */
    void (*record)(void *h, ps_conn *c);
    /* The object that identifies H's live connection (registry key); NULL when none. */
    void *(*transport)(void *h);
    /* Pings a parked handle without reconnecting; true when it is alive. */
    bool (*validate)(void *parked);
    /* Moves C's parked connection (C->handle) into the app's unconnected handle APP and frees
     * the parked handle; C->handle becomes APP. The app keeps its own options; APP then reads
     * exactly like a fresh connect's handle (the results recorded in C are restored). */
    void (*adopt)(void *app, ps_conn *c);
    /* NULL when H's connection can be reset and parked; else why not. */
    const char *(*unparkable)(void *h);
    /* Resets H's session and restores the connect-time state recorded in C; false when the
     * connection must be closed for real instead. */
    bool (*reset)(void *h, ps_conn *c);
    /* Moves H's connection into a new heap handle (returned; NULL on OOM), leaving H as the
     * library leaves a closed handle (freed when the library allocated it). */
    void *(*detach)(void *h);
    /* Closes a parked handle for real. */
    void (*destroy)(void *parked);
    /* Frees a parked handle inherited across fork without sending anything on its socket. */
    void (*forget)(void *parked);
    /* Points H's socket at /dev/null so a close sends nothing to the server (fork child). */
    void (*neutralize)(void *h);
    /* Sets H's error as the library would: errno, sqlstate, message. */
    void (*set_error)(void *h, unsigned err, const char *sqlstate, const char *msg);
    /* The handle's negotiated user (for re-keying); NULL if unknown. */
    const char *(*user)(void *h);
} ps_client_ops;

/* Picks the client layer for the loaded library after ps_real_resolve; NULL (and one log line)
 * when the library or its version is not supported: the shim then passes everything through. */
const ps_client_ops *ps_client_select(void);

/* The layer for MariaDB Connector/C 3.3, or NULL when the loaded library is not that. */
const ps_client_ops *ps_client_mariadb3(void);

#endif
