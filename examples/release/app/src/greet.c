#include "greet.h"

#include <stdio.h>

#ifndef REVISION
#define REVISION "unknown"
#endif

int greet(const char *name, char *out, size_t size) {
    if (name == NULL || name[0] == '\0') {
        name = "world";
    }
    int written = snprintf(out, size, "Hello, %s!", name);
    if (written < 0 || (size_t)written >= size) {
        return -1;
    }
    return written;
}

const char *build_revision(void) { return REVISION; }
