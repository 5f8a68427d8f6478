/* The pool core: per-key connection accounting, idle lists, FIFO waiting, idle timeout and
 * lifetime. It knows nothing of MySQL or interposition: a connection is an opaque handle that
 * the client layer parks here and destroys through ps_pool_ops.
 *
 * Every live pooled connection is one ps_conn, in exactly one state:
 *   CONNECTING  a slot reserved while the caller runs a real connect (not yet a ps_conn);
 *   LEASED      in the application's hands (held by a lease, see lease.h; not on a list here);
 *   IDLE        parked on its pool's idle list, handle owned by the pool.
 * A pool's open count (connecting + leased + idle) never exceeds its cap, except after a
 * re-key (mysql_change_user) moved a leased connection in; such surplus is closed at release.
 * All functions are thread-safe (one process-wide mutex, never held across I/O). */
#ifndef POOLSHIM_POOL_H
#define POOLSHIM_POOL_H

#include <stdbool.h>
#include <stdint.h>
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
typedef struct ps_conn ps_conn;

enum ps_conn_state { PS_CONN_LEASED = 1, PS_CONN_IDLE };

/* Counters per pool; read under the lock with ps_pool_stats. */
typedef struct ps_pool_stats {
    uint64_t connects;         /* real connects that succeeded */
    uint64_t connect_failures; /* real connects that failed */
    uint64_t reuses;           /* leases served from the idle list */
    uint64_t parks;            /* connections returned to the idle list */
    uint64_t discards;         /* connections closed for real at release (unsafe to park) */
    uint64_t expired;          /* idle or lifetime expiry */
    uint64_t validations;      /* pings of idle connections before reuse */
    uint64_t validation_failures;
    uint64_t waits;         /* connects that had to wait for a slot */
    uint64_t wait_timeouts; /* ... and gave up */
    int64_t max_wait_ms;
    int peak_open;
    uint64_t reaped;         /* idle handles whose connection was taken back */
    uint64_t released_again; /* reaped handles that got a connection back at their next call */
    uint64_t leak_warnings;
} ps_pool_stats;

struct ps_conn {
    ps_pool *pool;
    enum ps_conn_state state;
    void *handle;       /* IDLE: the parked client handle; LEASED: the app's handle */
    pid_t pid;          /* process that made the connection */
    int64_t created_ms; /* when the real connect finished */
    int64_t expires_ms; /* created + lifetime - jitter; INT64_MAX without a lifetime */
    int64_t idle_since_ms;
    int64_t leased_ms; /* when the current lease began */
    /* Client-layer facts recorded at connect, used to restore the session at release. */
    const void *charset; /* the charset the handshake negotiated */
    char *dsn_db;        /* the database the connect asked for (NULL: none) */
    /* The client-side results the real connect left (restored on every adopt, so a reused
     * connection reads exactly like a fresh one). */
    unsigned long long affected_rows, insert_id;
    unsigned server_status, warning_count;
    ps_conn *next; /* IDLE: next on the idle list (most recently parked first) */
};

/* What the pool asks of the client layer; called without the lock held. */
typedef struct ps_pool_ops {
    /* Closes a parked handle for real (sends the client library's quit). */
    void (*destroy)(void *handle);
    /* Releases a parked handle without touching the wire (inherited across fork). */
    void (*forget)(void *handle);
} ps_pool_ops;

/* Installs OPS; must be called before any other function. */
void ps_pool_set_ops(const ps_pool_ops *ops);

/* Finds the pool for KEY; NULL when there is none yet. */
ps_pool *ps_pool_find(const char *key);

/* Finds or creates the pool for KEY (LABEL is for logs). Returns NULL only on OOM. */
ps_pool *ps_pool_get(const char *key, const char *label) __attribute__((warn_unused_result));

/* Remembers the connect arguments of P's key (copied once, for re-leases). */
void ps_pool_set_args(ps_pool *p, const ps_connect_args *a);

/* P's connect arguments; NULL until set. */
const ps_connect_args *ps_pool_args(ps_pool *p);

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

