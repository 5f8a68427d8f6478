/* Leak reports (see leak.h). */
#include "poolshim/leak.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "poolshim/config.h"
#include "poolshim/log.h"
#include "poolshim/real.h"
#include "poolshim/sql_effects.h"

/* A connect call site's backtrace, by the caller's return address. */
typedef struct site_trace {
    void *caller;
    ps_trace trace;
} site_trace;

static site_trace sites[64];
static pthread_mutex_t sites_lock = PTHREAD_MUTEX_INITIALIZER;

void ps_leak_before_fork(void)
{
    pthread_mutex_lock(&sites_lock);
}

void ps_leak_after_fork(void)
{
    pthread_mutex_unlock(&sites_lock);
}

void ps_trace_capture(ps_trace *t)
{
    t->len = 0;
    if (ps_cfg.leak_warn_ms <= 0)
        return;
    void *caller = ps_caller;
    site_trace *s = &sites[((uintptr_t)caller >> 4) % (sizeof sites / sizeof *sites)];
    bool cached = false;
    pthread_mutex_lock(&sites_lock);
    if (caller && s->caller == caller) {
        *t = s->trace;
        cached = true;
    }
    pthread_mutex_unlock(&sites_lock);
    if (cached)
        return;
    t->len = backtrace(t->frames, PS_TRACE_DEPTH);
    pthread_mutex_lock(&sites_lock);
    s->caller = caller;
    s->trace = *t;
    pthread_mutex_unlock(&sites_lock);
}

/* A pinning statement's backtrace, by a hash of the statement and of where its handle was
 * connected (0: an empty slot). Per thread: no lock. */
typedef struct pin_trace {
    uint64_t key;
    ps_trace trace;
} pin_trace;

static __thread pin_trace pins[8];

/* The key of STATEMENT sent on a handle connected at SITE (FNV-1a; never 0). */
static uint64_t pin_key(const ps_trace *site, const char *statement)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = statement; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    for (int i = 0; i < site->len; i++)
        h = (h ^ (uintptr_t)site->frames[i]) * 1099511628211ull;
    return h | 1;
}

void ps_trace_pin(ps_trace *t, const ps_trace *site, const char *statement)
{
    uint64_t key = pin_key(site, statement);
    pin_trace *s = &pins[key % (sizeof pins / sizeof *pins)];
    if (s->key != key) {
        s->trace.len = backtrace(s->trace.frames, PS_TRACE_DEPTH);
        s->key = key;
    }
    *t = s->trace;
}

/* Logs the frames of T outside the shim, one line each, under LABEL. */
static void log_frames(const char *label, const ps_trace *t)
{
    Dl_info self, frame;
    bool have_self = dladdr((void *)&ps_trace_capture, &self) != 0;
    char **names = backtrace_symbols((void *const *)t->frames, t->len);
    for (int i = 0; i < t->len; i++) {
        if (have_self && dladdr(t->frames[i], &frame) && frame.dli_fbase == self.dli_fbase)
            continue; /* the shim's own frames */
        ps_warn(label, "    %s", names ? names[i] : "?");
    }
    free(names);
}

/* Logs one leak warning for L (a copy), with where it was connected (frames outside the
 * shim) and the statement that pinned its session. Called outside every lock. */
static void warn_leak(const ps_lease *l, void *ctx)
{
    (void)ctx;
    int64_t now = ps_now_ms();
    const char *label = ps_pool_label(l->pool);
    const char *why =
        l->unreapable ? l->unreapable : ps_sql_effect_reason(ps_lease_session_dirt(&l->session));
    ps_warn(label,
            "possible connection leak: handle %p connected %.1f s ago, idle %.1f s, "
            "cannot be reclaimed: %s; connected at:",
            l->handle, (double)(now - l->acquired_ms) / 1000,
            (double)(now - l->activity.last_call_ms) / 1000,
            *why ? why : "SQL_CALC_FOUND_ROWS pending");
    log_frames(label, &l->trace);
    if (l->pinned) {
        ps_warn(label, "  session made unreclaimable by: %s; sent at:", l->pin.statement);
        log_frames(label, &l->pin.trace);
    }
    ps_pool_note(l->pool, PS_EV_LEAK_WARNING);
}

void ps_leak_report_due(void)
{
    if (ps_cfg.leak_warn_ms > 0)
        ps_lease_foreach_leak(ps_cfg.leak_warn_ms, warn_leak, NULL);
}
