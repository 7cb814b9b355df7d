#!/usr/bin/python3
"""PyTorch CPU training speed for the same model as bench/train-worker.ts (stories15M shape).

Prints one JSON line {"tokens_per_s", "peak_rss_mb", "threads"}. Used by `npm run bench` when
Debian's python3-torch is installed. Usage: bench_torch_train.py STEPS BATCH SEQ THREADS
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

steps, batch, seq, threads = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
dim, layers, heads, vocab, hidden = 288, 6, 6, 32000, 768
hd = dim // heads


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.ones(dim))
        self.w2 = nn.Parameter(torch.ones(dim))
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.o = nn.Linear(dim, dim, bias=False)
        self.g = nn.Linear(dim, hidden, bias=False)
        self.u = nn.Linear(dim, hidden, bias=False)
        self.d = nn.Linear(hidden, dim, bias=False)

    def forward(self, x, cos, sin):
        def norm(t, w):
            return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w

        def rope(t):
            h = t.shape[-1] // 2
            return t * cos + torch.cat((-t[..., h:], t[..., :h]), -1) * sin

        B, T, _ = x.shape
        h = norm(x, self.w1)
        q = rope(self.q(h).view(B, T, heads, hd).transpose(1, 2))
        k = rope(self.k(h).view(B, T, heads, hd).transpose(1, 2))
        v = self.v(h).view(B, T, heads, hd).transpose(1, 2)
        # torch 1.13 (Debian) has no scaled_dot_product_attention: the usual masked softmax.
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        a = torch.softmax(s, dim=-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(B, T, dim))
        h = norm(x, self.w2)
        return x + self.d(F.silu(self.g(h)) * self.u(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block() for _ in range(layers))
        self.wn = nn.Parameter(torch.ones(dim))
        self.head = nn.Linear(dim, vocab, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.arange(seq).float()[:, None] * inv[None, :]
        emb = torch.cat((ang, ang), -1)
        self.register_buffer("cos", emb.cos())
        self.register_buffer("sin", emb.sin())

    def forward(self, idx):
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, self.cos, self.sin)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.wn
        return self.head(x)


model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)


def step():
    idx = torch.randint(0, vocab, (batch, seq + 1))
    logits = model(idx[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), idx[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = time.perf_counter() - t0
print(json.dumps({"tokens_per_s": steps * batch * seq / dt, "seconds_per_step": dt / steps,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": threads, "torch": torch.__version__}))
