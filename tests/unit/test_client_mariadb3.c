/* The MariaDB Connector/C 3.3 client layer (shim/core/mariadb3/) without a server: pool keys,
 * the reasons a handle is not pooled, the private-layout check, command classification, method
 * tracking and what the wrappers report to the hooks, error facts, version selection, and
 * transplants (husk, adopt, detach) on unconnected handles. Everything that needs a live
 * connection (reset, replay, validation) is covered by the integration tests. This test links
 * libmariadb itself (tests/CMakeLists.txt: unit tests named test_client_*), the shim never. */
#include <criterion/criterion.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/core/mariadb3/layout.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

/* What the tracked wrappers reported to the hooks. */
static struct {
    bool refuse; /* begin returns false */
    int begins, ends;
    void *h;
    bool sends_command, statement, app_reset;
    unsigned effects;
    void *lease_at_end; /* what the end saw in the ps_call the begin filled */
} seen;
/* What the fake begin hands the call: shut, so that no fast end takes a call from the hooks. */
static ps_activity lease_token = {.gate = PS_LEASE_SHUT};

static bool fake_begin(ps_call *call, void *h, void *transport, bool sends_command)
{
    seen.begins++;
    seen.h = h;
    cr_expect_eq(transport, ((MYSQL *)h)->net.pvio, "the handle's transport");
    seen.sends_command = sends_command;
    call->activity = &lease_token;
    return !seen.refuse;
}

static void fake_end(ps_call *call, void *h, const ps_call_outcome *o)
{
    seen.ends++;
    cr_expect_eq(h, seen.h, "end on another handle than begin");
    seen.statement = o->statement;
    seen.effects = o->effects;
    seen.app_reset = o->app_reset;
    seen.lease_at_end = call->activity;
}

static const ps_call_hooks hooks = {.begin = fake_begin, .end = fake_end};
static const ps_client_ops *ops;

static void setup(void)
{
    cr_assert(ps_real_resolve(), "libmariadb's functions not found");
    ops = ps_client_mariadb3(&hooks);
    cr_assert_not_null(ops, "libmariadb %lu is not 3.3", ps_real_mysql_get_client_version());
    memset(&seen, 0, sizeof seen);
}

TestSuite(mariadb3, .init = setup);

/* The key of handle H connecting with A (caller frees). */
static char *key_of(MYSQL *h, const ps_connect_args *a)
{
    ps_key k;
    ps_key_init(&k);
    ops->build_key(h, a, &k);
    const char *s = ps_key_str(&k);
    cr_assert_not_null(s);
    char *copy = strdup(s);
    ps_key_free(&k);
    return copy;
}

static const ps_connect_args plain_args = {"db.example", "app", "s3cr3t-arg", "shop", NULL,
                                           3306,         0};

static MYSQL *new_handle(void)
{
    MYSQL *h = mysql_init(NULL);
    cr_assert_not_null(h);
    return h;
}

/* ---- keys -------------------------------------------------------------------------------- */

static unsigned u_5 = 5, u_3307 = 3307, u_tcp = MYSQL_PROTOCOL_TCP, u_128 = 128;
static size_t sz_1m = 1 << 20;
static my_bool b_1 = 1;

/* One option that must be part of the key: mysql_optionsv(h, OPT, ARG). */
typedef struct key_option {
    const char *name;
    enum mysql_option opt;
    const void *arg;
} key_option;

#define KEY_OPT(opt, arg)                                                                          \
    {                                                                                              \
#opt, opt, arg                                                                             \
    }
