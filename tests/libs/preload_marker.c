/* libpreload_marker.so: a stand-in for another preload library (a tracer, a malloc wrapper)
 * that an outer container entrypoint puts in LD_PRELOAD before poolshim-entrypoint runs. When
 * PSTEST_MARKER_FILE is set, every process it is loaded into appends one line to that file:
 * "pid=<pid> prog=<program name> preload=<LD_PRELOAD>", so a test can see which processes it
 * reached and what their LD_PRELOAD was. Nothing else. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void mark(void)
{
    const char *file = getenv("PSTEST_MARKER_FILE");
    const char *preload = getenv("LD_PRELOAD");
    char line[4096];
    if (!file || !*file)
        return;
    int n = snprintf(line, sizeof line, "pid=%ld prog=%s preload=%s\n", (long)getpid(),
                     program_invocation_short_name, preload ? preload : "");
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (n > 0 && write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
        n = 0;
    close(fd);
}
