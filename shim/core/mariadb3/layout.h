/* Private to the MariaDB Connector/C 3.3 client layer (shim/core/mariadb3/): the mirrors of the
 * library's private structs, the layout assertions, and the declarations these files share.
 * This directory is the only place in the shim that knows MYSQL internals; nothing outside it
 * may include this header (the unit test of the layer excepted).
 *
 * Moving a live connection between MYSQL structs ("transplant") follows what the library's own
 * mariadb_reconnect does: a struct copy plus fix-ups of every pointer that leads back to the
 * owning MYSQL (pvio->mysql, stmt->mysql, the session-tracking callback's data, the TLS
 * session's app data). See README "How it works".
 *
 * Every function declared here has hidden visibility and the mdb_ prefix. The ops-table
 * functions (mdb_<op>) implement the ps_client_ops member of the same name (client.h has the
 * full contract; a summary is repeated here); they take the handle as void * for that reason.
 * Library calls that can reach an interposed function or a tracked method run in PS_NESTED. */
#ifndef POOLSHIM_MARIADB3_LAYOUT_H
#define POOLSHIM_MARIADB3_LAYOUT_H

#include <mysql.h>
#include <ma_pvio.h>
#include <stdbool.h>
#include <stdint.h>

#include "poolshim/client.h"

#define MDB_PRIVATE __attribute__((visibility("hidden")))

_Static_assert(sizeof(MYSQL) == 1272, "MYSQL layout differs from Connector/C 3.3 on x86-64");

/* ---- Mirrors of private structs ---------------------------------------------------------- */

/* Mirror of the private struct st_mysql_options_extension (include/ma_common.h, 3.3). Only
 * status_callback/status_data are used; the layout is verified at run time after the first
 * real connect (status_data must point at the connected handle), else pooling turns off. */
typedef struct mdb_hashtbl {
    unsigned key_offset, key_length, records, blength, current_record, flags;
    struct {
        char *buffer;
        unsigned elements, max_element, alloc_increment, size_of_element;
    } array;
    void *get_key, *free_fn, *calc_hashnr;
} mdb_hashtbl;

typedef struct mdb_options_extension {
    char *plugin_dir, *default_auth, *ssl_crl, *ssl_crlpath, *server_public_key_path;
    void *async_context;
    mdb_hashtbl connect_attrs;
    size_t connect_attrs_len;
    void *report_progress, *db_driver;
    char *tls_fp, *tls_fp_list, *tls_pw;
    my_bool multi_command;
    char *url;
    unsigned tls_cipher_strength;
    char *tls_version;
    my_bool read_only;
    char *connection_handler;
    void *set_option;
    mdb_hashtbl userdata;
    char *server_public_key, *proxy_header;
    size_t proxy_header_len;
    void *io_wait;
    my_bool skip_read_response;
    char *restricted_auth, *rpl_host;
    unsigned short rpl_port;
    void *status_callback;
    void *status_data;
    my_bool tls_verify_server_cert;
} mdb_options_extension;

/* MARIADB_TLS from ma_tls.h (ma_pvio.h declares pvio->ctls as void * unless HAVE_TLS). */
typedef struct mdb_tls {
    void *data;
    MARIADB_PVIO *pvio;
    void *ssl; /* OpenSSL's SSL *, whose app data (ex_data 0) is the owning MYSQL * */
} mdb_tls;

/* ---- options.c: the options block and its private extension ------------------------------ */

/* The options extension of H (mirrored layout), or NULL when H has none. */
MDB_PRIVATE mdb_options_extension *mdb_opt_ext(MYSQL *h);

/* True once a real connect showed that the private layout is not the mirrored one (then
 * nothing is pooled for the rest of the process). */
MDB_PRIVATE bool mdb_layout_broken(void);

/* Checks the mirrored layout on freshly connected H (its session-tracking callback data must
 * be H). On a mismatch, logs one warning (first time only), marks the layout broken for the
 * process and returns false. */
MDB_PRIVATE bool mdb_layout_verify(MYSQL *h);

/* String option OPT of H through the library's getter; NULL when unset. */
MDB_PRIVATE const char *mdb_get_str_option(MYSQL *h, enum mysql_option opt);

/* Boolean (IS_BOOL, a my_bool) or unsigned option OPT of H through the getter; 0 when unset. */
MDB_PRIVATE unsigned mdb_get_uint_option(MYSQL *h, enum mysql_option opt, bool is_bool);

