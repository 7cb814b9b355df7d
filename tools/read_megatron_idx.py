#!/usr/bin/env python3
"""Reads a Megatron-LM indexed dataset (PREFIX.idx + PREFIX.bin, the MMapIndexedDataset
layout) with nothing but the standard library, written from the format description:

  .idx (little-endian): magic b"MMIDIDX\\x00\\x00" (9 bytes), u64 version (1), u8 dtype code,
  u64 sequence count S, u64 document-index count K, i32[S] sequence lengths, i64[S] byte
  pointers into .bin, i64[K] document indices (0, then one past each document's last sequence).
  .bin: the sequences' tokens, in the dtype (codes: 1 u8, 2 i8, 3 i16, 4 i32, 5 i64, 6 f64,
  7 f32, 8 u16).

Prints JSON: {"version", "dtype_code", "sequences", "documents": [[token, ...], ...]} where each
document is the concatenation of its sequences. Checks pointers against the lengths and that
the .bin holds exactly the indexed tokens. Usage: read_megatron_idx.py PREFIX
"""
import json
import struct
import sys

DTYPES = {1: ("B", 1), 2: ("b", 1), 3: ("h", 2), 4: ("i", 4), 5: ("q", 8), 6: ("d", 8), 7: ("f", 4), 8: ("H", 2)}


def read(prefix):
    with open(prefix + ".idx", "rb") as f:
        idx = f.read()
    if idx[:9] != b"MMIDIDX\x00\x00":
        raise SystemExit(f"{prefix}.idx: bad magic {idx[:9]!r}")
    version, = struct.unpack_from("<Q", idx, 9)
    code, = struct.unpack_from("<B", idx, 17)
    seqs, ndoc = struct.unpack_from("<QQ", idx, 18)
    off = 34
    lengths = struct.unpack_from(f"<{seqs}i", idx, off); off += 4 * seqs
    pointers = struct.unpack_from(f"<{seqs}q", idx, off); off += 8 * seqs
    doc_idx = struct.unpack_from(f"<{ndoc}q", idx, off); off += 8 * ndoc
    if off != len(idx):
        raise SystemExit(f"{prefix}.idx: {len(idx) - off} trailing bytes")
    fmt, size = DTYPES[code]
    with open(prefix + ".bin", "rb") as f:
        data = f.read()
    expect = 0
    for n, p in zip(lengths, pointers):
        if p != expect:
            raise SystemExit(f"{prefix}.idx: pointer {p} != {expect}")
        expect += n * size
    if expect != len(data):
        raise SystemExit(f"{prefix}.bin: {len(data)} bytes, the index covers {expect}")
    seq_tokens = [list(struct.unpack_from(f"<{n}{fmt}", data, p)) for n, p in zip(lengths, pointers)]
    if doc_idx[0] != 0 or doc_idx[-1] != seqs:
        raise SystemExit(f"{prefix}.idx: document indices must run from 0 to {seqs}")
    docs = [sum(seq_tokens[doc_idx[i]:doc_idx[i + 1]], []) for i in range(ndoc - 1)]
    return {"version": version, "dtype_code": code, "sequences": seqs, "documents": docs}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: read_megatron_idx.py PREFIX")
    json.dump(read(sys.argv[1]), sys.stdout)
    sys.stdout.write("\n")
