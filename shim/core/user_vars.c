/* User variables set to literals (see user_vars.h). */
#include "poolshim/user_vars.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "poolshim/sql_effects.h"

enum { NAMES_MAX = 64, TEXT_MAX = 4096, NAME_MAX_LEN = 64 };

typedef struct entry {
    char name[NAME_MAX_LEN + 1]; /* as first written; compared without case, as the server does */
    char *text;                  /* the last assignment, as written ("@a = 1") */
    bool bound;                  /* its value depends on the session's charset or sql_mode */
} entry;

struct ps_user_vars {
    unsigned n;
    entry e[NAMES_MAX];
    size_t bytes;    /* the texts' lengths */
    bool untracked;  /* the program's own reset turned the shim's tracking off */
    bool failed;     /* the assignment in progress could not be kept */
    char *statement; /* cached for ps_user_vars_statement; NULL: not built */
};

/* The entry of NAME[0..LEN) in V (a new one, when there is room); NULL when none fits. */
static entry *slot(ps_user_vars *v, const char *name, size_t len)
{
    for (unsigned i = 0; i < v->n; i++)
        if (strlen(v->e[i].name) == len && !strncasecmp(v->e[i].name, name, len))
            return &v->e[i];
    if (v->n == NAMES_MAX || len > NAME_MAX_LEN)
        return NULL;
    entry *e = &v->e[v->n++];
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->text = NULL;
    return e;
}

/* Keeps assignment A in V (the ctx of ps_sql_user_literals). */
static void keep(void *ctx, const ps_sql_literal *a)
{
    ps_user_vars *v = ctx;
    entry *e = v->failed ? NULL : slot(v, a->name, a->name_len);
    size_t old = e && e->text ? strlen(e->text) : 0;
    char *text = e && v->bytes - old + a->text_len <= TEXT_MAX ? malloc(a->text_len + 1) : NULL;
    if (!text || (a->charset_bound && v->untracked)) {
        free(text);
        v->failed = true;
        return;
    }
    memcpy(text, a->text, a->text_len);
    text[a->text_len] = '\0';
    free(e->text);
    e->text = text;
    e->bound = a->charset_bound;
    v->bytes = v->bytes - old + a->text_len;
}

/* Drops V's cached statement. */
static void changed(ps_user_vars *v)
{
    free(v->statement);
    v->statement = NULL;
}

bool ps_user_vars_assign(ps_user_vars **vp, const char *sql, size_t len)
{
    if (!*vp && !(*vp = calloc(1, sizeof **vp)))
        return false;
    ps_user_vars *v = *vp;
    changed(v);
    v->failed = false;
    bool literal = ps_sql_user_literals(sql, len, keep, v);
    for (unsigned i = 0; i < v->n; i++) /* a name whose text could not be made */
        if (!v->e[i].text)
            v->e[i--] = v->e[--v->n];
    return literal && !v->failed;
}

bool ps_user_vars_still_exact(const ps_user_vars *v, const char *variables)
{
    static const char *const reading[] = {"character_set_client", "character_set_connection",
                                          "collation_connection", "sql_mode", NULL};
    bool bound = false;
    for (unsigned i = 0; v && i < v->n; i++)
        bound = bound || v->e[i].bound;
    if (!bound || !variables)
        return true;
    if (!*variables)
        return false;
    for (const char *const *r = reading; *r; r++)
        if (strstr(variables, *r))
            return false;
    return true;
}

void ps_user_vars_reset(ps_user_vars **vp)
{
    if (!*vp && !(*vp = calloc(1, sizeof **vp)))
        return;
    ps_user_vars *v = *vp;
    changed(v);
    for (unsigned i = 0; i < v->n; i++)
        free(v->e[i].text);
    v->n = 0;
    v->bytes = 0;
    v->untracked = true;
}

const char *ps_user_vars_statement(ps_user_vars *v, bool *lost)
{
    if (!v || !v->n)
        return NULL;
    if (v->statement)
        return v->statement;
    size_t n = sizeof "SET " + v->bytes + 2 * v->n;
    char *s = malloc(n);
    if (!s) {
        *lost = true;
        return NULL;
    }
    strcpy(s, "SET ");
    for (unsigned i = 0; i < v->n; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, v->e[i].text);
    }
    return v->statement = s;
}

void ps_user_vars_free(ps_user_vars *v)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->n; i++)
        free(v->e[i].text);
    free(v->statement);
    free(v);
}
