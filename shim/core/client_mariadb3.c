/* The client layer for MariaDB Connector/C 3.3 (libmariadb.so.3): the only file that knows
 * the MYSQL struct's internals. Moving a live connection between MYSQL structs ("transplant")
 * follows what the library's own mariadb_reconnect does: a struct copy plus fix-ups of every
 * pointer that leads back to the owning MYSQL (pvio->mysql, stmt->mysql, the session-tracking
 * callback's data). See README "How it works". */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <mysql.h>
#include <ma_pvio.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poolshim/client.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

_Static_assert(sizeof(MYSQL) == 1272, "MYSQL layout differs from Connector/C 3.3 on x86-64");

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

/* Set once the first real connect showed the private layout is not the mirrored one. */
static int layout_broken;

/* MARIADB_TLS from ma_tls.h (ma_pvio.h declares pvio->ctls as void * unless HAVE_TLS). */
typedef struct mdb_tls {
    void *data;
    MARIADB_PVIO *pvio;
    void *ssl; /* OpenSSL's SSL *, whose app data (ex_data 0) is the owning MYSQL * */
} mdb_tls;

/* OpenSSL's SSL_set_ex_data (SSL_set_app_data is a macro over index 0), found at run time:
 * the shim links no TLS library. */
static int (*ssl_set_ex_data)(void *ssl, int idx, void *data);
static int tls_fixup_state; /* 0 unknown yet, 1 available, -1 not (another TLS library) */

/* Finds SSL_set_ex_data; NULL when it is not reachable from the client library. */
static void *find_ssl_set_ex_data(void)
{
    void *f = dlsym(RTLD_DEFAULT, "SSL_set_ex_data");
    if (!f) { /* the host loaded libmariadb (and with it libssl) RTLD_LOCAL */
        void *ssl = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
        f = ssl ? dlsym(ssl, "SSL_set_ex_data") : NULL;
        if (ssl)
            dlclose(ssl);
    }
    return f;
}

/* True when TLS connections can be moved between handles: libmariadb's TLS library is
 * OpenSSL and its SSL_set_ex_data was found. Unknown (false, not cached) while the library
 * has not started TLS. */
static bool tls_fixup_available(void)
{
    int state = __atomic_load_n(&tls_fixup_state, __ATOMIC_ACQUIRE);
    if (state)
        return state > 0;
    const char *lib = NULL;
    if (ps_real_mariadb_get_infov(NULL, MARIADB_TLS_LIBRARY, &lib) || !lib || !*lib)
        return false;
    void *f = strncmp(lib, "OpenSSL", 7) == 0 ? find_ssl_set_ex_data() : NULL;
    *(void **)&ssl_set_ex_data = f;
    __atomic_store_n(&tls_fixup_state, f ? 1 : -1, __ATOMIC_RELEASE);
    return f != NULL;
}

/* The options extension of H, or NULL. */
static mdb_options_extension *opt_ext(MYSQL *h)
{
    return (mdb_options_extension *)h->options.extension;
}

/* Reads a string option through the public getter (NULL when unset). */
static const char *get_str_option(MYSQL *h, enum mysql_option opt)
{
    const char *v = NULL;
    if (ps_real_mysql_get_optionv(h, opt, (void *)&v))
        return NULL;
    return v;
}

/* Reads a boolean/uint option through the public getter (0 when unset). */
static unsigned get_uint_option(MYSQL *h, enum mysql_option opt, bool is_bool)
{
    unsigned u = 0;
    my_bool b = 0;
    if (ps_real_mysql_get_optionv(h, opt, is_bool ? (void *)&b : (void *)&u))
        return 0;
    return is_bool ? (unsigned)b : u;
}

/* True when H has a non-blocking (async) context: such handles are never pooled. */
/* True when H asks for TLS (any TLS option set). */
static bool wants_tls(MYSQL *h)
{
    const struct st_mysql_options *o = &h->options;
    return o->use_ssl || o->ssl_key || o->ssl_cert || o->ssl_ca || o->ssl_capath || o->ssl_cipher ||
           get_uint_option(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, true);
}

static bool is_nonblocking(MYSQL *h)
{
    return get_uint_option(h, MYSQL_OPT_NONBLOCK, true) != 0;
}