static const key_option key_options[] = {
    KEY_OPT(MYSQL_OPT_CONNECT_TIMEOUT, &u_5),
    KEY_OPT(MYSQL_OPT_READ_TIMEOUT, &u_5),
    KEY_OPT(MYSQL_OPT_WRITE_TIMEOUT, &u_5),
    KEY_OPT(MYSQL_OPT_COMPRESS, NULL),
    KEY_OPT(MYSQL_OPT_PROTOCOL, &u_tcp),
    KEY_OPT(MYSQL_SET_CHARSET_NAME, "latin1"),
    KEY_OPT(MYSQL_SET_CHARSET_DIR, "/nonexistent/charsets"),
    KEY_OPT(MYSQL_INIT_COMMAND, "SET @x=1"),
    KEY_OPT(MYSQL_READ_DEFAULT_FILE, "/nonexistent/my.cnf"),
    KEY_OPT(MYSQL_READ_DEFAULT_GROUP, "group"),
    KEY_OPT(MYSQL_OPT_BIND, "127.0.0.2"),
    KEY_OPT(MYSQL_OPT_MAX_ALLOWED_PACKET, &sz_1m),
    KEY_OPT(MARIADB_OPT_HOST, "opt.example"),
    KEY_OPT(MARIADB_OPT_PORT, &u_3307),
    KEY_OPT(MARIADB_OPT_UNIXSOCKET, "/nonexistent/sock"),
    KEY_OPT(MARIADB_OPT_USER, "opt_user"),
    KEY_OPT(MARIADB_OPT_PASSWORD, "s3cr3t-opt"),
    KEY_OPT(MARIADB_OPT_SCHEMA, "opt_db"),
    KEY_OPT(MARIADB_OPT_FOUND_ROWS, NULL),
    KEY_OPT(MYSQL_OPT_SSL_ENFORCE, &b_1),
    KEY_OPT(MYSQL_OPT_SSL_KEY, "/nonexistent/key.pem"),
    KEY_OPT(MYSQL_OPT_SSL_CERT, "/nonexistent/cert.pem"),
    KEY_OPT(MYSQL_OPT_SSL_CA, "/nonexistent/ca.pem"),
    KEY_OPT(MYSQL_OPT_SSL_CAPATH, "/nonexistent/ca"),
    KEY_OPT(MYSQL_OPT_SSL_CIPHER, "AES256-SHA"),
    KEY_OPT(MYSQL_OPT_SSL_CRL, "/nonexistent/crl.pem"),
    KEY_OPT(MYSQL_OPT_SSL_CRLPATH, "/nonexistent/crl"),
    KEY_OPT(MARIADB_OPT_TLS_VERSION, "TLSv1.3"),
    KEY_OPT(MARIADB_OPT_TLS_PEER_FP, "ab:cd"),
    KEY_OPT(MARIADB_OPT_TLS_PEER_FP_LIST, "/nonexistent/fp"),
    KEY_OPT(MARIADB_OPT_TLS_PASSPHRASE, "s3cr3t-tls"),
    KEY_OPT(MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &b_1),
    KEY_OPT(MARIADB_OPT_TLS_CIPHER_STRENGTH, &u_128),
    KEY_OPT(MYSQL_PLUGIN_DIR, "/nonexistent/plugins"),
    KEY_OPT(MYSQL_DEFAULT_AUTH, "mysql_native_password"),
    KEY_OPT(MYSQL_SERVER_PUBLIC_KEY, "/nonexistent/pub.pem"),
    KEY_OPT(MARIADB_OPT_CONNECTION_READ_ONLY, &b_1),
};
#define N_KEY_OPTIONS (sizeof key_options / sizeof key_options[0])

static void set_option(MYSQL *h, const key_option *o)
{
    cr_assert_eq(mysql_optionsv(h, o->opt, o->arg), 0, "%s not accepted", o->name);
}

Test(mariadb3, equal_options_give_equal_keys)
{
    MYSQL *a = new_handle(), b;
    cr_assert_not_null(mysql_init(&b)); /* a stack handle: the address is not in the key */
    for (size_t i = 0; i < N_KEY_OPTIONS; i++) {
        set_option(a, &key_options[i]);
        set_option(&b, &key_options[N_KEY_OPTIONS - 1 - i]); /* the other order */
    }
    char *ka = key_of(a, &plain_args), *kb = key_of(&b, &plain_args);
    cr_assert_str_eq(ka, kb);
    free(ka), free(kb);
    mysql_close(a), mysql_close(&b);
}

Test(mariadb3, every_pooled_option_changes_the_key)
{
    MYSQL *base = new_handle();
    char *kbase = key_of(base, &plain_args);
    for (size_t i = 0; i < N_KEY_OPTIONS; i++) {
        MYSQL *h = new_handle();
        set_option(h, &key_options[i]);
        char *k = key_of(h, &plain_args);
        cr_expect_str_neq(k, kbase, "%s does not change the key", key_options[i].name);
        free(k);
        mysql_close(h);
    }
    free(kbase);
    mysql_close(base);
}

Test(mariadb3, init_commands_count_and_order)
{
    MYSQL *ab = new_handle(), *ba = new_handle(), *a = new_handle();
    mysql_optionsv(ab, MYSQL_INIT_COMMAND, "SET @a=1");
    mysql_optionsv(ab, MYSQL_INIT_COMMAND, "SET @b=1");
    mysql_optionsv(ba, MYSQL_INIT_COMMAND, "SET @b=1");
    mysql_optionsv(ba, MYSQL_INIT_COMMAND, "SET @a=1");
    mysql_optionsv(a, MYSQL_INIT_COMMAND, "SET @a=1");
    char *kab = key_of(ab, &plain_args), *kba = key_of(ba, &plain_args),
         *ka = key_of(a, &plain_args);
    cr_expect_str_neq(kab, kba);
    cr_expect_str_neq(kab, ka);
    free(kab), free(kba), free(ka);
    mysql_close(ab), mysql_close(ba), mysql_close(a);
}

Test(mariadb3, every_connect_argument_changes_the_key)
{
    MYSQL *h = new_handle();
    char *kbase = key_of(h, &plain_args);
    ps_connect_args v[8];
    for (int i = 0; i < 8; i++)
        v[i] = plain_args;
    v[0].host = "other.example";
    v[1].user = "other";
    v[2].passwd = "other-secret";
    v[3].db = "other_db";
    v[4].socket = "/nonexistent/other.sock";
    v[5].port = 3307;
    v[6].flags = CLIENT_MULTI_STATEMENTS;
    v[7].db = NULL; /* no database differs from any database */
    for (int i = 0; i < 8; i++) {
        char *k = key_of(h, &v[i]);
        cr_expect_str_neq(k, kbase, "argument variant %d does not change the key", i);
        free(k);
    }
    free(kbase);
    mysql_close(h);
}

