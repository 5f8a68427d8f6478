/* Activity tracking: a pooled handle's methods table is swapped for a copy of the library's
 * whose I/O methods (every command, every result read) report to the ps_call_hooks installed
 * at selection, and classify each command by what it can leave in the session: its text (the
 * SQL classifier), and the server's own word after each response it reads (the session-state
 * change flag). This layer never decides anything about leases: it reports, the hooks decide. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "layout.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

static const ps_call_hooks *call_hooks;                  /* set once, at selection */
static const struct st_mariadb_methods *library_methods; /* MARIADB_DEFAULT_METHODS */
static struct st_mariadb_methods tracked_methods;
static pthread_once_t tracked_once = PTHREAD_ONCE_INIT;

/* The library's own methods table (set once, by the first handle tracked). */
static inline const struct st_mariadb_methods *lib(void)
{
    return __atomic_load_n(&library_methods, __ATOMIC_ACQUIRE);
}

/* The hooks the wrappers report to. */
static inline const ps_call_hooks *hooks(void)
{
    return __atomic_load_n(&call_hooks, __ATOMIC_ACQUIRE);
}

/* mdb_reported_insert_id, inline for the wrappers. */
static inline unsigned long long reported_insert_id(const MYSQL *h)
{
    return h->field_count == 0 ? h->insert_id : 0;
}

/* Begins CALL on M (SENDS: a command): inline when the lock-free begin takes it, else through
 * the hooks (see ps_call_hooks.begin). */
static inline __attribute__((always_inline)) bool begin_call(ps_call *call, MYSQL *m, bool sends)
{
    void *transport = m->net.pvio;
    return ps_call_begin_fast(call, m, transport, sends) ||
           hooks()->begin(call, m, transport, sends);
}

/* After the lock-free end of a call that did REPLY to the awaited answer (see
 * ps_call_end_fast). */
static inline void ended_fast(enum ps_reply reply)
{
    if (reply != PS_REPLY_AWAITED && hooks()->tick) /* once per statement */
        hooks()->tick();
}

/* Ends CALL on M with its outcome O: inline when the lock-free end takes it, else through the
 * hooks (see ps_call_hooks.end). */
static inline __attribute__((always_inline)) void end_call(ps_call *call, MYSQL *m,
                                                           const ps_call_outcome *o)
{
    if (ps_call_end_fast(call, o))
        ended_fast(o->reply);
    else
        hooks()->end(call, m, o);
}

/* end_call for a read on M whose outcome has these fields (the rest zero), built only when
 * the lock-free end does not take it. */
static inline __attribute__((always_inline)) void
end_read(ps_call *call, MYSQL *m, bool statement, unsigned effects, unsigned long long insert_id,
         const char *variables, enum ps_reply reply)
{
    if (!(effects | insert_id) && !variables && ps_call_end_plain_fast(call, reply)) {
        ended_fast(reply);
        return;
    }
    ps_call_outcome o = {.statement = statement,
                         .effects = effects,
                         .insert_id = insert_id,
                         .variables = variables,
                         .reply = reply};
    hooks()->end(call, m, &o);
}

void mdb_set_call_hooks(const ps_call_hooks *h)
{
    __atomic_store_n(&call_hooks, h, __ATOMIC_RELEASE);
}

