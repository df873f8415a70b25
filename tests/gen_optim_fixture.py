#!/usr/bin/python3
"""Writes the optimiser fixtures in tests/fixtures/optim/ from torch.optim (float64).

Run from the repository root with Debian's python3 (it has torch 1.13):
    /usr/bin/python3 tests/gen_optim_fixture.py

The problem: least squares 0.5 * mean((X W^T - Y)^2) over W (3, 4), plus a parameter `u` (2)
that the loss does not use (its gradient is zero, so only weight decay moves it). Gradients are
computed by torch at each step and written out; the C test replays them, so its trajectory does
not depend on an autograd (the problem itself, X and Y, is written too, for a second test that
computes the gradients with tapegrad's autograd over a tg_params store). The learning rate changes every step (warmup then decay) so the test
also checks that the per-step lr is honoured. Format: see tests/fixtures/optim/README.md.
"""
import math
import os
import sys

import torch

STEPS = 10
BETAS = (0.9, 0.98)
EPS = 1e-9

CASES = [
    # file name, optimiser class, weight decay
    ("adam.txt", torch.optim.Adam, 0.0),
    ("adam_l2.txt", torch.optim.Adam, 0.05),
    ("adamw.txt", torch.optim.AdamW, 0.1),
]


def lr_at(step):
    # 1-based: rises to 0.01 at step 3, then 0.01 * sqrt(3 / step)
    return 0.01 * min(step / 3.0, math.sqrt(3.0 / step))


def fmt(xs):
    return " ".join("%.17g" % x for x in xs)


def run(path, cls, wd):
    g = torch.Generator().manual_seed(1234)
    X = torch.randn(8, 4, generator=g, dtype=torch.float64)
    Y = torch.randn(8, 3, generator=g, dtype=torch.float64)
    # magnitudes in [0.5, 1.5] with random signs: far from 0, so relative errors are meaningful
    def away_from_zero(n):
        mag = 0.5 + torch.rand(n, generator=g, dtype=torch.float64)
        sign = torch.where(torch.rand(n, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
        return mag * sign
    W = away_from_zero(12).reshape(3, 4).requires_grad_(True)
    u = away_from_zero(2).requires_grad_(True)
    params = [W, u]
    opt = cls(params, lr=lr_at(1), betas=BETAS, eps=EPS, weight_decay=wd)

    def flat(ts):
        return torch.cat([t.detach().reshape(-1) for t in ts]).tolist()

    lines = [
        "# tapegrad optimiser fixture, written by tests/gen_optim_fixture.py (torch %s, float64)"
        % torch.__version__,
        "optimizer %s" % ("adamw" if cls is torch.optim.AdamW else "adam"),
        "beta1 %.17g" % BETAS[0],
        "beta2 %.17g" % BETAS[1],
        "eps %.17g" % EPS,
        "weight_decay %.17g" % wd,
        "n %d" % (W.numel() + u.numel()),
        "steps %d" % STEPS,
        "init " + fmt(flat(params)),
        # the least-squares problem, so a test can recompute the gradients with its own autograd
        "problem rows %d in %d out %d" % (X.shape[0], X.shape[1], Y.shape[1]),
        "x " + fmt(X.reshape(-1).tolist()),
        "y " + fmt(Y.reshape(-1).tolist()),
    ]
    for step in range(1, STEPS + 1):
        opt.zero_grad(set_to_none=False)
        loss = 0.5 * ((X @ W.t() - Y) ** 2).mean()
        loss.backward()
        u.grad = torch.zeros_like(u)  # unused by the loss: a zero gradient, not a missing one
        lr = lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        grads = flat([W.grad, u.grad])
        opt.step()
        lines.append("step %d lr %.17g" % (step, lr))
        lines.append("grad " + fmt(grads))
        lines.append("param " + fmt(flat(params)))
    # the moments after the last step, in the same order as the parameters
    lines.append("m " + fmt(flat([opt.state[p]["exp_avg"] for p in params])))
    lines.append("v " + fmt(flat([opt.state[p]["exp_avg_sq"] for p in params])))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = os.path.join(root, "tests", "fixtures", "optim")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for name, cls, wd in CASES:
        run(os.path.join(out, name), cls, wd)
        print("wrote", os.path.join("tests", "fixtures", "optim", name), file=sys.stderr)


if __name__ == "__main__":
    main()
