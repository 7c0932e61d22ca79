#include "ptelab/error.h"

const char *pl_strerror(int err)
{
    switch (err) {
#define PL_ERROR_CASE(name, value, msg) \
    case name:                           \
        return msg;
        PL_ERRORS(PL_ERROR_CASE)
#undef PL_ERROR_CASE
    case 0:
        return "success";
    }
    return "unknown error";
}
