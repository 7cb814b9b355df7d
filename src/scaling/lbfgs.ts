/**
 * Limited-memory BFGS (Nocedal & Wright, Numerical Optimization, Algorithm 7.4 / 7.5) for
 * small, smooth-enough problems such as the scaling-law fit.
 *
 *   direction  p_k = -H_k ∇f(x_k), H_k from the last m pairs (s_i = x_{i+1} - x_i,
 *              y_i = ∇f_{i+1} - ∇f_i) by the two-loop recursion, H_0 = (s·y / y·y) I;
 *   step       backtracking line search from t = 1 until the Armijo condition
 *              f(x + t p) <= f(x) + c1 t ∇f·p holds (c1 = 1e-4);
 *   update     a pair is kept only when s·y > 1e-10 |s| |y| (curvature), so H stays positive
 *              definite without a Wolfe search; if p is not a descent direction the memory is
 *              cleared and the step falls back to steepest descent.
 * Stops when |∇f|_∞ <= gradTol, when the relative decrease of f over a step is below fTol, or
 * after maxIter iterations.
 */

export type ValueAndGradient = (x: Float64Array, grad: Float64Array) => number;

export interface LbfgsOptions {
  maxIter?: number;
  /** History size m. */
  memory?: number;
  gradTol?: number;
  fTol?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normInf(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Minimises f from x0 (not modified). */
export function lbfgs(f: ValueAndGradient, x0: ArrayLike<number>, opts: LbfgsOptions = {}): LbfgsResult {
  const n = x0.length;
  const maxIter = opts.maxIter ?? 500;
  const m = opts.memory ?? 8;
  const gradTol = opts.gradTol ?? 1e-9;
  const fTol = opts.fTol ?? 1e-14;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  let fx = f(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const p = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const alphaBuf = new Float64Array(m);
  let iter = 0;
  let converged = false;
  if (!Number.isFinite(fx)) return { x, f: fx, iterations: 0, evaluations, converged: false };
  while (iter < maxIter) {
    if (normInf(g) <= gradTol) { converged = true; break; }
    // Two-loop recursion: p = -H g.
    for (let i = 0; i < n; i++) p[i] = -g[i]!;
    for (let j = S.length - 1; j >= 0; j--) {
      const a = rho[j]! * dot(S[j]!, p);
      alphaBuf[j] = a;
      const y = Y[j]!;
      for (let i = 0; i < n; i++) p[i] = p[i]! - a * y[i]!;
    }
    if (S.length > 0) {
      const k = S.length - 1;
      const gamma = dot(S[k]!, Y[k]!) / dot(Y[k]!, Y[k]!);
      for (let i = 0; i < n; i++) p[i] = p[i]! * gamma;
    } else {
      // First step: a unit-length step along -g (scale-free start).
      const gn = Math.sqrt(dot(g, g));
      for (let i = 0; i < n; i++) p[i] = p[i]! / Math.max(gn, 1e-300);
    }
    for (let j = 0; j < S.length; j++) {
      const b = rho[j]! * dot(Y[j]!, p);
      const s = S[j]!;
      const a = alphaBuf[j]!;
      for (let i = 0; i < n; i++) p[i] = p[i]! + (a - b) * s[i]!;
    }
    let slope = dot(g, p);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = 0; Y.length = 0; rho.length = 0;
      const gn = Math.sqrt(dot(g, g));
      for (let i = 0; i < n; i++) p[i] = -g[i]! / Math.max(gn, 1e-300);
      slope = dot(g, p);
      if (!(slope < 0)) break;
    }
    // Backtracking Armijo line search.
    let t = 1;
    let fNew = Infinity;
    let accepted = false;
    for (let ls = 0; ls < 60; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i]! + t * p[i]!;
      fNew = f(xNew, gNew);
      evaluations++;
      if (Number.isFinite(fNew) && fNew <= fx + 1e-4 * t * slope) { accepted = true; break; }
      t *= 0.5;
    }
    iter++;
    if (!accepted) {
      if (S.length === 0) break; // even steepest descent cannot decrease f: at a (numerical) minimum
      S.length = 0; Y.length = 0; rho.length = 0;
      continue;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = xNew[i]! - x[i]!; y[i] = gNew[i]! - g[i]!; }
    const sy = dot(s, y);
    if (sy > 1e-10 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / sy);
    }
    const decrease = fx - fNew;
    x.set(xNew);
    g.set(gNew);
    fx = fNew;
    if (decrease <= fTol * Math.max(Math.abs(fx), 1e-300)) { converged = true; break; }
  }
  return { x, f: fx, iterations: iter, evaluations, converged };
}
