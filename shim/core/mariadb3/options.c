/* The options block of a MYSQL handle: the private options extension (mirrored in layout.h) and
 * its run-time layout check, the public getters, and fresh blocks for connections that leave
 * the program's handle (the program always keeps its own options). */
#include <string.h>

#include "layout.h"
#include "poolshim/log.h"
#include "poolshim/real.h"

/* Set once the first real connect showed the private layout is not the mirrored one. */
static int layout_broken;

mdb_options_extension *mdb_opt_ext(MYSQL *h)
{
    return (mdb_options_extension *)h->options.extension;
}

bool mdb_layout_broken(void)
{
    return layout_broken != 0;
}

bool mdb_layout_verify(MYSQL *h)
{
    mdb_options_extension *ext = mdb_opt_ext(h);
    if (ext && ext->status_data == (void *)h && ext->status_callback)
        return true;
    if (!layout_broken)
        ps_warn(NULL, "libmariadb's private option layout is not the one this shim was "
                      "built for; pooling is off for this process");
    layout_broken = 1;
    return false;
}

const char *mdb_get_str_option(MYSQL *h, enum mysql_option opt)
{
    const char *v = NULL;
    if (ps_real_mysql_get_optionv(h, opt, (void *)&v))
        return NULL;
    return v;
}

unsigned mdb_get_uint_option(MYSQL *h, enum mysql_option opt, bool is_bool)
{
    unsigned u = 0;
    my_bool b = 0;
    if (ps_real_mysql_get_optionv(h, opt, is_bool ? (void *)&b : (void *)&u))
        return 0;
    return is_bool ? (unsigned)b : u;
}

bool mdb_nonblocking(MYSQL *h)
{
    return mdb_get_uint_option(h, MYSQL_OPT_NONBLOCK, true) != 0;
}

void mdb_free_options(const struct st_mysql_options *opts)
{
    MYSQL tmp; /* a zeroed stack handle owning only the block */
    memset(&tmp, 0, sizeof tmp);
    tmp.options = *opts;
    PS_NESTED(ps_real_mysql_close(&tmp));
}

bool mdb_fresh_options(struct st_mysql_options *out)
{
    MYSQL tmp;
    if (!ps_real_mysql_init(&tmp))
        return false;
    ps_real_mysql_optionsv(&tmp, MARIADB_OPT_STATUS_CALLBACK, NULL, NULL);
    bool ok = mdb_opt_ext(&tmp) && mdb_opt_ext(&tmp)->status_callback;
    if (ok) {
        *out = tmp.options;
        memset(&tmp.options, 0, sizeof tmp.options);
    }
    tmp.free_me = 0;
    PS_NESTED(ps_real_mysql_close(&tmp));
    return ok;
}

void mdb_install_options(MYSQL *h, const struct st_mysql_options *opts)
{
    h->options = *opts;
    mdb_opt_ext(h)->status_data = h;
}

void mdb_options_follow(MYSQL *h, const MYSQL *from)
{
    mdb_options_extension *ext = mdb_opt_ext(h);
    if (ext && ext->status_data == (const void *)from)
        ext->status_data = h;
}