static const char *mdb_unpoolable_before(void *hv, const ps_connect_args *a)
{
    MYSQL *h = hv;
    if (layout_broken)
        return "client library layout not recognised";
    if (h->net.pvio)
        return "handle is already connected";
    if (a->host && (strchr(a->host, ';') || strchr(a->host, '=') || strstr(a->host, "://")))
        return "connection string or connection-handler URL";
    if (get_str_option(h, MARIADB_OPT_CONNECTION_HANDLER))
        return "connection handler plugin";
    if (is_nonblocking(h))
        return "non-blocking (async) handle";
    if (h->stmts)
        return "statements created before connect";
    if (wants_tls(h) && !tls_fixup_available())
        return "TLS, and the TLS session cannot be moved (TLS not started yet, or not OpenSSL)";
    void *io_wait = NULL;
    if (!ps_real_mysql_get_optionv(h, MARIADB_OPT_IO_WAIT, (void *)&io_wait) && io_wait)
        return "custom io_wait callback";
    return NULL;
}

/* Appends every init command of H (their effect is part of the session). */
static void key_add_init_commands(MYSQL *h, ps_key *k)
{
    char **cmds = NULL;
    unsigned n = 0;
    if (ps_real_mysql_get_optionv(h, MYSQL_INIT_COMMAND, (void *)&cmds, &n) || !cmds)
        n = 0;
    ps_key_add_uint(k, "init_commands", n);
    for (unsigned i = 0; i < n; i++)
        ps_key_add_str(k, "init", cmds[i]);
}

static void mdb_build_key(void *hv, const ps_connect_args *a, ps_key *k)
{
    MYSQL *h = hv;
    const struct st_mysql_options *o = &h->options;
    ps_key_add_str(k, "lib", "mariadb3");
    ps_key_add_str(k, "host", a->host);
    ps_key_add_uint(k, "port", a->port);
    ps_key_add_str(k, "socket", a->socket);
    ps_key_add_str(k, "user", a->user);
    ps_key_add_secret(k, "password", a->passwd);
    ps_key_add_str(k, "db", a->db);
    ps_key_add_uint(k, "flags", a->flags | o->client_flag);
    /* Options the library falls back on when an argument is NULL (MYSQL_OPT_HOST, my.cnf). */
    ps_key_add_str(k, "opt_host", o->host);
    ps_key_add_uint(k, "opt_port", o->port);
    ps_key_add_str(k, "opt_socket", o->unix_socket);
    ps_key_add_str(k, "opt_user", o->user);
    ps_key_add_secret(k, "opt_password", o->password);
    ps_key_add_str(k, "opt_db", o->db);
    ps_key_add_str(k, "cnf_file", o->my_cnf_file);
    ps_key_add_str(k, "cnf_group", o->my_cnf_group);
    ps_key_add_uint(k, "protocol", o->protocol);
    ps_key_add_uint(k, "connect_timeout", o->connect_timeout);
    ps_key_add_uint(k, "read_timeout", o->read_timeout);
    ps_key_add_uint(k, "write_timeout", o->write_timeout);
    ps_key_add_str(k, "charset", o->charset_name);
    ps_key_add_str(k, "charset_dir", o->charset_dir);
    ps_key_add_uint(k, "max_allowed_packet", o->max_allowed_packet);
    ps_key_add_uint(k, "compress", o->compress);
    ps_key_add_str(k, "bind", o->bind_address);
    ps_key_add_uint(k, "ssl", o->use_ssl);
    ps_key_add_str(k, "ssl_key", o->ssl_key);
    ps_key_add_str(k, "ssl_cert", o->ssl_cert);
    ps_key_add_str(k, "ssl_ca", o->ssl_ca);
    ps_key_add_str(k, "ssl_capath", o->ssl_capath);
    ps_key_add_str(k, "ssl_cipher", o->ssl_cipher);
    ps_key_add_str(k, "ssl_crl", get_str_option(h, MYSQL_OPT_SSL_CRL));
    ps_key_add_str(k, "ssl_crlpath", get_str_option(h, MYSQL_OPT_SSL_CRLPATH));
    ps_key_add_str(k, "tls_version", get_str_option(h, MARIADB_OPT_TLS_VERSION));
    ps_key_add_str(k, "tls_fp", get_str_option(h, MARIADB_OPT_TLS_PEER_FP));
    ps_key_add_str(k, "tls_fp_list", get_str_option(h, MARIADB_OPT_TLS_PEER_FP_LIST));
    ps_key_add_secret(k, "tls_passphrase", get_str_option(h, MARIADB_OPT_TLS_PASSPHRASE));
    ps_key_add_uint(k, "tls_verify", get_uint_option(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, true));
    ps_key_add_uint(k, "tls_strength", get_uint_option(h, MARIADB_OPT_TLS_CIPHER_STRENGTH, false));
    ps_key_add_str(k, "plugin_dir", get_str_option(h, MYSQL_PLUGIN_DIR));
    ps_key_add_str(k, "default_auth", get_str_option(h, MYSQL_DEFAULT_AUTH));
    ps_key_add_str(k, "server_public_key", get_str_option(h, MYSQL_SERVER_PUBLIC_KEY));
    ps_key_add_uint(k, "read_only", get_uint_option(h, MARIADB_OPT_CONNECTION_READ_ONLY, true));
    key_add_init_commands(h, k);
}

