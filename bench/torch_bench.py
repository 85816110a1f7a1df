"""PyTorch reference for bench/run.mjs: the same three models, timed the same way, on CPU.

Prints one JSON object: {"cnn_img_per_s": ..., "dcgan_img_per_s": ..., "ddpm_img_per_s": ...,
"torch": version, "threads": n}.
"""
import math
import json
import statistics
import sys
import time

import torch
from torch import nn

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(threads)
torch.manual_seed(0)


def images_per_second(step, batch, steps):
    """Median images/s of `step` (one batch) over `repeats` timings of `steps` calls, after 2 warm-up calls."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t) / steps)
    return batch / statistics.median(times)


def paper_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 8 * 128, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 1),
    )


def bench_cnn(n=512, batch=32):
    model = paper_cnn()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    x = torch.rand(n, 3, 64, 64) * 2 - 1
    y = torch.randint(0, 2, (n, 1)).float()

    def epoch():
        for i in range(0, n, batch):
            opt.zero_grad()
            loss = loss_fn(model(x[i:i + batch]), y[i:i + batch])
            loss.backward()
            opt.step()

    epoch()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t)
    return n / statistics.median(times)


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


def bench_dcgan(batch=64, steps=5):
    g, d = generator(), discriminator()
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    loss_fn = nn.BCEWithLogitsLoss()
    real = torch.rand(batch, 3, 64, 64) * 2 - 1
    ones = torch.full((batch,), 0.9)
    zeros = torch.zeros(batch)

    def step():
        z = torch.randn(batch, 100, 1, 1)
        opt_d.zero_grad()
        fake = g(z)
        loss_d = loss_fn(d(real).view(-1), ones) + loss_fn(d(fake.detach()).view(-1), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = loss_fn(d(fake).view(-1), torch.ones(batch))
        loss_g.backward()
        opt_g.step()

    return images_per_second(step, batch, steps)


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


def bench_ddpm(batch=32, steps=5, size=64):
    """One gen-ddpm training step (preset cpu): noise, predict it, Adam, EMA update."""
    net = Unet()
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), 2e-4)
    betas = torch.linspace(1e-4, 0.02, 1000)
    abar = torch.cumprod(1 - betas, 0)
    x0 = torch.rand(batch, 3, size, size) * 2 - 1

    def step():
        t = torch.randint(0, 1000, (batch,))
        eps = torch.randn_like(x0)
        a = abar[t].sqrt()[:, None, None, None]
        b = (1 - abar[t]).sqrt()[:, None, None, None]
        opt.zero_grad()
        loss = ((eps - net(a * x0 + b * eps, t)) ** 2).mean()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.995).add_(p, alpha=0.005)

    return images_per_second(step, batch, steps)


print(json.dumps({"cnn_img_per_s": bench_cnn(), "dcgan_img_per_s": bench_dcgan(), "ddpm_img_per_s": bench_ddpm(), "torch": torch.__version__, "threads": torch.get_num_threads()}))
