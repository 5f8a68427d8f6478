/* The client-library layer: everything that knows a client library's handle internals lives
 * behind this table, in one directory per library (shim/core/mariadb3/ for MariaDB
 * Connector/C 3.3). Handles are void * so that the rest of the shim never depends on a MYSQL
 * layout. The layer is the bottom of the shim: it calls only the real library, the log, keys
 * and the SQL classifier; what it must report upward (activity on a handle) goes through the
 * ps_call_hooks table the shim installs when it selects the layer. */
#ifndef POOLSHIM_CLIENT_H
#define POOLSHIM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "poolshim/activity.h"
#include "poolshim/key.h"
#include "poolshim/pool.h"
#include "poolshim/querylog.h"

/* One call on a handle, from the upper layer's begin to its end (opaque to the client layer). */
typedef struct ps_call {
    ps_activity *activity; /* its lease's (see activity.h); NULL: the handle holds no lease */
    void *transport;       /* the handle's transport at the call's begin (ps_call_begin and
                              ps_call_hooks.begin set it; ps_call_begin_fast does not: the end
                              never reads it) */
    /* In (set by the caller before begin): the caller sends the command itself and can read,
     * right after, what the connection's park left unread (a deferred reset), before the
     * command's own response: begin then leaves it to the caller (UNREAD) instead of reading
     * it first. Out: that connection, its flag cleared; NULL: nothing to read. */
    bool reads_after_send;
    ps_conn *unread;
    bool answer; /* the call reads an answer its lease awaits, under that answer's count */
} ps_call;

/* What a call sent or read, for leak reports and the query log (see ps_call_outcome.detail). */
typedef struct ps_call_detail {
    bool command;           /* the call sent a command (else it read a response) */
    const char *text;       /* the statement a command sent (COM_QUERY, a prepare); NULL: none */
    size_t text_len;        /* its length */
    int64_t start_ns;       /* a command: when it was sent (ps_qlog_now_ns; 0: log off) */
    enum ps_qlog_kind kind; /* a command: what it sent, for the query log */
    unsigned long stmt_id;  /* an execute: its statement; a prepare's response: the new one */
} ps_call_detail;

/* How a call on a tracked handle ended, as the client layer saw it. */
typedef struct ps_call_outcome {
    bool statement;               /* it ran a statement (resets per-statement state) */
    unsigned effects;             /* its ps_sql_effect bits (0 when the command failed) */
    bool app_reset;               /* the program reset its own session (sticky bits cleared) */
    unsigned long long insert_id; /* the id an OK packet just reported (0: none) */
    /* "name = value, ..." for each variable of ps_sql_replayed_variables the server's tracker
     * just reported changed, as a SET takes them (valid during the end hook only); NULL: none */
    const char *variables;
    /* Set for a command while the query log is on or when the command has effects, and for a
     * prepare's response while the log is on; NULL otherwise (the common case costs nothing). */
    const ps_call_detail *detail;
    /* Whether the connection now carries an answer no call has read yet: such a connection
     * is neither reaped (its owner reads that answer next) nor parked (the next user would) */
    enum ps_reply reply;
} ps_call_outcome;

/* True when outcome O changes nothing a lease records but the answer awaited (O->reply): no
 * effect, reset, insert id or variable. */
static inline bool ps_call_outcome_plain(const ps_call_outcome *o)
{
    return !(o->effects | o->app_reset) && !o->insert_id && !o->variables;
}

/* What the client layer's I/O wrappers report upward, for every command and every result read
 * on a tracked handle (see track below) that the lock-free begin or end (ps_call_begin_fast,
 * ps_call_end_fast, below) did not take: they try those first, and call these only when they
 * decline. Installed once, at selection. Never called while ps_depth > 0 (the shim's own and
 * the library's nested calls). */