static const char *mdb_unpoolable_after(void *hv)
{
    MYSQL *h = hv;
    mdb_options_extension *ext = opt_ext(h);
    if (!ext || ext->status_data != (void *)h || !ext->status_callback) {
        if (!layout_broken)
            ps_warn(NULL, "libmariadb's private option layout is not the one this shim was "
                          "built for; pooling is off for this process");
        layout_broken = 1;
        return "client library layout not recognised";
    }
    if (h->net.pvio && h->net.pvio->ctls && !tls_fixup_available())
        return "TLS connection whose TLS session cannot be moved";
    return NULL;
}

/* What a connect established (ps_conn.facts): restored by every reset and adopt. */
typedef struct mdb_facts {
    const MARIADB_CHARSET_INFO *charset; /* the charset the handshake negotiated */
    char *dsn_db;                        /* the database the connect asked for (NULL: none) */
    /* the client-side results the real connect left (a reused connection reads like new) */
    unsigned long long affected_rows, insert_id;
    unsigned server_status, warning_count;
} mdb_facts;

static void *mdb_record(void *hv)
{
    MYSQL *h = hv;
    mdb_facts *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->charset = h->charset;
    f->dsn_db = h->db ? strdup(h->db) : NULL;
    if (h->db && !f->dsn_db) {
        free(f);
        return NULL;
    }
    f->affected_rows = h->affected_rows;
    f->insert_id = h->insert_id;
    f->server_status = h->server_status;
    f->warning_count = h->warning_count;
    return f;
}

static void mdb_free_facts(void *fv)
{
    mdb_facts *f = fv;
    if (f)
        free(f->dsn_db);
    free(f);
}

static void *mdb_transport(void *hv)
{
    return ((MYSQL *)hv)->net.pvio;
}

/* Points every back-pointer of the connection now living in DST (copied from SRC) at DST,
 * including the TLS session's application data (used by the library's TLS error paths). */
static void fix_back_pointers(MYSQL *dst, MYSQL *src)
{
    if (dst->net.pvio)
        dst->net.pvio->mysql = dst;
    if (dst->net.pvio && dst->net.pvio->ctls && ssl_set_ex_data)
        ssl_set_ex_data(((const mdb_tls *)dst->net.pvio->ctls)->ssl, 0, dst);
    for (LIST *l = dst->stmts; l; l = l->next)
        ((MYSQL_STMT *)l->data)->mysql = dst;
    mdb_options_extension *ext = opt_ext(dst);
    if (ext && ext->status_data == (void *)src)
        ext->status_data = dst;
}

static bool mdb_validate(void *pv)
{
    MYSQL *p = pv;
    my_bool reconnect = p->options.reconnect;
    int rc;
    p->options.reconnect = 0;
    PS_NESTED(rc = ps_real_mysql_ping(p));
    p->options.reconnect = reconnect;
    return rc == 0;
}

static bool mdb_input_pending(void *pv)
{
    MYSQL *p = pv;
    struct pollfd pfd = {.fd = p->net.pvio ? ps_real_mysql_get_socket(p) : -1,
                         .events = POLLIN | POLLRDHUP};
    if (pfd.fd < 0)
        return true;
    return poll(&pfd, 1, 0) != 0;
}

static bool mdb_unreachable(void *hv, ps_connect_error *err)
{
    MYSQL *h = hv;
    switch (h->net.last_errno) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case ER_SERVER_SHUTDOWN:
        break;
    default:
        return false;
    }
    err->code = h->net.last_errno;
    snprintf(err->sqlstate, sizeof err->sqlstate, "%s", h->net.sqlstate);
    snprintf(err->message, sizeof err->message, "%s", h->net.last_error);
    return true;
}

/* Frees the options block OPTS through the library (a zeroed stack handle owning only it). */
static void free_options(const struct st_mysql_options *opts)
{
    MYSQL tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.options = *opts;
    PS_NESTED(ps_real_mysql_close(&tmp));
}

/* Makes a fresh options block, as mysql_init makes it, with the default session-tracking
 * callback installed: for a connection leaving the program's handle (which keeps its own
 * options). The block comes from the library itself, so no private layout is assumed; the
 * callback's data must then be pointed at the handle that takes the block. */
