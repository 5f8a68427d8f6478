/* connect_loop [--tcp] [--stack] [--n N] [--threads T] [--alternate-users]
 *              [--autocommit | --autocommit-off] [--same-db-charset] [--dirty [--kill-parked]]
 *
 * The connect-per-request legacy pattern: N times per thread, mysql_init + mysql_real_connect
 * + "SELECT CONNECTION_ID(), CURRENT_USER()" + mysql_close. With --alternate-users every other
 * request connects as PSTEST_USER2. Checks that each request runs as the user it asked for and
 * that no server connection id is ever seen under two users. With --autocommit each request
 * also calls mysql_autocommit(1) right after connecting (as drivers do), with --autocommit-off
 * mysql_autocommit(0) (as Python's MySQLdb does), and checks it worked: the handle's flag, and
 * the session's @@autocommit the request reads (1 without either option); with
 * --same-db-charset mysql_select_db of the connect's database and mysql_set_character_set of
 * the handle's own character set, checked the same way. With --dirty each request reads
 * @ps_dirty (NULL in a fresh session: wrong_state counts the others), then sets it, so that
 * its close must reset the session; with --kill-parked (one thread) the program then KILLs the
 * server connection it just closed, from an admin connection of its own.
 * Prints: requests= errors= wrong_user= wrong_autocommit= wrong_state= shared_ids= distinct_ids=
 * first_error= */
#include <pthread.h>

#include "app_common.h"

#define MAX_IDS 65536

static bool use_tcp, use_stack, alternate, same_db_charset;
static int autocommit_mode = -1; /* -1: no call */
static bool dirty, kill_parked;
static long per_thread = 1000;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long ids[MAX_IDS];
static unsigned char id_users[MAX_IDS]; /* bit 0: seen as user 1, bit 1: as user 2 */
static long requests, errors, wrong_user, wrong_autocommit, wrong_state, n_ids;
static char first_error[300];

/* Records that connection ID served USER_BIT; counts ids seen under both users. */
static void note_id(unsigned long id, int user_bit)
{
    pthread_mutex_lock(&lock);
    long i = 0;
    while (i < n_ids && ids[i] != id)
        i++;
    if (i == n_ids && n_ids < MAX_IDS)
        ids[n_ids++] = id;
    if (i < MAX_IDS)
        id_users[i] |= (unsigned char)user_bit;
    pthread_mutex_unlock(&lock);
}

/* Counts a failed request, keeping the first error text. */
static void note_error(MYSQL *m)
{
    pthread_mutex_lock(&lock);
    if (!errors++)
        snprintf(first_error, sizeof first_error, "%u: %s", mysql_errno(m), app_error(m));
    pthread_mutex_unlock(&lock);
}

/* One request as user 1 or 2. */
static void one_request(int user)
{
    MYSQL storage, *m = mysql_init(use_stack ? &storage : NULL);
    app_dsn d = app_user_dsn(use_tcp);
    if (user == 2) {
        d.user = app_env("PSTEST_USER2");
        d.password = app_env("PSTEST_PASSWORD2");
    }
    bool call = autocommit_mode >= 0, on = autocommit_mode != 0;
    if (!app_connect(m, &d) || (call && mysql_autocommit(m, on)) ||
        (call && !(m->server_status & SERVER_STATUS_AUTOCOMMIT) != !on) ||
        (same_db_charset && (mysql_select_db(m, d.db) || strcmp(m->db, d.db))) ||
        (same_db_charset && mysql_set_character_set(m, mysql_character_set_name(m))) ||
        mysql_query(m, dirty ? "SELECT CONNECTION_ID(), CURRENT_USER(), @@autocommit, "
                               "@ps_dirty IS NULL"
                             : "SELECT CONNECTION_ID(), CURRENT_USER(), @@autocommit, 1")) {
        note_error(m);
        mysql_close(m);
        return;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row) {
        note_error(m);
    } else {
        size_t ulen = strlen(d.user);
        bool same = !strncmp(row[1], d.user, ulen) && row[1][ulen] == '@';
        note_id(strtoul(row[0], NULL, 10), user);
        if (!same)
            __atomic_add_fetch(&wrong_user, 1, __ATOMIC_SEQ_CST);
        if (strcmp(row[2], on ? "1" : "0"))
            __atomic_add_fetch(&wrong_autocommit, 1, __ATOMIC_SEQ_CST);
        if (strcmp(row[3], "1"))
            __atomic_add_fetch(&wrong_state, 1, __ATOMIC_SEQ_CST);
    }
    unsigned long id = row ? strtoul(row[0], NULL, 10) : 0;
    mysql_free_result(r);
    if (dirty && mysql_query(m, "SET @ps_dirty = 1"))
        note_error(m);
    mysql_close(m);
    if (kill_parked && id)
        app_kill(id);
    __atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
}

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < per_thread; i++)
        one_request(alternate && (i % 2) ? 2 : 1);
    mysql_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tcp"))
            use_tcp = true;
        else if (!strcmp(argv[i], "--stack"))
            use_stack = true;
        else if (!strcmp(argv[i], "--alternate-users"))
            alternate = true;
        else if (!strcmp(argv[i], "--autocommit"))
            autocommit_mode = 1;
        else if (!strcmp(argv[i], "--autocommit-off"))
            autocommit_mode = 0;
        else if (!strcmp(argv[i], "--same-db-charset"))
            same_db_charset = true;
        else if (!strcmp(argv[i], "--dirty"))
            dirty = true;
        else if (!strcmp(argv[i], "--kill-parked"))
            kill_parked = true;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            per_thread = app_long_arg("--n", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = app_long_arg("--threads", argv[++i]);
        else
            app_die(0, "unknown argument %s", argv[i]);
    }
    mysql_library_init(0, NULL, NULL);
    pthread_t t[256];
    threads = threads < 1 ? 1 : threads > 256 ? 256 : threads;
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (long i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long shared = 0;
    for (long i = 0; i < n_ids; i++)
        shared += id_users[i] == 3;
    printf("requests=%ld\nerrors=%ld\nwrong_user=%ld\nwrong_autocommit=%ld\nwrong_state=%ld\n"
           "shared_ids=%ld\ndistinct_ids=%ld\nfirst_error=%s\n",
           requests, errors, wrong_user, wrong_autocommit, wrong_state, shared, n_ids,
           errors ? first_error : "none");
    mysql_library_end();
    return errors || wrong_user || wrong_autocommit || wrong_state || shared ? 1 : 0;
}
