/* Process-wide initialisation, all at the first interposed call: configuration, symbol
 * resolution, the client layer, fork and exit handlers. Nothing runs at load time, so
 * preloading the shim into programs that never use MySQL (a container's shells and tools)
 * costs nothing and logs nothing; and a host may load the client library long after the shim
 * (Perl's DynaLoader). */
#include "poolshim/shim.h"

#include <pthread.h>
#include <stdlib.h>

#include "poolshim/calls.h"
#include "poolshim/config.h"
#include "poolshim/fork.h"
#include "poolshim/log.h"
#include "poolshim/metrics.h"
#include "poolshim/programs.h"
#include "poolshim/querylog.h"
#include "poolshim/real.h"
#include "poolshim/route.h"

static pthread_once_t shim_once = PTHREAD_ONCE_INIT;
static const ps_client_ops *client; /* NULL: pass-through */

/* Pool callbacks: the client layer closes, abandons and frees what the pool holds. */
static void close_parked(void *handle)
{
    client->close(handle);
}

static void abandon_parked(void *handle)
{
    client->abandon(handle);
}

static void free_facts(void *facts)
{
    client->free_facts(facts);
}

static void settle_parked(ps_conn *c)
{
    client->settle(c->handle, c);
}

/* At exit: summary, then a polite close (COM_QUIT) of every parked connection, so the server
 * does not count aborted clients. Leased connections are left as the program left them. */
static void at_exit(void)
{
    ps_shim_summary();
    ps_pool_drain_all();
    ps_metrics_remove();
}

const ps_client_ops *ps_client_select(const ps_call_hooks *hooks)
{
    const ps_client_ops *c = ps_client_mariadb3(hooks);
    if (!c && !ps_real_mariadb_get_infov) /* (another MariaDB version has said so already) */
        ps_warn(NULL, "unsupported client library (not MariaDB Connector/C); "
                      "passing everything through");
    return c;
}

/* LIST, the value of POOLSHIM_<NAME>, when it can match program names; else NULL (the default),
 * after one warning. */
static const char *program_globs(const char *name, const char *list)
{
    const char *why = ps_programs_check(list);
    if (why) {
        char quoted[300];
        ps_warn(NULL,
                "POOLSHIM_%s='%s' is not a list of program-name globs (it holds %s); "
                "using the default (unset)",
                name, ps_log_quote(quoted, sizeof quoted, list, 64), why);
    }
    return why ? NULL : list;
}

/* Whether POOLSHIM_PROGRAMS and POOLSHIM_EXCLUDE select this program (info line when not). */
static bool program_selected(void)
{
    const char *programs = program_globs("PROGRAMS", ps_cfg.programs);
    const char *exclude = program_globs("EXCLUDE", ps_cfg.exclude);
    if (ps_program_selected(ps_program_name(), programs, exclude))
        return true;
    char name[80];
    ps_info(NULL,
            "program '%s' not selected by POOLSHIM_PROGRAMS/POOLSHIM_EXCLUDE: passing "
            "everything through",
            ps_log_quote(name, sizeof name, ps_program_name(), 64));
    return false;
}

/* Resolves the library and turns pooling on when everything needed is there (once). */
static void init_shim(void)
{
    static const ps_pool_ops ops = {.close = close_parked,
                                    .abandon = abandon_parked,
                                    .free_facts = free_facts,
                                    .settle = settle_parked};
    ps_config_load();
    bool resolved = ps_real_resolve();
    if (ps_cfg.disable) {
        ps_info(NULL, "POOLSHIM_DISABLE is set: passing everything through");
        return;
    }
    if (!program_selected())
        return;
    if (!resolved || !(client = ps_client_select(ps_calls_hooks())))
        return;
    ps_route_load(ps_cfg.route);
    ps_pool_set_ops(&ops);
    ps_pool_enable_keeper(); /* its thread starts at the first park */
    ps_metrics_init();
    ps_calls_init(client);
    ps_qlog_open(ps_cfg.query_log);
    ps_fork_init(client);
    pthread_atfork(ps_fork_prepare, ps_fork_parent, ps_fork_child);
    atexit(at_exit);
    ps_debug(NULL, "pooling with %s, at most %lld connections per key%s", client->name,
             (long long)(ps_cfg.max_per_key ? ps_cfg.max_per_key : PS_POOL_CAP_BEFORE_AUTO),
             ps_cfg.max_per_key ? "" : " (auto: until the server's limits are known)");
}

const ps_client_ops *ps_shim(void)
{
    pthread_once(&shim_once, init_shim);
    return client;
}

const ps_client_ops *ps_shim_enter(void)
{
    const ps_client_ops *cl = ps_shim();
    if (cl && ps_depth == 0)
        cl->end_open_call();
    return cl;
}

/* Logs one summary line for a pool. */
static void summarise(const ps_pool_snapshot *s, void *ctx)
{
    (void)ctx;
    ps_info(s->label,
            "summary: connects=%llu reuses=%llu parks=%llu discards=%llu expired=%llu "
            "validations=%llu/%llu failed waits=%llu timeouts=%llu max_wait_ms=%lld "
            "peak_open=%d idle=%d leased=%d reaped=%llu renewed=%llu "
            "leak_warnings=%llu reauths=%llu/%llu refused overflows=%llu resets=%llu/%llu skipped "
            "deferred=%llu",
            (unsigned long long)s->st.connects, (unsigned long long)s->st.reuses,
            (unsigned long long)s->st.parks, (unsigned long long)s->st.discards,
            (unsigned long long)s->st.expired, (unsigned long long)s->st.validations,
            (unsigned long long)s->st.validation_failures, (unsigned long long)s->st.waits,
            (unsigned long long)s->st.wait_timeouts, (long long)s->st.max_wait_ms, s->st.peak_open,
            s->idle, s->leased, (unsigned long long)s->st.reaped, (unsigned long long)s->st.renewed,
            (unsigned long long)s->st.leak_warnings, (unsigned long long)s->st.reauths,
            (unsigned long long)s->st.reauth_refusals, (unsigned long long)s->st.overflows,
            (unsigned long long)(s->st.resets_sent + s->st.resets_skipped),
            (unsigned long long)s->st.resets_skipped, (unsigned long long)s->st.resets_deferred);
}

void ps_shim_summary(void)
{
    if (client && ps_log_enabled(PS_LOG_INFO))
        ps_pool_foreach(summarise, NULL);
}