/* True when H has a non-blocking (async) context: such handles are never pooled. */
MDB_PRIVATE bool mdb_nonblocking(MYSQL *h);

/* Makes a fresh options block in OUT, as mysql_init makes it, with the default
 * session-tracking callback installed (its data still to be pointed at the handle that takes
 * the block: mdb_install_options). The block comes from the library itself, so no private
 * layout is assumed. False (OUT untouched) when the library could not make one. */
MDB_PRIVATE bool mdb_fresh_options(struct st_mysql_options *out);

/* Installs the fresh options block OPTS in H and points its callback data at H. */
MDB_PRIVATE void mdb_install_options(MYSQL *h, const struct st_mysql_options *opts);

/* Frees the options block OPTS through the library (OPTS is not used afterwards). */
MDB_PRIVATE void mdb_free_options(const struct st_mysql_options *opts);

/* Points H's session-tracking callback data at H when it still points at FROM (H's options
 * were copied from, or lent to, FROM). */
MDB_PRIVATE void mdb_options_follow(MYSQL *h, const MYSQL *from);

/* ---- tls.c: moving TLS sessions between handles ------------------------------------------ */

/* True when H asks for TLS (any TLS option set). */
MDB_PRIVATE bool mdb_tls_wanted(MYSQL *h);

/* True when H's live connection runs TLS. */
MDB_PRIVATE bool mdb_tls_active(MYSQL *h);

/* True when TLS connections can be moved between handles: the library's TLS library is
 * OpenSSL and its SSL_set_ex_data was found (cached once known). False, not cached, while the
 * library has not started TLS yet. */
MDB_PRIVATE bool mdb_tls_movable(void);

/* True when the library's TLS backend keeps no per-connection state in what mysql_server_end
 * tears down (OpenSSL 1.1 and later, where the end only clears a flag), as mdb_tls_movable
 * found it; false while mdb_tls_movable has not answered yes. Never blocks. */
MDB_PRIVATE bool mdb_tls_outlives_library_end(void);

/* Points the TLS session of H's connection (if any) back at H (SSL app data, which the
 * library's TLS error paths read); a no-op until mdb_tls_movable found the setter. */
MDB_PRIVATE void mdb_tls_follow(MYSQL *h);

/* ---- key.c: whether and under which key a handle is pooled -------------------------------- */

/* NULL when unconnected H connecting with A may be pooled; else why not (static text). */
MDB_PRIVATE const char *mdb_unpoolable_before(void *h, const ps_connect_args *a);
/* Appends to K every argument of A and option of H that makes connections interchangeable. */
MDB_PRIVATE void mdb_build_key(void *h, const ps_connect_args *a, ps_key *k);
/* NULL when freshly connected H may be pooled; else why not. Checks the private layout. */
MDB_PRIVATE const char *mdb_unpoolable_after(void *h);

/* ---- transplant.c: moving a connection between MYSQL structs ------------------------------ */

/* What a connect established (ps_conn.facts): restored by every reset and adopt. */
typedef struct mdb_facts {
    const MARIADB_CHARSET_INFO *charset; /* the charset the handshake negotiated */
    char *dsn_db;                        /* the database the connect asked for (NULL: none) */
    /* the client-side results the real connect left (a reused connection reads like new) */
    unsigned long long affected_rows, insert_id;
    unsigned server_status, warning_count;
    /* the connect's client flags whose effect on the session a reset does not keep */
    bool multi_statements, interactive, ignore_space;
    /* what the login gave the session, read once per connection (mdb_read_login) */
    bool login_known;        /* the login query worked: the fields below are set */
    bool role_known;         /* ... and ROLE can be set back (a MariaDB server) */
    char *role;              /* CURRENT_ROLE() after the login; NULL: none */
    char *init_connect;      /* the server's init_connect the login ran; NULL: none (or exempt) */
    int64_t wait_timeout_ms; /* the session's wait_timeout after the login; 0 unknown */
    long long max_connections, max_user_connections; /* the server's, the account's */
    /* the session reports every change of its state (session_track_state_change=ON, set by
     * the shim with the login query and again with every reset): a lease that changed
     * nothing is parked without a reset (mdb_reset) */
    bool tracking;
    /* the session's autocommit mode: as the connect left it, then as each park leaves it (a
     * lease that only changed the mode, without a round trip, parks without a reset: README
     * "Autocommit without a round trip"); what the server runs while C->sync_pending */
    bool autocommit;
    /* parked with C->replies_pending: the query answers the deferred reset left unread (its
     * own comes first); mdb_settle reads them */
    int replies_unread;
} mdb_facts;

