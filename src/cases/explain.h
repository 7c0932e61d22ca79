/* Explanations of walks, for people: each entry a walk read, decoded bit by
 * bit, what the walker decided there, which rule denied the access, and the
 * result. Used by `ptelab walk --explain`; any report of a walk may reuse it. */
#ifndef PTELAB_CASES_EXPLAIN_H
#define PTELAB_CASES_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

#include "ptelab/walk.h"

/* Writes to f, as lines indented by four spaces, why the walk of in under
 * mmu ended as it did. ok, out and fault are what pl_walk() returned and
 * filled for a walk from CR3 (in->start_level 0): out->step[] holds every
 * entry used, as read before the walk's A/D updates. Write errors are left
 * in ferror(f). */
void explain_walk(FILE *f, const struct pl_mmu *mmu, const struct pl_walk_in *in, bool ok,
                  const struct pl_walk_out *out, const struct pl_fault *fault);

#endif
