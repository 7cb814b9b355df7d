/**
 * Memory-efficient causal attention for training (FlashAttention-2 style), forward and
 * backward. The kernels below work on one sequence; the contract's ops
 * (`attentionTrainForward` / `attentionTrainBackward`, {@link attentionTrainOps}) take `batch`
 * sequences of T rows at once, the arrays holding batch·T rows in these layouts.
 *
 * Layouts: q, out, dq, dOut [T × nHeads × headDim]; k, v, dk, dv [T × nKvHeads × headDim];
 * lse [T × nHeads]. Query head h reads kv head floor(h / (nHeads / nKvHeads)) (grouped-query
 * attention); the gradient of a kv head is the sum over the query heads of its group. Scores
 * are s_ij = (q_i · k_j) / sqrt(headDim) for j ≤ i (causal), P = softmax over j.
 *
 * Forward: queries are taken in blocks of `blockQ` rows and keys in blocks of `blockK`; for
 * each (query block, key block) tile the scores are computed and folded into a running
 * (max, sum, weighted-value) triple per row (the online softmax), so no T×T matrix ever
 * exists. Tiles whose keys all lie after every query of the block (above the diagonal) are
 * never visited. The forward keeps, per (row, head), lse = log Σ_j exp(s_ij).
 *
 * Backward: with P_ij = exp(s_ij − lse_i) recomputed tile by tile and
 * delta_i = Σ_d dOut_id · out_id (= Σ_j P_ij dP_ij),
 *
 *   dV_j += Σ_i P_ij dOut_i
 *   dP_ij = dOut_i · v_j
 *   dS_ij = P_ij (dP_ij − delta_i)
 *   dQ_i += scale Σ_j dS_ij k_j,   dK_j += scale Σ_i dS_ij q_i
 *
 * Memory: the scratch holds O(blockQ·blockK + (blockQ + blockK)·headDim) float64 numbers;
 * nothing depends on T² (or on T at all beyond the caller's arrays). All arithmetic runs in
 * float64 whatever the storage type.
 *
 * Both kernels return the number of tiles they computed (summed over heads), which equals
 * {@link causalTileCount}: tests assert that masked tiles are skipped.
 */
import type { CheckSpecs, FloatArray, KernelOps } from "../types.js";
import { bool, data, heads, size } from "./check.js";

/** Preallocated working memory for the tiled kernels (reusable across calls and layers). */
export interface AttentionTrainScratch {
  readonly headDim: number;
  readonly blockQ: number;
  readonly blockK: number;
  /** [blockQ × blockK]: scores, then probabilities (forward); P then dS (backward). */
  readonly tile: Float64Array;
  /** [blockQ]: running max (forward). */
  readonly rowMax: Float64Array;
  /** [blockQ]: running sum of exponentials (forward). */
  readonly rowSum: Float64Array;
  /** [blockQ × headDim]: running weighted values (forward). */
  readonly acc: Float64Array;
  /** [blockK × headDim]: dK, dV tiles summed over a kv group (backward). */
  readonly dkTile: Float64Array;
  readonly dvTile: Float64Array;
  /** [headDim]: one query row's dQ contribution within a tile (backward). */
  readonly dqRow: Float64Array;
}

/** Allocates scratch for head size `headDim` and tiles of `blockQ` queries × `blockK` keys (defaults 64 × 64). */
export function createAttentionTrainScratch(headDim: number, blockQ = 64, blockK = 64): AttentionTrainScratch {
  if (!(Number.isInteger(headDim) && headDim > 0 && Number.isInteger(blockQ) && blockQ > 0 && Number.isInteger(blockK) && blockK > 0)) {
    throw new RangeError(`createAttentionTrainScratch: headDim, blockQ and blockK must be positive integers (got ${headDim}, ${blockQ}, ${blockK})`);
  }
  return {
    headDim, blockQ, blockK,
    tile: new Float64Array(blockQ * blockK),
    rowMax: new Float64Array(blockQ),
    rowSum: new Float64Array(blockQ),
    acc: new Float64Array(blockQ * headDim),
    dkTile: new Float64Array(blockK * headDim),
    dvTile: new Float64Array(blockK * headDim),
    dqRow: new Float64Array(headDim),
  };
}

