// Eigen cuts its matrix products into blocks sized from the CPU's cache sizes, which it reads at run
// time, and the blocks decide the order in which products are summed. So the same command gave
// results differing in the last bits on machines with different caches, and, through a decision near
// a threshold, different files: the same labelled hybrid budget run wrote files 16 bytes and a point
// of test top-1 apart on the AMD EPYC machines the README's figures were measured on and on an Intel
// Xeon (docs/BUDGET.md). fix_matrix_blocking() makes Eigen assume fixed cache sizes instead, an EPYC
// core's (32 KiB L1, 1 MiB L2, 32 MiB L3: with them the Xeon writes the EPYC machines' files, checked
// on the coverage study's first split), so that results depend on the instruction set the build
// targets (-march), not on the caches.
// Call it first thing in main(), before any thread starts.
#pragma once

namespace mc {

void fix_matrix_blocking();

}  // namespace mc