/* Makes H read exactly like the end of the real connect recorded in C's facts: its results,
 * no error, no info, no pending result. */
MDB_PRIVATE void mdb_show_connect_results(MYSQL *h, const ps_conn *c);

/* The facts of freshly connected H: what it shows and what a reset restores (NULL on OOM). */
MDB_PRIVATE void *mdb_record(void *h);
/* Frees what mdb_record returned (NULL allowed). */
MDB_PRIVATE void mdb_free_facts(void *facts);
/* The object identifying H's live connection (its pvio); NULL when none. */
MDB_PRIVATE void *mdb_transport(void *h);
/* Moves C's parked connection into unconnected (or husk) APP, frees the parked struct, keeps
 * APP's options and stmts; APP then shows C's connect results. C->handle becomes APP. */
MDB_PRIVATE void mdb_adopt(void *app, ps_conn *c);
/* Moves H's connection into a new heap handle (returned; NULL on OOM); H is freed, or left as
 * mysql_close leaves program-owned storage. */
MDB_PRIVATE void *mdb_detach(void *h);
/* True when the library's close frees H (mysql_init(NULL) allocated it). */
MDB_PRIVATE bool mdb_close_frees(void *h);
/* Saves what H's last call left (results, error, info, db, charset) for mdb_husk; NULL on
 * OOM. */
MDB_PRIVATE void *mdb_save_results(void *h);
/* Moves H's connection into a new heap handle with fresh options (returned), leaving H a husk
 * with its options and the SAVED results (consumed); *INFO gets the husk's mysql_info() copy.
 * NULL on OOM (H unchanged, SAVED consumed). */
MDB_PRIVATE void *mdb_husk(void *h, void *saved, char **info);
/* Frees husk H as mysql_close would. */
MDB_PRIVATE void mdb_close_husk(void *h);

/* ---- connection.c: making, checking and closing connections outside the program's handle -- */

/* Connects a new heap handle with H's options (lent, then given back) and A; returns it with
 * fresh options of its own, or NULL with the library's error in H. */
MDB_PRIVATE void *mdb_connect_parked(void *h, const ps_connect_args *a);
/* Pings PARKED without reconnecting; true when alive. */
MDB_PRIVATE bool mdb_validate(void *parked);
/* True when PARKED's socket has input or a hangup waiting (or no socket): one poll. */
MDB_PRIVATE bool mdb_input_pending(void *parked, bool answers_expected);
/* True when H's failed connect means the server could not be reached; *ERR gets the error. */
MDB_PRIVATE bool mdb_unreachable(void *h, ps_connect_error *err);
/* True when PARKED stays usable across mysql_server_end and the next initialisation: a plain
 * or TLS socket and heap structs (compressed connections excepted: see connection.c). */
MDB_PRIVATE bool mdb_outlives_library_end(void *parked);
/* Closes PARKED for real (COM_QUIT), never reconnecting. */
MDB_PRIVATE void mdb_close(void *parked);
/* Closes H (parked, or the program's), inherited across fork, without a word to its server. */
MDB_PRIVATE void mdb_abandon(void *h);
/* Points H's socket at /dev/null so that whatever is sent on it next goes nowhere. */
MDB_PRIVATE void mdb_mute(void *h);
/* True when H has neither a connection nor a network buffer (never connected, or closed). */
MDB_PRIVATE bool mdb_unconnected(void *h);
/* Sets H's error as the library would: errno, sqlstate, message. */
MDB_PRIVATE void mdb_set_error(void *h, unsigned err, const char *sqlstate, const char *msg);
/* Sets H's error to the library's (or the server's) own for FAILURE, DETAIL appended. */
MDB_PRIVATE void mdb_fail(void *h, enum ps_failure failure, const char *detail);
/* True when H's failed connect was the server's "Too many connections" (1040). */
MDB_PRIVATE bool mdb_server_full(void *h);

/* ---- session.c: what a session holds, its reset and its replay ---------------------------- */

