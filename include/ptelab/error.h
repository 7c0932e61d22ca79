/* ptelab error codes: library functions return 0 or a negative PL_E* code. */
#ifndef PTELAB_ERROR_H
#define PTELAB_ERROR_H

/* X(name, value, message): the one table of error codes. */
#define PL_ERRORS(X)                                              \
    X(PL_EINVAL, -1, "invalid argument")                          \
    X(PL_ENOMEM, -2, "out of host memory")                        \
    X(PL_ERANGE, -3, "value out of range")                        \
    X(PL_EPARSE, -4, "malformed input")                           \
    X(PL_EIO, -5, "input/output error")                           \
    X(PL_EFAULT, -6, "the access faulted")

enum pl_error {
#define PL_ERROR_ENUM(name, value, msg) name = value,
    PL_ERRORS(PL_ERROR_ENUM)
#undef PL_ERROR_ENUM
};

/* Returns a static message for a PL_E* code (or "unknown error"). */
const char *pl_strerror(int err);

#endif