typedef struct ps_call_hooks {
    /* Starts a call on H, whose transport (see ps_client_ops.transport) is TRANSPORT.
     * SENDS_COMMAND: the call sends a command (a reaped H may need its connection back first).
     * False: the command must fail without touching the network (H then carries the error); a
     * result read goes ahead anyway, without an end. */
    bool (*begin)(ps_call *call, void *h, void *transport, bool sends_command);
    /* Ends the call begun on H with its outcome O. */
    void (*end)(ps_call *call, void *h, const ps_call_outcome *o);
    /* After each statement's last read that ps_call_end_fast ended (NULL: nothing to do). */
    void (*tick)(void);
} ps_call_hooks;

/* The lock-free begin of a call on H, whose transport is TRANSPORT (see activity.h): true when
 * it took the call (CALL holds its lease's activity: go on with the call), false when nothing
 * was done and the call must begin through ps_call_hooks.begin. A command is taken only when
 * its lease's connection owes nothing (the answers its park left unread, an autocommit mode
 * to catch up). Inline: the client layer's wrappers call it for every command and read. */
static inline __attribute__((always_inline)) bool ps_call_begin_fast(ps_call *call, void *h,
                                                                     void *transport, bool sends)
{
    ps_activity *a;
    call->answer = false;
    if (!sends && (a = ps_activity_enter_answer(h, transport)) != NULL) {
        call->activity = a; /* reads the awaited answer under its count */
        call->answer = true;
        return true;
    }
    if ((a = ps_activity_enter(h, transport, sends)) == NULL)
        return false;
    if (sends && (a->conn->replies_pending | a->conn->sync_pending)) {
        ps_activity_take(a, 1); /* the locked begin catches it up first */
        return false;
    }
    call->activity = a;
    return true;
}

/* ps_call_end_fast for a call whose outcome is plain (see ps_call_outcome_plain), with what
 * it did to the awaited answer REPLY: for a caller that knows it is plain before it builds
 * the outcome. */
static inline __attribute__((always_inline)) bool ps_call_end_plain_fast(ps_call *call,
                                                                         enum ps_reply reply)
{
    return call->activity && !ps_qlog_on() &&
           ps_activity_leave_plain(call->activity, reply, !call->answer);
}

/* The lock-free end of CALL with its outcome O: true when it ended the call; false when
 * nothing was done and the call must end through ps_call_hooks.end (the handle holds no
 * lease, O is not plain, the query log is on, or the lease's gate is shut). On true, a
 * statement's last read (O->reply not PS_REPLY_AWAITED) must call ps_call_hooks.tick. */
static inline __attribute__((always_inline)) bool ps_call_end_fast(ps_call *call,
                                                                   const ps_call_outcome *o)
{
    return ps_call_outcome_plain(o) && ps_call_end_plain_fast(call, o->reply);
}

/* What the server's per-session functions said for a handle's session when it was reaped,
 * for its renewal to give back (LAST_INSERT_ID(), and the last statement's FOUND_ROWS() and
 * ROW_COUNT()). */
typedef struct ps_replay_values {
    unsigned long long last_insert_id;
    unsigned long long found_rows;
    long long row_count;
    bool diagnostics_known; /* found_rows and row_count were read (else: unknown, not replayed) */
} ps_replay_values;

/* How the replay of a husk's session on a new connection ended. */
enum ps_replay {
    PS_REPLAY_DONE,    /* the session is the husk's again */
    PS_REPLAY_LOST,    /* the connection failed under it: nothing was refused, another may do */
    PS_REPLAY_REFUSED, /* the server refused part of it (the database was dropped or its
                          privileges revoked...): no new session can be the husk's now */
};

/* Errors the core asks the client layer to report in the library's own terms. */
enum ps_failure {
    PS_FAIL_TOO_MANY, /* the pool's cap held for the whole wait: the server's 1040 */
    PS_FAIL_GONE,     /* the session cannot continue: the library's "server has gone away" */
};

/* How a re-authentication of a parked connection ended (see reauthenticate). */
enum ps_reauth {
    PS_REAUTH_OK,      /* accepted, and the session runs statements: it reads like a new one */
    PS_REAUTH_REFUSED, /* the server refused the credentials (or accepted them into a session
                          that can run no statement: an expired password) */
    PS_REAUTH_FAILED,  /* anything else (connection lost, init command failed, out of memory) */
};

