import { describe, expect, it } from 'vitest';
import { createRng } from '@synthmix/data';
import { nonInferiority, pairedAccuracyDifference, pairedAucDifference } from './noninferiority.js';

/** A test set of n images a class and scores of a classifier with `separation` between the classes. */
function scored(n: number, separation: number, seed: number) {
  const random = createRng(seed);
  const labels = Array.from({ length: 2 * n }, (_, i) => (i < n ? 1 : 0));
  const noise = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const scores = labels.map((l) => 1 / (1 + Math.exp(-(l ? separation / 2 : -separation / 2) - noise())));
  return { labels, scores };
}

describe('non-inferiority and superiority against the no-synthetic baseline, on fixtures with known answers', () => {
  const n = 500;
  const baseline = (seed: number) => scored(n, 2.5, 100 + seed);
  // The same classifier (identical scores), a clearly worse one, a clearly better one.
  const same = (seed: number) => ({ ...baseline(seed) });
  const worse = (seed: number) => ({ labels: baseline(seed).labels, scores: baseline(seed).scores.map((s, i) => 0.5 * s + 0.5 * createRng(seed * 7 + i)()) });
  const better = (seed: number) => {
    const b = baseline(seed);
    return { labels: b.labels, scores: b.scores.map((s, i) => (b.labels[i] ? s + 0.25 * (1 - s) : 0.75 * s)) };
  };
  const grid = (cell: (seed: number) => { labels: number[]; scores: number[] }) => [1, 2, 3].map((seed) => ({ seed, ...pairedAucDifference(baseline(seed).labels, cell(seed).scores, baseline(seed).scores) }));

  it('a cell that scores every image like the baseline is non-inferior and not better', () => {
    const r = nonInferiority(grid(same), 0.01);
    expect(r.meanDifference).toBe(0);
    expect(r.nonInferior).toBe(true);
    expect(r.pBetter).toBe(1);
  });

  it('a clearly worse cell is not non-inferior', () => {
    const r = nonInferiority(grid(worse), 0.01);
    expect(r.meanDifference).toBeLessThan(-0.03);
    expect(r.nonInferior).toBe(false);
    expect(r.pBetter).toBeGreaterThan(0.99);
  });

  it('a clearly better cell is non-inferior and better (one-sided p < 0.05)', () => {
    const r = nonInferiority(grid(better), 0.01);
    expect(r.meanDifference).toBeGreaterThan(0.01);
    expect(r.nonInferior).toBe(true);
    expect(r.pBetter).toBeLessThan(0.05);
  });

  it('adds the between-seed variance: seeds that disagree widen the bound', () => {
    const agreeing = nonInferiority([{ seed: 1, difference: -0.004, standardError: 0.002 }, { seed: 2, difference: -0.004, standardError: 0.002 }, { seed: 3, difference: -0.004, standardError: 0.002 }], 0.01);
    const disagreeing = nonInferiority([{ seed: 1, difference: 0.01, standardError: 0.002 }, { seed: 2, difference: -0.004, standardError: 0.002 }, { seed: 3, difference: -0.018, standardError: 0.002 }], 0.01);
    expect(agreeing.meanDifference).toBeCloseTo(disagreeing.meanDifference, 12);
    expect(agreeing.nonInferior).toBe(true);
    expect(disagreeing.nonInferior).toBe(false);
    // Test-set variance is not divided by the seeds (they share the test images): SE = √(0.002² + 0).
    expect(agreeing.standardError).toBeCloseTo(0.002, 12);
  });

  it('a paired accuracy difference counts the discordant images', () => {
    const labels = [1, 1, 1, 1, 0, 0, 0, 0];
    const d = pairedAccuracyDifference(labels, [1, 1, 1, 0, 0, 0, 0, 1], [1, 1, 0, 0, 0, 0, 1, 1]);
    expect(d.difference).toBeCloseTo(2 / 8, 12); // the 3rd and 7th images are right only in the cell
    expect(d.standardError).toBeCloseTo(Math.sqrt((2 / 8 - 1 / 16) / 8), 12);
  });
});