Test(mariadb3, key_never_contains_a_secret)
{
    MYSQL *h = new_handle();
    mysql_optionsv(h, MARIADB_OPT_PASSWORD, "s3cr3t-opt");
    mysql_optionsv(h, MARIADB_OPT_TLS_PASSPHRASE, "s3cr3t-tls");
    char *k = key_of(h, &plain_args);
    cr_assert_not_null(strstr(k, "user=3:app;"), "key: %s", k);        /* the key is readable ... */
    cr_expect_null(strstr(k, "s3cr3t"), "a secret in the key: %s", k); /* ... secrets are not */
    free(k);
    mysql_close(h);
}

Test(mariadb3, options_outside_the_key_keep_it)
{
    MYSQL *a = new_handle(), *b = new_handle();
    my_bool reconnect = 1;
    mysql_optionsv(b, MYSQL_OPT_RECONNECT, &reconnect); /* client-side behaviour only */
    char *ka = key_of(a, &plain_args), *kb = key_of(b, &plain_args);
    cr_assert_str_eq(ka, kb);
    free(ka), free(kb);
    mysql_close(a), mysql_close(b);
}

/* ---- why a handle is not pooled ---------------------------------------------------------- */

static int custom_io_wait(my_socket s, my_bool is_read, int timeout)
{
    (void)s, (void)is_read, (void)timeout;
    return 1;
}

Test(mariadb3, plain_handle_is_poolable)
{
    MYSQL *h = new_handle();
    cr_assert_null(ops->unpoolable_before(h, &plain_args));
    mysql_close(h);
}

Test(mariadb3, unpoolable_before_reasons)
{
    MYSQL *h = new_handle();
    ps_connect_args url = plain_args;
    const char *hosts[] = {"mysql://db.example/shop", "host=db.example", "db1;db2"};
    for (int i = 0; i < 3; i++) {
        url.host = hosts[i];
        cr_expect_str_eq(ops->unpoolable_before(h, &url),
                         "connection string or connection-handler URL", "host %s", hosts[i]);
    }
    mysql_close(h);

    h = new_handle();
    mysql_optionsv(h, MARIADB_OPT_CONNECTION_HANDLER, "replication");
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args), "connection handler plugin");
    mysql_close(h);

    h = new_handle();
    mysql_options(h, MYSQL_OPT_NONBLOCK, 0);
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args), "non-blocking (async) handle");
    mysql_close(h);

    h = new_handle();
    mysql_optionsv(h, MARIADB_OPT_IO_WAIT, custom_io_wait);
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args), "custom io_wait callback");
    mysql_close(h);
}

Test(mariadb3, statements_before_connect_are_not_pooled)
{
    MYSQL *h = new_handle();
    MYSQL_STMT *s = mysql_stmt_init(h);
    cr_assert_not_null(s);
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args), "statements created before connect");
    mysql_stmt_close(s);
    cr_expect_null(ops->unpoolable_before(h, &plain_args));
    mysql_close(h);
}

Test(mariadb3, connected_handle_is_not_pooled_again)
{
    MYSQL *h = new_handle();
    MARIADB_PVIO *pvio = h->net.pvio;
    h->net.pvio = (MARIADB_PVIO *)&lease_token; /* looks connected; never dereferenced */
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args), "handle is already connected");
    h->net.pvio = pvio;
    mysql_close(h);
}

Test(mariadb3, tls_handles_are_pooled_with_openssl)
{
    MYSQL *h = new_handle(); /* mysql_init starts the library's TLS library */
    const char *lib = NULL;
    cr_assert_eq(mariadb_get_infov(NULL, MARIADB_TLS_LIBRARY, &lib), 0);
    cr_assert(lib && strncmp(lib, "OpenSSL", 7) == 0, "TLS library: %s", lib ? lib : "(none)");
    cr_expect_not(mdb_tls_wanted(h));
    mysql_optionsv(h, MYSQL_OPT_SSL_CA, "/nonexistent/ca.pem");
    cr_expect(mdb_tls_wanted(h));
    cr_expect_null(ops->unpoolable_before(h, &plain_args)); /* SSL_set_ex_data was found */
    cr_expect(mdb_tls_movable());
    mysql_close(h);
}

/* The library's own calls are told apart by their return address (see hook_connect.c). */
Test(mariadb3, addresses_in_the_client_library_are_recognised)
{
    int local;
    cr_expect(ps_real_in_library(*(void **)&ps_real_mysql_real_connect));
    cr_expect(ps_real_in_library(*(void **)&ps_real_mariadb_reconnect));
    cr_expect_not(ps_real_in_library((void *)&setup), "the test's own code");
    cr_expect_not(ps_real_in_library(&local), "the stack");
    cr_expect_not(ps_real_in_library(NULL));
}

