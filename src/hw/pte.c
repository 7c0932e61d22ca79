#include "hw/pte.h"

const char *pte_level_name(int level)
{
    static const char *const names[] = {"?", "PT", "PD", "PDPT", "PML4", "PML5"};
    return level >= 1 && level <= 5 ? names[level] : names[0];
}
