/* Server faults: restarts, KILLs and an unreachable server. Under the shim only the statements
 * in flight fail, with the error the program would get without it; a parked connection the
 * server closed is never handed out; connects to an unreachable server back off briefly. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pstest.h"

/* Starts this test's own server and tells outage_probe how to restart it. */
static void own_server(void)
{
    char cmd[512];
    pstest_sandbox_start("");
    snprintf(cmd, sizeof cmd, "%s restart %s >/dev/null", pstest_env("PSTEST_SANDBOX_SCRIPT"),
             pstest_sandbox_dir());
    setenv("PSTEST_RESTART_CMD", cmd, 1);
}

/* Runs outage_probe with up to two arguments and extra ENV, under the shim or not. */
static pstest_result outage_probe(const char *a1, const char *a2, const char *const env[],
                                  bool preload)
{
    const char *argv[] = {"outage_probe", a1, a2, NULL};
    pstest_result r = pstest_run(argv, env, preload);
    pstest_assert_ok(&r, a1);
    return r;
}

/* True when every code in the comma-separated CODES is one a lost server can give. */
static bool only_outage_codes(const char *codes)
{
    static const char *const allowed[] = {"2002", "2003", "2006", "2013", "1053", "1927"};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", codes ? codes : "");
    for (char *save, *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
            ok = ok || strcmp(c, allowed[i]) == 0;
        if (!ok)
            return false;
    }
    return true;
}

/* outage_probe restart: each worker goes on until 25 of its requests started after the restart
 * have succeeded, so what runs is set by counts, whatever the machine's speed. */
#define RESTART_OK_AFTER "25"

Test(faults, server_restart_mid_run_only_fails_requests_in_flight, .init = own_server,
     .fini = pstest_sandbox_stop, .timeout = 300)
{
    pstest_result plain = outage_probe("restart", RESTART_OK_AFTER, NULL, false);
    /* The held handle must fail as it does without the shim, which holds only while the shim
     * does not reap it for being idle (10 s by default, which a slow run can reach: then it
     * would transparently get a new connection). POOLSHIM_REAP_IDLE_MS=0: reaps only at the
     * cap, which 4 workers and the held handle never reach. */
    /* Back-off off: a request that starts once the server is back has nothing to wait for, so
     * none may fail (parked connections the restart closed are never handed out). */
    const char *no_backoff[] = {"POOLSHIM_CONNECT_RETRY_MS=0", "POOLSHIM_REAP_IDLE_MS=0", NULL};
    pstest_result r = outage_probe("restart", RESTART_OK_AFTER, no_backoff, true);
    /* Default back-off (500 ms after each failed attempt): requests started right after the
     * restart may still get the outage's error, but the run finishing at all is the recovery,
     * and nothing dead is handed out. */
    const char *backoff[] = {"POOLSHIM_REAP_IDLE_MS=0", NULL};
    pstest_result d = outage_probe("restart", RESTART_OK_AFTER, backoff, true);
    fprintf(stderr,
            "restart: shim, no back-off: %lld errors of %lld requests (%lld of %lld after); "
            "shim, default back-off: %lld of %lld (%lld of %lld after); no shim: %lld of %lld\n",
            pstest_value_ll(&r, "errors"), pstest_value_ll(&r, "requests"),
            pstest_value_ll(&r, "errors_after"), pstest_value_ll(&r, "requests_after"),
            pstest_value_ll(&d, "errors"), pstest_value_ll(&d, "requests"),
            pstest_value_ll(&d, "errors_after"), pstest_value_ll(&d, "requests_after"),
            pstest_value_ll(&plain, "errors"), pstest_value_ll(&plain, "requests"));
    cr_expect_eq(pstest_value_ll(&r, "errors_after"), 0, "%s\n%s", r.out, r.err);
    for (int i = 0; i < 2; i++) {
        const pstest_result *x = i ? &d : &r;
        cr_expect_eq(pstest_value_ll(x, "dead_handouts"), 0, "%s", x->out);
        cr_expect_geq(pstest_value_ll(x, "requests_after"), 4 * 25, "%s", x->out);
        cr_expect(only_outage_codes(pstest_line_value(x->out, "error_codes")), "%s", x->out);
        cr_expect_eq(pstest_value_ll(x, "held_errno"), pstest_value_ll(&plain, "held_errno"),
                     "a held handle must fail as it does without the shim\n%s\n%s", x->out,
                     plain.out);
    }
    pstest_result_free(&d);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}

Test(faults, parked_connections_the_restart_killed_are_never_handed_out, .init = own_server,
     .fini = pstest_sandbox_stop, .timeout = 120)
{
    /* Pinging before reuse is switched off: only the shim's socket check protects. */
    const char *env[] = {"POOLSHIM_VALIDATE_IDLE_MS=600000", NULL};
    pstest_result r = outage_probe("restart_parked", NULL, env, true);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 0, "%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "dead_handouts"), 0, "%s", r.out);
    pstest_result_free(&r);
}