/* mysql_server_end keeps parked connections unless they are compressed (a plugin pointer) or
 * not connected; with OpenSSL >= 1.1, TLS ones too. */
Test(mariadb3, what_outlives_the_library_end)
{
    MYSQL *h = new_handle();
    cr_expect_not(ops->outlives_library_end(h), "no connection");
    MARIADB_PVIO plain;
    memset(&plain, 0, sizeof plain); /* a socket without TLS */
    h->net.pvio = &plain;
    cr_expect(ops->outlives_library_end(h), "a plain connection");
    h->net.compress = 1;
    cr_expect_not(ops->outlives_library_end(h), "a compressed connection");
    h->net.compress = 0;
    h->net.pvio = NULL;
    mysql_close(h);
    const char *lib = NULL;
    cr_assert_eq(mariadb_get_infov(NULL, MARIADB_TLS_LIBRARY, &lib), 0);
    cr_assert(mdb_tls_movable()); /* what a TLS connection's pooling asked first */
    cr_expect(mdb_tls_outlives_library_end(), "TLS library %s", lib ? lib : "(none)");
}

Test(mariadb3, layout_check_accepts_the_library_and_remembers_a_mismatch)
{
    MYSQL *h = new_handle();
    /* The library's default session-tracking callback, with its data at the mirrored offset. */
    cr_assert_eq(mysql_optionsv(h, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL), 0);
    cr_assert_not_null(mdb_opt_ext(h));
    cr_expect_eq(mdb_opt_ext(h)->status_data, (void *)h);
    cr_expect_null(ops->unpoolable_after(h));
    cr_expect_null(ops->unpoolable_before(h, &plain_args));
    mysql_close(h);

    h = new_handle(); /* no callback installed: what a foreign layout looks like */
    cr_expect_str_eq(ops->unpoolable_after(h), "client library layout not recognised");
    mysql_close(h);
    h = new_handle(); /* ... and pooling stays off for the process */
    cr_expect_str_eq(ops->unpoolable_before(h, &plain_args),
                     "client library layout not recognised");
    mysql_close(h);
}

/* ---- command classification -------------------------------------------------------------- */

/* The effects of CMD with text ARG; *STATEMENT as classified. */
static unsigned effects(enum enum_server_command cmd, const char *arg, bool *statement)
{
    *statement = !*statement; /* must be overwritten */
    bool explains;
    return mdb_command_effects(cmd, arg, arg ? strlen(arg) : 0, statement, &explains);
}

Test(mariadb3, queries_are_classified_by_their_text)
{
    bool st = false;
    cr_expect_eq(effects(COM_QUERY, "SELECT 1", &st), 0);
    cr_expect(st);
    cr_expect_eq(effects(COM_QUERY, "SET @u = @u + 1", &st), PS_SQL_SESSION);
    cr_expect_eq(effects(COM_QUERY, "SET @u = 1", &st), PS_SQL_REPLAYABLE | PS_SQL_USER_VARIABLES);
    /* a prepared SET of user variables may run any number of times, or never */
    cr_expect(effects(COM_STMT_PREPARE, "SET @u = 1", &st) & PS_SQL_SESSION);
    cr_expect(st);
    cr_expect_eq(effects(COM_QUERY, "SET autocommit=0", &st), PS_SQL_REPLAYABLE);
    cr_expect_eq(effects(COM_QUERY, "SELECT GET_LOCK('x', 1)", &st), PS_SQL_LOCK);
    cr_expect_eq(effects(COM_QUERY, "SELECT SQL_CALC_FOUND_ROWS * FROM t", &st), PS_SQL_FOUND_ROWS);
}

Test(mariadb3, prepared_found_rows_is_session_state)
{
    bool st = false;
    /* Runs at every execute: the FOUND_ROWS() of a later statement needs this very session. */
    cr_expect_eq(effects(COM_STMT_PREPARE, "SELECT SQL_CALC_FOUND_ROWS a FROM t", &st),
                 PS_SQL_FOUND_ROWS | PS_SQL_SESSION | PS_SQL_RESULTS);
    cr_expect(st);
    /* a binary statement: the lease is not clean (PS_SQL_RESULTS), but reapable */
    cr_expect_eq(effects(COM_STMT_PREPARE, "SELECT a FROM t WHERE b = ?", &st), PS_SQL_RESULTS);
}

