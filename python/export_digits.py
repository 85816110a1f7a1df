"""Writes scikit-learn's handwritten digits as a synthmix folder dataset: one folder per class.

The multi-class dataset that needs no download: scikit-learn ships the UCI "optical recognition
of handwritten digits" test set inside its wheel (1,797 scans of digits written by 43 people,
8 x 8 pixels, 16 grey levels, about 180 per digit). It is real data, not drawn by a program, so a
study on it exercises everything a multi-class study does (per-class generators, a softmax
classifier, macro metrics, one-vs-rest AUC, per-class quality) on images a generator can fail on.

    .venv/bin/python python/export_digits.py runs/datasets/digits4 --digits 0 1 2 3
    npx synthmix run experiments/digits-4class.yaml

Each image becomes `<out>/<digit name>/<index>.png` (8-bit greyscale, 8 x 8; synthmix resizes on
load). The PNG is written with zlib here so that nothing beyond scikit-learn is needed.
"""
import argparse
import struct
import sys
import zlib
from pathlib import Path

from sklearn.datasets import load_digits

NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']


def png_greyscale(pixels: list[list[int]]) -> bytes:
    """An 8-bit greyscale PNG of a rectangular list of rows of 0-255 values."""
    height, width = len(pixels), len(pixels[0])
    raw = b''.join(b'\x00' + bytes(row) for row in pixels)  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b'')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, help='folder to write (one sub-folder per digit)')
    parser.add_argument('--digits', type=int, nargs='+', default=list(range(10)), choices=range(10), metavar='D', help='digits to export (default: all ten)')
    args = parser.parse_args()
    if len(set(args.digits)) < 2:
        parser.error('--digits: a classification study needs at least two digits')

    digits = load_digits()
    counts = {}
    for digit in sorted(set(args.digits)):
        folder = args.out / NAMES[digit]
        folder.mkdir(parents=True, exist_ok=True)
        indices = [i for i, target in enumerate(digits.target) if target == digit]
        for i in indices:
            # 0-16 ink levels (16 = black ink) to 0-255 with white ink on black, like a scan's negative.
            rows = [[round(v * 255 / 16) for v in row] for row in digits.images[i]]
            (folder / f'{i:04d}.png').write_bytes(png_greyscale(rows))
        counts[NAMES[digit]] = len(indices)
    print(f'{args.out}: ' + ', '.join(f'{name}={n}' for name, n in counts.items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
