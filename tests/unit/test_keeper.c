/* The keeper thread and the pool's idle deadlines, with fake handles: which deadline each
 * parked connection gets (warm minimum, surplus, server wait_timeout, lifetime), that the
 * keeper closes due connections with no call into the pool, only IDLE ones, is woken by a park
 * that brings a deadline forward, starts at the first park and not before, stops, and does not
 * exist in a forked child, whose own parks start its own. Waits are bounded polls. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "poolshim/config.h"
#include "poolshim/keeper.h"
#include "poolshim/pool.h"

#define WAIT_MS 30000 /* the bound of every wait */

static int closed, abandoned;
static int handle_storage;

static void fake_close(void *h)
{
    (void)h;
    __atomic_add_fetch(&closed, 1, __ATOMIC_SEQ_CST);
}

static void fake_abandon(void *h)
{
    (void)h;
    __atomic_add_fetch(&abandoned, 1, __ATOMIC_SEQ_CST);
}

static void setup(void)
{
    static const ps_pool_ops ops = {.close = fake_close, .abandon = fake_abandon};
    ps_config_defaults(&ps_cfg);
    ps_pool_set_ops(&ops);
}

static void report(const char *what, void *ctx)
{
    (void)ctx;
    cr_log_error("%s", what);
}

static void teardown(void)
{
    cr_assert_eq(ps_pool_check(report, NULL), 0, "pool invariants violated");
}

TestSuite(keeper, .init = setup, .fini = teardown);

static int closes(void)
{
    return __atomic_load_n(&closed, __ATOMIC_SEQ_CST);
}

/* Threads of this process. */
static int tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Waits (at most WAIT_MS) until the keeper thread sleeps (state S in /proc); true when seen. */
static bool wait_keeper_asleep(void)
{
    for (int64_t end = ps_now_ms() + WAIT_MS; ps_now_ms() < end; usleep(1000)) {
        DIR *d = opendir("/proc/self/task");
        cr_assert_not_null(d);
        bool asleep = false;
        for (struct dirent *e; !asleep && (e = readdir(d)) != NULL;) {
            char path[300], stat[512] = "";
            snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
            FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
            if (f && fgets(stat, sizeof stat, f))
                asleep = strstr(stat, "(poolshim-keeper) S") != NULL;
            if (f)
                fclose(f);
        }
        closedir(d);
        if (asleep)
            return true;
    }
    return false;
}

/* Waits (at most WAIT_MS) until *COUNTER reaches N; returns its last value. */
static int wait_count(int *counter, int n)
{
    const struct timespec tick = {0, 2 * 1000 * 1000};
    int64_t end = ps_now_ms() + WAIT_MS;
    int v;
    while ((v = __atomic_load_n(counter, __ATOMIC_SEQ_CST)) < n && ps_now_ms() < end)
        nanosleep(&tick, NULL);
    return v;
}

/* A new LEASED connection of P. */
static ps_conn *lease(ps_pool *p)
{
    ps_conn *c;
    int64_t waited;
    cr_assert_eq(ps_pool_acquire(p, 0, &c, &waited), PS_ACQUIRE_CONNECT);
    ps_pool_connected(c, &handle_storage, NULL);
    return c;
}

/* Parks N new connections of P, the first one last (so it is the warm one); C gets them. */
static void park_n(ps_pool *p, int n, ps_conn **c)
{
    for (int i = 0; i < n; i++)
        c[i] = lease(p);
    for (int i = n - 1; i >= 0; i--)
        ps_pool_park(c[i], &handle_storage);
}

static int idle_of(ps_pool *p)
{
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(p, &st, &idle, &leased, &connecting);
    return idle;
}

/* ---- deadlines (no keeper) ----------------------------------------------------------- */

Test(keeper, warm_ones_wait_the_idle_timeout_the_surplus_the_surplus_time)
{
    ps_cfg.idle_timeout_ms = 100000;
    ps_cfg.surplus_idle_ms = 1000;
    ps_cfg.min_idle = 1;
    ps_pool *p = ps_pool_get("d-warm", "d-warm");
    ps_conn *c[3];
    park_n(p, 3, c);
    /* c[0] is warm; c[1], c[2] are surplus and c[2] was parked first */
    cr_assert_eq(ps_pool_next_expiry(), c[2]->idle_since_ms + 1000);
    ps_conn *again = NULL;
    int64_t waited;
    for (int i = 0; i < 2; i++) /* the two most recently parked */
        cr_assert_eq(ps_pool_acquire(p, 0, &again, &waited), PS_ACQUIRE_IDLE);
    /* c[2] alone is now first: warm */
    cr_assert_eq(ps_pool_next_expiry(), c[2]->idle_since_ms + 100000);
    ps_pool_drain_all();
}

