/* Moving a live connection between MYSQL structs: adopt (parked -> the program's handle),
 * detach (the program's handle -> parked, at close) and husk (the program's handle -> parked,
 * when reaped, leaving the handle readable). Each is a struct copy plus the fix-up of every
 * pointer back to the owning struct, as the library's own mariadb_reconnect does it. */
#include <stdlib.h>
#include <string.h>

#include "layout.h"
#include "poolshim/real.h"

/* Points every back-pointer of the connection now living in DST (copied from SRC) at DST,
 * including the TLS session's application data (used by the library's TLS error paths). */
static void fix_back_pointers(MYSQL *dst, MYSQL *src)
{
    if (dst->net.pvio)
        dst->net.pvio->mysql = dst;
    mdb_tls_follow(dst);
    for (LIST *l = dst->stmts; l; l = l->next)
        ((MYSQL_STMT *)l->data)->mysql = dst;
    mdb_options_follow(dst, src);
}

void mdb_show_connect_results(MYSQL *h, const ps_conn *c)
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

void *mdb_record(void *hv)
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
    f->autocommit = (h->server_status & SERVER_STATUS_AUTOCOMMIT) != 0;
    f->warning_count = h->warning_count;
    f->multi_statements = (h->client_flag & CLIENT_MULTI_STATEMENTS) != 0;
    f->interactive = (h->client_flag & CLIENT_INTERACTIVE) != 0;
    f->ignore_space = (h->client_flag & CLIENT_IGNORE_SPACE) != 0;
    mdb_read_login(h, f);
    ps_conn shown = {.facts = f};
    mdb_show_connect_results(h, &shown); /* the query's results are not the program's */
    return f;
}

void mdb_free_facts(void *fv)
{
    mdb_facts *f = fv;
    if (f) {
        free(f->dsn_db);
        free(f->role);
        free(f->init_connect);
    }
    free(f);
}

void *mdb_transport(void *hv)
{
    return ((MYSQL *)hv)->net.pvio;
}

bool mdb_close_frees(void *hv)
{
    return ((MYSQL *)hv)->free_me != 0;
}

/* ---- adopt ------------------------------------------------------------------------------ */

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

void mdb_adopt(void *appv, ps_conn *c)
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
    mdb_free_options(&p->options);
    free(p);
    c->handle = app;
    mdb_options_extension *ext = mdb_opt_ext(app);
    if (!ext || !ext->status_callback)
        ps_real_mysql_optionsv(app, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    mdb_show_connect_results(app, c);
    /* APP shows the connect's autocommit; the session may have kept another at its park */
    const mdb_facts *f = c->facts;
    c->sync_pending = f->autocommit != ((f->server_status & SERVER_STATUS_AUTOCOMMIT) != 0);
}

/* ---- detach ----------------------------------------------------------------------------- */

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

void *mdb_detach(void *hv)
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

/* ---- husk ------------------------------------------------------------------------------- */

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

void *mdb_save_results(void *hv)
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

void *mdb_husk(void *hv, void *saved, char **info)
{
    MYSQL *h = hv;
    saved_results *s = saved;
    char *copies[7];
    /* A zeroed block larger than the private extension structs: "no state" in any layout. */
    void *ext = calloc(1, 512), *net_ext = calloc(1, 64);
    MYSQL *p = malloc(sizeof *p);
    struct st_mysql_options opts;
    if (!s || !ext || !net_ext || !p || !mdb_fresh_options(&opts)) {
        free(ext), free(net_ext), free(p);
        if (s)
            free(s->info), free(s->db), free(s);
        return NULL;
    }
    if (!dup_strings(h, copies)) {
        mdb_free_options(&opts);
        free(ext), free(net_ext), free(p), free(s->info), free(s->db), free(s);
        return NULL;
    }
    *p = *h;
    p->free_me = 1;
    mdb_install_options(p, &opts); /* first: the husk keeps (and alone points into) its options */
    fix_back_pointers(p, h);
    make_husk(h, copies, ext, net_ext, s);
    *info = s->info;
    free(s);
    return p;
}

void mdb_close_husk(void *hv)
{
    PS_NESTED(ps_real_mysql_close(hv));
}