static bool fresh_options(struct st_mysql_options *out)
{
    MYSQL tmp;
    if (!ps_real_mysql_init(&tmp))
        return false;
    ps_real_mysql_optionsv(&tmp, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    bool ok = opt_ext(&tmp) && opt_ext(&tmp)->status_callback;
    if (ok) {
        *out = tmp.options;
        memset(&tmp.options, 0, sizeof tmp.options);
    }
    tmp.free_me = 0;
    PS_NESTED(ps_real_mysql_close(&tmp));
    return ok;
}

/* Installs the fresh options block OPTS in connected handle H. */
static void install_options(MYSQL *h, const struct st_mysql_options *opts)
{
    h->options = *opts;
    opt_ext(h)->status_data = h;
}

/* Frees what mysql_init allocated in the never-connected APP, except its options. */
static void free_unconnected_internals(MYSQL *app)
{
    MYSQL tmp = *app;
    memset(&tmp.options, 0, sizeof tmp.options);
    tmp.free_me = 0;
    tmp.net.pvio = NULL;
    tmp.methods = NULL;
    tmp.stmts = NULL;
    PS_NESTED(ps_real_mysql_close(&tmp));
}

/* Makes H read exactly like the end of the real connect recorded in C: its results, no error. */
static void show_connect_results(MYSQL *h, const ps_conn *c)
{
    const mdb_facts *f = c->facts;
    h->affected_rows = f->affected_rows;
    h->insert_id = f->insert_id;
    h->server_status = f->server_status;
    h->warning_count = f->warning_count;
    h->net.last_errno = 0;
    h->net.last_error[0] = '\0';
    strcpy(h->net.sqlstate, "00000");
    h->info = NULL;
    h->field_count = 0;
    h->extra_info = 0;
}

static void mdb_adopt(void *appv, ps_conn *c)
{
    MYSQL *app = appv, *p = c->handle;
    struct st_mysql_options app_options = app->options;
    my_bool free_me = app->free_me;
    LIST *stmts = app->stmts; /* made on a reaped husk, before its next command */
    app->stmts = NULL;
    free_unconnected_internals(app);
    *app = *p;
    app->options = app_options;
    app->free_me = free_me;
    app->stmts = stmts;
    fix_back_pointers(app, p);
    free_options(&p->options);
    free(p);
    c->handle = app;
    mdb_options_extension *ext = opt_ext(app);
    if (!ext || !ext->status_callback)
        ps_real_mysql_optionsv(app, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    show_connect_results(app, c);
}

static const char *mdb_unparkable(void *hv)
{
    MYSQL *h = hv;
    if (!h->net.pvio)
        return "connection lost";
    if (h->status != MYSQL_STATUS_READY)
        return "unread result set";
    if (h->server_status & SERVER_MORE_RESULTS_EXIST)
        return "pending result sets";
    if (h->stmts)
        return "open prepared statements";
    if (is_nonblocking(h))
        return "non-blocking (async) handle";
    return NULL;
}

/* Runs QUERY and discards all its results; true on success. */
static bool run_discarding(MYSQL *h, const char *query)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_real_query(h, query, (unsigned long)strlen(query)));
    if (rc)
        return false;
    do {
        MYSQL_RES *res;
        PS_NESTED(res = ps_real_mysql_store_result(h));
        if (res)
            ps_real_mysql_free_result(res);
        else if (ps_real_mysql_errno(h))
            return false;
        PS_NESTED(rc = ps_real_mysql_next_result(h));
    } while (rc == 0);
    return rc < 0;
}

/* Replays H's init commands (MYSQL_INIT_COMMAND), as a fresh connect would run them. */
static bool replay_init_commands(MYSQL *h)
{
    char **cmds = NULL;
    unsigned n = 0;
    if (ps_real_mysql_get_optionv(h, MYSQL_INIT_COMMAND, (void *)&cmds, &n) || !cmds)
        return true;
    for (unsigned i = 0; i < n; i++)
        if (!run_discarding(h, cmds[i]))
            return false;
    return true;
}

/* Re-authenticates H as itself with database DB (NULL: none); the old-server reset. */
static bool change_user_to(MYSQL *h, const char *db)
{
    my_bool rc;
    PS_NESTED(rc = ps_real_mysql_change_user(h, h->user, h->passwd, db));
    return rc == 0;
}