Test(keeper, with_no_warm_minimum_every_parked_connection_is_surplus)
{
    ps_cfg.idle_timeout_ms = 100000;
    ps_cfg.surplus_idle_ms = 700;
    ps_cfg.min_idle = 0;
    ps_pool *p = ps_pool_get("d-none", "d-none");
    ps_conn *c[1];
    park_n(p, 1, c);
    cr_assert_eq(ps_pool_next_expiry(), c[0]->idle_since_ms + 700);
    ps_pool_drain_all();
}

Test(keeper, the_surplus_time_never_exceeds_the_idle_timeout)
{
    ps_cfg.idle_timeout_ms = 2000;
    ps_cfg.surplus_idle_ms = 50000;
    ps_cfg.min_idle = 0;
    ps_pool *p = ps_pool_get("d-cap", "d-cap");
    ps_conn *c[1];
    park_n(p, 1, c);
    cr_assert_eq(ps_pool_next_expiry(), c[0]->idle_since_ms + 2000);
    ps_pool_drain_all();
}

Test(keeper, the_server_wait_timeout_and_the_lifetime_come_first)
{
    ps_cfg.idle_timeout_ms = 100000;
    ps_cfg.min_idle = 5;
    ps_pool *p = ps_pool_get("d-server", "d-server");
    ps_server_limits limits = {.wait_timeout_ms = 4000}; /* less a margin of 1000 */
    ps_pool_set_server_limits(p, &limits);
    ps_conn *c[2];
    park_n(p, 2, c);
    /* the server's limit bounds the idle time and, since the limits were known at the
     * connect, the lifetime too (less its jitter) */
    int64_t want = INT64_MAX;
    for (int i = 0; i < 2; i++) {
        int64_t idle = c[i]->idle_since_ms + 3000;
        want = idle < want ? idle : want;
        want = c[i]->expires_ms < want ? c[i]->expires_ms : want;
        cr_assert_leq(c[i]->expires_ms, c[i]->created_ms + 3000);
    }
    cr_assert_eq(ps_pool_next_expiry(), want);
    ps_cfg.max_lifetime_ms = 500;
    ps_pool *q = ps_pool_get("d-life", "d-life");
    ps_conn *d[1];
    park_n(q, 1, d);
    cr_assert_eq(ps_pool_next_expiry(), d[0]->expires_ms);
    cr_assert_lt(d[0]->expires_ms, d[0]->idle_since_ms + 3000);
    ps_pool_drain_all();
}

Test(keeper, nothing_parked_no_deadline)
{
    ps_pool *p = ps_pool_get("d-empty", "d-empty");
    ps_conn *c = lease(p);
    cr_assert_eq(ps_pool_next_expiry(), INT64_MAX, "a leased connection has no idle deadline");
    ps_pool_park(c, &handle_storage);
    ps_pool_drain_all();
    cr_assert_eq(ps_pool_next_expiry(), INT64_MAX);
}

/* ---- the keeper thread ---------------------------------------------------------------- */

Test(keeper, no_thread_until_the_first_park)
{
    int before = tasks();
    ps_pool_enable_keeper();
    ps_pool *p = ps_pool_get("k-lazy", "k-lazy");
    ps_conn *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = lease(p);
    cr_assert_eq(tasks(), before, "leased connections started a thread");
    ps_pool_park(c[0], &handle_storage);
    cr_assert_eq(tasks(), before + 1, "the first park starts the keeper");
    for (int i = 1; i < 4; i++)
        ps_pool_park(c[i], &handle_storage);
    cr_assert_eq(tasks(), before + 1, "one keeper only");
    ps_pool_drain_all();
}

Test(keeper, closes_due_connections_with_no_call_into_the_pool_and_only_idle_ones)
{
    ps_cfg.idle_timeout_ms = 3600000;
    ps_cfg.surplus_idle_ms = 20;
    ps_cfg.min_idle = 1;
    ps_pool_enable_keeper();
    ps_pool *p = ps_pool_get("k-due", "k-due");
    ps_conn *held = lease(p); /* leased all along: never the keeper's */
    ps_conn *c[4];
    park_n(p, 4, c);
    cr_assert_eq(wait_count(&closed, 3), 3, "the 3 surplus connections were not closed");
    cr_assert_eq(idle_of(p), 1, "the warm one stays");
    cr_assert_eq(held->state, PS_CONN_LEASED);
    ps_pool_stats st;
    int idle, leased, connecting;
    ps_pool_stats_get(p, &st, &idle, &leased, &connecting);
    cr_assert_eq(st.expired, 3);
    cr_assert_eq(leased, 1);
    held->handle = NULL;
    ps_pool_close(held, PS_CLOSE_DISCARDED);
    ps_pool_drain_all();
    cr_assert_eq(closes(), 4);
}

