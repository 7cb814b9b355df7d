#!/usr/bin/python3
"""PyTorch `.pth` fixtures for llama-ts's restricted unpickler and Meta checkpoint loader.

Writes into test/fixtures/meta/ (or OUT_DIR):
  single-f16/            params.json (vocab_size -1) + consolidated.00.pth, float16, MHA
  mp2-bf16-gqa/          params.json + consolidated.00.pth and .01.pth: 2 model-parallel shards,
                         bfloat16, grouped-query attention, ffn_dim_multiplier, rope_theta
  mp2-bf16-gqa-merged/   the same model as one shard (the merge must give the same parameters)
  mp2-vocab-parallel/    2 tiny shards with Llama 3's row-split (vocabulary-parallel) embedding,
                         and its -merged/ single shard
  NAME.expected.json     token ids and the logits of a forward pass written from scratch here
                         with Meta's model.py math (interleaved RoPE as complex rotations,
                         repeat_kv, SwiGLU), in float64 on the weights as stored
  tensors.pth            torch.save of dtypes, strides, offsets, shared storages, a Parameter,
                         a nested dict, a state_dict `_metadata` (pickled with BUILD);
                         tensors.expected.json holds shapes and values
  zip64.pth              tensors.pth's entries re-packed in a ZIP64 container written by hand
                         (checked here to load in torch.load and zipfile)
  zip64-at-5GiB.tail     the same archive with every offset past 5 GiB: the bytes to write at
                         offset 5 GiB of a sparse file (checked here with zipfile)
  evil/CASE/             params.json + consolidated.00.pth that must be refused: an object whose
                         __reduce__ returns os.system, one returning builtins.eval, the INST opcode,
                         an opcode that does not exist, BUILD on a list, REDUCE of a storage
                         class, a truncated zip, a storage larger than its
                         data, a tensor reaching past its storage. The two __reduce__ payloads
                         create MARKER when unpickled by torch.load (checked here).
  broken/norm-mismatch/  2 shards whose replicated ffn_norm differs

q/k weights are scaled up (x6) so attention is far from uniform and RoPE/layout bugs show.

Usage: /usr/bin/python3 tools/gen_pth_fixtures.py [OUT_DIR]
"""
import collections
import io
import json
import math
import os
import pickle
import shutil
import struct
import sys
import zipfile

import torch

from llama_reference import rms_norm  # tools/ is on sys.path when this script runs

torch.set_default_dtype(torch.float32)  # llama_reference sets float64; tensors.pth wants torch's default

MARKER = "/tmp/llama-ts-pth-pwned-marker"
ZIP64_SPARSE_BASE = 5 << 30  # zip64-at-5GiB.tail starts here in a sparse file (offsets past 4 GiB)


# ---- Meta's model math (float64) ----

