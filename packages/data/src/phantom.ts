/**
 * Built-in phantom source: procedurally drawn brain-MRI-like slices — a skull ring, textured
 * tissue, two ventricles, and for the tumour class a bright irregular mass.
 *
 * This is synthetic test data for demos and fast tests. It is not medical data and says nothing
 * about real MRI.
 */
import { createRng, deriveSeed } from './rng.js';
import type { ImageSet } from './types.js';

export interface PhantomOptions {
  /** Class names in label order; a class whose name contains "healthy", "no" or "normal" gets no mass. */
  classNames: string[];
  perClass: number;
  size: number;
  channels: 1 | 3;
  seed?: number;
}

/** Whether phantoms of this class carry a mass. */
export function phantomHasMass(className: string): boolean {
  return !/healthy|^no$|normal|notumou?r/i.test(className);
}

/** Draws one slice into `out` (size × size, values in [0, 1]). */
export function drawPhantom(out: Float32Array, size: number, withMass: boolean, seed: number): void {
  const r = createRng(seed);
  const cx = size / 2 + (r() - 0.5) * size * 0.06;
  const cy = size / 2 + (r() - 0.5) * size * 0.06;
  const ax = size * (0.36 + r() * 0.06);
  const ay = size * (0.42 + r() * 0.05);
  const tilt = (r() - 0.5) * 0.4;
  const cos = Math.cos(tilt);
  const sin = Math.sin(tilt);
  // Smooth tissue texture: a few random plane waves.
  const waves = Array.from({ length: 6 }, () => ({ fx: (r() - 0.5) * 0.5, fy: (r() - 0.5) * 0.5, ph: r() * 6.283, a: 0.03 + r() * 0.04 }));
  const tissue = 0.45 + r() * 0.15;
  const vent = { dx: size * (0.07 + r() * 0.03), rx: size * (0.04 + r() * 0.02), ry: size * (0.1 + r() * 0.04) };
  const blobs = withMass
    ? (() => {
        const angle = r() * 6.283;
        const dist = 0.25 + r() * 0.4;
        const mx = cx + Math.cos(angle) * ax * dist;
        const my = cy + Math.sin(angle) * ay * dist;
        const radius = size * (0.06 + r() * 0.07);
        return Array.from({ length: 4 }, () => ({ x: mx + (r() - 0.5) * radius, y: my + (r() - 0.5) * radius, s: radius * (0.5 + r() * 0.5) }));
      })()
    : [];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const u = (dx * cos + dy * sin) / ax;
      const v = (-dx * sin + dy * cos) / ay;
      const rho = Math.sqrt(u * u + v * v);
      let value = 0;
      if (rho < 1.08 && rho >= 0.97) value = 0.9; // skull
      else if (rho < 0.97 && rho >= 0.92) value = 0.15; // CSF gap
      else if (rho < 0.92) {
        value = tissue;
        for (const w of waves) value += w.a * Math.sin(w.fx * x + w.fy * y + w.ph);
        for (const side of [-1, 1]) {
          const vx = (dx - side * vent.dx) / vent.rx;
          const vy = dy / vent.ry;
          if (vx * vx + vy * vy < 1) value = 0.12;
        }
        let mass = 0;
        for (const b of blobs) mass += Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.s * b.s));
        if (mass > 0.5) value = Math.min(1, 0.8 + 0.2 * Math.min(1, mass - 0.5));
      }
      value += (r() - 0.5) * 0.06; // acquisition noise
      out[y * size + x] = Math.min(1, Math.max(0, value));
    }
  }
}

/** A deterministic phantom dataset, scaled to [-1, 1]. */
export function phantomDataset(options: PhantomOptions): ImageSet {
  const { classNames, perClass, size, channels } = options;
  const seed = options.seed ?? 0;
  const count = classNames.length * perClass;
  const pixels = size * size;
  const images = new Float32Array(count * pixels * channels);
  const labels = new Int32Array(count);
  const ids: string[] = [];
  const slice = new Float32Array(pixels);
  let n = 0;
  for (let c = 0; c < classNames.length; c++) {
    const mass = phantomHasMass(classNames[c]);
    for (let i = 0; i < perClass; i++, n++) {
      drawPhantom(slice, size, mass, deriveSeed(seed, 'phantom', classNames[c], i));
      const base = n * pixels * channels;
      for (let p = 0; p < pixels; p++) {
        const v = slice[p] * 2 - 1;
        for (let ch = 0; ch < channels; ch++) images[base + p * channels + ch] = v;
      }
      labels[n] = c;
      ids.push(`phantom:${classNames[c]}:${i}`);
    }
  }
  return { images, labels, count, height: size, width: size, channels, classNames, ids };
}
