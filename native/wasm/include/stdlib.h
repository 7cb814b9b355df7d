/* Freestanding <stdlib.h> for the wasm32 build: the allocator of native/wasm/runtime.c. */
#ifndef LLAMA_TS_WASM_STDLIB_H
#define LLAMA_TS_WASM_STDLIB_H
#include <stddef.h>
void *malloc(size_t n);
void *aligned_alloc(size_t align, size_t n);
void free(void *p);
#endif