Test(keeper, a_park_with_an_earlier_deadline_wakes_it)
{
    ps_cfg.idle_timeout_ms = 3600000;
    ps_cfg.min_idle = 100;
    ps_cfg.max_lifetime_ms = 0;
    ps_pool_enable_keeper();
    ps_pool *p = ps_pool_get("k-wake", "k-wake");
    ps_conn *later = lease(p);
    ps_cfg.max_lifetime_ms = 3000;
    ps_conn *soon = lease(p);             /* retires within 3 s */
    ps_pool_park(later, &handle_storage); /* the keeper sleeps until this one's hour is up */
    cr_assert(wait_keeper_asleep());
    ps_pool_park(soon, &handle_storage); /* ... and must be woken for this one */
    cr_assert_eq(soon->state, PS_CONN_IDLE);
    cr_assert_eq(wait_count(&closed, 1), 1, "the keeper slept past a deadline");
    cr_assert_eq(idle_of(p), 1);
    cr_assert_eq(later->state, PS_CONN_IDLE);
    ps_pool_drain_all();
}

/* The keeper thread's voluntary context switches so far (/proc: each is one sleep it woke
 * from); -1 when there is no keeper thread. */
static long keeper_switches(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    long n = -1;
    for (struct dirent *e; n < 0 && (e = readdir(d)) != NULL;) {
        char path[300], line[256] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        bool keeper = f && fgets(line, sizeof line, f) && !strcmp(line, "poolshim-keeper\n");
        if (f)
            fclose(f);
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = keeper ? fopen(path, "r") : NULL;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
                break;
        if (f)
            fclose(f);
    }
    closedir(d);
    return n;
}

Test(keeper, a_park_with_a_later_deadline_leaves_it_asleep)
{
    ps_cfg.idle_timeout_ms = 3600000;
    ps_cfg.min_idle = 0; /* every park names a deadline: its own idle timeout */
    ps_cfg.max_lifetime_ms = 0;
    ps_pool_enable_keeper();
    ps_pool *p = ps_pool_get("k-asleep", "k-asleep");
    ps_conn *c = lease(p);
    ps_pool_park(c, &handle_storage); /* the keeper starts, due in an hour */
    cr_assert(wait_keeper_asleep());
    long before = keeper_switches();
    cr_assert_geq(before, 0, "no keeper thread");
    for (int i = 0; i < 100; i++) { /* what a connect/close loop does: each park is later */
        int64_t waited;
        cr_assert_eq(ps_pool_acquire(p, 0, &c, &waited), PS_ACQUIRE_IDLE);
        ps_pool_park(c, &handle_storage);
        cr_assert(wait_keeper_asleep());
    }
    long woken = keeper_switches() - before;
    cr_assert_leq(woken, 2, "100 parks, each due later than the keeper's sleep, woke it %ld times",
                  woken);
    ps_pool_drain_all();
}

/* A fake job for the keeper alone: counts its runs and returns next_deadline. */
static int runs;
static int64_t next_deadline = INT64_MAX, ran_at, asked_for;

static int64_t fake_job(int64_t now)
{
    __atomic_store_n(&ran_at, now, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&runs, 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&next_deadline, __ATOMIC_SEQ_CST);
}

Test(keeper, runs_the_job_at_its_deadline_never_before_and_at_the_one_the_job_names)
{
    ps_keeper_set_job(fake_job);
    asked_for = ps_now_ms() + 30;
    __atomic_store_n(&next_deadline, ps_now_ms() + 40, __ATOMIC_SEQ_CST);
    ps_keeper_wake(asked_for);
    cr_assert_geq(wait_count(&runs, 1), 1); /* (twice when the machine is slow enough for the
                                               named deadline to pass before the check) */
    cr_assert_geq(__atomic_load_n(&ran_at, __ATOMIC_SEQ_CST), asked_for, "ran early");
    __atomic_store_n(&next_deadline, INT64_MAX, __ATOMIC_SEQ_CST);
    cr_assert_geq(wait_count(&runs, 2), 2, "the deadline the job returned was not kept");
    ps_keeper_stop(false);
}

