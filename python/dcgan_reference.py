"""The PyTorch DCGAN example, as the reference a synthmix generator is measured against.

Trains the architecture of pytorch/examples `dcgan/main.py` (transposed-conv generator with
batch norm and ReLU, conv discriminator with LeakyReLU 0.2 and batch norm after the first layer,
N(0, 0.02) initialisation, Adam lr 2e-4 beta1 0.5, BCE) on exactly the images a synthmix sweep
trained its generator on, with the same sizes, width, batch size, epochs, latent size and
one-sided label smoothing, and writes samples in synthmix's raw format, so that `synthmix quality`
computes the same measures on both.

    npx synthmix quality runs/<sweep> --export-real runs/<sweep>/reference      # real pools, per class
    bench/.venv/bin/python python/dcgan_reference.py \
        --real runs/<sweep>/reference/real-tumor.f32 --epochs 60 --ngf 32 --ndf 32 \
        --out runs/<sweep>/reference/pytorch-tumor.f32
    npx synthmix quality runs/<sweep> --synthetic tumor=runs/<sweep>/reference/pytorch-tumor.f32

Input and output: float32 NHWC in [-1, 1], with a JSON sidecar `<file>.json` holding
{"count", "height", "width", "channels"}. The differences from the example are the ones synthmix
shares: sizes other than 64 (one stride-2 stage per doubling from 4 × 4), the latent size and the
real-label target (0.9 by default; the example uses 1.0).
"""
import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn


def read_images(path):
    meta = json.load(open(path + ".json"))
    data = np.fromfile(path, dtype=np.float32).reshape(meta["count"], meta["height"], meta["width"], meta["channels"])
    return torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()  # NCHW


def write_images(path, images):
    nhwc = images.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)
    nhwc.tofile(path)
    n, h, w, c = nhwc.shape
    json.dump({"count": n, "height": h, "width": w, "channels": c}, open(path + ".json", "w"))


def weights_init(m):
    name = m.__class__.__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def generator(size, nz, ngf, nc):
    k = int(math.log2(size / 4))
    top = ngf * 2 ** (k - 1)
    layers = [nn.ConvTranspose2d(nz, top, 4, 1, 0, bias=False), nn.BatchNorm2d(top), nn.ReLU(True)]
    for i in range(1, k):
        a, b = ngf * 2 ** (k - i), ngf * 2 ** (k - 1 - i)
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(size, ndf, nc):
    k = int(math.log2(size / 4))
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for i in range(1, k):
        a, b = ndf * 2 ** (i - 1), ndf * 2 ** i
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, inplace=True)]
    layers += [nn.Conv2d(ndf * 2 ** (k - 1), 1, 4, 1, 0, bias=False)]  # logit; BCEWithLogits below
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", required=True, help="float32 NHWC images in [-1, 1] (+ .json sidecar)")
    p.add_argument("--out", required=True, help="where to write the samples (float32 NHWC + .json)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--ngf", type=int, default=16)
    p.add_argument("--ndf", type=int, default=16)
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--beta1", type=float, default=0.5)
    p.add_argument("--real-label", type=float, default=0.9)
    p.add_argument("--count", type=int, default=250, help="samples to write")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--sample-mode", choices=["train", "eval"], default="train",
                   help="batch norm when sampling: batch statistics as the example's sample grids (train), or running averages (eval)")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)
    real = read_images(a.real)
    n, nc, size, _ = real.shape
    g, d = generator(size, a.nz, a.ngf, nc), discriminator(size, a.ndf, nc)
    g.apply(weights_init)
    d.apply(weights_init)
    opt_g = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=a.lr, betas=(a.beta1, 0.999))
    bce = nn.BCEWithLogitsLoss()
    started = time.time()
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(n)
        for s in range(0, n - a.batch_size + 1, a.batch_size):
            x = real[order[s:s + a.batch_size]]
            z = torch.randn(x.shape[0], a.nz, 1, 1)
            fake = g(z)
            # Discriminator: real → real_label, fake → 0.
            opt_d.zero_grad()
            loss_d = bce(d(x).view(-1), torch.full((x.shape[0],), a.real_label)) + bce(d(fake.detach()).view(-1), torch.zeros(x.shape[0]))
            loss_d.backward()
            opt_d.step()
            # Generator: make D call G(z) real, reusing G(z) as the example does.
            opt_g.zero_grad()
            loss_g = bce(d(fake).view(-1), torch.ones(x.shape[0]))
            loss_g.backward()
            opt_g.step()
        print(json.dumps({"epoch": epoch, "d_loss": loss_d.item(), "g_loss": loss_g.item(), "seconds": round(time.time() - started, 1)}), flush=True)
    if a.sample_mode == "eval":
        g.eval()
    with torch.no_grad():
        samples = g(torch.randn(a.count, a.nz, 1, 1))
    write_images(a.out, samples)
    print(json.dumps({"done": a.out, "count": a.count, "seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
