#!/usr/bin/python3
"""Writes the safetensors fixtures in test/fixtures/safetensors/ (an independent producer).

The files are written by hand from the format's specification (8-byte little-endian header
length, UTF-8 JSON header padded with spaces, raw little-endian row-major data), with PyTorch
producing every F16/BF16 bit pattern and every float32 conversion the tests compare against.
It does not use the `safetensors` package (Debian does not ship it).

Run with Debian's python3-torch:  /usr/bin/python3 tools/gen_safetensors_fixtures.py
npm test reads only the files this writes; it never runs Python.

Outputs:
  single/model.safetensors       F32, F16, BF16, F64, I64 tensors, a scalar, an empty tensor,
                                 __metadata__; header key order differs from data order
  sharded/model.safetensors.index.json + two shards (HF layout, one tensor named "0")
  expected.json                  per tensor: dtype, shape, float32 bit patterns as torch
                                 converts them; plus float32 -> f16/bf16 rounding vectors
"""
import json
import os
import random
import struct

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "safetensors")

# dtype name -> (torch dtype, struct code for the raw bits, torch integer dtype of the same width)
DTYPES = {
    "F32": (torch.float32, "i", torch.int32),
    "F16": (torch.float16, "h", torch.int16),
    "BF16": (torch.bfloat16, "h", torch.int16),
    "F64": (torch.float64, "q", torch.int64),
    "I64": (torch.int64, "q", torch.int64),
}


def raw_bytes(t, dtype):
    _, code, int_dtype = DTYPES[dtype]
    flat = t.contiguous().reshape(-1)
    ints = flat.view(int_dtype).tolist() if flat.dtype != int_dtype else flat.tolist()
    return struct.pack("<%d%s" % (len(ints), code), *ints)


def f32_bits(t):
    """Float32 bit patterns (unsigned) of the tensor converted to float32 by torch."""
    return [b & 0xFFFFFFFF for b in t.to(torch.float32).reshape(-1).view(torch.int32).tolist()]


def write_file(path, tensors, metadata=None, key_order=None):
    """tensors: list of (name, dtype, tensor) in data order. key_order: header key order."""
    entries = {}
    blobs = []
    offset = 0
    for name, dtype, t in tensors:
        data = raw_bytes(t, dtype)
        entries[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    order = key_order if key_order is not None else [n for n, _, _ in tensors]
    assert sorted(order) == sorted(entries)
    parts = []
    if metadata is not None:
        parts.append('"__metadata__":' + json.dumps(metadata, separators=(",", ":")))
    for name in order:
        parts.append(json.dumps(name) + ":" + json.dumps(entries[name], separators=(",", ":")))
    header = ("{" + ",".join(parts) + "}").encode("utf-8")
    header += b" " * ((8 - len(header) % 8) % 8)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for b in blobs:
            f.write(b)
    return offset


def describe(tensors, metadata):
    out = {"metadata": metadata or {}, "tensors": {}}
    for name, dtype, t in tensors:
        d = {"dtype": dtype, "shape": list(t.shape)}
        if dtype in ("F32", "F16", "BF16", "F64"):
            d["f32_bits"] = f32_bits(t)
        else:
            d["values"] = t.reshape(-1).tolist()
        out["tensors"][name] = d
    return out


def main():
    torch.manual_seed(1234)
    inf, nan = float("inf"), float("nan")

    f16_values = [0.0, -0.0, 1.0, -2.5, 65504.0, -65504.0, 2.0**-14, 2.0**-24, 3 * 2.0**-24, -(2.0**-20),
                  inf, -inf, nan, 0.1, 1 / 3, 1000.5]
    bf16_values = [0.0, -0.0, 1.0, -1.5, 3.3895313892515355e38, 2.0**-126, 2.0**-133, inf, -inf, nan, 0.1, 3.14159265]
    single = [
        ("model.embed_tokens.weight", "F32", torch.randn(3, 5)),
        ("scalar", "F32", torch.tensor(42.5)),
        ("layers.0.half", "F16", torch.tensor(f16_values, dtype=torch.float32).to(torch.float16).reshape(2, 8)),
        ("empty", "F32", torch.zeros(0, 4)),
        ("layers.0.bf16", "BF16", torch.tensor(bf16_values, dtype=torch.float32).to(torch.bfloat16).reshape(4, 3)),
        ("ids", "I64", torch.tensor([1, -2, 3])),
        ("double", "F64", torch.tensor([0.1, -1e-3, 1e300], dtype=torch.float64)),
        ("odd", "F16", torch.randn(3, 1, 7).to(torch.float16)),
    ]
    single_meta = {"format": "pt", "note": "written by tools/gen_safetensors_fixtures.py"}
    key_order = ["ids", "layers.0.bf16", "scalar", "odd", "model.embed_tokens.weight", "empty", "double", "layers.0.half"]
    write_file(os.path.join(ROOT, "single", "model.safetensors"), single, single_meta, key_order)

    shard1 = [
        ("model.layers.0.weight", "F32", torch.randn(2, 3)),
        ("model.layers.0.bias", "BF16", torch.randn(5).to(torch.bfloat16)),
    ]
    shard2 = [
        ("lm_head.weight", "F16", torch.randn(3, 2).to(torch.float16)),
        ("0", "F32", torch.tensor([7.0])),
    ]
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    total = write_file(os.path.join(ROOT, "sharded", names[0]), shard1, {"format": "pt"})
    total += write_file(os.path.join(ROOT, "sharded", names[1]), shard2, {"format": "pt"})
    weight_map = {n: names[0] for n, _, _ in shard1}
    weight_map.update({n: names[1] for n, _, _ in shard2})
    with open(os.path.join(ROOT, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
        f.write("\n")

    # float32 -> f16 / bf16 rounding vectors: hand-picked edge cases plus random patterns.
    edge = [1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, 65504.0, 65519.99, 65520.0, 1e6,
            2.0**-25, 1.5 * 2.0**-25, 2.5 * 2.0**-24, 3.5 * 2.0**-24, 2.0**-14 - 2.0**-25, 2.0**-26, 1e-45, -0.0,
            3.3895313892515355e38, 3.4028234663852886e38, 2.0**-126, 2.0**-133, 1.00390625, 1.01171875, inf, -inf, nan]
    edge_bits = [b & 0xFFFFFFFF for b in torch.tensor(edge, dtype=torch.float32).view(torch.int32).tolist()]
    rnd = random.Random(99)
    rand_bits = []
    for _ in range(300):
        exp = rnd.randint(95, 145)  # around the binary16 range, including subnormals and overflow
        rand_bits.append((rnd.getrandbits(1) << 31) | (exp << 23) | rnd.getrandbits(23))
    for _ in range(100):
        rand_bits.append(rnd.getrandbits(32))  # anything, for bf16
    inputs = edge_bits + rand_bits
    x = torch.tensor([b - (1 << 32) if b >= 1 << 31 else b for b in inputs], dtype=torch.int32).view(torch.float32)
    to_f16 = [b & 0xFFFF for b in x.to(torch.float16).view(torch.int16).tolist()]
    to_bf16 = [b & 0xFFFF for b in x.to(torch.bfloat16).view(torch.int16).tolist()]

    expected = {
        "generator": "tools/gen_safetensors_fixtures.py, torch " + torch.__version__,
        "files": {
            "single/model.safetensors": describe(single, single_meta),
            "sharded/" + names[0]: describe(shard1, {"format": "pt"}),
            "sharded/" + names[1]: describe(shard2, {"format": "pt"}),
        },
        "rounding": {"f32_bits": inputs, "f16_bits": to_f16, "bf16_bits": to_bf16},
    }
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
