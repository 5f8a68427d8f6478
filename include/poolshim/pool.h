/* The pool core: per-key connection accounting, idle lists, FIFO waiting, idle timeout and
 * lifetime. It knows nothing of MySQL or interposition: a connection is an opaque client
 * handle plus opaque client facts, closed through ps_pool_ops.
 *
 * Every pooled connection is one ps_conn, in exactly one state, and on exactly its state's
 * list of its pool (pgbouncer's model). One function moves a connection between states; it
 * refuses the moves that are not drawn here (and aborts in a POOLSHIM_STRICT build), keeps the
 * lists and counts in step, derives the counters, and hands freed capacity to waiters:
 *
 *            acquire             connected              park
 *     NEW -----------> CONNECTING ---------> LEASED <----------> IDLE      (reuse: IDLE->LEASED)
 *                          |                  |  |                |
 *                          | failed/unpooled  |  | closed,        | expired, dead,
 *                          v                  |  | discarded      | drained
 *                       CLOSED <--------------+  |                v
 *                          ^                     +------------> CLOSED
 *                          |            fork (in the child)
 *                          +--- INHERITED <--- LEASED, CONNECTING
 *                          +--- ORPHAN    <--- IDLE
 *
 * CONNECTING, LEASED and IDLE count against the pool's cap (its open count). INHERITED (the
 * parent's connection in a forked child's handle) and ORPHAN (the parent's parked connection)
 * count nowhere: the child never sends anything on them, it only frees them (ORPHANs lazily, at
 * its next acquire or drain, never inside the fork handler). CLOSED is final: the connection is
 * freed once its handle is closed outside the lock.
 * A pool's open count never exceeds its cap, except after ps_pool_move (a re-key by
 * mysql_change_user); such surplus is closed when it is parked.
 *
 * Idle deadlines. An IDLE connection is due to be closed (EXPIRED) once it has idled
 * POOLSHIM_IDLE_TIMEOUT_MS while it is one of its pool's POOLSHIM_MIN_IDLE most recently parked
 * (the warm ones), POOLSHIM_SURPLUS_IDLE_MS (capped at the idle timeout) while it is not, or
 * earlier at the server's wait_timeout or the end of its lifetime. Acquires close what is due
 * on the way; once ps_pool_enable_keeper was called, the keeper thread (keeper.h), started at
 * the first park and woken by parks that bring a deadline forward, closes every due connection
 * on time whether or not anyone calls the pool again. It touches IDLE connections only.
 *
 * All functions are thread-safe (one process-wide mutex, never held across I/O, never while
 * logging). */
#ifndef POOLSHIM_POOL_H
#define POOLSHIM_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

/* uthash must never exit(): an allocation failure sets ps_hash_oom instead (per thread). */
extern __thread int ps_hash_oom;
#define HASH_NONFATAL_OOM      1
#define uthash_nonfatal_oom(e) (ps_hash_oom = 1)
#include <uthash.h>

typedef struct ps_pool ps_pool;

/* The arguments of one mysql_real_connect call. */
typedef struct ps_connect_args {
    const char *host, *user, *passwd, *db, *socket;
    unsigned port;
    unsigned long flags;
} ps_connect_args;

enum ps_conn_state {
    PS_CONN_NEW,        /* allocated, on no list yet */
    PS_CONN_CONNECTING, /* a slot: the acquirer runs a real connect */
    PS_CONN_LEASED,     /* in the application's hands (held by a lease, see lease.h) */
    PS_CONN_IDLE,       /* parked; the pool owns the handle */
    PS_CONN_INHERITED,  /* forked child: the parent's leased connection */
    PS_CONN_ORPHAN,     /* forked child: the parent's parked connection, to be freed */
    PS_CONN_CLOSED,     /* final */
    PS_CONN_NSTATES
};