Test(keeper, stops_and_starts_again_at_the_next_wake_unless_stopped_for_good)
{
    ps_keeper_set_job(fake_job);
    int before = tasks();
    ps_keeper_wake(ps_now_ms());
    cr_assert_eq(wait_count(&runs, 1), 1);
    ps_keeper_stop(false);
    ps_keeper_wake(ps_now_ms()); /* resumes */
    cr_assert_eq(wait_count(&runs, 2), 2, "no job after a stop and a wake");
    __atomic_store_n(&next_deadline, ps_now_ms() + 20, __ATOMIC_SEQ_CST);
    ps_keeper_wake(ps_now_ms());
    cr_assert_geq(wait_count(&runs, 3), 3);
    ps_keeper_stop(false); /* the deadline the job named (20 ms on) must not be kept now */
    int n = __atomic_load_n(&runs, __ATOMIC_SEQ_CST);
    usleep(50000);
    cr_assert_eq(__atomic_load_n(&runs, __ATOMIC_SEQ_CST), n, "ran while stopped");
    cr_assert_eq(tasks(), before + 1, "one keeper thread, kept asleep across stops");
    __atomic_store_n(&next_deadline, INT64_MAX, __ATOMIC_SEQ_CST);
    ps_keeper_wake(ps_now_ms());
    cr_assert_geq(wait_count(&runs, n + 1), n + 1, "no job after the next wake");
    ps_keeper_stop(true);
    n = __atomic_load_n(&runs, __ATOMIC_SEQ_CST);
    ps_keeper_wake(ps_now_ms());
    usleep(50000);
    cr_assert_eq(__atomic_load_n(&runs, __ATOMIC_SEQ_CST), n, "ran after a stop for good");
}

/* A job that takes 200 ms and says, in IN_JOB, when it runs. */
static int in_job;

static int64_t slow_job(int64_t now)
{
    (void)now;
    __atomic_store_n(&in_job, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&runs, 1, __ATOMIC_SEQ_CST);
    usleep(200000);
    __atomic_store_n(&in_job, 0, __ATOMIC_SEQ_CST);
    return INT64_MAX;
}

/* A fork never happens while the keeper runs its job or is starting (a lock the thread holds
 * then, a sanitizer's allocator lock say, would be held for good in the child). */
Test(keeper, a_fork_waits_for_the_running_job_and_for_a_starting_thread)
{
    pthread_atfork(ps_keeper_before_fork, ps_keeper_after_fork_parent, ps_keeper_after_fork_child);
    ps_keeper_set_job(slow_job);
    for (int round = 0; round < 2; round++) {
        ps_keeper_wake(ps_now_ms()); /* round 0: the thread is starting; 1: it is asleep */
        if (round == 1)
            cr_assert_eq(wait_count(&in_job, 1), 1, "the job never started");
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(__atomic_load_n(&in_job, __ATOMIC_SEQ_CST) == 0 && tasks() == 1 ? 0 : 1);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "round %d: the child was forked while the keeper worked", round);
    }
    ps_keeper_stop(true);
}

Test(keeper, a_forked_child_has_no_keeper_until_it_parks_and_never_closes_the_parents)
{
    ps_cfg.idle_timeout_ms = 3600000;
    ps_cfg.surplus_idle_ms = 20;
    ps_cfg.min_idle = 1;
    ps_pool_enable_keeper();
    pthread_atfork(ps_keeper_before_fork, ps_keeper_after_fork_parent, ps_keeper_after_fork_child);
    pthread_atfork(ps_pool_before_fork, ps_pool_after_fork_parent, ps_pool_after_fork_child);
    ps_pool *p = ps_pool_get("k-fork", "k-fork");
    ps_conn *c[1];
    park_n(p, 1, c); /* the parent's keeper runs; its warm connection stays */
    /* (fork once it sleeps: a thread still starting can hold a sanitizer runtime's lock) */
    cr_assert(wait_keeper_asleep());
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int status = tasks() == 1 ? 0 : 1;
        ps_conn *own[3];
        park_n(p, 3, own); /* the parent's became an ORPHAN at the first acquire: abandoned */
        status |= tasks() == 2 ? 0 : 2;
        status |= wait_count(&closed, 2) == 2 ? 0 : 4;
        status |= abandoned == 1 ? 0 : 8;
        _exit(status);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert_eq(idle_of(p), 1, "the parent's parked connection");
    cr_assert_eq(closes(), 0);
    ps_pool_drain_all();
}
