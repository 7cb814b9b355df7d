/*
 * The few libm functions the kernels call, for the freestanding wasm32 build (no libc).
 *
 *   exp(x)  = 2^k · e^r,  k = round(x / ln 2),  r = x − k·ln2_hi − k·ln2_lo,  |r| ≤ ln2/2;
 *             e^r by its Taylor series to r^13 (remainder < 5e-18 relative), Horner form.
 *   log(x)  = e·ln 2 + log(m),  x = 2^e·m,  m ∈ [√½, √2);  log(m) = 2·atanh(f), f = (m−1)/(m+1),
 *             |f| ≤ 0.172: 2f·Σ_{j≤12} f^{2j}/(2j+1) (remainder < 1e-19 relative).
 *   expf, logf: the double versions rounded to float (correctly rounded but for rare ties).
 *   sqrt, fabs: the wasm instructions; roundf: half away from zero (C's roundf).
 * About 1 ulp in double: well inside what the float32 kernels need.
 */
#include <math.h>
#include <stdint.h>

double sqrt(double x) { return __builtin_sqrt(x); }
float sqrtf(float x) { return __builtin_sqrtf(x); }
double fabs(double x) { return __builtin_fabs(x); }
float fabsf(float x) { return __builtin_fabsf(x); }

float roundf(float x) {
  const float a = __builtin_fabsf(x);
  if (!(a < 8388608.0f)) return x; /* |x| >= 2^23 (already an integer), inf or NaN */
  float t = __builtin_truncf(a);
  if (a - t >= 0.5f) t += 1.0f;
  return __builtin_copysignf(t, x);
}

static double pow2i(int k) { /* 2^k for -1022 <= k <= 1023 */
  const uint64_t bits = (uint64_t)(k + 1023) << 52;
  double d;
  __builtin_memcpy(&d, &bits, 8);
  return d;
}

static const double LN2_HI = 6.93147180369123816490e-01; /* ln 2 with its low 32 bits zero */
static const double LN2_LO = 1.90821492927058770002e-10; /* ln 2 - LN2_HI */
static const double LOG2E = 1.44269504088896338700e+00;

double exp(double x) {
  if (x != x) return x;
  if (x > 709.782712893384) return __builtin_inf();
  if (x < -745.1332191019412) return 0.0;
  const double kd = __builtin_nearbyint(x * LOG2E);
  const int k = (int)kd;
  const double r = (x - kd * LN2_HI) - kd * LN2_LO;
  /* Σ_{j≤13} r^j / j! */
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r * r + r; /* e^r - 1, kept apart from the 1 for accuracy */
  const double y = 1.0 + p;
  if (k > 1023) return y * pow2i(1023) * pow2i(k - 1023);
  if (k < -1021) return y * pow2i(k + 1000) * pow2i(-1000);
  return y * pow2i(k);
}

double log(double x) {
  if (x != x) return x;
  if (x < 0.0) return __builtin_nan("");
  if (x == 0.0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  int e = 0;
  if (x < 2.2250738585072014e-308) { /* subnormal: scale into the normal range */
    x *= 18014398509481984.0;          /* 2^54 */
    e = -54;
  }
  uint64_t bits;
  __builtin_memcpy(&bits, &x, 8);
  e += (int)((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
  double m;
  __builtin_memcpy(&m, &bits, 8);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const double f = (m - 1.0) / (m + 1.0), s = f * f;
  double p = 1.0 / 25.0;
  for (int j = 11; j >= 1; j--) p = p * s + 1.0 / (double)(2 * j + 1);
  const double lm = 2.0 * f + 2.0 * f * s * p;
  const double ed = (double)e;
  return ed * LN2_HI + (lm + ed * LN2_LO);
}

float expf(float x) { return (float)exp((double)x); }
float logf(float x) { return (float)log((double)x); }