/**
 * Number of (query block, key block) tiles on or below the diagonal, over all heads: the
 * number the tiled kernels compute. A key block starting at j0 is needed by the query block
 * [i0, i1) iff j0 ≤ i1 − 1.
 */
export function causalTileCount(T: number, nHeads: number, blockQ: number, blockK: number): number {
  let n = 0;
  for (let i0 = 0; i0 < T; i0 += blockQ) {
    const i1 = Math.min(T, i0 + blockQ);
    n += Math.ceil(i1 / blockK);
  }
  return n * nHeads;
}

/** Σ_d a[ao + d] · b[bo + d] for d < n, with four independent partial sums (V8 inlines this). */
function dot(a: FloatArray, ao: number, b: FloatArray, bo: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let d = 0;
  for (const n4 = n - 3; d < n4; d += 4) {
    s0 += a[ao + d]! * b[bo + d]!;
    s1 += a[ao + d + 1]! * b[bo + d + 1]!;
    s2 += a[ao + d + 2]! * b[bo + d + 2]!;
    s3 += a[ao + d + 3]! * b[bo + d + 3]!;
  }
  for (; d < n; d++) s0 += a[ao + d]! * b[bo + d]!;
  return (s0 + s1) + (s2 + s3);
}

function checkShapes(T: number, nHeads: number, nKvHeads: number, headDim: number, scratch: AttentionTrainScratch, who: string): void {
  if (!(nKvHeads > 0 && nHeads % nKvHeads === 0)) {
    throw new RangeError(`${who}: nHeads (${nHeads}) must be a positive multiple of nKvHeads (${nKvHeads})`);
  }
  if (scratch.headDim !== headDim) {
    throw new RangeError(`${who}: scratch was made for headDim ${scratch.headDim}, called with ${headDim}`);
  }
  if (!(Number.isInteger(T) && T >= 0)) throw new RangeError(`${who}: T must be a non-negative integer (got ${T})`);
}

/**
 * Tiled causal attention forward for training. Writes `out` [T × nHeads × headDim] and
 * `lse` [T × nHeads] (natural log-sum-exp of the scaled scores of each row and head).
 * Returns the number of tiles computed. Allocates nothing when `scratch` is given.
 */
export function attentionForwardTrain(
  out: FloatArray, lse: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  T: number, nHeads: number, nKvHeads: number, headDim: number,
  scratch: AttentionTrainScratch = createAttentionTrainScratch(headDim),
): number {
  checkShapes(T, nHeads, nKvHeads, headDim, scratch, "attentionForwardTrain");
  const hd = headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const qStride = nHeads * hd;
  const kvStride = nKvHeads * hd;
  const BQ = scratch.blockQ;
  const BK = scratch.blockK;
  const S = scratch.tile;
  const M = scratch.rowMax;
  const L = scratch.rowSum;
  const acc = scratch.acc;
  let tiles = 0;

  for (let h = 0; h < nHeads; h++) {
    const kvOff = ((h / group) | 0) * hd;
    for (let i0 = 0; i0 < T; i0 += BQ) {
      const i1 = i0 + BQ < T ? i0 + BQ : T;
      const nr = i1 - i0;
      for (let r = 0; r < nr; r++) { M[r] = -Infinity; L[r] = 0; }
      acc.fill(0, 0, nr * hd);

      // Key blocks j0 = 0, BK, 2BK, ... while j0 <= i1 - 1: the others are fully masked.
      for (let j0 = 0; j0 < i1; j0 += BK) {
        const j1 = j0 + BK < i1 ? j0 + BK : i1;
        tiles++;
        for (let r = 0; r < nr; r++) {
          const i = i0 + r;
          const jEnd = j1 < i + 1 ? j1 : i + 1; // causal: keys j <= i
          if (jEnd <= j0) continue; // this row sees nothing of this tile
          const qo = i * qStride + h * hd;
          const so = r * BK - j0;
          let mx = -Infinity;
          for (let j = j0; j < jEnd; j++) {
            const s = dot(q, qo, k, j * kvStride + kvOff, hd) * scale;
            S[so + j] = s;
            if (s > mx) mx = s;
          }
          const mOld = M[r]!;
          const mNew = mOld > mx ? mOld : mx;
          const corr = Math.exp(mOld - mNew); // 0 on the first visited tile (mOld = -inf)
          const ao = r * hd;
          if (corr !== 1) for (let d = 0; d < hd; d++) acc[ao + d] = acc[ao + d]! * corr;
          let sum = 0;
          for (let j = j0; j < jEnd; j++) {
            const p = Math.exp(S[so + j]! - mNew);
            sum += p;
            const vo = j * kvStride + kvOff;
            for (let d = 0; d < hd; d++) acc[ao + d] = acc[ao + d]! + p * v[vo + d]!;
          }
          L[r] = L[r]! * corr + sum;
          M[r] = mNew;
        }
      }

      for (let r = 0; r < nr; r++) {
        const i = i0 + r;
        const inv = 1 / L[r]!;
        const oo = i * qStride + h * hd;
        const ao = r * hd;
        for (let d = 0; d < hd; d++) out[oo + d] = acc[ao + d]! * inv;
        lse[i * nHeads + h] = M[r]! + Math.log(L[r]!);
      }
    }
  }
  return tiles;
}