/* The command this thread last sent on a tracked handle, and whether its text explains a
 * session-state change the server reports for it (see mdb_state_change_effects). A result read
 * on another thread than its command's finds no record here and counts as unexplained. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
    const MYSQL *h;
    bool explained;
    bool user_set;
} last_command;

void mdb_note_command(const MYSQL *h, bool explained, bool user_set)
{
    last_command.h = h;
    last_command.explained = explained;
    last_command.user_set = user_set;
}

unsigned mdb_failed_effects(const MYSQL *h)
{
    return last_command.h == h && last_command.user_set ? PS_SQL_SESSION : 0;
}

unsigned mdb_state_change_effects(const MYSQL *h)
{
    if (!(h->server_status & SERVER_SESSION_STATE_CHANGED))
        return 0;
    return last_command.h == h && last_command.explained ? 0 : PS_SQL_SESSION;
}

unsigned mdb_command_effects(enum enum_server_command cmd, const char *arg, size_t len,
                             bool *statement, bool *explains)
{
    *statement = true;
    *explains = false;
    switch (cmd) {
    case COM_QUERY:
        return ps_sql_effects_ex(arg, len, explains);
    case COM_STMT_PREPARE: {
        /* runs later, at execute (or never: user variables it sets are unknown) */
        unsigned fx = ps_sql_effects(arg, len) | PS_SQL_RESULTS;
        return fx & (PS_SQL_FOUND_ROWS | PS_SQL_USER_VARIABLES) ? fx | PS_SQL_SESSION : fx;
    }
    case COM_INIT_DB:
        return PS_SQL_REPLAYABLE;
    case COM_STMT_EXECUTE:
    case COM_FIELD_LIST:
    case COM_PROCESS_INFO:
    case COM_RESET_CONNECTION: /* also turns the shim's state-change tracking off */
        return PS_SQL_RESULTS;
    case COM_STMT_CLOSE:
    case COM_STMT_RESET:
    case COM_STMT_FETCH:
    case COM_STMT_SEND_LONG_DATA:
        *statement = false;
        return PS_SQL_RESULTS;
    case COM_PING:
    case COM_STATISTICS:
    case COM_QUIT:
        *statement = false;
        return 0;
    case COM_SET_OPTION:
        return PS_SQL_SESSION | PS_SQL_SERVER_OPTION; /* kept by COM_RESET_CONNECTION */
    default:
        return PS_SQL_SESSION; /* COM_PROCESS_KILL, ... */
    }
}

/* What command CMD sends, for the query log. */
static enum ps_qlog_kind command_kind(enum enum_server_command cmd)
{
    switch (cmd) {
    case COM_QUERY:
        return PS_QLOG_QUERY;
    case COM_STMT_PREPARE:
        return PS_QLOG_PREPARE;
    case COM_STMT_EXECUTE:
    case COM_STMT_BULK_EXECUTE:
        return PS_QLOG_EXECUTE;
    default:
        return PS_QLOG_NONE;
    }
}

/* Fills D with what command CMD (ARG[0..LEN)) sent at START_NS (0: the query log is off). Out
 * of line: only the query log and commands with effects need it. */
__attribute__((noinline, cold)) static void describe_command(ps_call_detail *d,
                                                             enum enum_server_command cmd,
                                                             const char *arg, size_t len,
                                                             int64_t start_ns)
{
    const unsigned char *a = (const unsigned char *)arg;
    *d = (ps_call_detail){.command = true, .start_ns = start_ns, .kind = command_kind(cmd)};
    if (d->kind == PS_QLOG_QUERY || d->kind == PS_QLOG_PREPARE)
        d->text = arg, d->text_len = len;
    if (d->kind == PS_QLOG_EXECUTE && len >= 4) /* the request starts with the statement id */
        d->stmt_id =
            a[0] | (unsigned long)a[1] << 8 | (unsigned long)a[2] << 16 | (unsigned long)a[3] << 24;
}

/* True when the server answers command CMD (the library reads that answer in a later call
 * when it sent the command with skip_check). */
static inline bool has_answer(enum enum_server_command cmd)
{
    return cmd != COM_STMT_CLOSE && cmd != COM_STMT_SEND_LONG_DATA && cmd != COM_QUIT;
}

/* Where the library's mysql_real_query lies, [start, end) (0, 0: unknown, see locate_query). */
static uintptr_t real_query_start, real_query_end;

/* Finds the code of the library's mysql_real_query (its symbol's size), when it lies in the
 * object the methods table comes from; else none: no command is taken for a query's. */
static void locate_query(void)
{
    Dl_info a, b;
    const ElfW(Sym) *sym = NULL;
    void *fn = (void *)ps_real_mysql_real_query;
    if (!fn || !dladdr((void *)lib()->db_command, &a) ||
        !dladdr1(fn, &b, (void **)&sym, RTLD_DL_SYMENT) || !sym || a.dli_fbase != b.dli_fbase ||
        b.dli_saddr != fn || sym->st_size == 0)
        return;
    real_query_start = (uintptr_t)fn;
    real_query_end = real_query_start + sym->st_size;
}

