/* Leases: one per application handle that holds (or held, until reaped) a pooled connection.
 * A lease outlives its connection: when the shim reaps an idle handle, the connection goes back
 * to the pool and the lease stays, REAPED, until the handle's next command renews it (gets a
 * connection back) or the program closes the handle.
 *
 * Every lease is in exactly one state and on exactly its state's list. One function moves a
 * lease between states; it refuses the moves not drawn here (and aborts in a POOLSHIM_STRICT
 * build), keeps the lists and the handle/transport indexes in step, and wakes the threads
 * waiting for a move to end:
 *
 *             begin            pick (reap), enter (renew)
 *      NEW ---------> LIVE ----------------------------------> MOVING <-----------+
 *                      ^ <------------- kept, renewed -------- | ^  |             |
 *                      |                                       | |  | refused     |
 *                      +-- fork (child) --> INHERITED -- enter --+  v             |
 *                                                              | |  BROKEN -------+
 *           reaped, take-over failed, replay lost, ...         v |    enter (renew again:
 *                                                          REAPED |   the program reconnects)
 *                                                              |  |
 *                                                              +--+ enter (renew)
 *
 *   take (mysql_close): LIVE, REAPED, INHERITED, BROKEN -> CLOSED; MOVING -> CLOSED only in a
 *   forked child (a parent thread was moving the lease at fork time). BROKEN -> CLOSED also when
 *   the program's own mariadb_reconnect gave the handle a new connection (unpooled).
 *
 *   LIVE      the handle holds lease->activity.conn; on the LRU list (least recently used first);
 *   MOVING    one thread (a reaper, the handle's own thread renewing or taking over an
 *             inherited connection) owns the lease; every other thread waits (condition
 *             variable) for the move to end;
 *   REAPED    the handle is a husk: no connection, client-side results and options kept;
 *   BROKEN    a husk whose session a renewal could not give back (the server refused part of
 *             it: its database dropped or revoked...): like a session the server dropped, every
 *             command fails (2006) until the program closes the handle; with the program's
 *             MYSQL_OPT_RECONNECT each command tries a renewal again instead, as the library
 *             reconnects a lost connection. Never runs a statement in a session that is not
 *             the husk's;
 *   INHERITED forked child: the handle holds the parent's connection. The child's calls pass
 *             straight through until its first command takes it over (MOVING): the parent's
 *             connection is let go without a word and the handle renewed with its own;
 *   CLOSED    taken by mysql_close (or dropped in a forked child while a parent thread was
 *             moving it); the caller frees it.
 * Leases are indexed by handle address, and by transport (the live connection's identity) so a
 * program that copies its MYSQL struct (DBD::mysql does) is still recognised: a lease found by
 * transport follows the struct to its new address. Calls in progress are counted; a lease with
 * calls in progress is never picked for reaping. Lock order: lease lock, then the pool lock.
 *
 * The fast path. A call on a LIVE lease whose outcome changes nothing the lock guards (a plain
 * SELECT and its result reads: no effect, no insert id, no reported variable) is entered and
 * left without the lock: each thread remembers the last handle it found (checked against a
 * generation that every change of the indexes bumps), and the lease's gate, one atomic word,
 * holds the number of calls in progress and a SHUT bit. A call enters fast with one
 * compare-and-swap that adds 1 to an open gate, and leaves with one atomic subtraction after
 * stamping its time, thread and a global use sequence (the LRU order is that sequence, not the
 * list). The gate is open only while the lease is LIVE with nothing the slow leave must clear
 * (a refused reap, a pending FOUND_ROWS()); every other state shuts it. A reaper picks a lease
 * by a compare-and-swap from "open, 0 calls" to "shut, 0 calls" on the same word, then reads
 * its last call's time: an entering call either counted itself first (the pick fails) or finds
 * the gate shut and takes the locked path, which waits while the lease is MOVING. */
#ifndef POOLSHIM_LEASE_H
#define POOLSHIM_LEASE_H

#include <pthread.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "poolshim/client.h"
#include "poolshim/pool.h"
#include "poolshim/sql_effects.h"
#include "poolshim/user_vars.h"