/* Why a connection leaves for CLOSED (decides which counter moves). */
enum ps_close_reason {
    PS_CLOSE_FAILED,    /* CONNECTING: the real connect failed */
    PS_CLOSE_UNUSED,    /* CONNECTING or LEASED: the pool does not keep it (counted nowhere) */
    PS_CLOSE_DISCARDED, /* LEASED: unsafe to park (closed for real) */
    PS_CLOSE_GONE,      /* LEASED or IDLE: the connection was lost or found dead */
    PS_CLOSE_EXPIRED,   /* idle timeout, lifetime, or over the cap at park */
    PS_CLOSE_REFUSED,   /* LEASED or IDLE: the server refused its key's credentials */
    PS_CLOSE_DRAINED,   /* IDLE: drained at exit (or mysql_server_end, see ps_pool_drain_except) */
    PS_CLOSE_ABANDONED, /* INHERITED or ORPHAN: freed without a word to the server */
};

/* Why a handle the program holds could not be reclaimed (reaped): the classes of the leases'
 * session records (ps_sql_effect bits) and of the client layer's refusals, one counter each. */
enum ps_hold {
    PS_HOLD_TRANSACTION, /* an open transaction */
    PS_HOLD_LOCK,        /* a lock (LOCK TABLES, GET_LOCK, FLUSH ... WITH READ LOCK...) */
    PS_HOLD_SESSION,     /* session state not replayable: user variable, temporary table,
                            prepared SQL, session variable, stored routine... */
    PS_HOLD_RESET_KEEPS, /* state no reset gives back: role, server options, profiling */
    PS_HOLD_FOUND_ROWS,  /* a SQL_CALC_FOUND_ROWS result pending */
    PS_HOLD_DIAGNOSTICS, /* warnings or an error not yet read */
    PS_HOLD_RESULTS,     /* an unread result set, or more results pending */
    PS_HOLD_STATEMENTS,  /* open prepared statements (binary protocol) */
    PS_HOLD_OTHER,       /* anything else (non-blocking handle, out of memory...) */
    PS_HOLD_N
};

/* Counters per pool; read with ps_pool_stats_get. */
typedef struct ps_pool_stats {
    uint64_t requests;         /* connects and renewals that asked the pool for a connection */
    uint64_t served_idle;      /* ... served with a parked connection */
    uint64_t connects;         /* real connects that succeeded */
    uint64_t connect_failures; /* real connects that failed, or were backed off */
    uint64_t backoffs;         /* ... of which backed off (no attempt made) */
    uint64_t reuses;           /* leases served from the idle list */
    uint64_t parks;            /* connections returned to the idle list */
    uint64_t discards;         /* connections closed for real at release (unsafe to park) */
    uint64_t expired;          /* idle or lifetime expiry */
    uint64_t validations;      /* pings of idle connections before reuse */
    uint64_t validation_failures;
    uint64_t waits;         /* requests that had to wait for a slot (once each) */
    uint64_t wait_timeouts; /* ... and gave up */
    int64_t wait_ms_total;  /* ... how long they waited in all */
    int64_t max_wait_ms;    /* ... the longest a request waited */
    int waiting;            /* now: requests queued for a slot (a gauge) */
    int peak_open;
    uint64_t reaped;  /* idle handles whose connection was taken back */
    uint64_t renewed; /* reaped handles that got a connection back at their next call */
    uint64_t leak_warnings;
    uint64_t reauths;         /* parked connections re-authenticated before reuse */
    uint64_t reauth_refusals; /* ... that the server refused (its key's parked ones closed) */
    uint64_t unreclaimable[PS_HOLD_N]; /* handles a reap passed over, once per handle and class */
    uint64_t resets_sent;              /* sessions reset before their connection was parked */
    uint64_t resets_skipped;           /* ... parked as they were (clean return: no round trip) */
    uint64_t resets_deferred;          /* of the resets sent, those whose answers were read at the
                                          connection's next use (off the program's path) */
    uint64_t overflows;                /* slots opened past the cap (ps_pool_acquire_overflow) */
} ps_pool_stats;

