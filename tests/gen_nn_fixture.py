#!/usr/bin/python3
"""Writes the PyTorch reference fixtures of tests/test_nn.c (format: tests/fixtures/nn/README.md).

A tiny encoder-decoder Transformer (vocab 50, d_model 32, 4 heads, d_ff 64, 2+2 layers, dropout
off, label smoothing 0.1; the switch fixtures a smaller one, CFG_SMALL) is built here with the parameter names of tapegrad's nn/ (so the
fixture needs no name mapping), initialised as ../shared/bench/torch_reference.py does (Xavier-
uniform matrices, zero biases, embedding ~ N(0, d^-0.5) with the pad row zeroed, LayerNorm 1/0),
then its biases and LayerNorm gains/biases are perturbed so that a forgotten bias or gain shows in
the loss. One padded batch goes through it in float64; the loss and every parameter's gradient
are written together with the weights, once for post-LN and once for pre-LN.

The post-LN model is checked here against torch_reference.py's own Transformer loaded with the
same weights, so the C model, this fixture and the benchmark all describe the same network.

The nonlinearity switches of issue 10 (attention activation at out or heads, the sigmoid gate of
Qiu et al. 2025, ReLU after each residual add) are implemented here as nn/ documents them, and
written as small fixtures (switches_*.fix). The config line names a switch only when it differs
from the paper's, so post_ln.fix and pre_ln.fix come out byte for byte as before.

Run from the repository root, with Debian's torch (never a pyenv python3):

    /usr/bin/python3 tests/gen_nn_fixture.py            # writes tests/fixtures/nn/*.fix
"""

import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, BOS, EOS = 0, 1, 2
CFG = dict(vocab=50, d_model=32, heads=4, d_ff=64, enc_layers=2, dec_layers=2, max_len=16,
           dropout=0.0, label_smoothing=0.1)
CFG_SMALL = dict(CFG, vocab=30, d_model=16, heads=2, d_ff=32)
# the paper's values of the switches, left out of a fixture's config line
SWITCH_DEFAULTS = dict(attn_activation_at="out", attn_gate="none", residual_activation="none")
OUT_DIR = os.path.join("tests", "fixtures", "nn")


def sinusoid(max_len, d):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), in float64 (the float32
    table of torch_reference.py would limit the double build's comparison to ~1e-7)."""
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    inv = torch.exp(torch.arange(0, d, 2, dtype=torch.float64) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv)
    return pe


def act(name, x):
    if name == "none":
        return x
    if name == "relu":
        return F.relu(x)
    if name == "gelu":
        return F.gelu(x)  # exact (erf) form, as tapegrad's nn uses
    raise ValueError(name)


class Attention(nn.Module):
    def __init__(self, d, h, gate):
        super().__init__()
        self.h, self.dh = h, d // h
        for n in "qkvo" + ("g" if gate == "sigmoid" else ""):
            setattr(self, "w_" + n, nn.Parameter(torch.empty(d, d)))
            setattr(self, "b_" + n, nn.Parameter(torch.zeros(d)))

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.dh).transpose(1, 2)

    def forward(self, xq, xkv, mask, o):
        """o's switches: the activation after W_O (out) or on the concatenated heads (heads);
        the sigmoid gate of the query-side input xq on the heads, after that activation."""
        q = self.split(F.linear(xq, self.w_q, self.b_q))
        k = self.split(F.linear(xkv, self.w_k, self.b_k))
        v = self.split(F.linear(xkv, self.w_v, self.b_v))
        s = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.dh)
        s = s.masked_fill(mask, float("-inf"))
        c = torch.matmul(torch.softmax(s, dim=-1), v)
        b, _, t, _ = c.shape
        c = c.transpose(1, 2).reshape(b, t, self.h * self.dh)
        at_heads = o.get("attn_activation_at", "out") == "heads"
        if at_heads:
            c = act(o["attn_activation"], c)
        if o.get("attn_gate", "none") == "sigmoid":
            c = c * torch.sigmoid(F.linear(xq, self.w_g, self.b_g))
        y = F.linear(c, self.w_o, self.b_o)
        return y if at_heads else act(o["attn_activation"], y)


