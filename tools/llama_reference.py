#!/usr/bin/python3
"""Independent PyTorch reference for llama-ts model fixtures.

A from-scratch LLaMA decoder in PyTorch (RMSNorm pre-normalisation, rotary embeddings in the
Hugging Face rotate_half layout, causal grouped-query attention, SwiGLU, untied or tied head).
It builds small random models with odd sizes, writes them as Hugging Face folders
(config.json + safetensors written by hand from the spec), and records logits and greedy
continuations computed by full recomputation (no KV cache), so the TypeScript forward pass,
its KV cache and its safetensors loader are checked against something that shares no code.

Usage: /usr/bin/python3 tools/llama_reference.py [OUT_DIR]   (default: test/fixtures/models)
"""
import json
import math
import os
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def scaled_inv_freq(inv_freq, scaling):
    """RoPE scaling written from the published rules (not from transformers).

    linear: every frequency divided by factor (positions divided by factor).
    llama3 (Llama 3.1): wavelength w = 2*pi/f; w < L/high kept, w > L/low divided by factor,
    in between f' = (1 - s) f / factor + s f with s = (L/w - low) / (high - low).
    """
    if scaling is None:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling["factor"]
    if kind == "linear":
        return inv_freq / factor
    assert kind == "llama3", kind
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    orig = scaling["original_max_position_embeddings"]
    out = []
    for f in inv_freq.tolist():
        w = 2 * math.pi / f
        if w < orig / high:
            out.append(f)
        elif w > orig / low:
            out.append(f / factor)
        else:
            s = (orig / w - low) / (high - low)
            out.append((1 - s) * f / factor + s * f)
    return torch.tensor(out, dtype=torch.float64)


def rope(x, positions, theta, scaling=None):
    # x: [T, heads, hd]
    hd = x.shape[-1]
    inv_freq = scaled_inv_freq(1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)), scaling)
    ang = positions[:, None].double() * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    return x * cos + rotate_half(x) * sin


def forward(cfg, W, tokens):
    """Logits [T, vocab] for a token list, recomputing everything (no cache)."""
    d = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    hd = d // nh
    eps = cfg["rms_norm_eps"]
    theta = cfg["rope_theta"]
    scaling = cfg.get("rope_scaling")
    T = len(tokens)
    pos = torch.arange(T)
    x = W["model.embed_tokens.weight"][torch.tensor(tokens)]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).view(T, nh, hd)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).view(T, nkv, hd)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).view(T, nkv, hd)
        q, k = rope(q, pos, theta, scaling), rope(k, pos, theta, scaling)
        rep = nh // nkv
        k = k.repeat_interleave(rep, dim=1)  # query head i uses kv head i // rep
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        att = torch.softmax(scores, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else W["lm_head.weight"]
    return x @ head.T


def greedy(cfg, W, prompt, n):
    toks = list(prompt)
    for _ in range(n):
        toks.append(int(forward(cfg, W, toks)[-1].argmax()))
    return toks[len(prompt):]


def make_weights(cfg, seed, qk_scale=6.0):
    g = torch.Generator().manual_seed(seed)
    d, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // nh
    W = {}

    def mat(name, rows, cols, scale=1.0):
        W[name] = torch.randn(rows, cols, generator=g) * 0.02 * scale * math.sqrt(64 / cols) * 4

    def norm(name):
        W[name] = 1.0 + 0.1 * torch.randn(d, generator=g)

    mat("model.embed_tokens.weight", v, d, 1 if cfg["tie_word_embeddings"] else 10)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        norm(p + "input_layernorm.weight")
        # Scaled-up q/k so attention is far from uniform (hides RoPE/GQA bugs otherwise).
        mat(p + "self_attn.q_proj.weight", nh * hd, d, qk_scale)
        mat(p + "self_attn.k_proj.weight", nkv * hd, d, qk_scale)
        mat(p + "self_attn.v_proj.weight", nkv * hd, d)
        mat(p + "self_attn.o_proj.weight", d, nh * hd)
        norm(p + "post_attention_layernorm.weight")
        mat(p + "mlp.gate_proj.weight", f, d)
        mat(p + "mlp.up_proj.weight", f, d)
        mat(p + "mlp.down_proj.weight", d, f, 4 if cfg["tie_word_embeddings"] else 1)
    norm("model.norm.weight")
    if not cfg["tie_word_embeddings"]:
        mat("lm_head.weight", v, d, 5)
    return W


DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def round_to(W, dtype):
    """The weights as the file will hold them (rounded to its dtype), back in float64."""
    t = DTYPES[dtype][0]
    return {k: v.to(t).to(torch.float64) for k, v in W.items()}


def tensor_bytes(t, dtype):
    t = t.to(DTYPES[dtype][0]).contiguous()
    if dtype == "BF16":
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype):
    """Writes {name: tensor} per the safetensors spec: u64 header size, JSON header, data."""
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)))
        fh.write(h)
        for b in blobs:
            fh.write(b)


