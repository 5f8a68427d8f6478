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
        char glob[256];
        if (n > 0 && n < sizeof glob) {
            memcpy(glob, list, n);
            glob[n] = '\0';
            if (fnmatch(glob, name, 0) == 0)
                return true;
        }
        list += n;
        if (*list == ',')
            list++;
    }
    return false;
}

bool ps_program_selected(const char *name, const char *programs, const char *exclude)
{
    if (programs && strspn(programs, ",") != strlen(programs) && !any_glob_matches(programs, name))
        return false;
    return !(exclude && any_glob_matches(exclude, name));
}

const char *ps_program_name(void)
{
    return program_invocation_short_name;
}
