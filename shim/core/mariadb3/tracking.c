/* Activity tracking: a pooled handle's methods table is swapped for a copy of the library's
 * whose I/O methods (every command, every result read) report to the ps_call_hooks installed
 * at selection, and classify each command by what it can leave in the session. This layer
 * never decides anything about leases: it reports, the hooks decide. */
#include <pthread.h>

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

void mdb_set_call_hooks(const ps_call_hooks *h)
{
    __atomic_store_n(&call_hooks, h, __ATOMIC_RELEASE);
}

unsigned mdb_command_effects(enum enum_server_command cmd, const char *arg, size_t len,
                             bool *statement)
{
    *statement = true;
    switch (cmd) {
    case COM_QUERY:
        return ps_sql_effects(arg, len);
    case COM_STMT_PREPARE: {
        unsigned fx = ps_sql_effects(arg, len); /* runs later, at each execute */
        return fx & PS_SQL_FOUND_ROWS ? fx | PS_SQL_SESSION : fx;
    }
    case COM_INIT_DB:
        return PS_SQL_REPLAYABLE;
    case COM_STMT_EXECUTE:
    case COM_FIELD_LIST:
    case COM_PROCESS_INFO:
    case COM_RESET_CONNECTION:
        return 0;
    case COM_PING:
    case COM_STATISTICS:
    case COM_STMT_CLOSE:
    case COM_STMT_RESET:
    case COM_STMT_FETCH:
    case COM_STMT_SEND_LONG_DATA:
    case COM_QUIT:
        *statement = false;
        return 0;
    case COM_SET_OPTION:
        return PS_SQL_SESSION | PS_SQL_SERVER_OPTION; /* kept by COM_RESET_CONNECTION */
    default:
        return PS_SQL_SESSION; /* COM_PROCESS_KILL, ... */
    }
}

/* Every command: begin (a reaped handle gets its connection back first), then the effects. */
static int tracked_db_command(MYSQL *m, enum enum_server_command cmd, const char *arg, size_t len,
                              my_bool skip_check, void *opt_arg)
{
    if (ps_depth > 0)
        return lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    const ps_call_hooks *up = hooks();
    ps_call call;
    if (!up->begin(&call, m, true))
        return 1;
    int rc = lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    ps_call_outcome o = {.app_reset = rc == 0 && cmd == COM_RESET_CONNECTION};
    unsigned fx = mdb_command_effects(cmd, arg, len, &o.statement);
    o.effects = rc ? 0 : fx;
    o.insert_id = mdb_reported_insert_id(m);
    up->end(&call, m, &o);
    return rc;
}

/* Brackets a result read on M (the handle is busy while rows arrive). */
#define TRACKED_READ(m, expr)                                                                      \
    do {                                                                                           \
        ps_call call;                                                                              \
        const ps_call_hooks *up = hooks();                                                         \
        if (ps_depth > 0 || !up->begin(&call, (m), false))                                         \
            return expr;                                                                           \
        __typeof__(expr) r_ = expr;                                                                \
        ps_call_outcome o_ = {.insert_id = mdb_reported_insert_id(m)};                             \
        up->end(&call, (m), &o_);                                                                  \
        return r_;                                                                                 \
    } while (0)

static int tracked_read_query_result(MYSQL *m)
{
    TRACKED_READ(m, lib()->db_read_query_result(m));
}

static MYSQL_DATA *tracked_read_rows(MYSQL *m, MYSQL_FIELD *fields, unsigned int n)
{
    TRACKED_READ(m, lib()->db_read_rows(m, fields, n));
}

static int tracked_read_one_row(MYSQL *m, unsigned int n, MYSQL_ROW row, unsigned long *lengths)
{
    TRACKED_READ(m, lib()->db_read_one_row(m, n, row, lengths));
}

static int tracked_read_stmt_result(MYSQL *m)
{
    TRACKED_READ(m, lib()->db_read_stmt_result(m));
}

static int tracked_stmt_read_all_rows(MYSQL_STMT *s)
{
    TRACKED_READ(s->mysql, lib()->db_stmt_read_all_rows(s));
}

static int tracked_stmt_fetch(MYSQL_STMT *s, unsigned char **row, unsigned long *len)
{
    TRACKED_READ(s->mysql, lib()->db_stmt_fetch(s, row, len));
}

static int tracked_read_execute_response(MYSQL_STMT *s)
{
    TRACKED_READ(s->mysql, lib()->db_read_execute_response(s));
}

/* Builds the tracked table from the library's (once). */
static void build_tracked_methods(void)
{
    tracked_methods = *lib();
    tracked_methods.db_command = tracked_db_command;
    tracked_methods.db_read_query_result = tracked_read_query_result;
    tracked_methods.db_read_rows = tracked_read_rows;
    tracked_methods.db_read_one_row = tracked_read_one_row;
    tracked_methods.db_read_stmt_result = tracked_read_stmt_result;
    tracked_methods.db_stmt_read_all_rows = tracked_stmt_read_all_rows;
    tracked_methods.db_stmt_fetch = tracked_stmt_fetch;
    tracked_methods.db_read_execute_response = tracked_read_execute_response;
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
    MYSQL *h = hv;
    return h->field_count == 0 ? h->insert_id : 0;
}