/* Events the pool counts for its callers (the rest is derived from state changes). */
enum ps_pool_event {
    PS_EV_VALIDATED,         /* an idle connection was pinged and answered */
    PS_EV_VALIDATION_FAILED, /* ... and did not */
    PS_EV_REAPED,
    PS_EV_RENEWED,
    PS_EV_LEAK_WARNING,
    PS_EV_REAUTHENTICATED, /* a parked connection was re-authenticated (or tried to be) */
    PS_EV_REAUTH_REFUSED,  /* ... and the server refused its credentials */
    PS_EV_RESET_SENT,      /* a session was reset before its connection was parked */
    PS_EV_RESET_SKIPPED,   /* ... or parked as it was: its connect's state (clean return) */
    PS_EV_RESET_DEFERRED,  /* ... or reset with its answers read at the next use */
};

typedef struct ps_conn ps_conn;
struct ps_conn {
    ps_pool *pool;
    enum ps_conn_state state; /* written only by the pool's transition function */
    void *handle;             /* IDLE: the parked client handle; LEASED: the app's handle */
    void *facts;              /* the client layer's record of the connect (ps_pool_ops) */
    int64_t created_ms;       /* when the real connect finished */
    int64_t expires_ms;       /* created + lifetime - jitter; INT64_MAX without a lifetime */
    int64_t idle_since_ms;
    /* LEASED: the session lags what the program's handle shows (a mysql_autocommit answered
     * without a round trip, or a connection parked with another mode than its next lease
     * shows): the client layer's sync runs before the handle's next command. Written only by
     * the client layer, on the thread that holds the lease */
    bool sync_pending;
    /* IDLE: the park sent commands whose answers are still unread (a reset off the program's
     * path, POOLSHIM_DEFER_RESET); the client layer's settle reads them before any other use
     * of the connection. Written only by the thread that holds the connection */
    bool replies_pending;
    ps_conn *prev, *next; /* on the pool's list for the state */
};

/* What the pool asks of the client layer; called without the lock held, on the caller's
 * thread or, for the close of an idle connection that is due, on the keeper thread (a parked
 * handle is the pool's alone: no other thread touches it then). */
typedef struct ps_pool_ops {
    /* Closes a parked handle for real (sends the client library's quit). */
    void (*close)(void *handle);
    /* Frees a parked handle without a word on the wire (inherited across fork). */
    void (*abandon)(void *handle);
    /* Frees a connection's client facts (NULL allowed). */
    void (*free_facts)(void *facts);
    /* Reads what parked C's park left unread (C->replies_pending), before its close, so that
     * the server gets a clean COM_QUIT (unread input makes the close a reset). Optional. */
    void (*settle)(ps_conn *c);
} ps_pool_ops;

/* Installs OPS; must be called before any other function. */
void ps_pool_set_ops(const ps_pool_ops *ops);

/* Finds the pool for KEY; NULL when there is none yet. */
ps_pool *ps_pool_find(const char *key);

/* Finds or creates the pool for KEY (LABEL is for logs). Returns NULL only on OOM. */
ps_pool *ps_pool_get(const char *key, const char *label) __attribute__((warn_unused_result));

/* Remembers the connect arguments of P's key (copied once, for renewing reaped handles). */
void ps_pool_set_args(ps_pool *p, const ps_connect_args *a);

/* P's connect arguments; NULL until set. Immutable once set. */
const ps_connect_args *ps_pool_args(ps_pool *p);

/* The pool's label, for log lines. */
const char *ps_pool_label(const ps_pool *p);

enum ps_acquire {
    PS_ACQUIRE_IDLE,    /* *conn is a parked connection, now LEASED to the caller */
    PS_ACQUIRE_CONNECT, /* *conn is a CONNECTING slot: connect, then ps_pool_connected/_close */
    PS_ACQUIRE_TIMEOUT, /* the cap held for timeout_ms; *waited_ms says how long */
    PS_ACQUIRE_NOMEM,   /* out of memory: the caller connects unpooled */
};

