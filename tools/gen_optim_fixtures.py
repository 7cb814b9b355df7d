#!/usr/bin/env python3
"""Generates test/fixtures/optim/*.json: reference AdamW steps and learning rates from PyTorch.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 tools/gen_optim_fixtures.py

The training contract (issue 4, item 6): lr(s) = LR*(s+1)/W for s < W, then
LR_min + (LR - LR_min)*(1 + cos(pi*(s - W)/(N - W)))/2 up to N, then LR_min; gradients are
scaled by clip/(norm + 1e-6) when that is below 1 (global L2 norm, which is what
torch.nn.utils.clip_grad_norm_ does); AdamW is torch.optim.AdamW; weight decay on 2-D
matrices, never on the 1-D norm weight. `npm test` only reads the JSON written here.
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "optim")


def lr_at(step, lr, warmup, total, min_ratio):
    lr_min = lr * min_ratio
    if step < warmup:
        return lr * (step + 1) / warmup
    if step >= total:
        return lr_min
    progress = (step - warmup) / (total - warmup)
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * progress)) / 2


def flat(tensors):
    return [float(x) for t in tensors for x in t.detach().reshape(-1).tolist()]


def adamw_fixture():
    torch.manual_seed(1234)
    sched = {"lr": 0.01, "warmup": 3, "totalSteps": 8, "minLrRatio": 0.1}
    betas, eps, wd, max_norm = (0.9, 0.95), 1e-8, 0.1, 1.0
    # Layout of the flat buffer: embed [7x5] (decay), norm [5] (no decay), head [6x7] (decay).
    embed = torch.nn.Parameter(torch.randn(7, 5) * 0.5)
    norm = torch.nn.Parameter(1.0 + 0.1 * torch.randn(5))
    head = torch.nn.Parameter(torch.randn(6, 7) * 0.5)
    order = [embed, norm, head]
    names = ["embed", "norm", "head"]
    sizes = [t.numel() for t in order]
    decay_ranges = [[0, 35], [40, 82]]
    opt = torch.optim.AdamW(
        [{"params": [embed, head], "weight_decay": wd}, {"params": [norm], "weight_decay": 0.0}],
        lr=sched["lr"], betas=betas, eps=eps, weight_decay=wd,
    )
    init = flat(order)
    steps = []
    # Gradient sizes: some steps clip (norm > 1), some do not.
    grad_scales = [3.0, 0.05, 0.8, 2.0, 0.1, 5.0, 0.02, 1.5, 0.3, 4.0]
    for s, gs in enumerate(grad_scales):
        for p in order:
            p.grad = torch.randn_like(p) * gs / math.sqrt(82)
            # make the gradient depend on the parameters too (like a real loss would)
            p.grad.add_(0.05 * p.detach())
        raw = flat([p.grad for p in order])
        total_norm = torch.nn.utils.clip_grad_norm_(order, max_norm)
        clip = min(1.0, max_norm / (float(total_norm) + 1e-6))
        lr = lr_at(s, **{"lr": sched["lr"], "warmup": sched["warmup"], "total": sched["totalSteps"], "min_ratio": sched["minLrRatio"]})
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        st = [opt.state[p] for p in order]
        steps.append({
            "step": s,
            "lr": lr,
            "grads": raw,
            "gradNorm": float(total_norm),
            "clipScale": clip,
            "params": flat(order),
            "m": flat([x["exp_avg"] for x in st]),
            "v": flat([x["exp_avg_sq"] for x in st]),
        })
    return {
        "generator": "tools/gen_optim_fixtures.py",
        "torch": torch.__version__,
        "schedule": sched,
        "beta1": betas[0], "beta2": betas[1], "eps": eps, "weightDecay": wd, "maxNorm": max_norm,
        "tensors": [{"name": n, "size": z} for n, z in zip(names, sizes)],
        "decayRanges": decay_ranges,
        "init": init,
        "steps": steps,
    }


def schedule_fixture():
    cases = []
    for sched, steps in [
        ({"lr": 3e-4, "warmup": 2000, "totalSteps": 10000, "minLrRatio": 0.1},
         [0, 1, 999, 1998, 1999, 2000, 2001, 4000, 6000, 9999, 10000, 10001, 20000]),
        ({"lr": 1e-3, "warmup": 0, "totalSteps": 10, "minLrRatio": 0.0},
         [0, 1, 5, 9, 10, 11]),
        ({"lr": 0.01, "warmup": 3, "totalSteps": 8, "minLrRatio": 0.1}, list(range(10))),
    ]:
        cases.append({"schedule": sched, "steps": steps,
                      "lr": [lr_at(s, sched["lr"], sched["warmup"], sched["totalSteps"], sched["minLrRatio"]) for s in steps]})
    return {"generator": "tools/gen_optim_fixtures.py", "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in [("adamw.json", adamw_fixture()), ("schedule.json", schedule_fixture())]:
        path = os.path.join(OUT, name)
        with open(path + ".tmp", "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        os.replace(path + ".tmp", path)
        print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