Test(faults, kill_of_a_leased_connection_gives_the_unshimmed_error, .timeout = 60)
{
    static const char *const keys[] = {"query_rc",    "errno",       "sqlstate",     "error",
                                       "again_errno", "again_error", "reconnect_ok", "new_session"};
    pstest_result plain = outage_probe("kill_leased", NULL, NULL, false);
    pstest_result r = outage_probe("kill_leased", NULL, NULL, true);
    pstest_expect_same_values(&r, &plain, keys, sizeof keys / sizeof *keys);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}

/* A TCP endpoint that accepts and immediately closes every connection: a server that cannot
 * serve. Counts the connection attempts that reached it. */
typedef struct {
    int fd;
    unsigned port;
    long accepted;
    pthread_t thread;
} dropper;

/* Accept loop of a dropper; ends when its socket is shut down. */
static void *drop_all(void *arg)
{
    dropper *d = arg;
    int c;
    while ((c = accept(d->fd, NULL, NULL)) >= 0) {
        __atomic_add_fetch(&d->accepted, 1, __ATOMIC_RELAXED);
        close(c);
    }
    return NULL;
}

/* Starts a dropper on an ephemeral 127.0.0.1 port. */
static void dropper_start(dropper *d)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    d->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(d->fd >= 0 && bind(d->fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(d->fd, 128) == 0 && getsockname(d->fd, (struct sockaddr *)&a, &len) == 0);
    d->port = ntohs(a.sin_port);
    d->accepted = 0;
    pthread_create(&d->thread, NULL, drop_all, d);
}

/* Stops D and returns how many connections it accepted. */
static long dropper_stop(dropper *d)
{
    shutdown(d->fd, SHUT_RDWR);
    pthread_join(d->thread, NULL);
    close(d->fd);
    return d->accepted;
}

/* Runs N connects against D (then, with PAUSE_MS, a pause and one more) with extra ENV; returns
 * the attempts that reached it, *OUT the output. */
static long unreachable_run(dropper *d, const char *n, const char *pause_ms,
                            const char *const env[], bool preload, pstest_result *out)
{
    char port[16];
    dropper_start(d);
    snprintf(port, sizeof port, "%u", d->port);
    const char *argv[] = {"outage_probe", "unreachable", n, port, pause_ms, NULL};
    *out = pstest_run(argv, env, preload);
    long reached = dropper_stop(d);
    pstest_assert_ok(out, "outage_probe unreachable");
    return reached;
}

/* The first line of an unreachable run's error KEY without the "system error" suffix, which
 * varies from run to run anyway (the errno of a race between the peer's close and the
 * client's read). */
static char *error_text(const pstest_result *r, const char *key)
{
    char *e = strdup(pstest_line_value(r->out, key));
    e[strcspn(e, ",")] = '\0';
    return e;
}

Test(faults, connects_to_an_unreachable_server_back_off_with_the_same_error, .timeout = 120)
{
    dropper d;
    pstest_result plain, r;
    long reached_plain = unreachable_run(&d, "300", NULL, NULL, false, &plain);
    /* A back-off window far longer than 300 failing connects take (milliseconds; seconds under
     * valgrind): exactly one of them may reach the server, on any machine. The bound below only
     * grows if the run ever took longer than the window. */
    const char *long_window[] = {"POOLSHIM_CONNECT_RETRY_MS=60000", NULL};
    long reached = unreachable_run(&d, "300", NULL, long_window, true, &r);
    long long elapsed = pstest_value_ll(&r, "elapsed_ms");
    fprintf(stderr,
            "unreachable: 300 connects reached the server %ld times without the shim, "
            "%ld with it (%lld ms)\n",
            reached_plain, reached, elapsed);
    cr_expect_eq(reached_plain, 300, "without the shim every connect is an attempt");
    cr_expect_geq(reached, 1, "the first connect must be a real attempt");
    cr_expect_leq(reached, 1 + elapsed / 60000, "the shim did not back off\n%s", r.err);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 300, "%s", r.out);
    char *want = error_text(&plain, "first_error"), *got = error_text(&r, "first_error");
    cr_expect_str_eq(got, want, "shim: %s\nno shim: %s", r.out, plain.out);
    free(got);
    got = error_text(&r, "last_error"); /* a backed-off connect gets the same error */
    cr_expect_str_eq(got, want, "shim: %s\nno shim: %s", r.out, plain.out);
    free(got);
    cr_expect(strstr(r.err, "server unreachable") != NULL, "no log line:\n%s", r.err);
    pstest_result_free(&r);

    /* The window ends by itself: after a pause longer than it, a connect is a real attempt
     * again (a pause is never shorter than asked, so this holds on any machine). */
    const char *short_window[] = {"POOLSHIM_CONNECT_RETRY_MS=100", NULL};
    reached = unreachable_run(&d, "1", "300", short_window, true, &r);
    cr_expect_eq(reached, 2, "no new attempt after the back-off window\n%s\n%s", r.out, r.err);
    cr_expect_eq(pstest_value_ll(&r, "errors"), 2, "%s", r.out);
    got = error_text(&r, "last_error");
    cr_expect_str_eq(got, want, "shim: %s\nno shim: %s", r.out, plain.out);
    free(got);
    free(want);
    pstest_result_free(&r);
    pstest_result_free(&plain);
}
