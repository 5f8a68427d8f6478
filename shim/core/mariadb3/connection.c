/* Connections outside the program's handle: making a new parked one, checking a parked one
 * before reuse (socket poll, ping), closing one (politely, or silently across fork), and the
 * error facts of a handle the pool reads and sets. */
#include <errmsg.h>
#include <fcntl.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "poolshim/real.h"

void *mdb_connect_parked(void *hv, const ps_connect_args *a)
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
    mdb_options_follow(h, t);
    memset(&t->options, 0, sizeof t->options);
    if (!r) {
        mdb_set_error(h, t->net.last_errno, t->net.sqlstate, t->net.last_error);
        PS_NESTED(ps_real_mysql_close(t));
        return NULL;
    }
    if (!(a->flags & CLIENT_REMEMBER_OPTIONS)) /* the program's own flag stays, as it would */
        t->client_flag &= ~CLIENT_REMEMBER_OPTIONS;
    struct st_mysql_options opts;
    if (!mdb_fresh_options(&opts)) {
        PS_NESTED(ps_real_mysql_close(t));
        mdb_set_error(h, CR_OUT_OF_MEMORY, "HY000", "Out of memory");
        return NULL;
    }
    mdb_install_options(t, &opts);
    return t;
}

bool mdb_validate(void *pv)
{
    MYSQL *p = pv;
    my_bool reconnect = p->options.reconnect;
    int rc;
    p->options.reconnect = 0;
    PS_NESTED(rc = ps_real_mysql_ping(p));
    p->options.reconnect = reconnect;
    return rc == 0;
}

bool mdb_input_pending(void *pv, bool answers_expected)
{
    MYSQL *p = pv;
    struct pollfd pfd = {.fd = p->net.pvio ? ps_real_mysql_get_socket(p) : -1,
                         .events = POLLIN | POLLRDHUP};
    if (pfd.fd < 0)
        return true;
    if (poll(&pfd, 1, 0) == 0)
        return false;
    return !answers_expected || (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

bool mdb_unreachable(void *hv, ps_connect_error *err)
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

bool mdb_outlives_library_end(void *pv)
{
    MYSQL *p = pv;
    /* mysql_server_end (3.3) frees the configuration directories, deinitialises the client
     * plugins (dlclose of the loaded ones; the socket I/O plugin and zlib are built in) and
     * ends TLS (see mdb_tls_outlives_library_end); the next mysql_init initialises it all
     * again. A parked connection keeps a socket, heap structs and pointers into the library
     * (pinned: see ps_real_resolve); only a compression plugin pointer could name a plugin the
     * end unloads, so compressed connections are closed. */
    if (!p->net.pvio || p->net.compress)
        return false;
    return !mdb_tls_active(p) || mdb_tls_outlives_library_end();
}

void mdb_close(void *pv)
{
    MYSQL *p = pv;
    p->options.reconnect = 0;
    PS_NESTED(ps_real_mysql_close(p));
}

void mdb_mute(void *hv)
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

void mdb_abandon(void *hv)
{
    mdb_mute(hv);
    mdb_close(hv);
}

bool mdb_unconnected(void *hv)
{
    MYSQL *h = hv;
    return !h->net.pvio && !h->net.read_pos;
}

void mdb_set_error(void *hv, unsigned err, const char *sqlstate, const char *msg)
{
    MYSQL *h = hv;
    h->net.last_errno = err;
    snprintf(h->net.sqlstate, sizeof h->net.sqlstate, "%s", sqlstate);
    snprintf(h->net.last_error, sizeof h->net.last_error, "%s", msg);
}

void mdb_fail(void *hv, enum ps_failure failure, const char *detail)
{
    char msg[MYSQL_ERRMSG_SIZE];
    switch (failure) {
    case PS_FAIL_TOO_MANY:
        snprintf(msg, sizeof msg, "Too many connections%s%s%s", detail ? " (" : "",
                 detail ? detail : "", detail ? ")" : "");
        mdb_set_error(hv, ER_CON_COUNT_ERROR, "08004", msg);
        break;
    case PS_FAIL_GONE:
    default:
        mdb_set_error(hv, CR_SERVER_GONE_ERROR, "HY000", "Server has gone away");
        break;
    }
}

bool mdb_server_full(void *hv)
{
    return ((MYSQL *)hv)->net.last_errno == ER_CON_COUNT_ERROR;
}
