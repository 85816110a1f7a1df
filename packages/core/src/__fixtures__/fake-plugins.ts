/**
 * Small but real plugins for runner tests: a "generator" that learns each class's mean image and
 * samples it with noise, and a classifier by nearest class mean of the bright-pixel fraction. They need no TensorFlow kernels
 * beyond what the pure-JS backend runs quickly, so runner tests stay fast.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ClassifierPlugin, GeneratorPlugin, ImageSet } from '../contract.js';
import { createRng, readJsonFile, writeJsonAtomic } from '@synthmix/data';

export const calls = { train: 0, generate: 0, fit: 0 };

/** When set, the next training waits for it before it starts: for tests that need a training in progress. */
export const trainingGate: { next?: Promise<void> } = {};

function classMeans(set: ImageSet): Float32Array[] {
  const size = set.height * set.width * set.channels;
  const means = set.classNames.map(() => new Float32Array(size));
  const counts = set.classNames.map(() => 0);
  for (let i = 0; i < set.count; i++) {
    const m = means[set.labels[i]];
    for (let p = 0; p < size; p++) m[p] += set.images[i * size + p];
    counts[set.labels[i]]++;
  }
  means.forEach((m, c) => m.forEach((_, p) => (m[p] /= Math.max(1, counts[c]))));
  return means;
}

export function meanGenerator(): GeneratorPlugin<{ noise: number; epochs: number; failAtEpoch?: number }> {
  return {
    kind: 'generator', name: 'test:mean-generator', version: '1.0.0',
    optionsSchema: { type: 'object', additionalProperties: false, properties: { noise: { type: 'number', default: 0.1 }, epochs: { type: 'integer', minimum: 1, default: 2 }, failAtEpoch: { type: 'integer' } } },
    async train(real, options, ctx) {
      calls.train++;
      const gate = trainingGate.next;
      trainingGate.next = undefined;
      if (gate) await gate;
      // Its checkpoint, read as the real plugins read theirs: a torn one is a DamagedFileError.
      const progressFile = path.join(ctx.workDir, 'epoch.json');
      let start = fs.existsSync(progressFile) ? readJsonFile<{ epoch: number }>(progressFile).epoch : 0;
      for (let epoch = start + 1; epoch <= options.epochs; epoch++) {
        if (options.failAtEpoch === epoch) throw new Error(`planned failure at epoch ${epoch}`);
        await ctx.progress({ step: epoch, total: options.epochs, unit: 'epoch', metrics: { loss: 1 / epoch } });
        writeJsonAtomic(progressFile, { epoch });
        start = epoch;
      }
      fs.writeFileSync(path.join(ctx.workDir, 'means.json'), JSON.stringify(classMeans(real).map((m) => Array.from(m))));
      // Which real images it was given, so tests can check what a generator learned from.
      fs.writeFileSync(path.join(ctx.workDir, 'seen.json'), JSON.stringify(real.ids ?? []));
    },
    async generate(request, options, ctx) {
      calls.generate++;
      const means = (JSON.parse(fs.readFileSync(path.join(ctx.workDir, 'means.json'), 'utf8')) as number[][]).map((m) => Float32Array.from(m));
      const size = request.height * request.width * request.channels;
      const n = request.countPerClass * request.classNames.length;
      const images = new Float32Array(n * size);
      const labels = new Int32Array(n);
      const r = createRng(ctx.seed);
      for (let i = 0; i < n; i++) {
        labels[i] = Math.floor(i / request.countPerClass);
        for (let p = 0; p < size; p++) images[i * size + p] = Math.max(-1, Math.min(1, means[labels[i]][p] + (r() - 0.5) * 2 * options.noise));
      }
      return { images, labels, count: n, height: request.height, width: request.width, channels: request.channels, classNames: request.classNames, provenance: { plugin: 'test:mean-generator', pluginVersion: '1.0.0', seed: ctx.seed, stateHash: 'x' } };
    },
  };
}

/** Fraction of bright pixels (> 0.55 in [-1, 1]): phantom masses add bright area inside the skull. */
function brightFraction(set: ImageSet, i: number): number {
  const size = set.height * set.width * set.channels;
  let bright = 0;
  for (let p = 0; p < size; p++) if (set.images[i * size + p] > 0.55) bright++;
  return bright / size;
}

export function nearestMeanClassifier(): ClassifierPlugin<{ failOn?: string }> {
  return {
    kind: 'classifier', name: 'test:nearest-mean', version: '1.0.0',
    optionsSchema: { type: 'object', additionalProperties: false, properties: { failOn: { type: 'string' } } },
    async fit(train, _val, options, ctx) {
      calls.fit++;
      if (options.failOn && ctx.workDir.includes(options.failOn)) throw new Error('planned classifier failure');
      const k = train.classNames.length;
      const sums = new Array<number>(k).fill(0);
      const counts = new Array<number>(k).fill(0);
      for (let i = 0; i < train.count; i++) {
        sums[train.labels[i]] += brightFraction(train, i);
        counts[train.labels[i]]++;
      }
      const means = sums.map((s, c) => s / Math.max(1, counts[c]));
      await ctx.progress({ step: 1, total: 1, unit: 'epoch', metrics: { val_accuracy: 1 } });
      return nearestMeanModel(means);
    },
    // Saved and reloaded like a real model, so a damaged one can be told apart.
    async load(dir) {
      return nearestMeanModel(readJsonFile<number[]>(path.join(dir, 'means.json')));
    },
  };
}

function nearestMeanModel(means: number[]): Awaited<ReturnType<ClassifierPlugin['fit']>> {
  const k = means.length;
  return {
    async predict(set) {
      const out = new Float32Array(set.count * k);
      for (let i = 0; i < set.count; i++) {
        const f = brightFraction(set, i);
        const w = means.map((m) => Math.exp(-Math.abs(f - m) * 200));
        const total = w.reduce((a, b) => a + b, 0) || 1;
        w.forEach((x, c) => (out[i * k + c] = x / total));
      }
      return out;
    },
    // Two features per image (bright fraction, mean intensity), for the Fréchet distance.
    async embed(set) {
      const size = set.height * set.width * set.channels;
      const features = new Float32Array(set.count * 2);
      for (let i = 0; i < set.count; i++) {
        let sum = 0;
        for (let p = 0; p < size; p++) sum += set.images[i * size + p];
        features[i * 2] = brightFraction(set, i);
        features[i * 2 + 1] = sum / size;
      }
      return { features, dim: 2 };
    },
    async save(dir) {
      writeJsonAtomic(path.join(dir, 'means.json'), means);
      return dir;
    },
    dispose() {},
  };
}
