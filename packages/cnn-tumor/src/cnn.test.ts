import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPluginShape, createRng, loadBackend, type LoadedBackend, type PluginContext, type Progress } from '@synthmix/core';
import { phantomDataset, subset } from '@synthmix/data';
import { Compiler, pathDifference, TOLERANCE, type CompileMode } from '@synthmix/compile';
import cnnTumor, { buildClassifier, buildTrainStep, dropoutMask, loadClassifier, optionsSchema } from './index.js';

let backend: LoadedBackend;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-cnn-'));
beforeAll(async () => {
  backend = await loadBackend('tensorflow');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function context(progress: Progress[] = []): PluginContext {
  return { tf: backend.tf, seed: 3, random: createRng(3), signal: new AbortController().signal, workDir: tmp, progress: async (p) => void progress.push(p), metric() {}, artifact() {}, warn() {} };
}

const defaults = { epochs: 6, batchSize: 32, learningRate: 0.001, filters: [32, 64, 128], denseUnits: 128, dropout: 0.5, earlyStopping: { enabled: true, patience: 3 }, classWeights: 'none' as const };

describe('cnn-tumor', () => {
  it('has the paper\'s layer shapes and parameter count at 64×64×3', () => {
    const { tf } = backend;
    const model = buildClassifier(tf, { inputShape: [64, 64, 3], classes: 2, filters: [32, 64, 128], denseUnits: 128, dropout: 0.5, seed: 1 });
    expect(model.layers.map((l) => JSON.stringify(l.outputShape))).toEqual([
      '[null,64,64,32]', '[null,32,32,32]', '[null,32,32,64]', '[null,16,16,64]', '[null,16,16,128]', '[null,8,8,128]',
      '[null,8192]', '[null,128]', '[null,128]', '[null,1]',
    ]);
    // conv: 3·3·3·32+32 = 896; 3·3·32·64+64 = 18,496; 3·3·64·128+128 = 73,856; dense: 8192·128+128 = 1,048,704; out: 129
    expect(model.countParams()).toBe(896 + 18496 + 73856 + 1048704 + 129);
    model.dispose();
    const four = buildClassifier(tf, { inputShape: [64, 64, 3], classes: 4, filters: [32, 64, 128], denseUnits: 128, dropout: 0.5, seed: 1 });
    expect(four.outputShape).toEqual([null, 4]);
    four.dispose();
  });

  it('passes the contract check', () => {
    expect(checkPluginShape(cnnTumor(), 'classifier')).toEqual([]);
    expect(optionsSchema.properties.epochs.default).toBe(10);
  });

  it('learns phantom tumours well above chance, reports epochs, and reloads to the same predictions', async () => {
    const all = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 260, size: 32, channels: 3, seed: 5 });
    const order = Array.from({ length: all.count }, (_, i) => i).sort((a, b) => ((a * 7919) % 520) - ((b * 7919) % 520));
    const train = subset(all, order.slice(0, 320));
    const val = subset(all, order.slice(320, 400));
    const test = subset(all, order.slice(400));
    const progress: Progress[] = [];
    const before = backend.tf.memory().numTensors;
    const model = await cnnTumor().fit(train, val, { ...defaults, filters: [16, 32, 64], denseUnits: 64 }, context(progress));
    expect(progress.length).toBeGreaterThan(0);
    expect(Object.keys(progress[0].metrics!)).toEqual(['loss', 'accuracy', 'val_loss', 'val_accuracy']);
    const p = await model.predict(test);
    expect(p.length).toBe(test.count * 2);
    let correct = 0;
    for (let i = 0; i < test.count; i++) if ((p[i * 2 + 1] > 0.5 ? 1 : 0) === test.labels[i]) correct++;
    expect(correct / test.count).toBeGreaterThan(0.75);
    const embedded = await model.embed!(test);
    expect(embedded.dim).toBe(64);
    expect(embedded.features.length).toBe(test.count * 64);
    // Grad-CAM: one [0, 1] map per image at the image size, peaking at 1; tumour heat sits on the
    // mass (bright pixels inside the skull) more than on the dark background.
    const tumours = subset(test, Array.from(test.labels).flatMap((l, i) => (l === 0 ? [i] : [])).slice(0, 6));
    const afterFit = backend.tf.memory().numTensors;
    const maps = await model.explain!(tumours, 0);
    expect(backend.tf.memory().numTensors).toBe(afterFit);
    expect(maps.length).toBe(6 * 32 * 32);
    let onMass = 0;
    let onMassCount = 0;
    let background = 0;
    let backgroundCount = 0;
    for (let i = 0; i < 6; i++) {
      const map = maps.subarray(i * 1024, (i + 1) * 1024);
      expect(Math.min(...map)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...map)).toBeLessThanOrEqual(1 + 1e-6);
      for (let p = 0; p < 1024; p++) {
        const v = tumours.images[(i * 1024 + p) * 3];
        if (v > 0.55) {
          onMass += map[p];
          onMassCount++;
        } else if (v < -0.8) {
          background += map[p];
          backgroundCount++;
        }
      }
    }
    expect(onMass / onMassCount).toBeGreaterThan(background / backgroundCount);
    const dir = await model.save!(path.join(tmp, 'model'));
    const reloaded = await loadClassifier(backend.tf, dir, 2);
    const q = await reloaded.predict(test);
    for (let i = 0; i < p.length; i++) expect(Math.abs(p[i] - q[i])).toBeLessThan(1e-5);
    model.dispose();
    reloaded.dispose();
    // Training and prediction leave nothing behind.
    expect(backend.tf.memory().numTensors).toBe(before);
  });

  it('is reproducible for a seed', async () => {
    const set = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 40, size: 16, channels: 1 });
    const run = async () => {
      const progress: Progress[] = [];
      const m = await cnnTumor().fit(set, set, { ...defaults, epochs: 2, filters: [8], denseUnits: 8 }, context(progress));
      m.dispose();
      return progress.map((p) => p.metrics!.loss);
    };
    expect(await run()).toEqual(await run());
  });

  it('20 compiled training steps give the eager losses and weights (within the stated tolerance)', () => {
    const { tf } = backend;
    const run = (mode: CompileMode) => {
      const model = buildClassifier(tf, { inputShape: [32, 32, 3], classes: 2, filters: [16, 32, 64], denseUnits: 64, dropout: 0.5, seed: 1 });
      const optimizer = tf.train.adam(1e-3);
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const step = buildTrainStep(tf, compiler, model, optimizer, true);
      const random = createRng(7);
      const losses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const x = tf.tensor4d(Float32Array.from({ length: 16 * 32 * 32 * 3 }, () => random() * 2 - 1), [16, 32, 32, 3]);
        const y = tf.tensor2d(Float32Array.from({ length: 16 }, () => (random() > 0.5 ? 1 : 0)), [16, 1]);
        const mask = tf.tensor2d(dropoutMask(random, 16 * 64, 0.5), [16, 64]);
        const weights = tf.ones([16]);
        const r = step.run(x, y, mask, weights);
        losses.push(r.loss.dataSync()[0]);
        tf.dispose([r.loss, r.correct, x, y, mask, weights]);
      }
      compiler.dispose();
      const out = { losses, weights: model.getWeights().map((w) => w.dataSync().slice()), counts: step.counts };
      optimizer.dispose();
      model.dispose();
      return out;
    };
    const eager = run('off');
    const compiled = run('on');
    expect(compiled.counts.compiled).toBe(19); // all but Adam's warm-up
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    expect(eager.losses[19]).not.toBe(eager.losses[0]); // it did train
  });
});
