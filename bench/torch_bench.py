"""PyTorch reference for bench/run.mjs: the same three models on CPU, in the variants a user would
tune, timed on request so that run.mjs can interleave repetitions (ours, theirs, ours, ...).

A line protocol on stdin/stdout, one JSON object per line:
  {"build": model, "variant": v}          -> {"ready": true, "warmup_s": ...}   (builds, warms up)
  {"time": model, "variant": v, "steps": n} -> {"seconds_per_step": ...}
  {"info": true}                          -> {"torch": version, "threads": n, "variants": [...]}
  {"profile": model, "variant": v, "steps": n} -> {"ops": [{"name", "calls", "self_us"}, ...]}
                                             (torch.profiler over n steps: self CPU time per op)
Models: cnn, dcgan, ddpm. Variants:
  default  the model as written (NCHW, Adam's default implementation);
  tuned    channels_last tensors and weights, Adam(fused=True) (foreach where fused is refused);
  compile  torch.compile (inductor) of the default model.
In every variant the DCGAN's generator update does not compute the discriminator's weight
gradients (its parameters are frozen for that update), as synthmix's step does; the PyTorch
DCGAN example computes them (about 9 % more work).
"""
import json
import math
import os
import sys
import time
import traceback

import torch
from torch import nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
VARIANTS = ["default", "tuned", "compile"]
if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() == "avx2":
    # Under an AVX2 emulation inductor must emit AVX2 code too: left to itself it vectorises for
    # the host's AVX-512 while ATen runs AVX2 kernels, and the compiled CNN indexes out of bounds.
    torch._inductor.config.cpp.simdlen = 256


def adam(params, lr, variant, **kw):
    if variant == "tuned":
        try:
            return torch.optim.Adam(params, lr, fused=True, **kw)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(params, lr, foreach=True, **kw)
    return torch.optim.Adam(params, lr, **kw)


def prepare(model, variant):
    if variant == "tuned":
        model = model.to(memory_format=torch.channels_last)
    return model


def layout(x, variant):
    return x.contiguous(memory_format=torch.channels_last) if variant == "tuned" else x


def compiled(module, variant):
    return torch.compile(module) if variant == "compile" else module


def paper_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 8 * 128, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 1),
    )


def generator(nz=100, ngf=64):
    return nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )


def discriminator(ndf=64):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False),
    )

def build_cnn(variant, batch=32):
    model = prepare(paper_cnn(), variant)
    opt = adam(model.parameters(), 1e-3, variant)
    forward = compiled(model, variant)
    loss_fn = nn.BCEWithLogitsLoss()
    x = layout(torch.rand(batch, 3, 64, 64) * 2 - 1, variant)
    y = torch.randint(0, 2, (batch, 1)).float()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # the loss read after every batch, as synthmix's loop and bench do

    return step


def build_dcgan(variant, batch=64):
    g, d = prepare(generator(), variant), prepare(discriminator(), variant)
    opt_g = adam(g.parameters(), 2e-4, variant, betas=(0.5, 0.999))
    opt_d = adam(d.parameters(), 2e-4, variant, betas=(0.5, 0.999))
    gf, df = compiled(g, variant), compiled(d, variant)
    loss_fn = nn.BCEWithLogitsLoss()
    real = layout(torch.rand(batch, 3, 64, 64) * 2 - 1, variant)
    smooth = torch.full((batch,), 0.9)
    zeros = torch.zeros(batch)
    ones = torch.ones(batch)

    def step():
        z = layout(torch.randn(batch, 100, 1, 1), variant)
        opt_d.zero_grad(set_to_none=True)
        fake = gf(z)
        loss_d = loss_fn(df(real).view(-1), smooth) + loss_fn(df(fake.detach()).view(-1), zeros)
        loss_d.backward()
        opt_d.step()
        # The generator update on the same fake; the discriminator's weight gradients are not needed.
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        loss_g = loss_fn(df(fake).view(-1), ones)
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        return loss_g.item()

    return step


class ResBlock(nn.Module):
    """gen-ddpm's residual block: conv → swish → + time projection → swish → conv, + skip."""

    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = nn.functional.silu(self.conv1(x))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(h))
        return h + (self.skip(x) if self.skip is not None else x)