/* The ps_sql_effect bits that make a session unreclaimable while they stand (cleared by the
 * program's own reset), and those that make it unreclaimable for the whole lease: a call whose
 * effects have one pins its lease (see ps_lease_leave_pinned). */
#define PS_LEASE_DIRT    (PS_SQL_SESSION | PS_SQL_LOCK)
#define PS_LEASE_PINNING (PS_LEASE_DIRT | PS_SQL_RESET_KEEPS)

enum ps_lease_state {
    PS_LEASE_NEW,
    PS_LEASE_LIVE,
    PS_LEASE_MOVING,
    PS_LEASE_REAPED,
    PS_LEASE_INHERITED,
    PS_LEASE_BROKEN,
    PS_LEASE_CLOSED,
    PS_LEASE_NSTATES
};

#define PS_TRACE_DEPTH 16

/* Where a handle was connected (return addresses, for leak reports). */
typedef struct ps_trace {
    int len;
    void *frames[PS_TRACE_DEPTH];
} ps_trace;

/* The statement that first made a lease's session unreclaimable, for its leak report. */
typedef struct ps_lease_pin {
    char statement[256]; /* redacted (sql_redact.h), or what the command was; "" while unset */
    ps_trace trace;      /* the program's stack when it was sent */
} ps_lease_pin;

/* What the program's statements left in the session since the lease began (or its reset). */
typedef struct ps_lease_session {
    unsigned effects;        /* sticky ps_sql_effect bits (cleared by the program's own reset) */
    unsigned lasting;        /* every ps_sql_effect bit since the lease began, never cleared:
                                what the release's reset must give back (PS_SQL_RESET_KEEPS
                                bits also keep it from reaping) */
    bool found_rows_pending; /* the last statement used SQL_CALC_FOUND_ROWS */
    ps_replay_values values; /* what a renewal gives back: last_insert_id is the last generated
                                id an OK packet reported; the reap reads all of it */
} ps_lease_session;

typedef struct ps_lease {
    enum ps_lease_state state; /* written only by lease.c's transition function */
    uint64_t id;               /* a number of its own in the process (the query log shows it) */
    void *handle;              /* the application's handle; NULL once another lease took the
                                  address (found by transport only, never picked for reaping) */
    void *transport;           /* the live connection's transport; NULL without one */
    ps_pool *pool;             /* the key, kept while reaped */
    int64_t acquired_ms;
    ps_lease_session session;
    char *husk_info;              /* the husk's copy of mysql_info() while reaped */
    char *husk_variables;         /* reaped: the client layer's statement that sets the session
                                     variables the program set (PS_SQL_VARIABLES) again on the
                                     next connection; NULL: none */
    char *told_variables;         /* "name = value, ..." of every replayed session variable the
                                     server's tracker reported changed during the lease, in
                                     order (a forked child replays them: it cannot read them
                                     back); NULL: none */
    bool told_variables_partial;  /* some reported change could not be kept (too long) */
    ps_user_vars *user_vars;      /* the user variables set to literals, replayed at a renewal
                                     (NULL: none set); see user_vars.h for who touches it */
    bool husk_variables_lost;     /* reaped: they were set, but could not be read back (the
                                     connection was gone): the next command fails as lost */
    bool leak_warned;             /* a leak warning was logged (once per lease) */
    const char *unreapable;       /* why the last reap was refused (static text); NULL: try again */
    enum ps_hold unreapable_hold; /* ... its class (set by the reaper before it settles) */
    unsigned holds_counted;       /* the ps_hold classes counted for this lease (1 << class) */
    ps_trace trace;               /* where the handle was connected */
    bool pinned;                  /* pin is set (atomic: written under the lock, read anywhere) */
    UT_hash_handle hh, th;        /* handle index, transport index */
    struct ps_lease *prev, *next; /* on the state's list */
    ps_activity activity; /* the fast path's part: the calls in progress, the answer awaited,
                             the last call's stamp, the connection held (see activity.h) */
    ps_lease_pin pin;     /* what first made the session unreclaimable (leak reports), valid while
                             pinned; written by the thread in a call while not pinned. Last: the
                             fields above are the ones list walks touch */
} ps_lease;

/* The lease whose activity is A (NULL: none). */
static inline ps_lease *ps_lease_of(ps_activity *a)
{
    return a ? (ps_lease *)(void *)((char *)a - offsetof(ps_lease, activity)) : NULL;
}