Test(mariadb3, other_commands_are_classified)
{
    bool st = false;
    cr_expect_eq(effects(COM_INIT_DB, "shop", &st), PS_SQL_REPLAYABLE);
    cr_expect(st);
    /* COM_RESET_CONNECTION keeps the server-side options: the release must set them back */
    cr_expect_eq(effects(COM_SET_OPTION, NULL, &st), PS_SQL_SESSION | PS_SQL_SERVER_OPTION);
    cr_expect(st);
    cr_expect_eq(effects(COM_PROCESS_KILL, NULL, &st), PS_SQL_SESSION);
    cr_expect_eq(effects(COM_CHANGE_USER, NULL, &st), PS_SQL_SESSION);
    enum enum_server_command plain_statements[] = {COM_STMT_EXECUTE, COM_FIELD_LIST,
                                                   COM_PROCESS_INFO, COM_RESET_CONNECTION};
    /* nothing a reap must replay, but not what a fresh session shows (no clean return) */
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(effects(plain_statements[i], NULL, &st), PS_SQL_RESULTS, "command %d", i);
        cr_expect(st, "command %d is a statement", i);
    }
    enum enum_server_command not_statements[] = {
        COM_STMT_CLOSE, COM_STMT_RESET, COM_STMT_FETCH, COM_STMT_SEND_LONG_DATA,
        COM_PING,       COM_STATISTICS, COM_QUIT};
    for (int i = 0; i < 7; i++) {
        cr_expect_eq(effects(not_statements[i], NULL, &st), i < 4 ? PS_SQL_RESULTS : 0,
                     "command %d", i);
        cr_expect_not(st, "command %d is not a statement", i);
    }
}

/* ---- method tracking --------------------------------------------------------------------- */

Test(mariadb3, track_installs_one_tracked_table)
{
    MYSQL *a = new_handle(), *b = new_handle();
    const struct st_mariadb_methods *library = a->methods;
    cr_assert_eq(b->methods, library);
    cr_assert(ops->track(a));
    const struct st_mariadb_methods *tracked = a->methods;
    cr_expect_neq(tracked, library);
    cr_expect_neq(tracked->db_command, library->db_command);
    cr_expect_neq(tracked->db_read_query_result, library->db_read_query_result);
    cr_expect_neq(tracked->db_read_rows, library->db_read_rows);
    cr_expect_neq(tracked->db_stmt_fetch, library->db_stmt_fetch);
    cr_expect_eq(tracked->db_close, library->db_close); /* no I/O of its own: not wrapped */
    cr_assert(ops->track(b));
    cr_expect_eq(b->methods, tracked, "a second table was built");
    cr_assert(ops->track(a)); /* tracking twice changes nothing */
    cr_expect_eq(a->methods, tracked);
    mysql_close(a), mysql_close(b);
}

Test(mariadb3, track_refuses_foreign_methods)
{
    MYSQL *a = new_handle(), *f = new_handle();
    cr_assert(ops->track(a));
    static struct st_mariadb_methods foreign; /* a driver's own table */
    const struct st_mariadb_methods *library = f->methods;
    foreign = *library;
    f->methods = &foreign;
    cr_expect_not(ops->track(f));
    cr_expect_eq(f->methods, &foreign, "a foreign table was replaced");
    f->methods = library;
    mysql_close(a), mysql_close(f);
}

Test(unselected, track_refuses_without_hooks)
{
    cr_assert(ps_real_resolve());
    MYSQL *h = mysql_init(NULL);
    const struct st_mariadb_methods *library = h->methods;
    cr_expect_not(mdb_track(h), "tracked with nobody to report to");
    cr_expect_eq(h->methods, library);
    mysql_close(h);
}

/* A tracked unconnected handle: every command fails in the library (2006), which is enough to
 * see what the wrappers report. */
static MYSQL *tracked_handle(void)
{
    MYSQL *h = new_handle();
    cr_assert(ops->track(h));
    return h;
}

Test(mariadb3, commands_are_reported_to_the_hooks)
{
    MYSQL *h = tracked_handle();
    cr_assert_neq(mysql_ping(h), 0);
    cr_expect_eq(mysql_errno(h), CR_SERVER_GONE_ERROR); /* the library ran */
    cr_expect_eq(seen.begins, 1);
    cr_expect_eq(seen.ends, 1);
    cr_expect_eq(seen.h, h);
    cr_expect(seen.sends_command);
    cr_expect_not(seen.statement, "COM_PING reported as a statement");
    cr_expect_eq(seen.lease_at_end, &lease_token, "end did not get the begin's call");

    memset(&seen, 0, sizeof seen);
    cr_assert_neq(mysql_real_query(h, "SET @u=1", 8), 0);
    cr_expect_eq(seen.begins, 1);
    cr_expect(seen.statement, "COM_QUERY not reported as a statement");
    cr_expect_eq(seen.effects, PS_SQL_RESULTS, "a failed command: only its error");

    memset(&seen, 0, sizeof seen);
    cr_assert_neq(mysql_reset_connection(h), 0);
    cr_expect(seen.statement);
    cr_expect_not(seen.app_reset, "a failed reset reported as the program's reset");
    mysql_close(h);
}

Test(mariadb3, refused_command_never_reaches_the_library)
{
    MYSQL *h = tracked_handle();
    seen.refuse = true;
    cr_assert_neq(mysql_ping(h), 0);
    cr_expect_eq(mysql_errno(h), 0, "the library ran the refused command");
    cr_expect_eq(seen.begins, 1);
    cr_expect_eq(seen.ends, 0);
    mysql_close(h);
}

Test(mariadb3, result_reads_are_reported)
{
    MYSQL *h = tracked_handle();
    cr_assert_neq(mysql_read_query_result(h), 0);
    cr_expect_eq(seen.begins, 1);
    cr_expect_not(seen.sends_command, "a result read reported as a command");
    cr_expect_eq(seen.ends, 1);
    cr_expect_not(seen.statement);
    mysql_close(h);
}

