// glibc's allocator tuning (mallopt) for the executables' start-up: see
// Sources/CommandLineSupport/MallocStartUp.swift. Empty where there is no glibc.
#if defined(__linux__)
#include <malloc.h>
#endif