/**
 * Tiled causal attention backward. From the forward's inputs, its `out` and `lse`, and the
 * output gradient `dOut`, writes dq [T × nHeads × headDim] and dk, dv [T × nKvHeads × headDim]
 * (overwritten, or added to when `accumulate` is true; kv gradients sum over the query heads
 * of each group). Scores are recomputed tile by tile; masked tiles are skipped. Returns the
 * number of tiles computed. Allocates nothing when `scratch` is given.
 */
export function attentionBackwardTrain(
  dq: FloatArray, dk: FloatArray, dv: FloatArray, dOut: FloatArray,
  q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
  T: number, nHeads: number, nKvHeads: number, headDim: number,
  scratch: AttentionTrainScratch = createAttentionTrainScratch(headDim), accumulate = false,
): number {
  checkShapes(T, nHeads, nKvHeads, headDim, scratch, "attentionBackwardTrain");
  const hd = headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(hd);
  const qStride = nHeads * hd;
  const kvStride = nKvHeads * hd;
  const BQ = scratch.blockQ;
  const BK = scratch.blockK;
  const dK = scratch.dkTile;
  const dV = scratch.dvTile;
  const dqRow = scratch.dqRow;
  let tiles = 0;

  if (!accumulate) dq.fill(0, 0, T * qStride);

  for (let g = 0; g < nKvHeads; g++) {
    const kvOff = g * hd;
    for (let j0 = 0; j0 < T; j0 += BK) {
      const j1 = j0 + BK < T ? j0 + BK : T;
      const nc = j1 - j0;
      dK.fill(0, 0, nc * hd);
      dV.fill(0, 0, nc * hd);
      for (let h = g * group; h < (g + 1) * group; h++) {
        // First query block whose last row reaches j0; all later blocks too.
        for (let i0 = Math.floor(j0 / BQ) * BQ; i0 < T; i0 += BQ) {
          const i1 = i0 + BQ < T ? i0 + BQ : T;
          tiles++;
          for (let i = i0 > j0 ? i0 : j0; i < i1; i++) {
            const jEnd = j1 < i + 1 ? j1 : i + 1;
            const qo = i * qStride + h * hd;
            const L = lse[i * nHeads + h]!;
            const delta = dot(dOut, qo, out, qo, hd);
            for (let d = 0; d < hd; d++) dqRow[d] = 0;
            for (let j = j0; j < jEnd; j++) {
              const ko = j * kvStride + kvOff;
              const s = dot(q, qo, k, ko, hd);
              const dp = dot(dOut, qo, v, ko, hd);
              const p = Math.exp(s * scale - L);
              const ds = p * (dp - delta) * scale;
              const to = (j - j0) * hd;
              for (let d = 0; d < hd; d++) {
                dV[to + d] = dV[to + d]! + p * dOut[qo + d]!;
                dK[to + d] = dK[to + d]! + ds * q[qo + d]!;
                dqRow[d] = dqRow[d]! + ds * k[ko + d]!;
              }
            }
            for (let d = 0; d < hd; d++) dq[qo + d] = dq[qo + d]! + dqRow[d]!;
          }
        }
      }
      for (let c = 0; c < nc; c++) {
        const ko = (j0 + c) * kvStride + kvOff;
        const to = c * hd;
        if (accumulate) {
          for (let d = 0; d < hd; d++) {
            dk[ko + d] = dk[ko + d]! + dK[to + d]!;
            dv[ko + d] = dv[ko + d]! + dV[to + d]!;
          }
        } else {
          for (let d = 0; d < hd; d++) {
            dk[ko + d] = dK[to + d]!;
            dv[ko + d] = dV[to + d]!;
          }
        }
      }
    }
  }
  return tiles;
}