def precompute_freqs_cis(hd, end, theta):
    freqs = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64)[: hd // 2] / hd))
    t = torch.arange(end, dtype=torch.float64)
    freqs = torch.outer(t, freqs)
    return torch.polar(torch.ones_like(freqs), freqs)  # complex128 [T, hd/2]


def apply_rotary(x, freqs_cis):
    # x: [T, heads, hd]; adjacent pairs (2i, 2i+1) are one complex number
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(xc * freqs_cis[:, None, :]).flatten(2)


def ffn_hidden(p):
    hidden = int(2 * (4 * p["dim"]) / 3)
    if p.get("ffn_dim_multiplier") is not None:
        hidden = int(p["ffn_dim_multiplier"] * hidden)
    m = p["multiple_of"]
    return m * ((hidden + m - 1) // m)


def meta_forward(p, W, tokens):
    d, nh = p["dim"], p["n_heads"]
    nkv = p.get("n_kv_heads") or nh
    hd = d // nh
    eps, theta = p["norm_eps"], p.get("rope_theta", 10000.0)
    T = len(tokens)
    freqs_cis = precompute_freqs_cis(hd, T, theta)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = W["tok_embeddings.weight"][torch.tensor(tokens)]
    for l in range(p["n_layers"]):
        a = f"layers.{l}."
        h = rms_norm(x, W[a + "attention_norm.weight"], eps)
        q = (h @ W[a + "attention.wq.weight"].T).view(T, nh, hd)
        k = (h @ W[a + "attention.wk.weight"].T).view(T, nkv, hd)
        v = (h @ W[a + "attention.wv.weight"].T).view(T, nkv, hd)
        q, k = apply_rotary(q, freqs_cis), apply_rotary(k, freqs_cis)
        rep = nh // nkv
        k = k[:, :, None, :].expand(T, nkv, rep, hd).reshape(T, nh, hd)  # repeat_kv
        v = v[:, :, None, :].expand(T, nkv, rep, hd).reshape(T, nh, hd)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        o = torch.einsum("hts,shd->thd", torch.softmax(scores, dim=-1), v).reshape(T, nh * hd)
        x = x + o @ W[a + "attention.wo.weight"].T
        h = rms_norm(x, W[a + "ffn_norm.weight"], eps)
        f = torch.nn.functional.silu(h @ W[a + "feed_forward.w1.weight"].T) * (h @ W[a + "feed_forward.w3.weight"].T)
        x = x + f @ W[a + "feed_forward.w2.weight"].T
    return rms_norm(x, W["norm.weight"], eps) @ W["output.weight"].T


# ---- random Meta-layout weights and model-parallel shards ----

SPLIT = {  # Meta's model parallelism: column-parallel split dim 0, row-parallel dim 1
    "attention.wq.weight": 0, "attention.wk.weight": 0, "attention.wv.weight": 0, "attention.wo.weight": 1,
    "feed_forward.w1.weight": 0, "feed_forward.w3.weight": 0, "feed_forward.w2.weight": 1,
    "tok_embeddings.weight": 1, "output.weight": 0,
}


def make_weights(p, vocab, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    d, nh = p["dim"], p["n_heads"]
    nkv = p.get("n_kv_heads") or nh
    hd, f = d // nh, ffn_hidden(p)
    W = {}

    def mat(name, rows, cols, scale=1.0):
        W[name] = torch.randn(rows, cols, generator=g, dtype=torch.float64) * 0.02 * scale * math.sqrt(64 / cols) * 4

    def norm(name):
        W[name] = 1.0 + 0.1 * torch.randn(d, generator=g, dtype=torch.float64)

    mat("tok_embeddings.weight", vocab, d, 10)
    for l in range(p["n_layers"]):
        a = f"layers.{l}."
        mat(a + "attention.wq.weight", nh * hd, d, 6)
        mat(a + "attention.wk.weight", nkv * hd, d, 6)
        mat(a + "attention.wv.weight", nkv * hd, d)
        mat(a + "attention.wo.weight", d, nh * hd)
        mat(a + "feed_forward.w1.weight", f, d)
        mat(a + "feed_forward.w3.weight", f, d)
        mat(a + "feed_forward.w2.weight", d, f)
        norm(a + "attention_norm.weight")
        norm(a + "ffn_norm.weight")
    norm("norm.weight")
    mat("output.weight", vocab, d, 5)
    # rope.freqs as LLaMA 1 files carry it (ignored by loaders)
    W["rope.freqs"] = 1.0 / (p.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    return {k: v.to(dtype) for k, v in W.items()}


def shard(W, n, rank, emb_dim=1):
    """Rank `rank` of `n`: LLaMA 1/2 split tok_embeddings on columns (ParallelEmbedding), Llama 3
    on rows (VocabParallelEmbedding): emb_dim."""
    out = collections.OrderedDict()
    for name, t in W.items():
        key = name.split(".", 2)[-1] if name.startswith("layers.") else name
        if key in SPLIT and n > 1:
            dim = emb_dim if key == "tok_embeddings.weight" else SPLIT[key]
            out[name] = torch.chunk(t, n, dim=dim)[rank].clone()
        else:
            out[name] = t.clone()
    return out


def write_meta(folder, p, W, n, as_plain_dict=False, emb_dim=1):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    with open(os.path.join(folder, "params.json"), "w") as fh:
        json.dump(p, fh)
    for r in range(n):
        sd = shard(W, n, r, emb_dim)
        torch.save(dict(sd) if as_plain_dict else sd, os.path.join(folder, f"consolidated.{r:02d}.pth"))


MODELS = [
    # name, params.json, vocab, dtype, shards, seed, tok_embeddings split dim
    ("single-f16", dict(dim=48, n_layers=2, n_heads=4, vocab_size=-1, multiple_of=32, norm_eps=1e-6),
     61, torch.float16, 1, 11, 1),
    ("mp2-bf16-gqa", dict(dim=48, n_layers=2, n_heads=6, n_kv_heads=2, vocab_size=66, multiple_of=16,
                          ffn_dim_multiplier=1.3, norm_eps=1e-5, rope_theta=50000.0),
     66, torch.bfloat16, 2, 12, 1),
    # Llama 3 style: vocabulary-parallel embedding, rope_theta 500000, vocab_size -1
    ("mp2-vocab-parallel", dict(dim=16, n_layers=1, n_heads=4, n_kv_heads=2, vocab_size=-1, multiple_of=16,
                                norm_eps=1e-5, rope_theta=500000.0),
     10, torch.bfloat16, 2, 13, 0),
]


def write_models(out):
    for name, p, vocab, dtype, n, seed, emb_dim in MODELS:
        W = make_weights(p, vocab, seed, dtype)
        write_meta(os.path.join(out, name), p, W, n, as_plain_dict=(n == 1), emb_dim=emb_dim)
        if n > 1:
            write_meta(os.path.join(out, name + "-merged"), p, W, 1)
        # The shards must load back (with torch) to exactly these weights.
        for r in range(n):
            back = torch.load(os.path.join(out, name, f"consolidated.{r:02d}.pth"))
            assert all(torch.equal(back[k], v) for k, v in shard(W, n, r, emb_dim).items())
        W64 = {k: v.to(torch.float64) for k, v in W.items()}
        g = torch.Generator().manual_seed(100 + seed)
        tokens = torch.randint(0, vocab, (11,), generator=g).tolist()
        logits = meta_forward(p, W64, tokens)
        with open(os.path.join(out, name + ".expected.json"), "w") as fh:
            json.dump({"tokens": tokens, "ffn_hidden": ffn_hidden(p), "vocab": vocab,
                       "logits": [[float(x) for x in row] for row in logits]}, fh)
        print(f"{name}: {n} shard(s), {dtype}, ffn {ffn_hidden(p)}")


# ---- the unpickler's own fixtures ----

def write_tensors(out):
    g = torch.Generator().manual_seed(5)
    base = torch.randn(6, 7, generator=g).half()
    shared = torch.randn(10, generator=g)
    sd = collections.OrderedDict()
    sd["f16"] = torch.randn(3, 5, generator=g).half()
    sd["bf16"] = torch.randn(4, generator=g).bfloat16()
    sd["f32"] = torch.randn(2, 3, 4, generator=g)
    sd["f64"] = torch.randn(3, generator=g).double()
    sd["transposed"] = torch.randn(5, 3, generator=g).t()  # non-contiguous strides (1, 3)
    sd["slice"] = base[2:5, 1:6]  # storage offset 15, strides (7, 1)
    sd["shared_a"] = shared[:4]
    sd["shared_b"] = shared[4:].view(2, 3)  # same storage, offset 4
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    sd["scalar"] = torch.tensor(3.5)
    sd["nested"] = {"w": torch.randn(2, generator=g)}
    sd["ids"] = torch.arange(3)
    sd["step"] = 7
    sd._metadata = collections.OrderedDict([("", {"version": 1})])  # as nn.Module.state_dict() sets: pickled with BUILD
    path = os.path.join(out, "tensors.pth")
    torch.save(sd, path)
    expected = {}
    for k, t in sd.items():
        for name, v in ([(f"{k}.w", t["w"])] if isinstance(t, dict) else [(k, t)]):
            if isinstance(v, torch.Tensor):
                expected[name] = {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                                  "contiguous": v.is_contiguous(),
                                  "values": [float(x) for x in v.detach().double().flatten()]}
    with open(os.path.join(out, "tensors.expected.json"), "w") as fh:
        json.dump(expected, fh)
    write_zip64(path, os.path.join(out, "zip64.pth"))
    write_zip64(path, os.path.join(out, "zip64-at-5GiB.tail"), base=ZIP64_SPARSE_BASE)
    back = torch.load(os.path.join(out, "zip64.pth"))
    assert all(torch.equal(back[k], sd[k]) for k in ("f16", "transposed", "slice", "shared_b"))


def write_zip64(src, dst, base=0):
    """Re-packs a zip's entries (stored) with ZIP64 fields everywhere: every central header keeps
    its sizes and offset only in the ZIP64 extra field, and the end record is ZIP64. With `base`,
    the archive is meant to start at file offset `base` (all offsets shifted) and `dst` holds
    only its bytes: the test writes them at `base` of a sparse file."""
    entries = [(i.filename, zipfile.ZipFile(src).read(i.filename)) for i in zipfile.ZipFile(src).infolist()]
    out = io.BytesIO()
    central = []
    for name, data in entries:
        off = base + out.tell()
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        nb = name.encode()
        local_extra = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        pad = (-(off + 30 + len(nb) + len(local_extra) + 4)) % 64  # align data like torch (extra id 0x4246)
        local_extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(nb), len(local_extra)))
        out.write(nb + local_extra + data)
        central.append((nb, crc, len(data), off))
    cd_off = base + out.tell()
    for nb, crc, size, off in central:
        extra = struct.pack("<HHQQQ", 1, 24, size, size, off)
        out.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(nb), len(extra), 0, 0, 0, 0, 0xFFFFFFFF))
        out.write(nb + extra)
    cd_size = base + out.tell() - cd_off
    rec = base + out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(central), len(central), cd_size, cd_off))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, rec, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(dst, "wb") as fh:
        fh.write(out.getvalue())
    check = dst
    if base:
        check = "/tmp/llama-ts-zip64-sparse.pth"
        with open(check, "wb") as fh:
            fh.seek(base)
            fh.write(out.getvalue())
    try:
        with zipfile.ZipFile(check) as z:
            assert [(n, z.read(n)) for n in z.namelist()] == entries
        if not base:  # torch.load only takes files that begin with a zip header
            assert torch.equal(torch.load(check)["slice"], torch.load(src)["slice"])
    finally:
        if base:
            os.remove(check)