Test(mariadb3, nested_calls_are_not_reported)
{
    MYSQL *h = tracked_handle();
    ps_depth++;
    int rc = mysql_ping(h);
    ps_depth--;
    cr_assert_neq(rc, 0);
    cr_expect_eq(mysql_errno(h), CR_SERVER_GONE_ERROR);
    cr_expect_eq(seen.begins, 0);
    cr_expect_eq(seen.ends, 0);
    mysql_close(h);
}

Test(mariadb3, reported_insert_id_only_after_ok_packets)
{
    MYSQL *h = new_handle();
    h->insert_id = 42;
    h->field_count = 0;
    cr_expect_eq(mdb_reported_insert_id(h), 42);
    h->field_count = 2; /* a result set: its insert_id is stale */
    cr_expect_eq(mdb_reported_insert_id(h), 0);
    h->field_count = 0;
    mysql_close(h);
}

/* ---- error facts ------------------------------------------------------------------------- */

Test(mariadb3, unreachable_server_errors)
{
    MYSQL *h = new_handle();
    unsigned unreachable[] = {CR_CONNECTION_ERROR,  CR_CONN_HOST_ERROR, CR_UNKNOWN_HOST,
                              CR_SERVER_GONE_ERROR, CR_SERVER_LOST,     ER_SERVER_SHUTDOWN};
    for (int i = 0; i < 6; i++) {
        ps_connect_error e = {0};
        ops->set_error(h, unreachable[i], "HY000", "gone");
        cr_expect(ops->unreachable(h, &e), "%u", unreachable[i]);
        cr_expect_eq(e.code, unreachable[i]);
        cr_expect_str_eq(e.sqlstate, "HY000");
        cr_expect_str_eq(e.message, "gone");
    }
    unsigned reachable[] = {ER_ACCESS_DENIED_ERROR, ER_CON_COUNT_ERROR, CR_OUT_OF_MEMORY, 0};
    for (int i = 0; i < 4; i++) {
        ps_connect_error e = {0};
        ops->set_error(h, reachable[i], "28000", "no");
        cr_expect_not(ops->unreachable(h, &e), "%u", reachable[i]);
    }
    mysql_close(h);
}

Test(mariadb3, set_error_reads_like_the_library)
{
    MYSQL *h = new_handle();
    ops->set_error(h, ER_CON_COUNT_ERROR, "08004", "Too many connections");
    cr_expect_eq(mysql_errno(h), ER_CON_COUNT_ERROR);
    cr_expect_str_eq(mysql_sqlstate(h), "08004");
    cr_expect_str_eq(mysql_error(h), "Too many connections");
    mysql_close(h);
}

Test(mariadb3, handle_facts)
{
    MYSQL *heap = new_handle(), stack;
    cr_assert_not_null(mysql_init(&stack));
    cr_expect(ops->close_frees(heap));
    cr_expect_not(ops->close_frees(&stack));
    cr_expect(ops->unconnected(heap));
    cr_expect_null(ops->transport(heap));
    unsigned char buf[8];
    heap->net.read_pos = buf; /* a network buffer: the library would write through it */
    cr_expect_not(ops->unconnected(heap));
    heap->net.read_pos = NULL;
    mysql_close(heap), mysql_close(&stack);
}

/* ---- version selection ------------------------------------------------------------------- */

static unsigned long fake_version;
static unsigned long fake_client_version(void)
{
    return fake_version;
}

Test(mariadb3, only_version_3_3_is_selected)
{
    unsigned long (*real_version)(void) = ps_real_mysql_get_client_version;
    ps_real_mysql_get_client_version = fake_client_version;
    unsigned long versions[] = {30100, 30299, 30300, 30399, 30400, 80000};
    bool selected[] = {false, false, true, true, false, false};
    for (int i = 0; i < 6; i++) {
        fake_version = versions[i];
        const ps_client_ops *o = ps_client_mariadb3(&hooks);
        cr_expect_eq(o != NULL, selected[i], "version %lu", versions[i]);
        if (o)
            cr_expect_str_eq(o->name, "MariaDB Connector/C 3.3");
    }
    ps_real_mysql_get_client_version = real_version;
    __typeof__(ps_real_mariadb_get_infov) infov = ps_real_mariadb_get_infov;
    ps_real_mariadb_get_infov = NULL; /* absent: not MariaDB Connector/C */
    cr_expect_null(ps_client_mariadb3(&hooks));
    ps_real_mariadb_get_infov = infov;
}

/* ---- transplants ------------------------------------------------------------------------- */

static unsigned connect_timeout(MYSQL *h)
{
    unsigned t = 0;
    cr_assert_eq(mysql_get_optionv(h, MYSQL_OPT_CONNECT_TIMEOUT, &t), 0);
    return t;
}

static unsigned init_commands(MYSQL *h)
{
    char **cmds = NULL;
    unsigned n = 0;
    cr_assert_eq(mysql_get_optionv(h, MYSQL_INIT_COMMAND, &cmds, &n), 0);
    return cmds ? n : 0;
}

