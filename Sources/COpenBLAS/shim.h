// OpenBLAS (CBLAS) and LAPACKE from Debian: libopenblas-dev liblapacke-dev.
#ifndef GIGTRACE_COPENBLAS_SHIM_H
#define GIGTRACE_COPENBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
// Provided by OpenBLAS (not part of the CBLAS standard header on every system).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
