/* Whether a handle may be pooled (before and after its connect), and the pool key: every
 * argument and option that makes two connections interchangeable. */
#include <string.h>

#include "layout.h"
#include "poolshim/real.h"

const char *mdb_unpoolable_before(void *hv, const ps_connect_args *a)
{
    MYSQL *h = hv;
    if (mdb_layout_broken())
        return "client library layout not recognised";
    if (h->net.pvio)
        return "handle is already connected";
    if (a->host && (strchr(a->host, ';') || strchr(a->host, '=') || strstr(a->host, "://")))
        return "connection string or connection-handler URL";
    if (mdb_get_str_option(h, MARIADB_OPT_CONNECTION_HANDLER))
        return "connection handler plugin";
    if (mdb_nonblocking(h))
        return "non-blocking (async) handle";
    if (h->stmts)
        return "statements created before connect";
    if (mdb_tls_wanted(h) && !mdb_tls_movable())
        return "TLS, and the TLS session cannot be moved (TLS not started yet, or not OpenSSL)";
    void *io_wait = NULL;
    if (!ps_real_mysql_get_optionv(h, MARIADB_OPT_IO_WAIT, (void *)&io_wait) && io_wait)
        return "custom io_wait callback";
    return NULL;
}

/* Appends the connect arguments A (and the flags the handle adds). */
static void key_add_args(MYSQL *h, const ps_connect_args *a, ps_key *k)
{
    ps_key_add_str(k, "lib", "mariadb3");
    ps_key_add_str(k, "host", a->host);
    ps_key_add_uint(k, "port", a->port);
    ps_key_add_str(k, "socket", a->socket);
    ps_key_add_str(k, "user", a->user);
    ps_key_add_secret(k, "password", a->passwd);
    ps_key_add_str(k, "db", a->db);
    ps_key_add_uint(k, "flags", a->flags | h->options.client_flag);
}

/* Appends the options kept in H's public options block. */
static void key_add_options(MYSQL *h, ps_key *k)
{
    const struct st_mysql_options *o = &h->options;
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
}

/* Appends the options kept in the private extension, read through the public getter. */
static void key_add_extended_options(MYSQL *h, ps_key *k)
{
    ps_key_add_str(k, "ssl_crl", mdb_get_str_option(h, MYSQL_OPT_SSL_CRL));
    ps_key_add_str(k, "ssl_crlpath", mdb_get_str_option(h, MYSQL_OPT_SSL_CRLPATH));
    ps_key_add_str(k, "tls_version", mdb_get_str_option(h, MARIADB_OPT_TLS_VERSION));
    ps_key_add_str(k, "tls_fp", mdb_get_str_option(h, MARIADB_OPT_TLS_PEER_FP));
    ps_key_add_str(k, "tls_fp_list", mdb_get_str_option(h, MARIADB_OPT_TLS_PEER_FP_LIST));
    ps_key_add_secret(k, "tls_passphrase", mdb_get_str_option(h, MARIADB_OPT_TLS_PASSPHRASE));
    ps_key_add_uint(k, "tls_verify",
                    mdb_get_uint_option(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, true));
    ps_key_add_uint(k, "tls_strength",
                    mdb_get_uint_option(h, MARIADB_OPT_TLS_CIPHER_STRENGTH, false));
    ps_key_add_str(k, "plugin_dir", mdb_get_str_option(h, MYSQL_PLUGIN_DIR));
    ps_key_add_str(k, "default_auth", mdb_get_str_option(h, MYSQL_DEFAULT_AUTH));
    ps_key_add_str(k, "server_public_key", mdb_get_str_option(h, MYSQL_SERVER_PUBLIC_KEY));
    ps_key_add_uint(k, "read_only", mdb_get_uint_option(h, MARIADB_OPT_CONNECTION_READ_ONLY, true));
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

void mdb_build_key(void *hv, const ps_connect_args *a, ps_key *k)
{
    MYSQL *h = hv;
    key_add_args(h, a, k);
    key_add_options(h, k);
    key_add_extended_options(h, k);
    key_add_init_commands(h, k);
}

const char *mdb_unpoolable_after(void *hv)
{
    MYSQL *h = hv;
    if (!mdb_layout_verify(h))
        return "client library layout not recognised";
    if (mdb_tls_active(h) && !mdb_tls_movable())
        return "TLS connection whose TLS session cannot be moved";
    return NULL;
}
