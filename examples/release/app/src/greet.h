#ifndef GREET_H
#define GREET_H

#include <stddef.h>

/* Writes "Hello, NAME!" into out (at most size bytes); returns its length,
   or -1 when it does not fit. An empty or missing name greets the world. */
int greet(const char *name, char *out, size_t size);

/* The revision this program was built from. */
const char *build_revision(void);

#endif