/* Makes the current database the connect-time DB again. */
static bool restore_database(MYSQL *h, const char *db)
{
    bool tracked = (h->server_capabilities & CLIENT_SESSION_TRACKING) != 0;
    if (db) {
        if (tracked && h->db && !strcmp(h->db, db))
            return true;
        int rc;
        PS_NESTED(rc = ps_real_mysql_select_db(h, db));
        return rc == 0;
    }
    /* No database at connect: only a re-authentication can unselect one. */
    if (tracked && !h->db)
        return true;
    return change_user_to(h, NULL);
}

static bool mdb_reset(void *hv, ps_conn *c)
{
    MYSQL *h = hv;
    my_bool reconnect = h->options.reconnect;
    bool ok;
    int rc;
    h->options.reconnect = 0;
    PS_NESTED(rc = ps_real_mysql_reset_connection(h));
    if (rc == 0)
        ok = restore_database(h, ((const mdb_facts *)c->facts)->dsn_db);
    else if (ps_real_mysql_errno(h) == ER_UNKNOWN_COM_ERROR && h->net.pvio)
        ok = change_user_to(h, ((const mdb_facts *)c->facts)->dsn_db); /* pre-10.2 server */
    else
        ok = false;
    if (ok) {
        h->charset = ((const mdb_facts *)c->facts)->charset;
        h->server_status = SERVER_STATUS_AUTOCOMMIT;
        ok = replay_init_commands(h);
    }
    h->options.reconnect = reconnect;
    return ok;
}

/* Leaves app-owned storage H as mysql_close leaves it: no connection, no owned memory. */
static void clear_like_close(MYSQL *h)
{
    MYSQL kept = *h;
    memset(h, 0, sizeof *h);
    /* what the library's close leaves readable: the last results, error and server facts
     * (every pointer now belongs to the parked connection, so none is kept) */
    h->charset = kept.charset;
    h->methods = kept.methods;
    h->affected_rows = kept.affected_rows;
    h->insert_id = kept.insert_id;
    h->server_status = kept.server_status;
    h->warning_count = kept.warning_count;
    h->field_count = kept.field_count;
    h->thread_id = kept.thread_id;
    h->protocol_version = kept.protocol_version;
    h->server_capabilities = kept.server_capabilities;
    h->server_language = kept.server_language;
    h->client_flag = kept.client_flag;
    h->port = kept.port;
    h->status = kept.status;
    h->net.last_errno = kept.net.last_errno;
    memcpy(h->net.sqlstate, kept.net.sqlstate, sizeof h->net.sqlstate);
    memcpy(h->net.last_error, kept.net.last_error, sizeof h->net.last_error);
}

static void *mdb_detach(void *hv)
{
    MYSQL *h = hv;
    MYSQL *p = malloc(sizeof *p);
    if (!p)
        return NULL;
    *p = *h;
    p->free_me = 1;
    fix_back_pointers(p, h);
    if (h->free_me)
        free(h);
    else
        clear_like_close(h);
    return p;
}

static void mdb_close(void *pv)
{
    MYSQL *p = pv;
    p->options.reconnect = 0;
    PS_NESTED(ps_real_mysql_close(p));
}

static void mdb_mute(void *hv)
{
    MYSQL *h = hv;
    if (!h->net.pvio)
        return;
    my_socket fd = ps_real_mysql_get_socket(h);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0 && null_fd >= 0)
        dup2(null_fd, fd);
    if (null_fd >= 0)
        close(null_fd);
}

static void mdb_abandon(void *hv)
{
    mdb_mute(hv);
    PS_NESTED(ps_real_mysql_close(hv));
}

static bool mdb_close_frees(void *hv)
{
    return ((MYSQL *)hv)->free_me != 0;
}

static bool mdb_unconnected(void *hv)
{
    MYSQL *h = hv;
    return !h->net.pvio && !h->net.read_pos;
}

static void mdb_set_error(void *hv, unsigned err, const char *sqlstate, const char *msg)
{
    MYSQL *h = hv;
    h->net.last_errno = err;
    snprintf(h->net.sqlstate, sizeof h->net.sqlstate, "%s", sqlstate);
    snprintf(h->net.last_error, sizeof h->net.last_error, "%s", msg);
}

static void mdb_fail(void *hv, enum ps_failure failure, const char *detail)
{
    switch (failure) {
    case PS_FAIL_TOO_MANY: {
        char msg[MYSQL_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "Too many connections%s%s%s", detail ? " (" : "",
                 detail ? detail : "", detail ? ")" : "");
        mdb_set_error(hv, ER_CON_COUNT_ERROR, "08004", msg);
        break;
    }
    case PS_FAIL_GONE:
    default:
        mdb_set_error(hv, CR_SERVER_GONE_ERROR, "HY000", "Server has gone away");
        break;
    }
}