/* True when ERR came from the server (an error packet), not from the client library. */
MDB_PRIVATE bool mdb_server_error(unsigned err);
/* Runs QUERY on H (nested) and discards every result; true on success. */
MDB_PRIVATE bool mdb_run_discarding(MYSQL *h, const char *query);
/* Appends ", " to the SET statement SQL (N bytes) when it already has an assignment. */
MDB_PRIVATE void mdb_set_separator(char *sql, size_t n);
/* Runs H's init commands (MYSQL_INIT_COMMAND) again, as a fresh connect runs them. */
MDB_PRIVATE bool mdb_replay_init_commands(MYSQL *h);
/* Gives back on H, after a reset or a re-authentication, what the login set (F; its SET of the
 * shim's tracking and login variables only unless SET_DONE) and what the reset leaves of the
 * lease's LASTING effects (README "What the reset covers"). */
MDB_PRIVATE bool mdb_restore_login(MYSQL *h, const mdb_facts *f, unsigned lasting, bool set_done);

/* NULL when H's connection can be reset and parked; else why not (static text). */
MDB_PRIVATE const char *mdb_unparkable(void *h);
/* Resets H's session and restores C's connect-time database, charset, status and init
 * commands, and what COM_RESET_CONNECTION leaves of the LASTING effects of the lease; false
 * when the connection must be closed instead. */
MDB_PRIVATE enum ps_reset mdb_reset(void *h, ps_conn *c, unsigned lasting, bool may_defer);
/* Reads into F what the login gave freshly connected H (role, the server's init_connect,
 * wait_timeout): one query, nested. Leaves H's results to the caller (F->login_known false
 * when the query failed). */
MDB_PRIVATE void mdb_read_login(MYSQL *h, mdb_facts *f);
/* The assignment that makes a session report every change of its state (the shim's tracking,
 * README "Clean return"): a reset and a re-authentication turn it off again. */
MDB_PRIVATE extern const char mdb_tracking_on[];
/* Sends QUERY on H without waiting for its answer; true when it went out. */
MDB_PRIVATE bool mdb_send_query(MYSQL *h, const char *query);
/* Reads the answer of a query sent with mdb_send_query; true when it succeeded. */
MDB_PRIVATE bool mdb_read_answer(MYSQL *h);
/* Reads the answer of a query sent with mdb_send_query and discards its rows; true on success. */
MDB_PRIVATE bool mdb_read_discarding(MYSQL *h);
/* Re-authenticates C's parked connection as itself with the options of unconnected APP
 * (lent): COM_CHANGE_USER, a statement, APP's init commands; *ERR gets the error otherwise. */
MDB_PRIVATE enum ps_reauth mdb_reauthenticate(void *app, ps_conn *c, ps_connect_error *err);
/* NULL when idle H may be reaped now: parkable, no transaction, no unread warnings, and its
 * last command did not fail with the server's error (SHOW WARNINGS would show it). */
MDB_PRIVATE const char *mdb_unreapable(void *h, enum ps_hold *hold);
/* True when H's server has every variable of ps_sql_replayed_variables (MariaDB). */
MDB_PRIVATE bool mdb_variables_replayable(void *h);
/* Reads LAST_INSERT_ID(), FOUND_ROWS() and ROW_COUNT() of H's session into *V and, when
 * VARIABLES is not NULL, into *VARIABLES the SET giving a new connection H's values of
 * ps_sql_replayed_variables (malloc'd): one nested query. False (V and *VARIABLES unchanged)
 * when they cannot be read. */
MDB_PRIVATE bool mdb_read_values(void *h, ps_replay_values *v, char **variables);
/* Adopts C into husk H, tracks H again and replays the husk's autocommit, charset, database,
 * V's LAST_INSERT_ID(), FOUND_ROWS() and ROW_COUNT(), VARIABLES (mdb_read_values' SET;
 * NULL: none) and USER_VARIABLES (a SET of literals; NULL: none). Unless DONE, H reads as the husk
 * did (database, charset, status, insert id) with the failed step's error. */
MDB_PRIVATE enum ps_replay mdb_renew(void *h, ps_conn *c, const ps_replay_values *v,
                                     const char *variables, const char *user_variables);
/* Answers mysql_autocommit(H, MODE) without a round trip when nothing else could show (see
 * ps_client_ops.answer_autocommit); false: H unchanged. */
