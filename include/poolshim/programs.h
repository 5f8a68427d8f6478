/* POOLSHIM_PROGRAMS / POOLSHIM_EXCLUDE: which programs a preloaded shim pools. */
#ifndef POOLSHIM_PROGRAMS_H
#define POOLSHIM_PROGRAMS_H

#include <stdbool.h>

/* True when the program NAME is to be pooled: PROGRAMS (comma-separated fnmatch(3) globs;
 * NULL or empty = every program) has a glob that matches NAME, and EXCLUDE (the same form) has
 * none. Spaces around an item and empty items are ignored; an item longer than 255 bytes
 * matches nothing. Pure. */
bool ps_program_selected(const char *name, const char *programs, const char *exclude);

/* NULL when LIST (NULL, or as for ps_program_selected) can match program names, else why not, as
 * a constant phrase: a control byte, or a '/' (names are base names: "/usr/sbin/x" would never
 * match). Pure. */
const char *ps_programs_check(const char *list);

/* The name the globs are matched against: the base name the program was started as
 * (program_invocation_short_name, argv[0]'s last component; a symlink's own name), never
 * truncated as /proc/self/comm is. */
const char *ps_program_name(void);

#endif