class FFN(nn.Module):
    def __init__(self, d, dff):
        super().__init__()
        self.w_1 = nn.Parameter(torch.empty(dff, d))
        self.b_1 = nn.Parameter(torch.zeros(dff))
        self.w_2 = nn.Parameter(torch.empty(d, dff))
        self.b_2 = nn.Parameter(torch.zeros(d))

    def forward(self, x, ffn_act):
        return F.linear(act(ffn_act, F.linear(x, self.w_1, self.b_1)), self.w_2, self.b_2)


class Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.gain, self.bias, 1e-5)


class Layer(nn.Module):
    """An encoder layer (cross=False) or a decoder layer (cross=True); sub-layers in order."""

    def __init__(self, d, h, dff, cross, gate):
        super().__init__()
        self.self_attn = Attention(d, h, gate)
        self.norm1 = Norm(d)
        if cross:
            self.cross_attn = Attention(d, h, gate)
            self.norm2 = Norm(d)
            self.ffn = FFN(d, dff)
            self.norm3 = Norm(d)
        else:
            self.ffn = FFN(d, dff)
            self.norm2 = Norm(d)
        self.cross = cross

    def forward(self, x, self_mask, mem, mem_mask, o):
        subs = [(lambda z: self.self_attn(z, z, self_mask, o), self.norm1)]
        if self.cross:
            subs.append((lambda z: self.cross_attn(z, mem, mem_mask, o), self.norm2))
            subs.append((lambda z: self.ffn(z, o["ffn_activation"]), self.norm3))
        else:
            subs.append((lambda z: self.ffn(z, o["ffn_activation"]), self.norm2))
        res_act = o.get("residual_activation", "none")   # ResNet v1's place: after the add
        for f, norm in subs:
            if o["norm"] == "post":
                x = norm(act(res_act, x + f(x)))
            else:
                x = act(res_act, x + f(norm(x)))
        return x


class Stack(nn.Module):
    def __init__(self, n, d, h, dff, cross, pre, gate):
        super().__init__()
        self.layers = nn.ModuleList(Layer(d, h, dff, cross, gate) for _ in range(n))
        if pre:
            self.norm = Norm(d)


class Model(nn.Module):
    """The model of nn/, parameter names and all. o: the switches (norm, ffn_activation,
    attn_activation, tie_embeddings; optionally attn_activation_at, attn_gate,
    residual_activation)."""

    def __init__(self, c, o):
        super().__init__()
        self.c, self.o = c, o
        d, pre = c["d_model"], o["norm"] == "pre"
        self.embedding = nn.Module()
        self.embedding.weight = nn.Parameter(torch.empty(c["vocab"], d))
        if o["tie_embeddings"] == "off":
            self.output = nn.Module()
            self.output.weight = nn.Parameter(torch.empty(c["vocab"], d))
        gate = o.get("attn_gate", "none")
        self.encoder = Stack(c["enc_layers"], d, c["heads"], c["d_ff"], False, pre, gate)
        self.decoder = Stack(c["dec_layers"], d, c["heads"], c["d_ff"], True, pre, gate)
        self.register_buffer("pe", sinusoid(c["max_len"], d))

    def embed(self, ids):
        e = F.embedding(ids, self.embedding.weight, padding_idx=PAD)
        return e * math.sqrt(self.c["d_model"]) + self.pe[: ids.shape[1]]

    def forward(self, src, tgt_in):
        t = tgt_in.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        src_mask = src.eq(PAD)[:, None, None, :]
        tgt_mask = causal[None, None] | tgt_in.eq(PAD)[:, None, None, :]
        x = self.embed(src)
        for layer in self.encoder.layers:
            x = layer(x, src_mask, None, None, self.o)
        if self.o["norm"] == "pre":
            x = self.encoder.norm(x)
        y = self.embed(tgt_in)
        for layer in self.decoder.layers:
            y = layer(y, tgt_mask, x, src_mask, self.o)
        if self.o["norm"] == "pre":
            y = self.decoder.norm(y)
        w = self.embedding.weight if self.o["tie_embeddings"] == "on" else self.output.weight
        return F.linear(y, w)

    def loss(self, src, tgt_in, tgt_out):
        logits = self.forward(src, tgt_in)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                               ignore_index=PAD, label_smoothing=self.c["label_smoothing"])