/* Starts a LIVE lease of C for HANDLE (TRANSPORT identifies the connection). TRACE is copied
 * (NULL: none). Returns NULL on OOM (the caller then leaves the connection unpooled). */
ps_lease *ps_lease_begin(ps_conn *c, void *handle, void *transport, const ps_trace *trace)
    __attribute__((warn_unused_result));

/* Takes HANDLE's lease (found by handle, else by TRANSPORT) to CLOSED, waiting while another
 * thread moves it; *WAS receives the state it was in. NULL when the handle holds no lease.
 * The caller frees it. */
ps_lease *ps_lease_take(void *handle, void *transport, enum ps_lease_state *was)
    __attribute__((warn_unused_result));

/* Frees a CLOSED lease (not its connection). */
void ps_lease_free(ps_lease *l);

/* True when HANDLE (or TRANSPORT) holds a lease. */
bool ps_lease_held(void *handle, void *transport);

/* Finds HANDLE's lease without changing it (NULL when none). For identity changes made by the
 * handle's own thread. */
ps_lease *ps_lease_find(void *handle, void *transport);

/* What the caller of ps_lease_enter must do before its call. */
enum ps_enter {
    PS_ENTER_UNTRACKED, /* no lease (or an inherited one and no command): pass through */
    PS_ENTER_CALL,      /* a tracked call: run it, then ps_lease_leave */
    PS_ENTER_RENEW,     /* MOVING, the caller's: get a connection back first (reaped, or idle
                           past the server's patience: l->activity.conn still set, reap it first) */
    PS_ENTER_TAKEOVER,  /* MOVING, the caller's: let go of the parent's connection, then renew */
    PS_ENTER_RECONNECT, /* MOVING, the caller's: a broken handle whose program reconnects: try a
                           renewal again; if it fails, the lease is BROKEN again */
    PS_ENTER_BROKEN,    /* a broken handle's command: fail it as on a lost connection, without
                           touching the network (nothing counted, no lease returned) */
};

/* What kind of call ps_lease_enter starts (bits). */
enum {
    PS_CALL_SENDS = 1u << 0,      /* it sends a command (else: it reads results) */
    PS_CALL_RECONNECTS = 1u << 1, /* the program's reconnect option is set on the handle */
};

/* Starts a call on HANDLE (TRANSPORT) of kind WHAT (PS_CALL_* bits; true is PS_CALL_SENDS):
 * counts it in progress and tells the caller what to do (*HOW). Only a call that sends a
 * command renews, takes over or fails on a broken handle; result reads never do. Returns the
 * lease, or NULL with PS_ENTER_UNTRACKED or PS_ENTER_BROKEN. Takes the lock. */
ps_lease *ps_lease_enter(void *handle, void *transport, unsigned what, enum ps_enter *how);

/* Ends a call that entered with L: records its outcome O, the time and the thread. Without the
 * lock when O changes nothing it guards (no effect, reset, insert id or variable) and L's gate
 * is open. A call that leaves an answer awaited (O->reply) hands its count in the gate to that
 * answer, and records nothing else: the read that ends the answer stamps L and takes the count
 * off (so a statement's command and its reads cost one entry and one exit). */
void ps_lease_leave(ps_lease *l, const ps_call_outcome *o);

/* ps_lease_leave (COUNTED) or the leave of a ps_activity_enter_answer read (not COUNTED) for an
 * outcome O that changes nothing but the answer awaited on L's connection: no effect, reset,
 * insert id or variable (ps_call_outcome_plain). Without the lock while L's gate is open; a
 * read that leaves more of the answer awaited records nothing. */
void ps_lease_leave_plain(ps_lease *l, const ps_call_outcome *o, bool counted);

/* Makes P the pool (key) of L, in a call on L (the program changed its user or database): L's
 * patience becomes P's (see ps_pool_patience). Takes the lock. */
void ps_lease_set_pool(ps_lease *l, ps_pool *p);

/* True when L's connection carries an answer no call has read yet (see ps_activity.awaiting):
 * such a lease is never picked for a reap, and its connection is not parked at its close. */
bool ps_lease_awaiting(const ps_lease *l);