static bool mdb_server_full(void *hv)
{
    return ((MYSQL *)hv)->net.last_errno == ER_CON_COUNT_ERROR;
}

/* ---- Activity tracking: the library's I/O methods, wrapped -------------------------- */

static const struct st_mariadb_methods *library_methods; /* MARIADB_DEFAULT_METHODS */
static const ps_call_hooks *hooks;                       /* the shim's, set at selection */

/* The library's own methods table (set once, by the first handle tracked). */
static inline const struct st_mariadb_methods *lib(void)
{
    return __atomic_load_n(&library_methods, __ATOMIC_ACQUIRE);
}
static struct st_mariadb_methods tracked_methods;
static pthread_once_t tracked_once = PTHREAD_ONCE_INIT;

/* What a command can leave in the session, and whether it runs a statement. */
static unsigned command_effects(enum enum_server_command cmd, const char *arg, size_t len,
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
    default:
        return PS_SQL_SESSION; /* COM_SET_OPTION, COM_PROCESS_KILL, ... */
    }
}

/* Every command: re-lease a reaped handle first, record the command's effects after. */
static int tracked_db_command(MYSQL *m, enum enum_server_command cmd, const char *arg, size_t len,
                              my_bool skip_check, void *opt_arg)
{
    if (ps_depth > 0)
        return lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    ps_call call;
    if (!hooks->begin(&call, m, true))
        return 1;
    int rc = lib()->db_command(m, cmd, arg, len, skip_check, opt_arg);
    bool statement;
    unsigned fx = command_effects(cmd, arg, len, &statement);
    hooks->end(&call, m, statement, rc ? 0 : fx, rc == 0 && cmd == COM_RESET_CONNECTION);
    return rc;
}

