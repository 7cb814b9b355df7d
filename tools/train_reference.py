#!/usr/bin/python3
"""PyTorch reference for llama-ts training fixtures (loss, gradients, AdamW steps).

Uses the independent from-scratch LLaMA forward of tools/llama_reference.py with autograd in
float64, on a small random GQA model, and writes into test/fixtures/train/:
  model/            HF folder (config.json + model.safetensors, F32) with the initial weights
  tokens.bin        uint16 token stream
  grads.safetensors gradient of the mean cross-entropy of step 0's batch (F32)
  expected.json     losses / grad norms / learning rates of several optimiser steps that follow
                    the training contract (sequential windows, warm-up + cosine, clipping,
                    gradient accumulation, torch.optim.AdamW), and the final parameters' checksum
  final.safetensors the parameters after those steps

Usage: /usr/bin/python3 tools/train_reference.py
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import llama_reference as ref  # noqa: E402

torch.set_default_dtype(torch.float64)
OUT = "test/fixtures/train"

CFG = dict(vocab_size=61, hidden_size=24, intermediate_size=40, num_hidden_layers=2,
           num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0,
           max_position_embeddings=32, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
B, A, T = 2, 2, 8
STEPS = 6
HP = dict(lr=3e-2, warmup=2, total_steps=5, min_lr_ratio=0.1, wd=0.1, clip=1.0, beta1=0.9, beta2=0.95, eps=1e-8)


def lr_at(s):
    lr, W, N = HP["lr"], HP["warmup"], HP["total_steps"]
    lr_min = lr * HP["min_lr_ratio"]
    if s < W:
        return lr * (s + 1) / W
    if s >= N:
        return lr_min
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * (s - W) / (N - W))) / 2


def loss_of(W, rows):
    """Mean cross-entropy over all targets of the given windows (each T+1 tokens)."""
    total = 0.0
    for row in rows:
        logits = ref.forward(CFG, W, row[:-1])
        total = total + torch.nn.functional.cross_entropy(logits, torch.tensor(row[1:]), reduction="sum")
    return total


def main():
    os.makedirs(OUT, exist_ok=True)
    W0 = ref.make_weights(CFG, seed=11, qk_scale=3.0)
    W0 = ref.round_to(W0, "F32")  # the file holds float32; start from exactly those values
    ref.write_folder(os.path.join(OUT, "model"), CFG, W0, "F32")
    g = torch.Generator().manual_seed(5)
    n_tokens = (STEPS * B * A) * T + 1 + 7
    tokens = torch.randint(0, CFG["vocab_size"], (n_tokens,), generator=g).tolist()
    with open(os.path.join(OUT, "tokens.bin"), "wb") as fh:
        fh.write(struct.pack(f"<{len(tokens)}H", *tokens))

    names = list(W0)
    params = {n: W0[n].clone().requires_grad_(True) for n in names}
    decay = [n for n in names if params[n].dim() == 2]
    no_decay = [n for n in names if params[n].dim() != 2]
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in decay], "weight_decay": HP["wd"]},
         {"params": [params[n] for n in no_decay], "weight_decay": 0.0}],
        lr=HP["lr"], betas=(HP["beta1"], HP["beta2"]), eps=HP["eps"])

    steps = []
    for s in range(STEPS):
        opt.zero_grad()
        total = 0.0
        for a in range(A):
            rows = []
            for r in range(a * B, (a + 1) * B):
                start = (s * B * A + r) * T
                rows.append(tokens[start:start + T + 1])
            loss = loss_of(params, rows) / (B * A * T)
            loss.backward()
            total += float(loss)
        if s == 0:
            ref.write_safetensors(os.path.join(OUT, "grads.safetensors"), {n: params[n].grad for n in names}, "F32")
        norm = math.sqrt(sum(float((params[n].grad ** 2).sum()) for n in names))
        scale = HP["clip"] / (norm + 1e-6)
        if scale < 1:
            for n in names:
                params[n].grad.mul_(scale)
        lr = lr_at(s)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        steps.append({"step": s, "loss": total, "grad_norm": norm, "lr": lr, "clipped": scale < 1})
        print(steps[-1])

    ref.write_safetensors(os.path.join(OUT, "final.safetensors"), {n: params[n].detach() for n in names}, "F32")
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump({"batch": B, "grad_accum": A, "seq_len": T, **HP, "steps": steps}, fh, indent=1)


if __name__ == "__main__":
    main()
