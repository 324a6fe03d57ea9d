// Eigen cuts its matrix products into blocks sized from the CPU's cache sizes, which it reads at run
// time, and the blocks decide the order in which products are summed. So the same command gave
// results differing in the last bits on machines with different caches, and, through a decision near
// a threshold, different files: the same labelled hybrid budget run wrote files 16 bytes apart on an
// AMD EPYC and on an Intel Xeon (docs/BUDGET.md). fix_matrix_blocking() makes Eigen assume fixed cache
// sizes instead (those of the Xeon the coverage study runs on: 48 KiB L1, 2 MiB L2, 260 MiB L3), so
// that results depend on the instruction set the build targets (-march), not on the machine's caches.
// Call it first thing in main(), before any thread starts.
#pragma once

namespace mc {

void fix_matrix_blocking();

}  // namespace mc
