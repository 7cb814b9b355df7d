/* Freestanding <math.h> for the wasm32 build: only what native/*.c use (see native/wasm/libm.c). */
#ifndef LLAMA_TS_WASM_MATH_H
#define LLAMA_TS_WASM_MATH_H
#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define HUGE_VAL (__builtin_huge_val())
double sqrt(double x);
float sqrtf(float x);
double fabs(double x);
float fabsf(float x);
float roundf(float x);
double exp(double x);
float expf(float x);
double log(double x);
float logf(float x);
/* Round to nearest, ties to even (the default mode; wasm f32.nearest). */
static inline long lrintf(float x) { return (long)__builtin_rintf(x); }
#endif