# ---- malicious and damaged checkpoints ----

class SystemPayload:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class EvalPayload:
    def __reduce__(self):
        return (eval, (f"__import__('os').system('touch {MARKER}')",))


class FakeStorage:
    def __init__(self, type_name, key, numel):
        self.type_name, self.key, self.numel = type_name, key, numel


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", getattr(torch, obj.type_name), obj.key, "cpu", obj.numel)
        return None


def write_pth_raw(path, pkl, storages):
    entries = [("archive/data.pkl", pkl)] + [(f"archive/data/{k}", d) for k, d in storages.items()] + [("archive/version", b"3\n")]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:
            z.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)  # fixed time: reproducible bytes


def crafted_pickle(obj):
    buf = io.BytesIO()
    StoragePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def check_payload_runs(path):
    """The payload is real: unrestricted torch.load runs it (then the marker is removed)."""
    if os.path.exists(MARKER):
        os.remove(MARKER)
    torch.load(path)
    assert os.path.exists(MARKER), path
    os.remove(MARKER)


def write_evil(out):
    evil = os.path.join(out, "evil")
    if os.path.exists(evil):
        shutil.rmtree(evil)
    params = dict(dim=8, n_layers=1, n_heads=2, vocab_size=-1, multiple_of=8, norm_eps=1e-5)
    emb = torch.ones(5, 8).half()

    def case(name):
        d = os.path.join(evil, name)
        os.makedirs(d)
        with open(os.path.join(d, "params.json"), "w") as fh:
            json.dump(params, fh)
        return os.path.join(d, "consolidated.00.pth")

    p = case("os-system")
    torch.save({"tok_embeddings.weight": emb, "x": SystemPayload()}, p)
    check_payload_runs(p)
    p = case("builtins-eval")
    torch.save({"tok_embeddings.weight": emb, "x": EvalPayload()}, p)
    check_payload_runs(p)
    # INST (protocol 0 object construction): "(S'...'\nios\nsystem\n" calls os.system
    inst = b"(X" + struct.pack("<I", len(f"touch {MARKER}")) + f"touch {MARKER}".encode() + b"ios\nsystem\n."
    write_pth_raw(case("opcode-inst"), b"\x80\x02" + inst, {})
    write_pth_raw(case("opcode-unknown"), b"\x80\x02}\xff.", {})
    # BUILD (which would call __setstate__) on a non-dict; REDUCE calling a storage class
    write_pth_raw(case("build-on-list"), b"\x80\x02]}b.", {})
    write_pth_raw(case("reduce-storage"), b"\x80\x02ctorch\nFloatStorage\n)R.", {})
    good = case("truncated-zip")
    torch.save({"tok_embeddings.weight": emb}, good)
    with open(good, "rb") as fh:
        data = fh.read()
    with open(good, "wb") as fh:
        fh.write(data[: len(data) * 6 // 10])
    # storage claims 1000 floats but its entry holds 4
    pkl = crafted_pickle({"tok_embeddings.weight": FakeTensor(FakeStorage("FloatStorage", "0", 1000), 0, (4,), (1,))})
    write_pth_raw(case("storage-past-end"), pkl, {"0": struct.pack("<4f", 1, 2, 3, 4)})
    # tensor view of 100 elements on a 4-element storage
    pkl = crafted_pickle({"tok_embeddings.weight": FakeTensor(FakeStorage("FloatStorage", "0", 4), 0, (10, 10), (10, 1))})
    write_pth_raw(case("view-past-storage"), pkl, {"0": struct.pack("<4f", 1, 2, 3, 4)})
    print("evil:", ", ".join(sorted(os.listdir(evil))))


def write_broken(out):
    """A 2-shard checkpoint whose replicated norm differs between the shards."""
    p = dict(dim=8, n_layers=1, n_heads=2, vocab_size=6, multiple_of=8, norm_eps=1e-5)
    W = make_weights(p, 6, 7, torch.float32)
    folder = os.path.join(out, "broken", "norm-mismatch")
    write_meta(folder, p, W, 2)
    sd = torch.load(os.path.join(folder, "consolidated.01.pth"))
    sd["layers.0.ffn_norm.weight"][3] += 0.5
    torch.save(sd, os.path.join(folder, "consolidated.01.pth"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/meta"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    write_models(out)
    write_tensors(out)
    write_evil(out)
    write_broken(out)


if __name__ == "__main__":
    main()
