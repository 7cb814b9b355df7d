#!/usr/bin/env python3
"""
Independent references for the K-quants (test/kernels/kquant.test.ts), written with numpy from
the GGML block layouts (ggml-common.h block_q4_K / block_q5_K / block_q6_K), not from our
TypeScript:

1. dequantisation of hand-built super-blocks (also q3_K and q2_K): random bytes with chosen f16 scales, decoded
   here value by value;
2. an error bound for our quantisers: a straightforward float32 implementation of ggml's
   reference quantisers (make_qkx2_quants for q4_K/q5_K, make_qx_quants for q6_K, the 6/8-bit
   scale coding) run on uniform and Gaussian data; the test asserts that our RMS error is at
   most this RMS (plus 1 %), and the RMS of plain min/max quantisation for comparison.

Output: test/fixtures/kquants.json (float32 arrays as base64). Run: /usr/bin/python3 tools/gen_kquant_fixtures.py
"""
import base64
import json
import os

import numpy as np

QK_K = 256
f32 = np.float32


def b64(a):
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode()


def half(b, o):
    return f32(np.frombuffer(bytes(b[o:o + 2]), dtype="<f2")[0])


def scale_min_k4(j, s):
    if j < 4:
        return s[j] & 63, s[j + 4] & 63
    return (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4)


# ---- decoders, value by value from the layout ----

def deq_q4_K(b):
    d, dmin = half(b, 0), half(b, 2)
    sc, qs = b[4:16], b[16:144]
    y = np.zeros(QK_K, dtype=f32)
    for i in range(QK_K):
        g, r = divmod(i, 64)          # 64-value group, position in it
        sub = 2 * g + (r >= 32)       # sub-block of 32
        byte = qs[32 * g + (r % 32)]
        q = (byte & 15) if r < 32 else (byte >> 4)
        s, m = scale_min_k4(sub, sc)
        y[i] = f32(d * f32(s)) * f32(q) - f32(dmin * f32(m))
    return y


def deq_q5_K(b):
    d, dmin = half(b, 0), half(b, 2)
    sc, qh, qs = b[4:16], b[16:48], b[48:176]
    y = np.zeros(QK_K, dtype=f32)
    for i in range(QK_K):
        g, r = divmod(i, 64)
        sub = 2 * g + (r >= 32)
        l = r % 32
        lo = (qs[32 * g + l] & 15) if r < 32 else (qs[32 * g + l] >> 4)
        hi = (qh[l] >> sub) & 1       # sub-block j takes bit j of qh
        s, m = scale_min_k4(sub, sc)
        y[i] = f32(d * f32(s)) * f32(lo | (hi << 4)) - f32(dmin * f32(m))
    return y


