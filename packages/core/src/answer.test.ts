import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng } from '@synthmix/data';
import { formatPredictionsCsv } from '@synthmix/metrics';
import { answerSweep } from './answer.js';
import type { CellResult } from './events.js';
import type { CellPlan } from './manifest.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-answer-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const n = 400;
const labels = Array.from({ length: 2 * n }, (_, i) => (i < n ? 0 : 1)); // 0 = tumor (positive)
/** A classifier's P(tumor) per test image: `quality` separates the classes; the seed adds its own noise. */
function scores(quality: number, seed: number, shift = 0): number[] {
  const r = createRng(seed);
  return labels.map((l) => {
    const z = (l === 0 ? quality : -quality) + 1.2 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()) + shift;
    return 1 / (1 + Math.exp(-z));
  });
}

function cell(ratio: number, seed: number, p: number[], perClass = 40): CellResult {
  const synthetic = Math.round(perClass * ratio);
  const c: CellPlan = { id: `real${(perClass - synthetic) * 2}-synth${synthetic * 2}-seed${seed}`, ratio, seed, realPerClass: perClass - synthetic, syntheticPerClass: synthetic, trainPerClass: perClass * 0.8, valPerClass: perClass * 0.2 };
  const file = path.join(tmp, `${c.id}.csv`);
  fs.writeFileSync(file, formatPredictionsCsv({ ids: labels.map((_, i) => String(i)), classes: ['tumor', 'healthy'], labels, probabilities: p.flatMap((x) => [x, 1 - x]) }));
  return { cell: c, metrics: {} as CellResult['metrics'], confusion: [], durationMs: 0, files: { predictions: file } };
}

const plan = { seeds: [1, 2, 3], dataset: { classes: [{ name: 'tumor', folder: 'yes' }, { name: 'healthy', folder: 'no' }], positiveClass: 0 } } as Parameters<typeof answerSweep>[0];

describe('the answer in words, on fixtures with a known answer', () => {
  // Per seed: the baseline; 10 %: the same classifier (non-inferior); 30 %: clearly better; 50 %: clearly worse.
  const results = [1, 2, 3].flatMap((seed) => {
    const base = scores(1.5, seed);
    return [cell(0, seed, base), cell(0.1, seed, base), cell(0.3, seed, scores(2.5, seed)), cell(0.5, seed, scores(0.5, seed))];
  });

  it('finds the largest share non-inferior from the smallest up, the best one and whether it is better', () => {
    const answer = answerSweep(plan, results);
    expect(answer.sizes).toHaveLength(1);
    const [size] = answer.sizes;
    expect(size.points.map((p) => [p.label, p.nonInferior, p.better])).toEqual([['90:10', true, false], ['70:30', true, true], ['50:50', false, false]]);
    expect(size.upTo?.x).toBe(0.3);
    expect(size.best?.x).toBe(0.3);
    expect(size.weak).toEqual([]);
    expect(size.sentence).toMatch(/^With 40 images per class, replacing up to 30 % of the real images by synthetic ones costs at most 0\.01 AUC \(one-sided 95 %, 3 seeds\); 30 % has the best mean \(\+0\.\d{3}\) and is significantly better than none \(Holm-adjusted one-sided p (< 0\.001|= 0\.0\d\d)\)\.$/);
  });

  it('says so when no share is non-inferior, and why an answer is weak', () => {
    const oneSeed = results.filter((r) => r.cell.seed === 1 && [0, 0.5].includes(r.cell.ratio));
    const [size] = answerSweep({ ...plan, seeds: [1] }, oneSeed, { warnedSeeds: [1] }).sizes;
    expect(size.upTo).toBeUndefined();
    expect(size.sentence).toMatch(/^With 40 images per class, no synthetic share is shown to cost at most 0\.01 AUC: already 50 % may cost more \(lower bound −0\.\d{3}\); none has a better mean AUC than no synthetic images \(the closest: 50 %, −0\.\d{3}\)\. Weak answer: one seed, so how much training randomness moves the result is not measured; the generator's images were warned as far from real for seed 1\.$/);
  });

  it('answers each training-set size against its own baseline', () => {
    const two = [...results, ...[1, 2, 3].flatMap((seed) => [cell(0, seed, scores(1, seed + 10), 100), cell(0.1, seed, scores(0.2, seed + 10), 100)])];
    const answer = answerSweep(plan, two);
    expect(answer.sizes.map((s) => [s.perClass, s.upTo?.x])).toEqual([[40, 0.3], [100, undefined]]);
  });
});