/* True when a connect for P would have to wait: nothing idle and the cap reached. */
bool ps_pool_full(ps_pool *p);

/* Records the server's wait_timeout for P (read once per key): idle connections are retired
 * and idle handles reaped before the server would close them. */
void ps_pool_set_server_wait_timeout(ps_pool *p, int64_t ms);

/* How long a connection of P may sit idle before the server could close it, minus a margin
 * (INT64_MAX when unknown). */
int64_t ps_pool_server_idle_limit(ps_pool *p);

/* Counts a reap, a re-lease or a leak warning for P. */
void ps_pool_count_reap(ps_pool *p, bool relese, bool leak_warning);

/* The pool's label, for log lines. */
const char *ps_pool_label(const ps_pool *p);

enum ps_acquire {
    PS_ACQUIRE_IDLE,    /* *conn is a parked connection, now LEASED to the caller */
    PS_ACQUIRE_CONNECT, /* a slot is reserved: connect, then ps_pool_connected or _failed */
    PS_ACQUIRE_TIMEOUT, /* the cap held for timeout_ms; *waited_ms says how long */
};

/* Gets a connection for P: an idle one (LIFO), else a slot to connect, else waits FIFO up to
 * TIMEOUT_MS for either. Idle connections past their idle timeout or lifetime are destroyed on
 * the way. Validation is the caller's job (ps_conn.idle_since_ms says how long it idled). */
enum ps_acquire ps_pool_acquire(ps_pool *p, int64_t timeout_ms, ps_conn **conn, int64_t *waited_ms)
    __attribute__((warn_unused_result));

/* Turns a reserved slot into a LEASED connection after a successful real connect. Returns
 * NULL on OOM (the slot is released; the caller keeps the connection unpooled). */
ps_conn *ps_pool_connected(ps_pool *p) __attribute__((warn_unused_result));

/* Releases a reserved slot after a failed connect (or a connection the caller won't pool). */
void ps_pool_connect_failed(ps_pool *p, bool failed);

/* Parks a LEASED connection whose session was reset; HANDLE is the parked client handle. The
 * pool may destroy it instead (lifetime over, or over the cap after a re-key). */
void ps_pool_park(ps_conn *c, void *handle);

/* Forgets a LEASED connection the caller closed (or will close) for real; frees C.
 * DISCARDED counts it as unsafe to park, as opposed to already gone. A connection inherited
 * across fork (made by another pid) is only freed: this process never counted it. */
void ps_pool_drop(ps_conn *c, bool discarded);

/* Moves a LEASED connection to pool TO (identity change); may exceed TO's cap. */
void ps_pool_move(ps_conn *c, ps_pool *to);

/* Counts one validation of an idle connection, and whether it failed. */
void ps_pool_count_validation(ps_pool *p, bool failed);

/* Copies P's counters and current sizes. */
void ps_pool_stats_get(ps_pool *p, ps_pool_stats *out, int *idle, int *leased, int *connecting);

/* Destroys every idle connection of every pool (exit, mysql_library_end). */
void ps_pool_drain_all(void);

/* A consistent copy of one pool's label, counters and sizes. */
typedef struct ps_pool_snapshot {
    const char *label;
    ps_pool_stats st;
    int idle, leased, connecting;
} ps_pool_snapshot;

/* Calls FN with a snapshot of each pool (for summaries); FN must not call into the pool. */
void ps_pool_foreach(void (*fn)(const ps_pool_snapshot *s, void *ctx), void *ctx);

/* In a forked child: the pools' idle connections and leases belong to the parent. Sets the
 * idle ones aside to be forgotten (ops.forget, no wire traffic) at the child's next acquire or
 * drain, zeroes the counts, and releases the lock. Installed with pthread_atfork. */
void ps_pool_after_fork_child(void);

/* Lock hooks for pthread_atfork so no other thread holds the lock across fork. */
void ps_pool_before_fork(void);
void ps_pool_after_fork_parent(void);

/* This process's pid, cached (refreshed in the fork child): no syscall per close. */
pid_t ps_pid(void);

/* Monotonic milliseconds. */
int64_t ps_now_ms(void);

#endif