/* How a reset (ps_client_ops.reset) ended. */
enum ps_reset {
    PS_RESET_FAILED,   /* the connection must be closed for real */
    PS_RESET_SENT,     /* reset and restored: a round trip */
    PS_RESET_SKIPPED,  /* the session was as its connect left it: nothing sent (clean return) */
    PS_RESET_DEFERRED, /* reset and restored, the answers not read yet (C->replies_pending:
                          the connection's settle reads them at its next use) */
};

typedef struct ps_client_ops {
    const char *name; /* e.g. "MariaDB Connector/C 3.3" */

    /* NULL when handle H (not yet connected) with args A may be pooled; else why not. */
    const char *(*unpoolable_before)(void *h, const ps_connect_args *a);
    /* Appends every field that makes connections interchangeable (args and options of H). */
    void (*build_key)(void *h, const ps_connect_args *a, ps_key *k);
    /* NULL when the freshly connected H may be pooled; else why not (e.g. TLS). */
    const char *(*unpoolable_after)(void *h);
    /* The client facts of freshly connected H: what a reset must restore and what an adopt
     * must show (negotiated charset, connect-time database, the connect's results). Kept in
     * ps_conn.facts; NULL on OOM. */
    void *(*record)(void *h);
    /* Frees what record returned (NULL allowed). */
    void (*free_facts)(void *facts);
    /* The object that identifies H's live connection (finds its lease when the struct was copied);
     * NULL when none. */
    void *(*transport)(void *h);
    /* Pings a parked handle without reconnecting; true when it is alive. */
    bool (*validate)(void *parked);
    /* Re-authenticates C's parked connection (C->handle) with the user, password and database
     * it was connected with, and with the options of the app's unconnected handle APP (lent
     * for the call: the character set, authentication options and init commands a fresh
     * connect of APP would use): COM_CHANGE_USER, which also resets the session, a statement
     * (a session that cannot run one is refused), then APP's init commands. OK: C's handle
     * then reads like a fresh connect's (C's facts hold). Otherwise *ERR gets the error; the
     * connection must be closed. A refusal takes the server about a second (it delays every
     * failed COM_CHANGE_USER). */
    enum ps_reauth (*reauthenticate)(void *app, ps_conn *c, ps_connect_error *err);
    /* True when a parked handle's socket has input or a hangup waiting (a server restart or
     * KILL closed it): one non-blocking poll, no round trip. ANSWERS_EXPECTED (its park left
     * answers unread): only a hangup counts. */
    bool (*input_pending)(void *parked, bool answers_expected);
    /* True when H's failed connect means the server could not be reached (refused, unknown
     * host, lost during the handshake, shutting down); *ERR then gets H's error. */
    bool (*unreachable)(void *h, ps_connect_error *err);
    /* Moves C's parked connection (C->handle) into the app's unconnected handle APP and frees
     * the parked handle; C->handle becomes APP. The app keeps its own options; APP then reads
     * exactly like a fresh connect's handle (the results recorded in C are restored). */
    void (*adopt)(void *app, ps_conn *c);
    /* NULL when H's connection can be reset and parked; else why not. */
    const char *(*unparkable)(void *h);
    /* Resets H's session and restores the connect-time state recorded in C, including what
     * the reset leaves behind of what the lease did: LASTING is every ps_sql_effect bit since
     * it began (README "What the reset covers"; extra round trips only for the bits that need
     * them); SKIPPED when the session is as its connect left it (nothing sent); DEFERRED (only
     * when MAY_DEFER) when the reset went out but its answers are left for settle. FAILED when
     * the connection must be closed for real instead (the reset failed, or the session holds
     * state no reset can give back). */
    enum ps_reset (*reset)(void *h, ps_conn *c, unsigned lasting, bool may_defer);
    /* Reads on H, C's handle (parked, or the app's that holds it), the answers C's park left
     * unread (C->replies_pending: a deferred reset; see reset) and clears the flag. True when
     * every one succeeded: the session is then as a reset leaves it. False: the connection
     * must be closed for real (H carries the error). */
    bool (*settle)(void *h, ps_conn *c);
    /* Moves H's connection into a new heap handle (returned; NULL on OOM), leaving H as the
     * library leaves a closed handle (freed when the library allocated it). */
    void *(*detach)(void *h);
    /* True when parked handle H stays usable across the library's mysql_server_end and its
     * next initialisation (nothing it uses is freed or unloaded by the end). Runs under the
     * pool lock: it must not block. */
    bool (*outlives_library_end)(void *parked);
    /* Closes a parked handle for real (the library's quit goes to the server). */
    void (*close)(void *parked);
    /* Closes H (parked, or the app's: freed as mysql_close frees it) without a word on the
     * wire: its connection belongs to another process (inherited across fork). */
    void (*abandon)(void *h);
    /* Points H's socket at /dev/null, so whatever the library sends on it next goes nowhere
     * (before the library's own reconnect of an inherited handle). */
    void (*mute)(void *h);
    /* True when the library's mysql_close frees H itself (mysql_init(NULL) allocated it). */
    bool (*close_frees)(void *h);
    /* True when H has no connection and no network buffer: never connected, or closed. The
     * library writes through that buffer in some calls (mysql_change_user). */
    bool (*unconnected)(void *h);
    /* Sets H's error as the library would: errno, sqlstate, message. */
    void (*set_error)(void *h, unsigned err, const char *sqlstate, const char *msg);
    /* Sets H's error to the library's own for FAILURE; DETAIL (may be NULL) is appended to
     * the message where the error has room for it. */
    void (*fail)(void *h, enum ps_failure failure, const char *detail);
    /* True when H's failed connect was the server refusing it for too many connections. */
    bool (*server_full)(void *h);

    /* --- reaping never-closed handles (see lease.h) --- */
    /* Routes H's I/O through the shim's activity tracking; false when H's methods are not the
     * library's own (then H is not pooled). */
    bool (*track)(void *h);
    /* NULL when idle handle H may be reaped now; else why not (static text), and its class in
     * *HOLD. */
    const char *(*unreapable)(void *h, enum ps_hold *hold);
    /* True when the session variables a replayable SET changed (PS_SQL_VARIABLES) can be read
     * back from H's server and set again on another connection (no I/O). */
    bool (*variables_replayable)(void *h);
    /* Reads what a renewal must give back of H's session (one query, before its reset; run it
     * after save_results: it changes H's results): LAST_INSERT_ID(), FOUND_ROWS() and
     * ROW_COUNT() into *V and, when VARIABLES is not NULL, into *VARIABLES the statement that
     * sets every variable of ps_sql_replayed_variables to its value in H's session (malloc'd).
     * False (V and *VARIABLES unchanged) when they cannot be read (the connection is gone) or
     * on OOM. */
    bool (*read_values)(void *h, ps_replay_values *v, char **variables);
    /* Saves what H's last call left for the program (results, errors, mysql_info()) before
     * the shim runs its own commands on H; NULL on OOM. */
    void *(*save_results)(void *h);
    /* Moves H's connection (reset, or dead) into a new heap handle (returned), leaving H a
     * husk: no connection; options, strings and the SAVED results (consumed) kept. *INFO
     * receives the husk's copy of mysql_info() (the caller frees it after the husk is gone).
     * NULL on OOM (H unchanged, SAVED still consumed). */
    void *(*husk)(void *h, void *saved, char **info);
    /* Renews husk H: puts connection C (C->handle parked) into it, then replays H's session:
     * autocommit, character set, current database, V (LAST_INSERT_ID(), then FOUND_ROWS()
     * and ROW_COUNT() as the program's last statement left them, when V knows them) and
     * VARIABLES (from read_values; NULL: none) the session variables, then USER_VARIABLES (a
     * SET of user variables to literals, run as it is; NULL: none). Unless DONE, H holds C's
     * connection but reads as the husk did (database, charset, status, insert id) with the
     * error of the replay's failed step: the caller turns it back into a husk and closes the
     * connection. */
    enum ps_replay (*renew)(void *h, ps_conn *c, const ps_replay_values *v, const char *variables,
                            const char *user_variables);
    /* Answers mysql_autocommit(H, MODE) on H (holding C) without a round trip when the call
     * could show the program nothing but the new mode (no transaction, result, warning or
     * error pending, the session tracked): H then reads as after the library's own successful
     * call, and true is returned. When the session does not run in MODE yet, C->sync_pending
     * is set: the mode reaches the server with the handle's next command (sync), and a lease
     * that sends none leaves the session as it was. False: H unchanged, the call must run. */
    bool (*answer_autocommit)(void *h, ps_conn *c, bool mode);
    /* Brings the session of H (holding C) up to what H shows before the command about to be
     * sent on it, when C->sync_pending: a mysql_autocommit answered without a round trip, or
     * the autocommit mode a parked session kept (README "Autocommit without a round trip").
     * True when it is (C->sync_pending then false); false when the connection failed under it
     * (H then carries the error the command fails with). */
    bool (*sync)(void *h, ps_conn *c);
    /* Answers mysql_select_db(H, DB) without a round trip when DB already is the current
     * database of H's live session (as the session tracker keeps it) and the call could show
     * nothing else (no result, warning or error pending): H then reads as after the library's
     * own successful call, and true is returned. False: H unchanged, the call must run. */
    bool (*answer_select_db)(void *h, const char *db);
    /* Answers mysql_set_character_set(H, CSNAME) the same way when H's live session still has
     * its handshake's character set and that is exactly what SET NAMES CSNAME would leave
     * (the caller knows that the lease changed no character set variable). */
    bool (*answer_charset)(void *h, const char *csname);
    /* True when the program asked H to reconnect by itself (MYSQL_OPT_RECONNECT). */
    bool (*reconnects)(void *h);
    /* Frees husk H as mysql_close would. */
    void (*close_husk)(void *h);
    /* Makes a new parked connection with H's options and ARGS; NULL on failure, with the
     * library's error copied into H (see unreachable, server_full). */
    void *(*connect_parked)(void *h, const ps_connect_args *args);
    /* The server's limits into *L (wait_timeout, max_connections, max_user_connections; 0:
     * unknown), read on freshly connected H (connection C) without disturbing what H shows. */
    void (*server_limits)(void *h, ps_conn *c, ps_server_limits *l);
    /* Ends, on the calling thread, a call the layer left open for a read that did not come
     * (see the tracked methods): called at the start of every interposed call. */
    void (*end_open_call)(void);
} ps_client_ops;