/* Gets a connection for P: an idle one (LIFO), else a slot to connect, else waits FIFO up to
 * TIMEOUT_MS for either (*WAITED_MS: how long; -1 when it did not wait). P's idle connections
 * that are due (see Idle deadlines) are closed on the way. Validation is the caller's job
 * (ps_conn.idle_since_ms says how long it idled). Counts no request: the caller reports how
 * its request ended with ps_pool_request_done. */
enum ps_acquire ps_pool_acquire(ps_pool *p, int64_t timeout_ms, ps_conn **conn, int64_t *waited_ms)
    __attribute__((warn_unused_result));

/* A CONNECTING slot of P past its cap (overflow: the caller saw it full), counted; NULL only on
 * OOM. It is an ordinary connection once connected: closed instead of parked while the pool
 * is over its cap. */
ps_conn *ps_pool_acquire_overflow(ps_pool *p) __attribute__((warn_unused_result));

/* CONNECTING -> LEASED after a successful real connect; HANDLE holds it, FACTS describe it. */
void ps_pool_connected(ps_conn *c, void *handle, void *facts);

/* LEASED -> IDLE: parks C (session reset) with HANDLE as its parked client handle, or hands it
 * to the oldest waiter. Closes it instead (EXPIRED) when its lifetime is over or the pool is
 * over its cap after a re-key. Wakes the keeper (starting it the first time) when the park
 * brought a deadline forward. */
void ps_pool_park(ps_conn *c, void *handle);

/* Any state -> CLOSED for WHY. When C->handle is not NULL the pool closes it (abandons it for
 * INHERITED/ORPHAN); the caller sets it to NULL when it closed the handle itself. Frees C. */
void ps_pool_close(ps_conn *c, enum ps_close_reason why);

/* Moves a LEASED connection to pool TO (identity change; nothing when it is C's own); may
 * exceed TO's cap. */
void ps_pool_move(ps_conn *c, ps_pool *to);

/* Counts one event for P. */
void ps_pool_note(ps_pool *p, enum ps_pool_event ev);

/* Counts a handle of P that could not be reclaimed for reason WHY (the lease layer calls it
 * once per handle and reason). */
void ps_pool_note_hold(ps_pool *p, enum ps_hold why);

/* How a request (a connect or a renewal, which may call ps_pool_acquire several times) ended. */
enum ps_request_end {
    PS_REQUEST_IDLE,      /* served with a parked connection */
    PS_REQUEST_CONNECTED, /* served with a new connection (or one the pool does not keep) */
    PS_REQUEST_FAILED,    /* the connect failed or was backed off, or out of memory */
    PS_REQUEST_TIMEOUT,   /* the cap held for the whole wait */
};

/* Counts one request of P, now over, that ended as END after waiting WAITED_MS in all for a
 * slot (negative: it never waited). */
void ps_pool_request_done(ps_pool *p, enum ps_request_end end, int64_t waited_ms);

/* True when a connect for P would have to wait: nothing idle and the cap reached. */
bool ps_pool_full(ps_pool *p);

/* Copies P's counters and current sizes. */
void ps_pool_stats_get(ps_pool *p, ps_pool_stats *out, int *idle, int *leased, int *connecting);

/* Closes every idle connection of every pool whose parked handle KEEP does not keep (every
 * one when KEEP is NULL), after stopping the keeper (waiting for a close it is running; the
 * next park or ps_pool_wake_keeper starts it again, except at exit). KEEP runs under the pool
 * lock: it must not block, log or call into the pool. Returns how many were closed; *KEPT (may
 * be NULL) gets how many stayed. */
int ps_pool_drain_except(bool (*keep)(void *handle), int *kept);