/* Brackets a result read on M (the handle is busy while rows arrive). */
#define TRACKED_READ(m, expr)                                                                      \
    do {                                                                                           \
        ps_call call;                                                                              \
        if (ps_depth > 0 || !hooks->begin(&call, (m), false))                                      \
            return expr;                                                                           \
        __typeof__(expr) r_ = expr;                                                                \
        hooks->end(&call, (m), false, 0, false);                                                   \
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

static bool mdb_track(void *hv)
{
    MYSQL *h = hv;
    if (h->methods == &tracked_methods)
        return true;
    const struct st_mariadb_methods *expected = NULL;
    __atomic_compare_exchange_n(&library_methods, &expected, h->methods, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    if (h->methods != lib())
        return false;
    pthread_once(&tracked_once, build_tracked_methods);
    h->methods = &tracked_methods;
    return true;
}

/* ---- Reaping: husks and re-leases ---------------------------------------------------- */

static const char *mdb_unreapable(void *hv)
{
    MYSQL *h = hv;
    const char *why = mdb_unparkable(h);
    if (why)
        return why;
    if (h->server_status & SERVER_STATUS_IN_TRANS)
        return "open transaction";
    if (h->warning_count)
        return "warnings not yet read (SHOW WARNINGS)";
    return NULL;
}

/* Runs a one-value query on H (nested) and parses it as an unsigned number. */
static bool query_number(MYSQL *h, const char *sql, unsigned long long *out)
{
    int rc;
    PS_NESTED(rc = ps_real_mysql_real_query(h, sql, (unsigned long)strlen(sql)));
    if (rc)
        return false;
    MYSQL_RES *res;
    PS_NESTED(res = ps_real_mysql_store_result(h));
    if (!res)
        return false;
    MYSQL_ROW row = ps_real_mysql_fetch_row(res);
    bool ok = row && row[0];
    if (ok)
        *out = strtoull(row[0], NULL, 10);
    ps_real_mysql_free_result(res);
    return ok;
}

static bool mdb_last_insert_id(void *hv, unsigned long long *id)
{
    return query_number(hv, "SELECT LAST_INSERT_ID()", id);
}

/* What the program's last call left on a handle, kept across the shim's own commands. */
typedef struct saved_results {
    unsigned long long affected_rows, insert_id;
    unsigned server_status, warning_count, field_count;
    unsigned last_errno;
    char sqlstate[SQLSTATE_LENGTH + 1];
    char last_error[MYSQL_ERRMSG_SIZE];
    char *info;
    char *db;                            /* the current database, before the reset restored it */
    const MARIADB_CHARSET_INFO *charset; /* likewise the character set */
} saved_results;

static void *mdb_save_results(void *hv)
{
    MYSQL *h = hv;
    saved_results *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->affected_rows = h->affected_rows;
    s->insert_id = h->insert_id;
    s->server_status = h->server_status;
    s->warning_count = h->warning_count;
    s->field_count = h->field_count;
    s->last_errno = h->net.last_errno;
    memcpy(s->sqlstate, h->net.sqlstate, sizeof s->sqlstate);
    memcpy(s->last_error, h->net.last_error, sizeof s->last_error);
    s->info = h->info ? strdup(h->info) : NULL;
    s->db = h->db ? strdup(h->db) : NULL;
    s->charset = h->charset;
    if ((h->info && !s->info) || (h->db && !s->db)) {
        free(s->info), free(s->db), free(s);
        return NULL;
    }
    return s;
}

/* Duplicates the connection-owned strings of H into *COPIES (in field order); false on OOM. */
static bool dup_strings(MYSQL *h, char *copies[7])
{
    char *src[7] = {h->host,           h->user,      h->passwd, h->unix_socket,
                    h->server_version, h->host_info, h->db};
    bool ok = true;
    for (int i = 0; i < 7; i++)
        if ((copies[i] = src[i] ? strdup(src[i]) : NULL) == NULL && src[i])
            ok = false;
    if (!ok)
        for (int i = 0; i < 7; i++)
            free(copies[i]);
    return ok;
}

/* Turns H into a husk owning COPIES, EXT blocks and the SAVED results. */
static void make_husk(MYSQL *h, char *copies[7], void *ext, void *net_ext, saved_results *s)
{
    memset(&h->net, 0, sizeof h->net);
    h->net.extension = net_ext;
    h->extension = ext;
    h->net.last_errno = s->last_errno;
    memcpy(h->net.sqlstate, s->sqlstate, sizeof s->sqlstate);
    memcpy(h->net.last_error, s->last_error, sizeof s->last_error);
    h->host = copies[0], h->user = copies[1], h->passwd = copies[2], h->unix_socket = copies[3];
    h->server_version = copies[4], h->host_info = copies[5];
    free(copies[6]);
    h->db = s->db;
    h->charset = s->charset;
    h->affected_rows = s->affected_rows;
    h->insert_id = s->insert_id;
    h->server_status = s->server_status;
    h->warning_count = s->warning_count;
    h->field_count = s->field_count;
    h->info = s->info;
    h->fields = NULL;
    memset(&h->field_alloc, 0, sizeof h->field_alloc);
    h->info_buffer = NULL;
    h->stmts = NULL;
}

static void *mdb_husk(void *hv, void *saved, char **info)
{
    MYSQL *h = hv;
    saved_results *s = saved;
    char *copies[7];
    /* A zeroed block larger than the private extension structs: "no state" in any layout. */
    void *ext = calloc(1, 512), *net_ext = calloc(1, 64);
    MYSQL *p = malloc(sizeof *p);
    struct st_mysql_options opts;
    if (!s || !ext || !net_ext || !p || !fresh_options(&opts)) {
        free(ext), free(net_ext), free(p);
        if (s)
            free(s->info), free(s->db), free(s);
        return NULL;
    }
    if (!dup_strings(h, copies)) {
        free_options(&opts);
        free(ext), free(net_ext), free(p), free(s->info), free(s->db), free(s);
        return NULL;
    }
    *p = *h;
    p->free_me = 1;
    install_options(p, &opts); /* first: the husk keeps (and alone points into) its options */
    fix_back_pointers(p, h);
    make_husk(h, copies, ext, net_ext, s);
    *info = s->info;
    free(s);
    return p;
}

/* Appends ", " when SQL already has an assignment. */
static void set_separator(char *sql, size_t n)
{
    if (strcmp(sql, "SET ") != 0)
        strncat(sql, ", ", n - strlen(sql) - 1);
}

/* Replays on H what the husk had: autocommit, charset, LAST_INSERT_ID, database. */
static bool replay_session(MYSQL *h, bool autocommit, const MARIADB_CHARSET_INFO *cs,
                           const char *db, unsigned long long last_insert_id)
{
    char sql[256] = "SET ";
    if (!autocommit)
        strcat(sql, "autocommit=0");
    if (cs && (strcmp(cs->csname, h->charset->csname) || strcmp(cs->name, h->charset->name))) {
        set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "NAMES '%s' COLLATE '%s'", cs->csname,
                 cs->name);
    }
    if (last_insert_id) {
        set_separator(sql, sizeof sql);
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql), "last_insert_id=%llu",
                 last_insert_id);
    }
    if (strcmp(sql, "SET ") && !run_discarding(h, sql))
        return false;
    if (cs)
        h->charset = cs;
    if (db && (!h->db || strcmp(db, h->db))) {
        int rc;
        PS_NESTED(rc = ps_real_mysql_select_db(h, db));
        return rc == 0;
    }
    return true;
}