// ---------------------------------------------------------------------------------------------
// Plain references: full softmax per row, obviously right, O(T²) memory. For tests only.
// ---------------------------------------------------------------------------------------------

/** Reference causal GQA attention forward over one sequence: writes out and lse (same layouts as the tiled kernel). */
export function attentionForwardReference(
  out: FloatArray, lse: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  T: number, nHeads: number, nKvHeads: number, headDim: number,
): void {
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const p = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const qo = (i * nHeads + h) * headDim;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        const ko = (j * nKvHeads + kvh) * headDim;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
        p[j] = s * scale;
        max = Math.max(max, p[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += Math.exp(p[j]! - max);
      const l = max + Math.log(sum);
      lse[i * nHeads + h] = l;
      for (let j = 0; j <= i; j++) p[j] = Math.exp(p[j]! - l);
      for (let d = 0; d < headDim; d++) {
        let o = 0;
        for (let j = 0; j <= i; j++) o += p[j]! * v[(j * nKvHeads + kvh) * headDim + d]!;
        out[qo + d] = o;
      }
    }
  }
}

/**
 * Reference backward, recomputing the full softmax row P_i from q and k:
 * dV_j += P_ij dOut_i; dP_ij = dOut_i · v_j; dS_ij = P_ij (dP_ij − Σ_l P_il dP_il);
 * dQ_i = scale Σ_j dS_ij k_j; dK_j += scale dS_ij q_i. Overwrites dq, dk, dv.
 */
