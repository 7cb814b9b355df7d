/* Freestanding <string.h> for the wasm32 build (native/wasm/runtime.c implements these). */
#ifndef LLAMA_TS_WASM_STRING_H
#define LLAMA_TS_WASM_STRING_H
#include <stddef.h>
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int strcmp(const char *a, const char *b);
#endif