static bool mdb_renew(void *hv, ps_conn *c, unsigned long long last_insert_id)
{
    MYSQL *h = hv;
    bool autocommit = (h->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    const MARIADB_CHARSET_INFO *cs = h->charset;
    char *db = h->db ? strdup(h->db) : NULL;
    if (h->db && !db)
        return false;
    mdb_adopt(h, c);
    h->methods = &tracked_methods;
    bool ok = replay_session(h, autocommit, cs, db, last_insert_id);
    free(db);
    return ok;
}

static void mdb_close_husk(void *hv)
{
    PS_NESTED(ps_real_mysql_close(hv));
}

static void *mdb_connect_parked(void *hv, const ps_connect_args *a)
{
    MYSQL *h = hv, *t = ps_real_mysql_init(NULL), *r = NULL;
    if (!t) {
        mdb_set_error(h, CR_OUT_OF_MEMORY, "HY000", "Out of memory");
        return NULL;
    }
    t->options = h->options; /* borrowed; REMEMBER_OPTIONS keeps a failure from freeing them */
    PS_NESTED(r = ps_real_mysql_real_connect(t, a->host, a->user, a->passwd, a->db, a->port,
                                             a->socket, a->flags | CLIENT_REMEMBER_OPTIONS));
    h->options = t->options;
    mdb_options_extension *ext = opt_ext(h);
    if (ext && ext->status_data == (void *)t)
        ext->status_data = h;
    memset(&t->options, 0, sizeof t->options);
    if (!r) {
        mdb_set_error(h, t->net.last_errno, t->net.sqlstate, t->net.last_error);
        PS_NESTED(ps_real_mysql_close(t));
        return NULL;
    }
    t->client_flag &= ~CLIENT_REMEMBER_OPTIONS;
    struct st_mysql_options opts;
    if (!fresh_options(&opts)) {
        PS_NESTED(ps_real_mysql_close(t));
        mdb_set_error(h, CR_OUT_OF_MEMORY, "HY000", "Out of memory");
        return NULL;
    }
    install_options(t, &opts);
    return t;
}

static unsigned long long mdb_reported_insert_id(void *hv)
{
    MYSQL *h = hv;
    return h->field_count == 0 ? h->insert_id : 0;
}

static int64_t mdb_server_wait_timeout(void *hv, ps_conn *c)
{
    MYSQL *h = hv;
    unsigned long long secs = 0;
    if (!query_number(h, "SELECT @@wait_timeout", &secs))
        secs = 0;
    show_connect_results(h, c); /* the program must see a fresh connect's handle */
    return (int64_t)secs * 1000;
}

static const ps_client_ops mariadb3_ops = {
    .name = "MariaDB Connector/C 3.3",
    .unpoolable_before = mdb_unpoolable_before,
    .build_key = mdb_build_key,
    .unpoolable_after = mdb_unpoolable_after,
    .record = mdb_record,
    .free_facts = mdb_free_facts,
    .transport = mdb_transport,
    .validate = mdb_validate,
    .input_pending = mdb_input_pending,
    .unreachable = mdb_unreachable,
    .adopt = mdb_adopt,
    .unparkable = mdb_unparkable,
    .reset = mdb_reset,
    .detach = mdb_detach,
    .close = mdb_close,
    .abandon = mdb_abandon,
    .mute = mdb_mute,
    .close_frees = mdb_close_frees,
    .unconnected = mdb_unconnected,
    .set_error = mdb_set_error,
    .fail = mdb_fail,
    .server_full = mdb_server_full,
    .track = mdb_track,
    .unreapable = mdb_unreapable,
    .last_insert_id = mdb_last_insert_id,
    .save_results = mdb_save_results,
    .husk = mdb_husk,
    .renew = mdb_renew,
    .close_husk = mdb_close_husk,
    .connect_parked = mdb_connect_parked,
    .reported_insert_id = mdb_reported_insert_id,
    .server_wait_timeout = mdb_server_wait_timeout,
};

const ps_client_ops *ps_client_mariadb3(const ps_call_hooks *call_hooks)
{
    if (!ps_real_mariadb_get_infov)
        return NULL;
    unsigned long v = ps_real_mysql_get_client_version();
    if (v / 100 != 303) {
        ps_warn(NULL,
                "libmariadb %lu.%lu.%lu is not a supported version (3.3.x); "
                "passing everything through",
                v / 10000, v / 100 % 100, v % 100);
        return NULL;
    }
    hooks = call_hooks;
    return &mariadb3_ops;
}