class Unet(nn.Module):
    """gen-ddpm's U-Net (packages/gen-ddpm/src/unet.ts), layer for layer."""

    def __init__(self, channels=3, widths=(16, 32, 64), time_dim=32):
        super().__init__()
        c1, c2, c3 = widths
        t = time_dim * 2
        self.time_dim = time_dim
        self.time1 = nn.Linear(time_dim, t)
        self.time2 = nn.Linear(t, t)
        self.inp = nn.Conv2d(channels, c1, 3, padding=1)
        self.down1 = ResBlock(c1, c1, t)
        self.down2 = ResBlock(c1, c2, t)
        self.mid1 = ResBlock(c2, c3, t)
        self.mid2 = ResBlock(c3, c3, t)
        self.up2 = ResBlock(c3 + c2, c2, t)
        self.up1 = ResBlock(c2 + c1, c1, t)
        self.out = nn.Conv2d(c1, channels, 3, padding=1)

    def embedding(self, t):
        half = self.time_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
        args = t[:, None].float() * freqs[None]
        return torch.cat([torch.sin(args), torch.cos(args)], 1)

    def forward(self, x, t):
        temb = self.time2(nn.functional.silu(self.time1(self.embedding(t))))
        skip1 = self.down1(self.inp(x), temb)
        skip2 = self.down2(nn.functional.avg_pool2d(skip1, 2), temb)
        h = self.mid2(self.mid1(nn.functional.avg_pool2d(skip2, 2), temb), temb)
        h = self.up2(torch.cat([nn.functional.interpolate(h, scale_factor=2, mode="nearest"), skip2], 1), temb)
        h = self.up1(torch.cat([nn.functional.interpolate(h, scale_factor=2, mode="nearest"), skip1], 1), temb)
        return self.out(nn.functional.silu(h))


def build_ddpm(variant, batch=32, size=64):
    """One gen-ddpm training step (the U-Net of gen-ddpm's former cpu preset): noise, predict it, Adam, EMA."""
    net = prepare(Unet(), variant)
    forward = compiled(net, variant)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = adam(net.parameters(), 2e-4, variant)
    betas = torch.linspace(1e-4, 0.02, 1000)
    abar = torch.cumprod(1 - betas, 0)
    x0 = layout(torch.rand(batch, 3, size, size) * 2 - 1, variant)

    def step():
        t = torch.randint(0, 1000, (batch,))
        eps = layout(torch.randn_like(x0), variant)
        a = abar[t].sqrt()[:, None, None, None]
        b = (1 - abar[t]).sqrt()[:, None, None, None]
        opt.zero_grad(set_to_none=True)
        loss = ((eps - forward(a * x0 + b * eps, t)) ** 2).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(net.parameters()), 0.005) if variant == "tuned" else [e.mul_(0.995).add_(p, alpha=0.005) for e, p in zip(ema, net.parameters())]
        return loss.item()

    return step


BUILDERS = {"cnn": build_cnn, "dcgan": build_dcgan, "ddpm": build_ddpm}
steps = {}


def serve():
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        if "info" in msg:
            out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "variants": VARIANTS, "capability": torch.backends.cpu.get_cpu_capability()}
        elif "build" in msg:
            key = (msg["build"], msg["variant"])
            t = time.perf_counter()
            try:
                steps[key] = BUILDERS[msg["build"]](msg["variant"])
                for _ in range(3):  # warm-up: first calls allocate, and torch.compile compiles
                    steps[key]()
                out = {"ready": True, "warmup_s": time.perf_counter() - t}
            except Exception as err:  # a variant that fails here is left out of the race, said why
                traceback.print_exc(file=sys.stderr)
                out = {"ready": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
        elif "profile" in msg:
            step = steps[(msg["profile"], msg["variant"])]
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                for _ in range(msg["steps"]):
                    step()
            out = {"ops": [{"name": e.key, "calls": e.count, "self_us": e.self_cpu_time_total} for e in prof.key_averages()]}
        else:
            step = steps[(msg["time"], msg["variant"])]
            t = time.perf_counter()
            for _ in range(msg["steps"]):
                step()
            out = {"seconds_per_step": (time.perf_counter() - t) / msg["steps"]}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
