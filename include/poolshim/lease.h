/* Leases: one per application handle that holds (or held, until reaped) a pooled connection.
 * A lease outlives its connection: when the shim reaps an idle handle, the connection goes back
 * to the pool and the lease stays, REAPED, until the handle's next call re-leases a connection
 * or the program closes the handle.
 *
 * States (changed only under the lease lock):
 *   LIVE     the handle holds lease->conn; BUSY while one of its calls is in progress;
 *   REAPING  one thread (a reaper, or the handle's own thread re-leasing) owns the transition;
 *            every other thread waits for it to end;
 *   REAPED   the handle is a husk: no connection, client-side results and options kept.
 * Leases are indexed by handle address, and found by transport when a program copied its
 * MYSQL struct (DBD::mysql does). Live ones are kept in least-recently-used order for
 * reaping; reaped ones leave that list, so its length stays bounded by the pools' caps. */
#ifndef POOLSHIM_LEASE_H
#define POOLSHIM_LEASE_H

#include <pthread.h>
#include <stdbool.h>

#include "poolshim/pool.h"

enum ps_lease_state { PS_LEASE_LIVE, PS_LEASE_REAPING, PS_LEASE_REAPED };

#define PS_LEASE_TRACE 16

typedef struct ps_lease {
    void *handle;    /* the application's handle */
    void *transport; /* the live connection's transport; NULL while reaped */
    ps_conn *conn;   /* the pooled connection held; NULL while reaped */
    ps_pool *pool;   /* the key, kept while reaped */
    pid_t pid;
    enum ps_lease_state state;
    int busy;     /* calls in progress on the handle */
    bool indexed; /* in the handle index (false once the handle address was reused) */
    bool in_lru;  /* on the LRU list: exactly the LIVE and REAPING leases */
    int64_t acquired_ms, last_call_ms;
    pthread_t last_thread;   /* the thread of the last call (or the connect) */
    unsigned effects;        /* sticky ps_sql_effect bits since the lease (or the app's reset) */
    bool found_rows_pending; /* the last statement used SQL_CALC_FOUND_ROWS */
    unsigned long long last_insert_id; /* last generated id seen in an OK packet */
    char *husk_info;                   /* the husk's copy of mysql_info() while reaped */
    bool leak_warned;
    bool inherited;         /* taken over from the parent process, connection not yet disowned */
    const char *unreapable; /* why the last reap attempt was refused (static text) */
    int trace_len;
    void *trace[PS_LEASE_TRACE]; /* where the handle was connected */
    UT_hash_handle hh;
    struct ps_lease *older, *newer; /* LRU by last call */
} ps_lease;

/* Starts a LIVE lease of C for HANDLE (TRANSPORT identifies the connection). TRACE is copied.
 * Returns NULL on OOM (the caller then leaves the connection unpooled). */
ps_lease *ps_lease_begin(ps_conn *c, void *handle, void *transport, void *const *trace,
                         int trace_len) __attribute__((warn_unused_result));

/* Removes and returns HANDLE's lease (found by handle, else by TRANSPORT), waiting while
 * another thread reaps or re-leases it. NULL when the handle holds no lease. */
ps_lease *ps_lease_take(void *handle, void *transport) __attribute__((warn_unused_result));

/* Frees a taken lease (not its connection). */
void ps_lease_free(ps_lease *l);

/* True when HANDLE (or TRANSPORT) holds a lease. */
bool ps_lease_held(void *handle, void *transport);

/* Starts a call on HANDLE: returns its lease marked busy, or NULL when it holds none. When
 * the call sends a command (MAY_RELESE) and the lease is REAPED (or LIVE, clean, and idle past
 * the reap threshold: POOLSHIM_REAP_IDLE_MS or the server's wait_timeout, so its connection may
 * be gone), it is returned REAPING with *relese set: the caller must re-lease
 * (ps_lease_relesed / ps_lease_relese_failed). Result reads never re-lease. A lease inherited
 * across fork is ignored (NULL) except by a command, which takes it over: REAPING, *relese,
 * ->inherited set, so the caller first lets go of the parent's connection. */
ps_lease *ps_lease_enter(void *handle, void *transport, bool may_relese, bool *relese);

/* Ends a call: STATEMENT when it ran a statement, its EFFECTS (ps_sql_effect bits; APP_RESET
 * clears the sticky ones), the insert id the handle now shows, the time and thread. */
void ps_lease_leave(ps_lease *l, bool statement, unsigned effects, bool app_reset,
                    unsigned long long insert_id);

/* A re-lease succeeded: L holds C (with TRANSPORT), LIVE and busy. */
void ps_lease_relesed(ps_lease *l, ps_conn *c, void *transport);

/* L (REAPING, owned by the caller) no longer holds a connection: its handle is a husk. */
void ps_lease_disowned(ps_lease *l);

/* A re-lease failed: L is REAPED again and not busy. */
void ps_lease_relese_failed(ps_lease *l);

/* Picks the least recently used LIVE lease of POOL (any pool when NULL), not busy, free of
 * unreplayable effects, idle at least MIN_IDLE_SELF when its last call came from the calling
 * thread (which is here, so not using it) or MIN_IDLE_OTHER otherwise; marks it REAPING.
 * NULL when there is none. */
ps_lease *ps_lease_pick_reapable(ps_pool *pool, int64_t min_idle_self, int64_t min_idle_other)
    __attribute__((warn_unused_result));

/* A reap finished: L is REAPED (its connection was parked or closed). */
void ps_lease_reaped(ps_lease *l);

/* A reap was refused for WHY (static text): L is LIVE again and keeps its place. */
void ps_lease_reap_refused(ps_lease *l, const char *why);

/* Calls FN for each LIVE lease held longer than HELD_MS that is dirty or was refused a reap,
 * and not warned yet (marks it warned). FN runs under the lease lock and must not block. */
void ps_lease_foreach_leak(int64_t held_ms, void (*fn)(const ps_lease *l, void *ctx), void *ctx);

/* Moves L's handle index entry after the library reconnected it (new transport). */
void ps_lease_set_transport(ps_lease *l, void *transport);

/* Finds HANDLE's lease without changing it (NULL when none). For identity changes made by the
 * handle's own thread. */
ps_lease *ps_lease_find(void *handle, void *transport);

/* True when L's session holds nothing the shim cannot reproduce on a fresh connection. */
bool ps_lease_replayable(ps_lease *l);

/* pthread_atfork handlers. In the child, leases stay (their pid marks them inherited) until
 * the child's first command on the handle takes one over (ps_lease_enter: REAPING, relese,
 * ->inherited set). Leases a parent thread was moving at fork time are dropped in the child. */
void ps_lease_before_fork(void);
void ps_lease_after_fork_parent(void);
void ps_lease_after_fork_child(void);

#endif
