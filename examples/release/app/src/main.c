#include "greet.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--revision") == 0) {
        printf("%s\n", build_revision());
        return 0;
    }
    char line[256];
    if (greet(argc > 1 ? argv[1] : NULL, line, sizeof line) < 0) {
        fprintf(stderr, "name too long\n");
        return 1;
    }
    printf("%s\n", line);
    return 0;
}
