/* POOLSHIM_PROGRAMS / POOLSHIM_EXCLUDE: which program names are selected. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "poolshim/programs.h"

Test(programs, unset_or_empty_selects_every_program)
{
    cr_assert(ps_program_selected("php-fpm", NULL, NULL));
    cr_assert(ps_program_selected("php-fpm", "", ""));
    cr_assert(ps_program_selected("php-fpm", ",,", ","));
    cr_assert(ps_program_selected("", NULL, NULL));
}

Test(programs, globs_select)
{
    const char *list = "php*,my-daemon,worker-[0-9]";
    cr_assert(ps_program_selected("php-fpm8.2", list, NULL));
    cr_assert(ps_program_selected("my-daemon", list, NULL));
    cr_assert(ps_program_selected("worker-7", list, NULL));
    cr_assert_not(ps_program_selected("my-daemon2", list, NULL), "a glob matches the whole name");
    cr_assert_not(ps_program_selected("sh", list, NULL));
    cr_assert_not(ps_program_selected("PHP", list, NULL), "case matters");
    cr_assert(ps_program_selected("perl", ",perl,", NULL), "empty items are ignored");
}

Test(programs, exclude_overrides)
{
    cr_assert_not(ps_program_selected("mysqldump", NULL, "mysqldump,mariadb*"));
    cr_assert_not(ps_program_selected("mariadb-admin", NULL, "mysqldump,mariadb*"));
    cr_assert(ps_program_selected("app", NULL, "mysqldump,mariadb*"));
    cr_assert_not(ps_program_selected("php-cli", "php*", "php-cli"));
    cr_assert(ps_program_selected("php-fpm", "php*", "php-cli"));
}

Test(programs, an_overlong_glob_matches_nothing)
{
    char list[300];
    memset(list, '*', 299);
    list[299] = '\0';
    cr_assert_not(ps_program_selected("app", list, NULL));
    cr_assert(ps_program_selected("app", NULL, list));
}

Test(programs, the_name_is_the_start_name)
{
    cr_assert_str_eq(ps_program_name(), program_invocation_short_name);
}

Test(programs, spaces_around_items_are_ignored)
{
    cr_assert(ps_program_selected("perl", "php-fpm, perl ", NULL));
    cr_assert_not(ps_program_selected("perl", " ", " perl"));
    cr_assert(ps_program_selected("perl", " , ", NULL), "only spaces and commas: every program");
}

Test(programs, paths_and_control_bytes_are_not_globs)
{
    cr_assert_null(ps_programs_check(NULL));
    cr_assert_null(ps_programs_check(""));
    cr_assert_null(ps_programs_check("php*,my-daemon, worker-[0-9]"));
    cr_assert_not_null(strstr(ps_programs_check("/usr/sbin/my-daemon"), "base name"));
    cr_assert_not_null(strstr(ps_programs_check("app,\nforged"), "control"));
    cr_assert_not_null(ps_programs_check("a\x7f"));
}