/* True when the command M just sent with its answer awaited, called from CALLER, is the one
 * the library's mysql_real_query sends: that function then reads the answer right away (its
 * db_read_query_result on M, on this thread, nothing in between), unless the library batches
 * commands (its multi_command field, which 3.3's API no longer sets) or the program skips the
 * responses (MARIADB_OPT_SKIP_READ_RESPONSE), which it checks after the send (Connector/C
 * 3.3, libmariadb/mariadb_lib.c). */
static inline bool query_read_follows(MYSQL *m, const void *caller)
{
    const mdb_options_extension *x = (const mdb_options_extension *)m->options.extension;
    return (uintptr_t)caller - real_query_start < real_query_end - real_query_start && x &&
           !x->multi_command && !x->skip_read_response;
}

/* A query's call whose end waits for the read of its answer (see query_read_follows), which
 * then ends both in one: M == NULL when none; ACTIVITY: the call's (see ps_call; a command's
 * call is counted, and its end needs nothing else). */
static __thread __attribute__((tls_model("initial-exec"))) struct {
    MYSQL *m;
    ps_activity *activity;
} deferred;

/* Ends the deferred call (see deferred) as its command's own end would have: its answer
 * awaited. Only when the library did not read it next (a library that differs from 3.3's). */
__attribute__((noinline, cold)) static void end_deferred(void)
{
    static const ps_call_outcome sent = {.statement = true, .reply = PS_REPLY_AWAITED};
    ps_call call = {.activity = deferred.activity};
    MYSQL *m = deferred.m;
    deferred.m = NULL;
    end_call(&call, m, &sent);
}

/* Before any tracked or interposed call but the deferred query's own read: ends a deferred
 * call (see ps_client_ops.end_open_call). */
void mdb_end_open_call(void)
{
    if (__builtin_expect(deferred.m != NULL, 0))
        end_deferred();
}

/* Takes the call of M's deferred query into CALL when there is one (its answer's read):
 * true then, and the read ends both. */
static inline bool take_deferred(MYSQL *m, ps_call *call)
{
    if (__builtin_expect(deferred.m != m, 1))
        return false;
    call->activity = deferred.activity;
    call->answer = false;
    deferred.m = NULL;
    return true;
}

/* What a command sent (see db_command_bracketed). */
typedef struct sent_command {
    enum enum_server_command cmd;
    const char *arg;
    size_t len;
    bool skip_check;  /* its answer left to a later read */
    bool statement;   /* see ps_call_outcome.statement */
    unsigned fx;      /* what its text can leave in the session */
    int64_t start_ns; /* when it was sent (the query log on), else 0 */
} sent_command;

/* Ends CALL, the command S sent on M, which returned RC. Out of line: a plain query's call
 * ends with its answer's read (see query_read_follows). */
__attribute__((noinline)) static void end_command(ps_call *call, MYSQL *m, const sent_command *s,
                                                  int rc)
{
    ps_call_outcome o = {.statement = s->statement,
                         .app_reset = rc == 0 && s->cmd == COM_RESET_CONNECTION,
                         /* unanswered or not sent (out of sync, a failed write): nothing
                          * changes on the wire */
                         .reply = rc != 0 || !has_answer(s->cmd) ? PS_REPLY_UNCHANGED
                                  : s->skip_check                ? PS_REPLY_AWAITED
                                                                 : PS_REPLY_NONE};
    o.effects = rc ? PS_SQL_RESULTS : s->fx; /* a failure may leave the server's error */
    /* a command that leaves its answer to a later read has parsed no OK packet yet: the
     * handle's insert id is still the previous statement's */
    o.insert_id = o.reply == PS_REPLY_NONE ? reported_insert_id(m) : 0;
    ps_call_detail d;
    if (s->start_ns || o.effects) {
        describe_command(&d, s->cmd, s->arg, s->len, s->start_ns);
        o.detail = &d;
    }
    end_call(call, m, &o);
}