/* Closes every idle connection of every pool (exit), after stopping the keeper. */
void ps_pool_drain_all(void);

/* Closes every idle connection of P for WHY. */
void ps_pool_drain(ps_pool *p, enum ps_close_reason why);

/* Installs the pool's job in the keeper (keeper.h): from now on due idle connections are closed
 * on time by the keeper thread, which the first park starts. Without it (the unit tests of the
 * state machine) only acquires close them. */
void ps_pool_enable_keeper(void);

/* Starts the keeper again after a drain that kept parked connections (mysql_server_end), so
 * they are still closed when due whether or not the program parks again: wakes it for the
 * earliest deadline of any idle connection. Nothing when nothing is parked, and nothing after
 * the keeper was stopped for good (exit). Call with no pool lock held. */
void ps_pool_wake_keeper(void);

/* The earliest deadline of any idle connection of any pool (ps_now_ms time); INT64_MAX when
 * nothing is parked. */
int64_t ps_pool_next_expiry(void);

/* A consistent copy of one pool's label, counters and sizes. */
typedef struct ps_pool_snapshot {
    const char *label;
    ps_pool_stats st;
    int idle, leased, connecting;
    int cap; /* ps_pool_cap: POOLSHIM_MAX_PER_KEY, or what auto derived */
} ps_pool_snapshot;

/* Calls FN with a snapshot of each pool, outside the lock (FN may log). */
void ps_pool_foreach(void (*fn)(const ps_pool_snapshot *s, void *ctx), void *ctx);

/* Checks every list/count invariant of every pool (tests). Returns the number of violations,
 * each described through REPORT when it is not NULL. */
int ps_pool_check(void (*report)(const char *what, void *ctx), void *ctx);

/* ---- Credentials (pools.c) ------------------------------------------------------------- */

/* A parked connection's session was authenticated when it was made, possibly long ago: the
 * server may have refused its key's credentials since (ALTER USER, DROP USER, ACCOUNT LOCK,
 * PASSWORD EXPIRE, REVOKE) while leaving the session alive. So before a connect reuses one,
 * the key's credentials must have been proven recently: accepted by the server on a
 * re-authentication whose session then ran a statement (an expired password is accepted
 * into a session that can run none). A real connect proves nothing for that reason, but it
 * ends a refusal. */
enum ps_proof {
    PS_PROOF_FRESH,   /* proven within the window: reuse as is */
    PS_PROOF_STALE,   /* re-authenticate before reuse */
    PS_PROOF_REFUSED, /* the server refused the key's last re-authentication, and no connect
                         has succeeded since: close parked connections instead of trying */
};

/* What the server just said about P's credentials. */
enum ps_login {
    PS_LOGIN_PROVEN,   /* a re-authentication that started at STARTED_MS was accepted */
    PS_LOGIN_ACCEPTED, /* a real connect succeeded: a refusal is over (proves nothing) */
    PS_LOGIN_REFUSED,  /* a re-authentication that started at STARTED_MS was refused */
};

/* Where P's credentials stand for a reuse now, with the window WINDOW_MS (0: every reuse
 * re-authenticates). */
enum ps_proof ps_pool_proof(ps_pool *p, int64_t window_ms);

/* Records what the server said about P's credentials. Of concurrent re-authentications, the
 * one that started last decides. */
void ps_pool_login(ps_pool *p, enum ps_login what, int64_t started_ms);

/* ---- Limits learned from the server (pool_limits.c) ---------------------------------- */

/* The server refused a connect of P with 1040: for the next 5 s, P's cap is the number of
 * connections it has now (at least 1), so further connects reuse or reclaim instead of
 * knocking on a full server (each refused attempt costs the server a connection). */
void ps_pool_server_refused(ps_pool *p);

/* A connect failure that means the server could not be reached (see ps_pool_backoff). */
typedef struct ps_connect_error {
    unsigned code;
    char sqlstate[6];
    char message[512];
} ps_connect_error;