/* The calls in progress on L, + 1 while an answer is awaited (tests, reports). */
unsigned ps_lease_calls(const ps_lease *l);

/* The locked ps_lease_leave (COUNTED: the call entered counted, else with
 * ps_activity_enter_answer), also for a call that pinned L's session first (L->pinned was false):
 * its thread wrote L->pin, without the lock (nobody reads it while L->pinned is false), and
 * PINNED publishes it (the first one is kept for the whole lease). */
void ps_lease_leave_pinned(ps_lease *l, const ps_call_outcome *o, bool counted, bool pinned);

/* Picks the least recently used LIVE lease of POOL (any pool when NULL) with no call in
 * progress, a clean session and no refused reap, idle at least MIN_IDLE_SELF when its last
 * call came from the calling thread (which is here, so not using it) or MIN_IDLE_OTHER
 * otherwise (0: however recent); moves it to MOVING for the caller, its gate shut by a
 * compare-and-swap from "no call in progress" (so no fast call is in it or can enter it).
 * NULL when there is none. A lease passed over only for its session, and used less recently
 * than the one picked, is counted as not reclaimable (once per lease and reason). */
ps_lease *ps_lease_pick_reapable(ps_pool *pool, int64_t min_idle_self, int64_t min_idle_other)
    __attribute__((warn_unused_result));

/* Ends the caller's move of L: LIVE holding C (TRANSPORT) when C is not NULL, else REAPED.
 * WHY (static text, may be NULL) records a refused reap when L stays LIVE, of the class the
 * caller set in L->unreapable_hold (counted once per lease and class). */
void ps_lease_settle(ps_lease *l, ps_conn *c, void *transport, const char *why);

/* Ends the caller's move of L, whose session a renewal could not give back: BROKEN, with no
 * connection (see the state model above). */
void ps_lease_break(ps_lease *l);

/* While the caller moves L: L no longer holds a connection (it was reaped or let go); an answer
 * it awaited on that connection is gone with it (its count leaves the gate). */
void ps_lease_drop_conn(ps_lease *l);

/* Calls FN, outside the lock, with a copy of each LIVE lease held longer than HELD_MS that is
 * dirty or was refused a reap and was not warned about yet (marks it warned). */
/* How many LIVE leases of P hold a connection the shim could not take back however long they
 * idled, and have idled at least MIN_IDLE_MS (so none is a handle in the middle of its work):
 * their session is dirty, or their last reap was refused (and they made no call since). When
 * that is every connection P has open, only the program can give one back. */
int ps_lease_count_pinned(ps_pool *p, int64_t min_idle_ms);

void ps_lease_foreach_leak(int64_t held_ms, void (*fn)(const ps_lease *l, void *ctx), void *ctx);

/* Moves L's transport index entry after the library reconnected it (new transport). */
void ps_lease_set_transport(ps_lease *l, void *transport);

/* True when L's session holds nothing the shim cannot reproduce on a fresh connection. */
bool ps_lease_replayable(ps_lease *l);

/* The ps_sql_effect bits that make session S unreplayable (for reasons in reports). */
unsigned ps_lease_session_dirt(const ps_lease_session *s);

/* A consistent copy of L's session record. */
ps_lease_session ps_lease_session_get(ps_lease *l);

/* Checks every list/index invariant (tests). Returns the number of violations, each described
 * through REPORT when it is not NULL. */
int ps_lease_check(void (*report)(const char *what, void *ctx), void *ctx);

/* pthread_atfork handlers. In the child, LIVE leases become INHERITED, calls in progress
 * (the parent's threads) are forgotten, and MOVING leases (a parent thread was reaping or
 * renewing the handle: it is half-moved here, and may hold the parent's connection) become
 * BROKEN with no connection, their handle passed to MUTE (NULL: none) so that the child
 * never reads or writes that connection: its commands fail as on a lost connection. The
 * handle of each INHERITED lease is passed to TRACK (NULL: none): a parent thread's read may
 * have had its calls routed straight to the library (see the client layer's nested reads),
 * and the child's first command must reach the shim to take the handle over. */
void ps_lease_before_fork(void);
void ps_lease_after_fork_parent(void);
void ps_lease_after_fork_child(void (*mute)(void *handle), bool (*track)(void *handle));

#endif
