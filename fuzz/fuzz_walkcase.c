/* libFuzzer target: any bytes as a walk case. Parsing must fail cleanly or
 * give a case that runs (plain and explained) without crashing, leaking or
 * hanging. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ptelab/error.h"
#include "ptelab/walkcase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Output goes nowhere, but through a real FILE so every formatting path runs. */
static FILE *sink(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    if (!f)
        abort();
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pl_walkcase *wc;
    struct pl_walkcase_error err;
    int rc = pl_walkcase_parse((const char *)data, size, &wc, &err);
    if (rc) {
        /* An error names a line of the input and says something. */
        if (rc != PL_EPARSE && rc != PL_ENOMEM)
            abort();
        if (wc || err.msg[0] == '\0' || err.line == 0)
            abort();
        return 0;
    }
    if (pl_walkcase_run(wc, sink(), 0) != 0 || pl_walkcase_run(wc, sink(), PL_WALKCASE_EXPLAIN) != 0)
        abort();
    pl_walkcase_free(wc);
    return 0;
}