/* Every command: begin (a reaped handle gets its connection back first), then the effects.
 * CALLER: where the library called the method from. */
__attribute__((noinline)) static int db_command_bracketed(MYSQL *m, enum enum_server_command cmd,
                                                          const char *arg, size_t len,
                                                          my_bool skip_check, void *opt_arg,
                                                          const void *caller)
{
    mdb_end_open_call();
    /* the park's unread reset answers can follow the command only when the library leaves
     * the command's own answer to a later read (skip_check): else it reads the first answer
     * itself, inside the call, and catch_up must read them first */
    ps_call call; /* begin fills the rest */
    call.reads_after_send = skip_check != 0;
    call.unread = NULL;
    if (!begin_call(&call, m, true))
        return 1;
    int64_t start_ns = ps_qlog_on() ? ps_qlog_now_ns() : 0;
    bool explains, statement = true;
    unsigned fx = cmd == COM_QUERY ? ps_sql_effects_ex(arg, len, &explains) /* most commands */
                                   : mdb_command_effects(cmd, arg, len, &statement, &explains);
    mdb_note_command(m, explains, cmd == COM_QUERY && (fx & PS_SQL_USER_VARIABLES));
    void *transport = m->net.pvio;
    int rc = lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    /* the park's reset answers first, in the same round trip (unless the library reconnected:
     * the command then went out on a connection that owes nothing) */
    if (__builtin_expect(call.unread != NULL, 0) && rc == 0 && m->net.pvio == transport &&
        !mdb_settle_behind(m, call.unread))
        rc = 1;
    /* the read follows at the depth the send returned at: only a top-level one takes the call
     * (a non-blocking send resumed from inside another handle's read returns nested) */
    if (rc == 0 && !(fx | start_ns) && skip_check && ps_depth == 0 &&
        query_read_follows(m, caller)) {
        deferred.activity = call.activity; /* the read that follows ends this call */
        deferred.m = m;
        return rc;
    }
    sent_command s = {.cmd = cmd,
                      .arg = arg,
                      .len = len,
                      .skip_check = skip_check != 0,
                      .statement = statement,
                      .fx = fx,
                      .start_ns = start_ns};
    end_command(&call, m, &s, rc);
    return rc;
}

/* True when the status M's last read parsed says another result follows (a multi-statement's,
 * a CALL's): the response goes on, for mysql_next_result to read. */
static inline bool more_results(const MYSQL *m)
{
    return (m->server_status & SERVER_MORE_RESULTS_EXIST) != 0;
}

/* Brackets a result read on M (the handle is busy while rows arrive). PARSED (an expression of
 * the read's result r_) is true when the read parsed a status from the server (an OK or EOF
 * packet): only then does server_status describe this response, and a session-state change it
 * flags is reported (commands and failed reads leave the previous response's status there).
 * RESULTS (an expression of r_) is true when the read leaves something a fresh session would
 * not show (PS_SQL_RESULTS: an error, an OK packet's ROW_COUNT() or id, warnings). PENDING (an
 * expression of r_) is true when more of the response is still on the wire for a later read
 * (the open prepared statements that a statement's reads need keep its lease anyway). Used in
 * a function of its own (see TRACKED): the nested reads pass through before its frame. */
#define TRACKED_READ(m, expr, parsed, results, pending)                                            \
    do {                                                                                           \
        ps_call call;                                                                              \
        mdb_end_open_call();                                                                       \
        if (!begin_call(&call, (m), false))                                                        \
            return expr;                                                                           \
        __typeof__(expr) r_ = expr;                                                                \
        unsigned fx_ = (parsed) ? mdb_state_change_effects(m) : 0;                                 \
        if (results)                                                                               \
            fx_ |= PS_SQL_RESULTS;                                                                 \
        end_read(&call, (m), false, fx_, reported_insert_id(m), NULL,                              \
                 (pending) ? PS_REPLY_AWAITED : PS_REPLY_NONE);                                    \
        return r_;                                                                                 \
    } while (0)