/* True while P backs off after a failed connect (pgbouncer's server_login_retry): *ERR gets
 * that failure, which the caller reports instead of connecting. Counted as a failure. */
bool ps_pool_backoff(ps_pool *p, ps_connect_error *err) __attribute__((warn_unused_result));

/* Records the outcome of a real connect of P: ERR (the server was unreachable) starts a
 * back-off of RETRY_MS; NULL (success) ends any. Logs the start and the end of an outage. */
void ps_pool_connect_outcome(ps_pool *p, const ps_connect_error *err, int64_t retry_ms);

/* What a server says about its connection limits (read at a key's first connection). */
typedef struct ps_server_limits {
    int64_t wait_timeout_ms;        /* the session's wait_timeout; 0: unknown */
    long long max_connections;      /* 0: unknown */
    long long max_user_connections; /* the account's limit; 0: none (or unknown) */
} ps_server_limits;

/* The cap of a key under POOLSHIM_MAX_PER_KEY=auto until its server's limits are known. */
#define PS_POOL_CAP_BEFORE_AUTO 20

/* Records the limits L of P's server (once per key, at its first connection; later calls do
 * nothing): idle connections are retired, idle handles reaped and connections given a
 * lifetime before the server's wait_timeout would close them; POOLSHIM_MAX_PER_KEY=auto gets
 * its cap (80 % of max_connections, at most max_user_connections, at least 1); one warning
 * when the configured cap could take the server past 80 % of max_connections (or past
 * max_user_connections), and one info line with the limits. Logs outside the lock. */
void ps_pool_set_server_limits(ps_pool *p, const ps_server_limits *l);

/* True once P's server limits were recorded. */
bool ps_pool_server_limits_known(ps_pool *p);

/* The most connections P may hold: POOLSHIM_MAX_PER_KEY, or what auto derived from the server
 * (PS_POOL_CAP_BEFORE_AUTO until then). */
int ps_pool_cap(ps_pool *p);

/* Where P keeps its leases' patience: how long one may idle before its next command renews it
 * first, the shorter of the server's wait_timeout (minus a margin; unknown: no limit) and
 * POOLSHIM_REAP_IDLE_MS (0: none), in ms. The address is P's for the process's life (pools
 * are never freed); the value is stored and read atomically (ps_activity_patience: the fast
 * entry of every command on a tracked handle). */
const int64_t *ps_pool_patience(ps_pool *p);

/* pthread_atfork handlers. In the child: LEASED and CONNECTING connections become INHERITED,
 * IDLE ones ORPHAN; waiters (threads of the parent) are gone; the lock is released. */
void ps_pool_before_fork(void);
void ps_pool_after_fork_parent(void);
void ps_pool_after_fork_child(void);

/* Monotonic milliseconds. */
int64_t ps_now_ms(void);

/* What ps_now_late_ms adds to the coarse clock: its resolution in ms, rounded up, + 1 for the
 * ms ps_now_ms would truncate away (0 until read: ps_clock_late_pad reads it). */
extern int64_t ps_clock_pad_ms;

/* Reads the coarse clock's resolution into ps_clock_pad_ms and returns it. */
int64_t ps_clock_late_pad(void);

/* Monotonic milliseconds read cheaply (the coarse clock, no hardware counter): never earlier
 * than ps_now_ms() at the moment of the call, at most the coarse clock's resolution (a few ms,
 * one kernel tick) later. For stamps whose error must only ever make an idle time look
 * shorter. Inline: every statement's end reads it. */
static inline int64_t ps_now_late_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t pad = __atomic_load_n(&ps_clock_pad_ms, __ATOMIC_RELAXED);
    if (__builtin_expect(pad == 0, 0))
        pad = ps_clock_late_pad();
    return (int64_t)ts.tv_sec * 1000 + (int64_t)((uint64_t)ts.tv_nsec / 1000000u) + pad;
}

#endif