def deq_q6_K(b):
    ql, qh = b[0:128], b[128:192]
    scales = np.frombuffer(bytes(b[192:208]), dtype=np.int8)
    d = half(b, 208)
    y = np.zeros(QK_K, dtype=f32)
    for i in range(QK_K):
        h, r = divmod(i, 128)         # half, position in it
        quarter, l = divmod(r, 32)    # which of the 4 interleaved 32-value runs
        lbyte = ql[64 * h + l + (32 if quarter in (1, 3) else 0)]
        lo = (lbyte & 15) if quarter < 2 else (lbyte >> 4)
        hi = (qh[32 * h + l] >> (2 * quarter)) & 3
        q = (lo | (hi << 4)) - 32
        y[i] = f32(d * f32(scales[i // 16])) * f32(q)
    return y


def deq_q3_K(b):
    hmask, qs, sc = b[0:32], b[32:96], b[96:108]
    d = half(b, 108)
    y = np.zeros(QK_K, dtype=f32)
    for i in range(QK_K):
        j = i // 16                   # 16-value sub-block: 6-bit signed scale
        low = (sc[j] & 15) if j < 8 else (sc[j - 8] >> 4)
        high = (sc[8 + j % 4] >> (2 * (j // 4))) & 3
        s6 = (low | (high << 4)) - 32
        h, r = divmod(i, 128)
        q2 = (qs[32 * h + r % 32] >> (2 * (r // 32))) & 3
        q = q2 - (0 if (hmask[i % 32] >> (i // 32)) & 1 else 4)
        y[i] = f32(d * f32(s6)) * f32(q)
    return y


def deq_q2_K(b):
    sc, qs = b[0:16], b[16:80]
    d, dmin = half(b, 80), half(b, 82)
    y = np.zeros(QK_K, dtype=f32)
    for i in range(QK_K):
        s = sc[i // 16]
        h, r = divmod(i, 128)
        q = (qs[32 * h + r % 32] >> (2 * (r // 32))) & 3
        y[i] = f32(d * f32(s & 15)) * f32(q) - f32(dmin * f32(s >> 4))
    return y


# ---- ggml's reference quantisers, straightforwardly, in float32 ----

def nearest_int(v):
    return int(np.rint(f32(v)))  # ties to even, as ggml's magic-number rounding


def make_qkx2(x, w, nmax, rmin, rdelta, nstep, mad=False):
    loss = (lambda e: np.abs(e)) if mad else (lambda e: e * e)
    mn, mx = min(f32(0), x.min()), x.max()
    if mx == mn:
        return f32(0), f32(-mn), np.zeros(len(x), dtype=np.int64)
    sum_w, sum_x = w.sum(dtype=f32), (w * x).sum(dtype=f32)
    iscale = f32(nmax) / (mx - mn)
    scale = f32(1) / iscale
    L = np.clip(np.rint(iscale * (x - mn)), 0, nmax)
    best = (w * loss(scale * L + mn - x)).sum(dtype=f32)
    for i in range(nstep + 1):
        iscale = f32(rmin + rdelta * i + nmax) / (mx - mn)
        La = np.clip(np.rint(iscale * (x - mn)), 0, nmax).astype(f32)
        sl, sl2, sxl = (w * La).sum(dtype=f32), (w * La * La).sum(dtype=f32), (w * La * x).sum(dtype=f32)
        D = sum_w * sl2 - sl * sl
        if D > 0:
            s = (sum_w * sxl - sum_x * sl) / D
            m = (sl2 * sum_x - sl * sxl) / D
            if m > 0:
                m, s = f32(0), sxl / sl2
            err = (w * loss(s * La + m - x)).sum(dtype=f32)
            if err < best:
                L, best, scale, mn = La, err, s, m
    return f32(scale), f32(-mn), L


def to_f16(v):
    return f32(np.float16(v))


def roundtrip_scale_min(x, nmax, rmin, nstep):
    """quantize_row_q{4,5}_K_ref followed by dequantisation, for one super-block."""
    scales, mins = np.zeros(8, dtype=f32), np.zeros(8, dtype=f32)
    for j in range(8):
        xs = x[32 * j:32 * j + 32]
        av = np.sqrt((xs * xs).sum(dtype=f32) / f32(32))
        scales[j], mins[j], _ = make_qkx2(xs, av + np.abs(xs), nmax, rmin, f32(0.1), nstep)
    ms, mm = scales.max(), mins.max()
    ls = [min(63, nearest_int(f32(63) / ms * s)) if ms > 0 else 0 for s in scales]
    lm = [min(63, nearest_int(f32(63) / mm * m)) if mm > 0 else 0 for m in mins]
    d, dmin = to_f16(ms / f32(63)), to_f16(mm / f32(63))
    y = np.zeros(QK_K, dtype=f32)
    for j in range(8):
        dj, dm = d * f32(ls[j]), dmin * f32(lm[j])
        xs = x[32 * j:32 * j + 32]
        L = np.clip(np.rint((xs + dm) / dj), 0, nmax) if dj != 0 else np.zeros(32)
        y[32 * j:32 * j + 32] = dj * L.astype(f32) - dm
    return y


def make_qx(x, nmax):
    amax_i = int(np.argmax(np.abs(x)))
    mx = x[amax_i]
    if abs(mx) < 1e-15:
        return f32(0)
    w = x * x

    def sums(iscale):
        l = np.clip(np.rint(iscale * x), -nmax, nmax - 1).astype(f32)
        return (w * x * l).sum(dtype=f32), (w * l * l).sum(dtype=f32)

    slx, sl2 = sums(f32(-nmax) / mx)
    scale = slx / sl2 if sl2 else f32(0)
    best = scale * slx
    for i in range(-9, 10):
        if i == 0:
            continue
        slx, sl2 = sums(-f32(nmax + f32(0.1) * i) / mx)
        if sl2 > 0 and slx * slx > best * sl2:
            scale = slx / sl2
            best = scale * slx
    return f32(scale)


def roundtrip_q6_K(x):
    scales = np.array([make_qx(x[16 * j:16 * j + 16], 32) for j in range(16)], dtype=f32)
    ms = scales[int(np.argmax(np.abs(scales)))]
    if abs(ms) < 1e-15:
        return np.zeros(QK_K, dtype=f32)
    iscale = f32(-128) / ms
    d = to_f16(f32(1) / iscale)
    y = np.zeros(QK_K, dtype=f32)
    for j in range(16):
        sc = min(127, nearest_int(iscale * scales[j]))
        dj = d * f32(sc)
        xs = x[16 * j:16 * j + 16]
        if dj == 0:
            continue
        L = np.clip(np.rint(xs / dj), -32, 31)
        y[16 * j:16 * j + 16] = dj * L.astype(f32)
    return y


def roundtrip_q2_K(x):
    scales, mins = np.zeros(16, dtype=f32), np.zeros(16, dtype=f32)
    for j in range(16):
        xs = x[16 * j:16 * j + 16]
        scales[j], mins[j], _ = make_qkx2(xs, np.abs(xs), 3, f32(-0.5), f32(0.1), 15, mad=True)
    ms, mm = scales.max(), mins.max()
    ls = [nearest_int(f32(15) / ms * s) if ms > 0 else 0 for s in scales]
    lm = [nearest_int(f32(15) / mm * m) if mm > 0 else 0 for m in mins]
    d = to_f16(ms / f32(15)) if ms > 0 else f32(0)
    dmin = to_f16(mm / f32(15)) if mm > 0 else f32(0)
    y = np.zeros(QK_K, dtype=f32)
    for j in range(16):
        dj, dm = d * f32(ls[j]), dmin * f32(lm[j])
        xs = x[16 * j:16 * j + 16]
        if dj == 0:
            continue  # (ggml keeps the search's codes here; a zero scale decodes them to -dm)
        L = np.clip(np.rint((xs + dm) / dj), 0, 3)
        y[16 * j:16 * j + 16] = dj * L.astype(f32) - dm
    return y


def make_q3(x, nmax):
    """make_q3_quants with do_rmse: weights x^2, 5 rounds of coordinate descent on the codes."""
    mx = x[int(np.argmax(np.abs(x)))]
    if abs(mx) < 1e-15:
        return f32(0)
    iscale = f32(-nmax) / mx
    L = np.clip(np.rint(iscale * x), -nmax, nmax - 1).astype(np.int64)
    w = x * x
    slx, sl2 = f32((w * x * L).sum(dtype=f32)), f32((w * L * L).sum(dtype=f32))
    for _ in range(5):
        changed = 0
        for i in range(len(x)):
            s1 = f32(slx - w[i] * x[i] * L[i])
            if s1 > 0:
                s2 = f32(sl2 - w[i] * L[i] * L[i])
                nl = int(np.clip(nearest_int(x[i] * s2 / s1), -nmax, nmax - 1))
                if nl != L[i]:
                    s1 = f32(s1 + w[i] * x[i] * nl)
                    s2 = f32(s2 + w[i] * nl * nl)
                    if s2 > 0 and s1 * s1 * sl2 > slx * slx * s2:
                        L[i], slx, sl2 = nl, s1, s2
                        changed += 1
        if not changed:
            break
    return f32(slx / sl2) if sl2 > 0 else f32(0)


def roundtrip_q3_K(x):
    scales = np.array([make_q3(x[16 * j:16 * j + 16], 4) for j in range(16)], dtype=f32)
    ms = scales[int(np.argmax(np.abs(scales)))]
    if ms == 0:
        return np.zeros(QK_K, dtype=f32)
    iscale = f32(-32) / ms
    d = to_f16(f32(1) / iscale)
    y = np.zeros(QK_K, dtype=f32)
    for j in range(16):
        sc = int(np.clip(nearest_int(iscale * scales[j]), -32, 31))
        dj = d * f32(sc)
        if dj == 0:
            continue
        xs = x[16 * j:16 * j + 16]
        y[16 * j:16 * j + 16] = dj * np.clip(np.rint(xs / dj), -4, 3).astype(f32)
    return y


def roundtrip_minmax(x, nmax):
    """Plain asymmetric min/max quantisation per 32 values (no search), f32 scales."""
    y = np.zeros_like(x)
    for j in range(0, len(x), 32):
        xs = x[j:j + 32]
        mn, mx = min(f32(0), xs.min()), xs.max()
        s = (mx - mn) / f32(nmax) if mx > mn else f32(1)
        y[j:j + 32] = np.clip(np.rint((xs - mn) / s), 0, nmax) * s + mn
    return y


def rms(a, b):
    return float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


def main():
    rng = np.random.default_rng(20261130)
    out = {"dequant": {}, "quant": {}}
    decoders = {"q4_K": (144, deq_q4_K, [0, 2]), "q5_K": (176, deq_q5_K, [0, 2]), "q6_K": (210, deq_q6_K, [208]),
                "q3_K": (110, deq_q3_K, [108]), "q2_K": (84, deq_q2_K, [80, 82])}
    for name, (nbytes, deq, half_at) in decoders.items():
        blocks = []
        values = []
        for scale in (0.0123, -0.5, 3.25):
            b = bytearray(rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())
            for k, o in enumerate(half_at):
                b[o:o + 2] = np.float16(scale * (1 + 0.37 * k)).tobytes()
            blocks.append(bytes(b))
            values.append(deq(b))
        out["dequant"][name] = {
            "bytes": base64.b64encode(b"".join(blocks)).decode(),
            "values": b64(np.concatenate(values)),
        }
    n = 8 * QK_K
    data = {
        "uniform": rng.uniform(-1, 1, n).astype(f32),
        "gaussian": rng.standard_normal(n).astype(f32) * f32(0.02),
    }
    for dist, x in data.items():
        ref = {
            "q4_K": np.concatenate([roundtrip_scale_min(x[i:i + QK_K], 15, f32(-1), 20) for i in range(0, n, QK_K)]),
            "q5_K": np.concatenate([roundtrip_scale_min(x[i:i + QK_K], 31, f32(-0.5), 15) for i in range(0, n, QK_K)]),
            "q6_K": np.concatenate([roundtrip_q6_K(x[i:i + QK_K]) for i in range(0, n, QK_K)]),
            "q3_K": np.concatenate([roundtrip_q3_K(x[i:i + QK_K]) for i in range(0, n, QK_K)]),
            "q2_K": np.concatenate([roundtrip_q2_K(x[i:i + QK_K]) for i in range(0, n, QK_K)]),
        }
        out["quant"][dist] = {
            "x": b64(x),
            "rms": {k: rms(v, x) for k, v in ref.items()},
            "rmsMinMax": {"q4_K": rms(roundtrip_minmax(x, 15), x), "q5_K": rms(roundtrip_minmax(x, 31), x), "q6_K": rms(roundtrip_minmax(x, 63), x),
                          "q3_K": rms(roundtrip_minmax(x, 7), x), "q2_K": rms(roundtrip_minmax(x, 3), x)},
        }
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "kquants.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(json.dumps({d: v["rms"] for d, v in out["quant"].items()}, indent=1))
    print(json.dumps({d: v["rmsMinMax"] for d, v in out["quant"].items()}, indent=1))


if __name__ == "__main__":
    main()
