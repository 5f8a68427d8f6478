/* TLS: whether a handle wants it, and moving a TLS session between handles. OpenSSL keeps the
 * owning MYSQL * as the SSL's app data (ex_data 0), which the library's TLS read/write error
 * paths use, so every move re-points it. SSL_set_ex_data (SSL_set_app_data is a macro over
 * index 0) is found at run time: the shim links no TLS library. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"
#include "poolshim/real.h"

static int (*ssl_set_ex_data)(void *ssl, int idx, void *data);
static int tls_fixup_state;   /* 0 unknown yet, 1 available, -1 not (another TLS library) */
static bool tls_end_harmless; /* OpenSSL >= 1.1 (set before tls_fixup_state is published) */

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

bool mdb_tls_movable(void)
{
    int state = __atomic_load_n(&tls_fixup_state, __ATOMIC_ACQUIRE);
    if (state)
        return state > 0;
    const char *lib = NULL;
    if (ps_real_mariadb_get_infov(NULL, MARIADB_TLS_LIBRARY, &lib) || !lib || !*lib)
        return false;
    void *f = strncmp(lib, "OpenSSL", 7) == 0 ? find_ssl_set_ex_data() : NULL;
    /* Before 1.1 the library's TLS end ran EVP_cleanup() and friends (ma_tls_end); from 1.1
     * on it only marks TLS uninitialised: sessions (each with its own SSL_CTX) stay valid. */
    int major = 0, minor = 0;
    tls_end_harmless =
        f && sscanf(lib, "OpenSSL %d.%d", &major, &minor) == 2 && (major > 1 || minor >= 1);
    *(void **)&ssl_set_ex_data = f;
    __atomic_store_n(&tls_fixup_state, f ? 1 : -1, __ATOMIC_RELEASE);
    return f != NULL;
}

bool mdb_tls_wanted(MYSQL *h)
{
    const struct st_mysql_options *o = &h->options;
    return o->use_ssl || o->ssl_key || o->ssl_cert || o->ssl_ca || o->ssl_capath || o->ssl_cipher ||
           mdb_get_uint_option(h, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, true);
}

bool mdb_tls_active(MYSQL *h)
{
    return h->net.pvio && h->net.pvio->ctls;
}

void mdb_tls_follow(MYSQL *h)
{
    if (mdb_tls_active(h) && ssl_set_ex_data)
        ssl_set_ex_data(((const mdb_tls *)h->net.pvio->ctls)->ssl, 0, h);
}

bool mdb_tls_outlives_library_end(void)
{
    /* Only the cached answer (no lookup: this runs under the pool lock). A TLS connection was
     * pooled only once mdb_tls_movable had answered yes. */
    return __atomic_load_n(&tls_fixup_state, __ATOMIC_ACQUIRE) > 0 && tls_end_harmless;
}
