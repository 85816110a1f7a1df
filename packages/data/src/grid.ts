/** Image grids as PNG, for sample sheets and data reports. */
import sharp from 'sharp';
import { subset, type ImageSet } from './types.js';

/** Tiles images (NHWC, [-1, 1]) into a PNG grid with `columns` columns and a 2-px gap. */
export async function imageGridPng(set: Pick<ImageSet, 'images' | 'height' | 'width' | 'channels'>, count: number, columns = 8): Promise<Buffer> {
  const n = Math.min(count, set.images.length / (set.height * set.width * set.channels));
  const cols = Math.min(columns, Math.max(1, n));
  const rows = Math.max(1, Math.ceil(n / cols));
  const gap = 2;
  const W = cols * (set.width + gap) + gap;
  const H = rows * (set.height + gap) + gap;
  const out = Buffer.alloc(W * H * 3, 40);
  for (let i = 0; i < n; i++) {
    const ox = gap + (i % cols) * (set.width + gap);
    const oy = gap + Math.floor(i / cols) * (set.height + gap);
    for (let y = 0; y < set.height; y++) {
      for (let x = 0; x < set.width; x++) {
        for (let c = 0; c < 3; c++) {
          const src = ((i * set.height + y) * set.width + x) * set.channels + Math.min(c, set.channels - 1);
          const v = Math.round((set.images[src] + 1) * 127.5);
          out[((oy + y) * W + ox + x) * 3 + c] = Math.max(0, Math.min(255, v));
        }
      }
    }
  }
  return sharp(out, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
}

/** One image (NHWC, [-1, 1]) of a set as a PNG, without a border. */
export async function imagePng(set: Pick<ImageSet, 'images' | 'height' | 'width' | 'channels'>, index: number): Promise<Buffer> {
  const size = set.height * set.width * set.channels;
  const pixels = Buffer.alloc(size);
  for (let p = 0; p < size; p++) pixels[p] = Math.max(0, Math.min(255, Math.round((set.images[index * size + p] + 1) * 127.5)));
  return sharp(pixels, { raw: { width: set.width, height: set.height, channels: set.channels as 1 | 3 } }).png().toBuffer();
}

/** The largest near-duplicate groups side by side (up to 8 images of each of `groups` groups), or undefined when there are none. */
export async function duplicateGroupsPng(set: ImageSet, largest: string[][], groups = 6): Promise<Buffer | undefined> {
  const ids = largest.slice(0, groups).flatMap((g) => g.slice(0, 8));
  if (!ids.length || !set.ids) return undefined;
  const index = new Map(set.ids.map((id, i) => [id, i]));
  // subset, not set.images: a loaded dataset keeps its bytes and makes float32 only of what is read.
  const members = subset(set, ids.map((id) => index.get(id)!));
  return imageGridPng(members, ids.length, 8);
}

/**
 * Heatmaps (one per image, h × w, values in [0, 1]) over their grey images, as a PNG grid: each
 * image beside its overlay (red where the map is high), two columns per image.
 */
export async function heatmapOverlayPng(set: Pick<ImageSet, 'images' | 'height' | 'width' | 'channels'>, maps: Float32Array, count: number, columns = 4): Promise<Buffer> {
  const { height: h, width: w, channels } = set;
  const tiles = new Float32Array(count * 2 * h * w * 3);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < h * w; p++) {
      let g = 0;
      for (let c = 0; c < channels; c++) g += set.images[(i * h * w + p) * channels + c];
      g /= channels; // [-1, 1]
      const m = Math.max(0, Math.min(1, maps[i * h * w + p]));
      const plain = ((2 * i) * h * w + p) * 3;
      const over = ((2 * i + 1) * h * w + p) * 3;
      tiles.set([g, g, g], plain);
      // Grey image darkened, the map added in red and yellow (high = bright).
      const base = (g + 1) / 2 * 0.55;
      const rgb = [base + 0.45 * Math.min(1, 2 * m), base + 0.45 * Math.max(0, 2 * m - 1), base];
      tiles.set(rgb.map((v) => v * 2 - 1), over);
    }
  }
  const grid = await imageGridPng({ images: tiles, height: h, width: w, channels: 3 }, count * 2, columns * 2);
  // Small images are enlarged (nearest neighbour, so no detail is invented) to about 96 px.
  const scale = Math.max(1, Math.ceil(96 / h));
  if (scale === 1) return grid;
  const meta = await sharp(grid).metadata();
  return sharp(grid).resize({ width: meta.width! * scale, kernel: 'nearest' }).png().toBuffer();
}