def write_folder(out, cfg, W, dtype, shards=1):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", **cfg}, fh, indent=1)
    names = list(W)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), W, dtype)
        return
    per = math.ceil(len(names) / shards)
    weight_map = {}
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: W[n] for n in names[s * per:(s + 1) * per]}
        write_safetensors(os.path.join(out, fname), part, dtype)
        weight_map.update({n: fname for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, fh, indent=1)


MODELS = [
    # name, config, dtype, shards, seed
    ("gqa-f32", dict(vocab_size=97, hidden_size=60, intermediate_size=100, num_hidden_layers=2,
                     num_attention_heads=6, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
                     max_position_embeddings=64, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
     "F32", 1, 1),
    ("tied-bf16", dict(vocab_size=83, hidden_size=48, intermediate_size=72, num_hidden_layers=1,
                       num_attention_heads=4, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=500000.0,
                       max_position_embeddings=48, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2),
     "BF16", 1, 2),
    ("mqa-f16-sharded", dict(vocab_size=71, hidden_size=32, intermediate_size=56, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                             max_position_embeddings=40, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
     "F16", 2, 3),
    # RoPE scaling. Head dim 16, theta 10000: wavelengths 6.3, 20, 63, 199, ... With an original
    # context of 64 (cut-offs 64/4 = 16 and 64/1 = 64) the llama3 rule keeps one frequency,
    # interpolates two and divides the other five by the factor; 40 tokens reach well past
    # original/factor = 8 positions.
    ("llama3-rope", dict(vocab_size=89, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, rms_norm_eps=1e-5, rope_theta=10000.0,
                         rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                           original_max_position_embeddings=64),
                         max_position_embeddings=512, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
     "F32", 1, 4),
    ("linear-rope", dict(vocab_size=79, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
                         rope_scaling=dict(type="linear", factor=4.0),
                         max_position_embeddings=256, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2),
     "F32", 1, 5),
]

# Tokens scored per model (the first models keep their original 13).
N_TOKENS = {"llama3-rope": 40, "linear-rope": 40}


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/models"
    for name, cfg, dtype, shards, seed in MODELS:
        W = make_weights(cfg, seed)
        folder = os.path.join(out_root, name)
        write_folder(folder, cfg, W, dtype, shards)
        Wf = round_to(W, dtype)
        g = torch.Generator().manual_seed(100 + seed)
        tokens = torch.randint(0, cfg["vocab_size"], (N_TOKENS.get(name, 13),), generator=g).tolist()
        logits = forward(cfg, Wf, tokens)
        prompt = tokens[:4]
        expected = {
            "tokens": tokens,
            "logits": [[float(x) for x in row] for row in logits],
            "greedy_prompt": prompt,
            "greedy_tokens": greedy(cfg, Wf, prompt, 12),
        }
        if cfg.get("rope_scaling"):
            # What llama.cpp stores as rope_freqs.weight: each frequency's divisor.
            hd = cfg["hidden_size"] // cfg["num_attention_heads"]
            base = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
            expected["rope_freq_factors"] = (base / scaled_inv_freq(base, cfg["rope_scaling"])).tolist()
        with open(os.path.join(out_root, name + ".expected.json"), "w") as fh:
            json.dump(expected, fh)
        print(f"{name}: {dtype}, {shards} shard(s), greedy {expected['greedy_tokens']}")


if __name__ == "__main__":
    main()