export function attentionBackwardReference(
  dq: FloatArray, dk: FloatArray, dv: FloatArray, dOut: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray,
  T: number, nHeads: number, nKvHeads: number, headDim: number,
): void {
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  dq.fill(0, 0, T * nHeads * headDim);
  dk.fill(0, 0, T * nKvHeads * headDim);
  dv.fill(0, 0, T * nKvHeads * headDim);
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const qo = (i * nHeads + h) * headDim;
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        const ko = (j * nKvHeads + kvh) * headDim;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
        p[j] = s * scale;
        max = Math.max(max, p[j]!);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) { p[j] = Math.exp(p[j]! - max); sum += p[j]!; }
      for (let j = 0; j <= i; j++) p[j] = p[j]! / sum;
      let pdp = 0;
      for (let j = 0; j <= i; j++) {
        const vo = (j * nKvHeads + kvh) * headDim;
        let s = 0;
        for (let d = 0; d < headDim; d++) {
          s += dOut[qo + d]! * v[vo + d]!;
          dv[vo + d] = dv[vo + d]! + p[j]! * dOut[qo + d]!;
        }
        dp[j] = s;
        pdp += p[j]! * s;
      }
      for (let j = 0; j <= i; j++) {
        const ko = (j * nKvHeads + kvh) * headDim;
        const ds = p[j]! * (dp[j]! - pdp) * scale;
        for (let d = 0; d < headDim; d++) {
          dq[qo + d] = dq[qo + d]! + ds * k[ko + d]!;
          dk[ko + d] = dk[ko + d]! + ds * q[qo + d]!;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The contract's ops: `batch` sequences at once, and their argument checks.
// ---------------------------------------------------------------------------------------------

/** The reference ops over `batch` sequences, on tiles of blockQ × blockK (scratch kept between calls). */
export function attentionTrainOps<F extends FloatArray>(
  blockQ = 64, blockK = 64,
): Pick<KernelOps<F>, "attentionTrainForward" | "attentionTrainBackward"> {
  let scratch: AttentionTrainScratch | undefined;
  const scr = (hd: number): AttentionTrainScratch => {
    if (!scratch || scratch.headDim !== hd) scratch = createAttentionTrainScratch(hd, blockQ, blockK);
    return scratch;
  };
  return {
    attentionTrainForward(out, lse, q, k, v, batch, T, nH, nKv, hd) {
      const qs = T * nH * hd, ks = T * nKv * hd, ls = T * nH;
      for (let b = 0; b < batch; b++) {
        attentionForwardTrain(
          out.subarray(b * qs, (b + 1) * qs), lse.subarray(b * ls, (b + 1) * ls), q.subarray(b * qs, (b + 1) * qs),
          k.subarray(b * ks, (b + 1) * ks), v.subarray(b * ks, (b + 1) * ks), T, nH, nKv, hd, scr(hd),
        );
      }
    },
    attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nH, nKv, hd, accumulate) {
      const qs = T * nH * hd, ks = T * nKv * hd, ls = T * nH;
      const Q = (a: F, b: number): F => a.subarray(b * qs, (b + 1) * qs) as F;
      const K = (a: F, b: number): F => a.subarray(b * ks, (b + 1) * ks) as F;
      for (let b = 0; b < batch; b++) {
        attentionBackwardTrain(
          Q(dq, b), K(dk, b), K(dv, b), Q(dOut, b), Q(q, b), K(k, b), K(v, b), Q(out, b),
          lse.subarray(b * ls, (b + 1) * ls), T, nH, nKv, hd, scr(hd), accumulate,
        );
      }
    },
  };
}

/** The sizes and head counts both ops take. */
function shapes(fn: string, batch: number, T: number, nHeads: number, nKvHeads: number, headDim: number): void {
  size(fn, "batch", batch); size(fn, "T", T); size(fn, "nHeads", nHeads);
  size(fn, "nKvHeads", nKvHeads); size(fn, "headDim", headDim);
  heads(fn, nHeads, nKvHeads);
}

const Q_NEED = "batch·T·nHeads·headDim";
const KV_NEED = "batch·T·nKvHeads·headDim";
const LSE_NEED = "batch·T·nHeads";

export const checks: Pick<CheckSpecs, "attentionTrainForward" | "attentionTrainBackward"> = {
  attentionTrainForward(out, lse, q, k, v, batch, T, nHeads, nKvHeads, headDim) {
    const fn = "attentionTrainForward";
    shapes(fn, batch, T, nHeads, nKvHeads, headDim);
    const rows = batch * T, qNeed = rows * nHeads * headDim, kvNeed = rows * nKvHeads * headDim;
    data(fn, "out", out, qNeed, Q_NEED);
    data(fn, "q", q, qNeed, Q_NEED);
    data(fn, "lse", lse, rows * nHeads, LSE_NEED);
    data(fn, "k", k, kvNeed, KV_NEED);
    data(fn, "v", v, kvNeed, KV_NEED);
  },
  attentionTrainBackward(dq, dk, dv, dOut, q, k, v, out, lse, batch, T, nHeads, nKvHeads, headDim, accumulate) {
    const fn = "attentionTrainBackward";
    shapes(fn, batch, T, nHeads, nKvHeads, headDim);
    bool(fn, "accumulate", accumulate);
    const rows = batch * T, qNeed = rows * nHeads * headDim, kvNeed = rows * nKvHeads * headDim;
    data(fn, "dq", dq, qNeed, Q_NEED);
    data(fn, "dk", dk, kvNeed, KV_NEED);
    data(fn, "dv", dv, kvNeed, KV_NEED);
    data(fn, "dOut", dOut, qNeed, Q_NEED);
    data(fn, "q", q, qNeed, Q_NEED);
    data(fn, "k", k, kvNeed, KV_NEED);
    data(fn, "v", v, kvNeed, KV_NEED);
    data(fn, "out", out, qNeed, Q_NEED);
    data(fn, "lse", lse, rows * nHeads, LSE_NEED);
  },
};