def init_and_perturb(model, gen):
    """torch_reference.py's initialisation, then seeded noise on every 1-D parameter. All values
    are rounded to float32 so that the float build loads exactly the weights the double
    reference used."""
    d = model.c["d_model"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "embedding.weight":
                p.normal_(0.0, d ** -0.5, generator=gen)
                p[PAD].zero_()
            elif p.dim() > 1:
                bound = math.sqrt(6.0 / (p.shape[0] + p.shape[1]))
                p.uniform_(-bound, bound, generator=gen)
            elif name.endswith(".gain"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            p.copy_(p.float().double())


def make_batch(vocab):
    """Three sentence pairs of different lengths, right-padded with 0; target = BOS y / y EOS."""
    g = torch.Generator().manual_seed(7)
    src_lens, tgt_lens = [7, 3, 5], [5, 2, 4]   # target lengths without EOS
    S, T = max(src_lens), max(tgt_lens) + 1
    src = torch.zeros(3, S, dtype=torch.long)
    tgt_in = torch.zeros(3, T, dtype=torch.long)
    tgt_out = torch.zeros(3, T, dtype=torch.long)
    for b in range(3):
        src[b, : src_lens[b]] = torch.randint(4, vocab, (src_lens[b],), generator=g)
        y = torch.randint(4, vocab, (tgt_lens[b],), generator=g)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1: tgt_lens[b] + 1] = y
        tgt_out[b, : tgt_lens[b]] = y
        tgt_out[b, tgt_lens[b]] = EOS
    return src, tgt_in, tgt_out


def check_against_torch_reference(model, src, tgt_in, tgt_out):
    """Loads the post-LN weights into torch_reference.Transformer and compares the loss."""
    sys.path.insert(0, os.path.join("..", "shared", "bench"))
    import torch_reference as ref
    c = model.c
    r = ref.Transformer(c["vocab"], c["d_model"], c["heads"], c["d_ff"], c["enc_layers"],
                        0.0, c["max_len"]).double()
    r.eval()
    ours = dict(model.named_parameters())
    with torch.no_grad():
        r.embedding.weight.copy_(ours["embedding.weight"])
        r.positions.copy_(model.pe)
        pairs = [("encoder", r.encoder, [("self_attn", "norm1"), ("ffn", "norm2")]),
                 ("decoder", r.decoder, [("self_attn", "norm1"), ("cross_attn", "norm2"),
                                         ("ffn", "norm3")])]
        for stack, layers, subs in pairs:
            for i, layer in enumerate(layers):
                pre = f"{stack}.layers.{i}."
                for sub, norm in subs:
                    m = getattr(layer, sub)
                    if sub == "ffn":
                        for a, b in (("linear1", "1"), ("linear2", "2")):
                            getattr(m, a).weight.copy_(ours[pre + "ffn.w_" + b])
                            getattr(m, a).bias.copy_(ours[pre + "ffn.b_" + b])
                    else:
                        for n in "qkvo":
                            lin = getattr(m, ("out" if n == "o" else n) + "_proj")
                            lin.weight.copy_(ours[pre + sub + ".w_" + n])
                            lin.bias.copy_(ours[pre + sub + ".b_" + n])
                    getattr(layer, norm).weight.copy_(ours[pre + norm + ".gain"])
                    getattr(layer, norm).bias.copy_(ours[pre + norm + ".bias"])
        logits = r(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                               ignore_index=PAD, label_smoothing=c["label_smoothing"])
        ours_loss = model.loss(src, tgt_in, tgt_out)
    diff = abs(loss.item() - ours_loss.item())
    if diff > 1e-12 * abs(loss.item()):
        raise SystemExit(f"post-LN model differs from torch_reference.py: {loss.item()} vs "
                         f"{ours_loss.item()}")
    n_ref = sum(p.numel() for p in r.parameters())
    n_ours = sum(p.numel() for p in model.parameters())
    if n_ref != n_ours:
        raise SystemExit(f"parameter count {n_ours} differs from torch_reference.py's {n_ref}")
    return n_ref


def write(path, model, o, src, tgt_in, tgt_out, torch_params):
    model.zero_grad()
    loss = model.loss(src, tgt_in, tgt_out)
    loss.backward()
    params = list(model.named_parameters())
    ntok = int(tgt_out.ne(PAD).sum())
    c = model.c
    switches = "".join(" %s=%s" % (k, o[k]) for k in SWITCH_DEFAULTS
                       if o.get(k, SWITCH_DEFAULTS[k]) != SWITCH_DEFAULTS[k])
    head = ["tapegrad-nn-fixture 1",
            "config vocab=%d d_model=%d heads=%d d_ff=%d enc_layers=%d dec_layers=%d "
            "max_len=%d dropout=%g label_smoothing=%g norm=%s ffn_activation=%s "
            "attn_activation=%s tie_embeddings=%s%s" % (
                c["vocab"], c["d_model"], c["heads"], c["d_ff"], c["enc_layers"],
                c["dec_layers"], c["max_len"], c["dropout"], c["label_smoothing"], o["norm"],
                o["ffn_activation"], o["attn_activation"], o["tie_embeddings"], switches),
            "batch %d %d %d" % (src.shape[0], src.shape[1], tgt_in.shape[1]),
            "src " + " ".join(str(int(v)) for v in src.reshape(-1)),
            "tgt_in " + " ".join(str(int(v)) for v in tgt_in.reshape(-1)),
            "tgt_out " + " ".join(str(int(v)) for v in tgt_out.reshape(-1)),
            "loss %.17g" % loss.item(),
            "tokens %d" % ntok,
            "torch_params %d" % torch_params,
            "params %d" % len(params)]
    for name, p in params:
        head.append("param %s %d %s" % (name, p.dim(), " ".join(str(s) for s in p.shape)))
    head.append("data")
    with open(path, "wb") as f:
        f.write(("\n".join(head) + "\n").encode("ascii"))
        for _, p in params:      # values: float32, little-endian
            f.write(struct.pack("<%df" % p.numel(), *p.detach().float().reshape(-1).tolist()))
        for _, p in params:      # gradients: float64, little-endian
            f.write(struct.pack("<%dd" % p.numel(), *p.grad.reshape(-1).tolist()))
    print("%s: loss %.17g, %d tokens, %d tensors, %d bytes" % (
        path, loss.item(), ntok, len(params), os.path.getsize(path)))


def main():
    if not os.path.isdir(OUT_DIR):
        raise SystemExit("run from the repository root (no %s here)" % OUT_DIR)
    torch.set_default_dtype(torch.float64)
    src, tgt_in, tgt_out = make_batch(CFG["vocab"])
    for norm in ("post", "pre"):
        o = dict(norm=norm, ffn_activation="relu", attn_activation="none", tie_embeddings="on")
        model = Model(CFG, o)
        init_and_perturb(model, torch.Generator().manual_seed(1234))
        if norm == "post":
            n_ref = check_against_torch_reference(model, src, tgt_in, tgt_out)
        else:
            # torch_reference.py has no pre-LN variant: its count plus the two final LayerNorms
            n_ref = sum(p.numel() for p in model.parameters())
        write(os.path.join(OUT_DIR, norm + "_ln.fix"), model, o, src, tgt_in, tgt_out, n_ref)
    # The switches of issue 10 on the small model: ReLU at the heads with the sigmoid gate and
    # ReLU after each residual add, post- and pre-LN; GELU after W_O with pre-LN.
    src, tgt_in, tgt_out = make_batch(CFG_SMALL["vocab"])
    variants = [
        ("switches_post", dict(norm="post", attn_activation="relu", attn_activation_at="heads",
                               attn_gate="sigmoid", residual_activation="relu")),
        ("switches_pre", dict(norm="pre", attn_activation="relu", attn_activation_at="heads",
                              attn_gate="sigmoid", residual_activation="relu")),
        ("switches_gelu_out_pre", dict(norm="pre", attn_activation="gelu")),
    ]
    for name, sw in variants:
        o = dict(dict(ffn_activation="relu", tie_embeddings="on"), **sw)
        model = Model(CFG_SMALL, o)
        init_and_perturb(model, torch.Generator().manual_seed(4321))
        n = sum(p.numel() for p in model.parameters())
        write(os.path.join(OUT_DIR, name + ".fix"), model, o, src, tgt_in, tgt_out, n)


if __name__ == "__main__":
    main()
