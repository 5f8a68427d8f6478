/* Calls answered without a round trip because the session already is what they ask for (README
 * "The session model"): mysql_select_db of the current database, mysql_set_character_set of
 * the current character set. The handle then reads as after the library's own successful call
 * (libmariadb 3.3: mysql_select_db sends COM_INIT_DB, whose OK packet it does not parse, and
 * keeps a copy of the name; mysql_set_character_set runs "SET NAMES cs" and sets
 * mysql->charset). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "layout.h"
#include "poolshim/real.h"

/* True when H's live session has nothing pending the call could show: ready, no warning, no
 * error, no further result. */
static bool quiet(const MYSQL *h)
{
    return h->net.pvio && h->status == MYSQL_STATUS_READY && !h->warning_count &&
           !h->net.last_errno && !(h->server_status & SERVER_MORE_RESULTS_EXIST);
}

/* Leaves H as the library's command start does (mthd_my_send_cmd: error cleared, no info,
 * affected rows -1). */
static void as_sent(MYSQL *h)
{
    h->net.last_errno = 0;
    strcpy(h->net.sqlstate, "00000");
    h->net.last_error[0] = '\0';
    h->info = NULL;
    h->affected_rows = ~0ULL;
}

/* Leaves H as the library leaves it after a query answered with a plain OK packet (the
 * session-state change a real one may report is not shown: README limits). */
static void as_after_ok(MYSQL *h)
{
    as_sent(h);
    h->affected_rows = 0;
    h->insert_id = 0;
    h->field_count = 0;
    h->server_status &= ~SERVER_SESSION_STATE_CHANGED;
}

bool mdb_answer_select_db(void *hv, const char *db)
{
    MYSQL *h = hv;
    if (!db || !h->db || strcmp(h->db, db) || !quiet(h))
        return false;
    as_sent(h); /* the library reads COM_INIT_DB's OK packet without parsing it */
    return true;
}

/* True when H's server gives each character set the collation libmariadb's table lists first
 * for it (what SET NAMES picks): MariaDB before 11.2, where character_set_collations can
 * choose another. */
static bool library_default_collations(const MYSQL *h)
{
    unsigned major = 0, minor = 0;
    if (!h->server_version || !strstr(h->server_version, "MariaDB") ||
        sscanf(h->server_version, "%u.%u", &major, &minor) != 2)
        return false;
    return major < 11 || (major == 11 && minor < 2);
}

bool mdb_answer_charset(void *hv, const char *csname)
{
    MYSQL *h = hv;
    char name[64];
    size_t n = csname ? strlen(csname) : sizeof name;
    if (n >= sizeof name || !ps_real_mysql_get_charset_by_name || !h->charset || !quiet(h) ||
        !library_default_collations(h))
        return false;
    for (size_t i = 0; i <= n; i++) /* the library's lookup ignores case; its names are lower */
        name[i] = (char)tolower((unsigned char)csname[i]);
    if (!strcmp(name, "utf8")) /* as mysql_find_charset_name reads it ("auto": not answered) */
        strcpy(name, "utf8mb3");
    const MARIADB_CHARSET_INFO *cs = ps_real_mysql_get_charset_by_name(name);
    if (!cs || cs->nr != h->charset->nr)
        return false;
    as_after_ok(h);
    h->charset = cs;
    return true;
}