MDB_PRIVATE bool mdb_answer_autocommit(void *h, ps_conn *c, bool mode);
/* Sets the autocommit mode H shows on its session (C->sync_pending; see ps_client_ops.sync). */
MDB_PRIVATE bool mdb_sync(void *h, ps_conn *c);
/* Reads on H the answers of the reset C's park sent (see ps_client_ops.settle); H then shows
 * what it showed before (the program's view: its mode, its last results) and, on success, no
 * error. */
MDB_PRIVATE bool mdb_settle(void *h, ps_conn *c);
/* Reads the answers C's park left unread on H (holding C) right after H sent a command, before
 * its response (ps_call.unread); the handle then reads as the send left it. False: they
 * failed, the command's outcome is unknown: H carries 2013 and its connection is cut. */
MDB_PRIVATE bool mdb_settle_behind(MYSQL *h, ps_conn *c);
/* Answers mysql_select_db(H, DB) without a round trip when DB is H's current database and
 * nothing is pending (see ps_client_ops.answer_select_db); false: H unchanged. */
MDB_PRIVATE bool mdb_answer_select_db(void *h, const char *db);
/* Answers mysql_set_character_set(H, CSNAME) without a round trip when H's handshake charset
 * is what SET NAMES CSNAME would set (see ps_client_ops.answer_charset); false: H unchanged. */
MDB_PRIVATE bool mdb_answer_charset(void *h, const char *csname);
/* Appends "NAME = VALUE" to the SET statement in OUT (N bytes, starting "SET "): VALUE unquoted
 * when it is NULL or a number, quoted when it is plain text, else as a hex literal (X'...':
 * whatever bytes the server sent, no quote can end it early); false when OUT is full. */
MDB_PRIVATE bool mdb_append_assignment(char *out, size_t n, const char *name, const char *value);
/* True when the program set MYSQL_OPT_RECONNECT on H. */
MDB_PRIVATE bool mdb_reconnects(void *h);
/* The server's limits read on H (see ps_client_ops.server_limits). */
MDB_PRIVATE void mdb_server_limits(void *h, ps_conn *c, ps_server_limits *l);

/* ---- tracking.c: the library's I/O methods, wrapped --------------------------------------- */

/* Installs the table the wrappers report to (once, at selection; HOOKS has static storage). */
MDB_PRIVATE void mdb_set_call_hooks(const ps_call_hooks *hooks);
MDB_PRIVATE void mdb_end_open_call(void);

/* Points H's methods at the tracked table again after a transplant brought the library's back
 * (H was tracked before, so the table exists). */
MDB_PRIVATE void mdb_retrack(MYSQL *h);

/* What command CMD with argument ARG[0..LEN) can leave in the session (ps_sql_effect bits);
 * *STATEMENT is set when it runs a statement (ends the previous one's per-statement state),
 * *EXPLAINS when a session-state change the server reports for it is the one its text shows
 * (a COM_QUERY of replayable statements only: SET NAMES, SET autocommit, USE). */
MDB_PRIVATE unsigned mdb_command_effects(enum enum_server_command cmd, const char *arg, size_t len,
                                         bool *statement, bool *explains);

/* Records that the calling thread is sending a command on H whose text EXPLAINS (see
 * mdb_command_effects) a session-state change the server may report for it; USER_SET: it sets
 * user variables to literals (PS_SQL_USER_VARIABLES), which an error in its response makes
 * unknown (see mdb_failed_effects). */
MDB_PRIVATE void mdb_note_command(const MYSQL *h, bool explained, bool user_set);

/* The effects of an error read on H in response to the command this thread last sent on it:
 * PS_SQL_SESSION when that command set user variables (which of its assignments ran is then
 * unknown), else 0. */
MDB_PRIVATE unsigned mdb_failed_effects(const MYSQL *h);

/* The server's own word on the response H just parsed: PS_SQL_SESSION when it flagged a change
 * of session state (SERVER_SESSION_STATE_CHANGED: a trigger or stored function setting a user
 * variable while session_track_state_change is on; the schema or a tracked system variable
 * always) that the command this thread last noted on H does not explain; else 0. */
MDB_PRIVATE unsigned mdb_state_change_effects(const MYSQL *h);

/* Points H's methods at the tracked table (built once from the first tracked handle's, the
 * library's); false, H unchanged, when H's methods are not the library's or no hooks are
 * installed yet. */
MDB_PRIVATE bool mdb_track(void *h);
/* The id an OK packet just reported on H (0 after a result set). */
MDB_PRIVATE unsigned long long mdb_reported_insert_id(void *h);

#endif
