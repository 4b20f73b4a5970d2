/* Unit tests for greet(); prints a JUnit XML report on stdout and exits
   non-zero when a test fails. */
#include "../src/greet.h"

#include <stdio.h>
#include <string.h>

static int failures = 0;
static char report[8192];

static void check(const char *name, int ok, const char *why) {
    char line[512];
    if (ok) {
        snprintf(line, sizeof line, "    <testcase classname=\"greet\" name=\"%s\"/>\n", name);
    } else {
        failures++;
        snprintf(line, sizeof line,
                 "    <testcase classname=\"greet\" name=\"%s\"><failure message=\"%s\"/></testcase>\n",
                 name, why);
    }
    strncat(report, line, sizeof report - strlen(report) - 1);
}

int main(void) {
    char out[64];
    check("greets_by_name", greet("Ada", out, sizeof out) > 0 && strcmp(out, "Hello, Ada!") == 0,
          "wrong greeting");
    check("greets_the_world_by_default", greet("", out, sizeof out) > 0 && strcmp(out, "Hello, world!") == 0,
          "wrong default");
    check("refuses_what_does_not_fit", greet("a name far too long for it", out, 8) == -1,
          "overflow not detected");
    check("knows_its_revision", strlen(build_revision()) > 0, "no revision");
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    printf("<testsuite name=\"greet\" tests=\"4\" failures=\"%d\">\n%s</testsuite>\n", failures, report);
    return failures == 0 ? 0 : 1;
}