/* A handle with options of its own and the results of a last call. */
static MYSQL *used_handle(char *info)
{
    MYSQL *h = new_handle();
    unsigned t = 7;
    mysql_optionsv(h, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    mysql_optionsv(h, MYSQL_INIT_COMMAND, "SET @x=1");
    ops->set_error(h, ER_DUP_ENTRY, "23000", "Duplicate entry");
    h->affected_rows = 5;
    h->insert_id = 9;
    h->warning_count = 1;
    h->info = info;
    return h;
}

Test(mariadb3, husk_keeps_options_and_results)
{
    char info_text[] = "Rows matched: 1";
    MYSQL *h = used_handle(info_text);
    char *info = NULL;
    MYSQL *p = ops->husk(h, ops->save_results(h), &info);
    cr_assert_not_null(p);
    cr_assert_neq(p, h);
    /* the husk: no connection; its options, and the last call's results, readable */
    cr_expect(ops->unconnected(h));
    cr_expect_eq(mysql_errno(h), ER_DUP_ENTRY);
    cr_expect_str_eq(mysql_sqlstate(h), "23000");
    cr_expect_str_eq(mysql_error(h), "Duplicate entry");
    cr_expect_eq(mysql_affected_rows(h), 5);
    cr_expect_eq(mysql_insert_id(h), 9);
    cr_expect_eq(mysql_warning_count(h), 1);
    cr_expect_eq(mysql_info(h), info);
    cr_expect_neq(info, info_text, "the husk points into the program's old buffer");
    cr_expect_str_eq(info, "Rows matched: 1");
    cr_expect_eq(connect_timeout(h), 7);
    cr_expect_eq(init_commands(h), 1);
    /* the parked handle: the connection, with options of its own */
    cr_expect(p->free_me);
    cr_expect_eq(connect_timeout(p), 0);
    cr_expect_eq(init_commands(p), 0);
    cr_assert_not_null(mdb_opt_ext(p));
    cr_expect_eq(mdb_opt_ext(p)->status_data, (void *)p);
    ops->close(p);
    ops->close_husk(h);
    free(info);
}

Test(mariadb3, adopt_into_a_husk_reads_like_a_fresh_connect)
{
    char info_text[] = "Rows matched: 1";
    MYSQL *h = used_handle(info_text);
    char *info = NULL;
    MYSQL *p = ops->husk(h, ops->save_results(h), &info);
    cr_assert_not_null(p);
    p->thread_id = 4242; /* marks the connection */
    mdb_facts f = {.affected_rows = 0, .insert_id = 3, .server_status = SERVER_STATUS_AUTOCOMMIT};
    ps_conn c = {.handle = p, .facts = &f};
    ops->adopt(h, &c);
    cr_expect_eq(c.handle, h);
    cr_expect_eq(mysql_thread_id(h), 4242);
    cr_expect_eq(mysql_errno(h), 0);
    cr_expect_str_eq(mysql_sqlstate(h), "00000");
    cr_expect_eq(mysql_affected_rows(h), 0);
    cr_expect_eq(mysql_insert_id(h), 3);
    cr_expect_eq(mysql_warning_count(h), 0);
    cr_expect_null(mysql_info(h));
    cr_expect_eq(h->server_status, SERVER_STATUS_AUTOCOMMIT);
    cr_expect_eq(connect_timeout(h), 7, "the program's options were not kept");
    cr_expect_eq(init_commands(h), 1);
    cr_assert_not_null(mdb_opt_ext(h));
    cr_expect_eq(mdb_opt_ext(h)->status_data, (void *)h);
    cr_expect_not_null(mdb_opt_ext(h)->status_callback);
    mysql_close(h);
    free(info);
}

Test(mariadb3, detach_then_adopt_moves_the_connection)
{
    MYSQL stack;
    cr_assert_not_null(mysql_init(&stack));
    unsigned t = 3;
    mysql_optionsv(&stack, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    stack.thread_id = 77;
    ops->set_error(&stack, ER_DUP_ENTRY, "23000", "Duplicate entry");
    MYSQL *p = ops->detach(&stack);
    cr_assert_not_null(p);
    /* the program's storage reads as after mysql_close */
    cr_expect_null(stack.net.pvio);
    cr_expect_null(stack.options.extension);
    cr_expect_eq(stack.thread_id, 77);
    cr_expect_eq(mysql_errno(&stack), ER_DUP_ENTRY);
    cr_expect(p->free_me);
    cr_expect_eq(connect_timeout(p), 3);

    MYSQL *app = new_handle();
    t = 9;
    mysql_optionsv(app, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    mdb_facts f = {.affected_rows = 1, .server_status = SERVER_STATUS_AUTOCOMMIT};
    ps_conn c = {.handle = p, .facts = &f};
    ops->adopt(app, &c);
    cr_expect_eq(c.handle, app);
    cr_expect_eq(mysql_thread_id(app), 77);
    cr_expect_eq(connect_timeout(app), 9);
    cr_expect_eq(mysql_affected_rows(app), 1);
    cr_expect_eq(mysql_errno(app), 0);
    cr_expect(app->free_me);
    mysql_close(app);
    mysql_close(&stack); /* closing a closed stack handle again is harmless */
}

Test(mariadb3, record_copies_what_a_reset_restores)
{
    MYSQL *h = new_handle();
    h->db = strdup("shop"); /* the library frees it at close */
    h->affected_rows = 2;
    h->insert_id = 8;
    h->server_status = SERVER_STATUS_AUTOCOMMIT;
    h->warning_count = 1;
    h->client_flag = CLIENT_MULTI_STATEMENTS | CLIENT_IGNORE_SPACE;
    mdb_facts *c = ops->record(h);
    cr_assert_not_null(c);
    cr_expect(c->multi_statements);
    cr_expect(c->ignore_space);
    cr_expect_not(c->interactive);
    cr_expect_not(c->login_known, "no connection: what the login gave is unknown");
    cr_expect_not(c->role_known);
    cr_expect_eq(h->affected_rows, 2, "the handle still shows its own results");
    cr_expect_eq(mysql_errno(h), 0);
    cr_expect_str_eq(c->dsn_db, "shop");
    cr_expect_neq(c->dsn_db, h->db);
    cr_expect_eq(c->charset, h->charset);
    cr_expect_eq(c->affected_rows, 2);
    cr_expect_eq(c->insert_id, 8);
    cr_expect_eq(c->server_status, SERVER_STATUS_AUTOCOMMIT);
    cr_expect_eq(c->warning_count, 1);
    ops->free_facts(c);
    mysql_close(h);
}

Test(mariadb3, failures_are_reported_in_the_library_and_server_terms)
{
    MYSQL *h = new_handle();
    ops->fail(h, PS_FAIL_TOO_MANY, "poolshim: detail");
    cr_expect_eq(mysql_errno(h), ER_CON_COUNT_ERROR);
    cr_expect_str_eq(mysql_sqlstate(h), "08004");
    cr_expect_str_eq(mysql_error(h), "Too many connections (poolshim: detail)");
    cr_expect(ops->server_full(h));
    ops->fail(h, PS_FAIL_GONE, NULL);
    cr_expect_eq(mysql_errno(h), CR_SERVER_GONE_ERROR);
    cr_expect_str_eq(mysql_error(h), "Server has gone away");
    cr_expect_not(ops->server_full(h));
    mysql_close(h);
}

/* ---- the server's word: SERVER_SESSION_STATE_CHANGED ---------------------------------------- */

/* Classifies CMD with text SQL on H as the tracked db_command does, and notes it. */
static void note(MYSQL *h, enum enum_server_command cmd, const char *sql)
{
    bool statement, explains;
    mdb_command_effects(cmd, sql, sql ? strlen(sql) : 0, &statement, &explains);
    mdb_note_command(h, explains, false);
}

Test(mariadb3, a_state_change_the_text_does_not_explain_pins)
{
    MYSQL *h = new_handle(), *other = new_handle();
    note(h, COM_QUERY, "SET NAMES latin1");
    h->server_status = SERVER_STATUS_AUTOCOMMIT;
    cr_expect_eq(mdb_state_change_effects(h), 0, "no flag, nothing to report");
    h->server_status |= SERVER_SESSION_STATE_CHANGED;
    cr_expect_eq(mdb_state_change_effects(h), 0, "SET NAMES explains its own change");
    other->server_status = SERVER_SESSION_STATE_CHANGED;
    cr_expect_eq(mdb_state_change_effects(other), PS_SQL_SESSION,
                 "a response on a handle this thread sent nothing on");
    const char *unexplained[] = {"INSERT INTO items (v) VALUES ('fires a trigger')",
                                 "SELECT * FROM a_view", "SET NAMES latin1; SELECT 1",
                                 "SET NAMES 'a\\', @v := 1, '"};
    for (size_t i = 0; i < sizeof unexplained / sizeof *unexplained; i++) {
        note(h, COM_QUERY, unexplained[i]);
        cr_expect_eq(mdb_state_change_effects(h), PS_SQL_SESSION, "%s", unexplained[i]);
    }
    note(h, COM_STMT_EXECUTE, NULL); /* a prepared SET NAMES is not read again */
    cr_expect_eq(mdb_state_change_effects(h), PS_SQL_SESSION);
    mysql_close(h), mysql_close(other);
}

Test(mariadb3, a_failed_read_reports_no_stale_state_change)
{
    MYSQL *h = tracked_handle();
    cr_assert_neq(mysql_real_query(h, "SELECT 1", 8), 0); /* notes an unexplained command */
    h->server_status |= SERVER_SESSION_STATE_CHANGED;     /* left by an earlier response */
    memset(&seen, 0, sizeof seen);
    cr_assert_neq(mysql_read_query_result(h), 0);
    cr_expect_eq(seen.ends, 1);
    cr_expect_eq(seen.effects, PS_SQL_RESULTS, /* its error */
                 "a read that parsed no status reported the old flag");
    mysql_close(h);
}
