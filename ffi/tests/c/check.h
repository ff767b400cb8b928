/* The C tests' shared checks: CHECK(cond) and CHECK_RES(call, expected) print where and why
 * (with ws_last_error()) and exit 1; CHECK_OK(call) is CHECK_RES(call, WS_OK); ok(name)
 * reports a passed case. */
#ifndef WSBEAT_TESTS_CHECK_H
#define WSBEAT_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "wsbeat.h"

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond,          \
                   ws_last_error());                                                        \
            fflush(stdout);                                                                 \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

#define CHECK_RES(call, expected)                                                           \
    do {                                                                                    \
        ws_result r_ = (call);                                                              \
        if (r_ != (expected)) {                                                             \
            printf("FAIL %s:%d: %s returned %u (%s), expected %s (last error: %s)\n",      \
                   __FILE__, __LINE__, #call, (unsigned)r_, ws_result_str(r_), #expected,   \
                   ws_last_error());                                                        \
            fflush(stdout);                                                                 \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

/* CHECK_OK(call): the call returned WS_OK (CHECK_RES says which result it got instead). */
#define CHECK_OK(call) CHECK_RES((call), WS_OK)

static inline void ok(const char *name) {
    printf("ok %s\n", name);
    fflush(stdout);
}

#endif