/* Picks the client layer for the loaded library after ps_real_resolve; NULL (and one log line)
 * when the library or its version is not supported: the shim then passes everything through. */
const ps_client_ops *ps_client_select(const ps_call_hooks *hooks);

/* The layer for MariaDB Connector/C 3.3, or NULL when the loaded library is not that. */
const ps_client_ops *ps_client_mariadb3(const ps_call_hooks *hooks);

/* CL's reset of H (see ps_client_ops.reset; MAY_DEFER: its answers may be left for the next
 * use), counted in C's pool as sent, deferred or skipped. True unless it failed (the connection
 * must then be closed for real). */
static inline bool ps_client_reset(const ps_client_ops *cl, void *h, ps_conn *c, unsigned lasting,
                                   bool may_defer)
{
    enum ps_reset r = cl->reset(h, c, lasting, may_defer);
    static const enum ps_pool_event ev[] = {[PS_RESET_SENT] = PS_EV_RESET_SENT,
                                            [PS_RESET_SKIPPED] = PS_EV_RESET_SKIPPED,
                                            [PS_RESET_DEFERRED] = PS_EV_RESET_DEFERRED};
    if (r != PS_RESET_FAILED)
        ps_pool_note(c->pool, ev[r]);
    return r != PS_RESET_FAILED;
}

#endif