/* The method NAME (returning TYPE, parameters PARAMS, passed as ARGS): the library's own for
 * the nested calls (ps_depth > 0: the shim's and the library's), else NAME_bracketed, out of
 * line so that a nested call pays no frame of it. */
#define TRACKED(type, name, params, args)                                                          \
    static type name##_bracketed params __attribute__((noinline));                                 \
    static type tracked_##name params                                                              \
    {                                                                                              \
        if (ps_depth > 0)                                                                          \
            return lib()->name args;                                                               \
        return name##_bracketed args;                                                              \
    }

/* The command method (see TRACKED), which also passes where the library called it from. */
static int tracked_db_command(MYSQL *m, enum enum_server_command cmd, const char *arg, size_t len,
                              my_bool skip_check, void *opt_arg)
{
    if (ps_depth > 0)
        return lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    return db_command_bracketed(m, cmd, arg, len, skip_check, opt_arg, __builtin_return_address(0));
}
TRACKED(int, db_read_query_result, (MYSQL * m), (m))

/* True when VALUE can stand between single quotes under any sql_mode: printable ASCII without a
 * quote or a backslash. */
static bool plain_text(const char *value)
{
    for (const char *p = value; *p; p++)
        if (*p == '\\' || *p == '\'' || *p == '"' || (unsigned char)*p < 0x20 ||
            (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

bool mdb_append_assignment(char *out, size_t n, const char *name, const char *value)
{
    bool number = value && *value && strspn(value, "0123456789.") == strlen(value);
    size_t len = strlen(out);
    const char *sep = len > 4 ? ", " : "";
    int w;
    if (!value || number || plain_text(value)) {
        const char *q = number || !value ? "" : "'";
        w = snprintf(out + len, n - len, "%s%s = %s%s%s", sep, name, q, value ? value : "NULL", q);
        return w > 0 && (size_t)w < n - len;
    }
    w = snprintf(out + len, n - len, "%s%s = X'", sep, name);
    if (w <= 0 || (size_t)w + 2 * strlen(value) + 2 > n - len)
        return false;
    len += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++, len += 2)
        snprintf(out + len, 3, "%02X", *p);
    strcpy(out + len, "'");
    return true;
}

/* Copies the tracker entry D (LEN bytes) into OUT (N bytes); false when it does not fit. */
static bool entry(const char *d, size_t len, char *out, size_t n)
{
    if (len >= n)
        return false;
    memcpy(out, d, len);
    out[len] = '\0';
    return true;
}

/* True when NAME is one of ps_sql_replayed_variables. */
static bool replayed(const char *name)
{
    for (const char *const *v = ps_sql_replayed_variables; *v; v++)
        if (!strcasecmp(*v, name))
            return true;
    return false;
}

/* The assignments ("name = value, ...") of the replayed variables the server's tracker
 * reported for the OK packet M just read (session_track_system_variables); NULL when none, ""
 * when some did not fit (the caller then knows a change it cannot replay). Thread-local. */
static const char *reported_variables(MYSQL *m)
{
    static __thread char set[4096];
    const char *d;
    size_t len;
    char name[128], value[1024];
    if (!(m->server_status & SERVER_SESSION_STATE_CHANGED) ||
        ps_real_mysql_session_track_get_first(m, SESSION_TRACK_SYSTEM_VARIABLES, &d, &len))
        return NULL;
    strcpy(set, "SET ");
    do {
        bool fits = entry(d, len, name, sizeof name);
        if (ps_real_mysql_session_track_get_next(m, SESSION_TRACK_SYSTEM_VARIABLES, &d, &len))
            break; /* a name without its value */
        fits = fits && entry(d, len, value, sizeof value);
        bool null = !strcasecmp(name, "character_set_results") && !*value; /* NULL reads "" */
        if (fits && replayed(name) &&
            !mdb_append_assignment(set, sizeof set, name, null ? NULL : value))
            fits = false;
        if (!fits)
            return "";
    } while (!ps_real_mysql_session_track_get_next(m, SESSION_TRACK_SYSTEM_VARIABLES, &d, &len));
    return strcmp(set, "SET ") ? set + 4 : NULL;
}

/* Runs STMT, the library's read on M, with the calls it makes on M's methods again (its
 * metadata's read) passing straight to the library: M's own methods table is the library's
 * during the read. Not the thread's nesting depth (PS_NESTED): the library runs the program's
 * callbacks inside its reads (a LOAD DATA LOCAL INFILE read callback), whose calls on other
 * handles are the program's own and must be tracked; and a non-blocking read can suspend and
 * resume later, on this thread or another (its *_start returning meanwhile). A fork while the
 * table is switched: the child's leases track their handles again. */
#define NESTED_READ(m, stmt)                                                                       \
    do {                                                                                           \
        (m)->methods = lib();                                                                      \
        stmt;                                                                                      \
        (m)->methods = &tracked_methods;                                                           \
    } while (0)

/* A query's response. Its read of the result set's metadata (db_read_rows) runs nested: it is
 * part of this call, whose outcome (the last status parsed, the warnings) covers it. */
__attribute__((noinline)) static int db_read_query_result_bracketed(MYSQL *m)
{
    ps_call call;
    bool query = take_deferred(m, &call); /* mysql_real_query's read: its command's call */
    if (!query)
        mdb_end_open_call();
    if (!query && !begin_call(&call, m, false))
        return lib()->db_read_query_result(m);
    int r;
    NESTED_READ(m, r = lib()->db_read_query_result(m));
    /* a result set's rows are still on the wire (mysql_store_result shows the handle ready
     * before it reads them, and allocates in between, where the thread can sleep), or the
     * next result of a multi-statement or a CALL */
    enum ps_reply reply =
        r == 0 && (m->field_count || more_results(m)) ? PS_REPLY_AWAITED : PS_REPLY_NONE;
    unsigned fx = r == 0 ? mdb_state_change_effects(m) : mdb_failed_effects(m);
    if (r != 0 || m->field_count == 0 || m->warning_count)
        fx |= PS_SQL_RESULTS;
    const char *variables = r == 0 && m->field_count == 0 ? reported_variables(m) : NULL;
    end_read(&call, m, query, fx, reported_insert_id(m), variables, reply);
    return r;
}

TRACKED(MYSQL_DATA *, db_read_rows, (MYSQL * m, MYSQL_FIELD *fields, unsigned int n),
        (m, fields, n))
static MYSQL_DATA *db_read_rows_bracketed(MYSQL *m, MYSQL_FIELD *fields, unsigned int n)
{
    TRACKED_READ(m, lib()->db_read_rows(m, fields, n), r_ != NULL, !r_ || m->warning_count,
                 r_ && more_results(m));
}

TRACKED(int, db_read_one_row, (MYSQL * m, unsigned int n, MYSQL_ROW row, unsigned long *lengths),
        (m, n, row, lengths))
static int db_read_one_row_bracketed(MYSQL *m, unsigned int n, MYSQL_ROW row,
                                     unsigned long *lengths)
{
    /* 0: a row, and more rows or the EOF still to come */
    TRACKED_READ(m, lib()->db_read_one_row(m, n, row, lengths), r_ == 1, /* 1: the EOF */
                 r_ < 0 || (r_ == 1 && m->warning_count), r_ == 0 || (r_ == 1 && more_results(m)));
}

TRACKED(int, db_read_stmt_result, (MYSQL * m), (m))
static int db_read_stmt_result_bracketed(MYSQL *m)
{
    TRACKED_READ(m, lib()->db_read_stmt_result(m), r_ == 0, true, false);
}

TRACKED(int, db_stmt_read_all_rows, (MYSQL_STMT * s), (s))
static int db_stmt_read_all_rows_bracketed(MYSQL_STMT *s)
{
    TRACKED_READ(s->mysql, lib()->db_stmt_read_all_rows(s), r_ == 0, true, false);
}

TRACKED(int, db_stmt_fetch, (MYSQL_STMT * s, unsigned char **row, unsigned long *len),
        (s, row, len))
static int db_stmt_fetch_bracketed(MYSQL_STMT *s, unsigned char **row, unsigned long *len)
{
    /* The library's unbuffered fetch stops at the EOF without parsing its status. */
    TRACKED_READ(s->mysql, lib()->db_stmt_fetch(s, row, len), false, true, false);
}

TRACKED(int, db_read_execute_response, (MYSQL_STMT * s), (s))
static int db_read_execute_response_bracketed(MYSQL_STMT *s)
{
    TRACKED_READ(s->mysql, lib()->db_read_execute_response(s), r_ == 0, true, false);
}

/* The drain of an unbuffered result's unread rows (mysql_free_result before the last row):
 * the end of the response. The EOF's status is not parsed: what it said
 * (warnings) counts as left behind. */
static void tracked_skip_result(MYSQL *m)
{
    ps_call call;
    if (ps_depth == 0)
        mdb_end_open_call();
    if (ps_depth > 0 || !begin_call(&call, m, false)) {
        lib()->db_skip_result(m);
        return;
    }
    lib()->db_skip_result(m);
    /* the next result of a multi-statement or a CALL may still follow (the EOF's status says) */
    ps_call_outcome o = {.insert_id = reported_insert_id(m),
                         .effects = PS_SQL_RESULTS,
                         .reply = more_results(m) ? PS_REPLY_AWAITED : PS_REPLY_NONE};
    end_call(&call, m, &o);
}

/* A prepare's response: reports the statement id the server gave it. Its reads of the metadata
 * (db_read_rows) run nested: this is one read, after which the id is known. Its OK packet
 * carries no server status: nothing parsed for the state-change flag. */
static my_bool tracked_read_prepare_response(MYSQL_STMT *s)
{
    ps_call call;
    if (ps_depth == 0)
        mdb_end_open_call();
    if (ps_depth > 0 || !begin_call(&call, s->mysql, false))
        return lib()->db_read_prepare_response(s);
    my_bool r;
    NESTED_READ(s->mysql, r = lib()->db_read_prepare_response(s));
    ps_call_detail d = {.stmt_id = r ? 0 : s->stmt_id};
    ps_call_outcome o = {.insert_id = reported_insert_id(s->mysql),
                         .detail = ps_qlog_on() ? &d : NULL,
                         .reply = PS_REPLY_NONE};
    end_call(&call, s->mysql, &o);
    return r;
}

/* Builds the tracked table from the library's (once). */
static void build_tracked_methods(void)
{
    tracked_methods = *lib();
    tracked_methods.db_command = tracked_db_command;
    tracked_methods.db_read_query_result = tracked_db_read_query_result;
    tracked_methods.db_read_rows = tracked_db_read_rows;
    tracked_methods.db_read_one_row = tracked_db_read_one_row;
    if (tracked_methods.db_skip_result)
        tracked_methods.db_skip_result = tracked_skip_result;
    tracked_methods.db_read_stmt_result = tracked_db_read_stmt_result;
    tracked_methods.db_stmt_read_all_rows = tracked_db_stmt_read_all_rows;
    tracked_methods.db_stmt_fetch = tracked_db_stmt_fetch;
    tracked_methods.db_read_execute_response = tracked_db_read_execute_response;
    if (tracked_methods.db_read_prepare_response)
        tracked_methods.db_read_prepare_response = tracked_read_prepare_response;
    locate_query();
}

bool mdb_track(void *hv)
{
    MYSQL *h = hv;
    if (h->methods == &tracked_methods)
        return true;
    if (!hooks())
        return false; /* not selected: nobody to report to */
    const struct st_mariadb_methods *expected = NULL;
    __atomic_compare_exchange_n(&library_methods, &expected, h->methods, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    if (h->methods != lib())
        return false;
    pthread_once(&tracked_once, build_tracked_methods);
    h->methods = &tracked_methods;
    return true;
}

void mdb_retrack(MYSQL *h)
{
    h->methods = &tracked_methods;
}

unsigned long long mdb_reported_insert_id(void *hv)
{
    return reported_insert_id(hv);
}
