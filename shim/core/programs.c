/* Program selection by name (POOLSHIM_PROGRAMS, POOLSHIM_EXCLUDE). */
#include "poolshim/programs.h"

#include <errno.h>
#include <fnmatch.h>
#include <string.h>

/* True when one of the comma-separated globs of LIST matches NAME. */
static bool any_glob_matches(const char *list, const char *name)
{
    while (*list) {
        size_t n = strcspn(list, ",");
        const char *item = list;
        list += n;
        if (*list == ',')
            list++;
        while (n > 0 && *item == ' ')
            item++, n--;
        while (n > 0 && item[n - 1] == ' ')
            n--;
        char glob[256];
        if (n > 0 && n < sizeof glob) {
            memcpy(glob, item, n);
            glob[n] = '\0';
            if (fnmatch(glob, name, 0) == 0)
                return true;
        }
    }
    return false;
}

const char *ps_programs_check(const char *list)
{
    for (const char *p = list; p && *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "a control character";
        if (*p == '/')
            return "a '/' (globs match the program's base name, not its path)";
    }
    return NULL;
}

bool ps_program_selected(const char *name, const char *programs, const char *exclude)
{
    if (programs && strspn(programs, ", ") != strlen(programs) && !any_glob_matches(programs, name))
        return false;
    return !(exclude && any_glob_matches(exclude, name));
}

const char *ps_program_name(void)
{
    return program_invocation_short_name;
}
