import { describe, expect, it } from 'vitest';
import { planJobs, qualityVerdict, SWD_RATIO_WARNING, SWD_SAMPLE } from './jobs.js';
import type { ResolvedPlan } from './manifest.js';

const cell = (ratio: number, seed: number) => ({ id: `r${ratio}-s${seed}`, ratio, seed, realPerClass: 10 - ratio * 10, syntheticPerClass: ratio * 10, trainPerClass: 8, valPerClass: 2 });
const plan = { seeds: [1, 2], outputDir: '/runs/x', cells: [cell(0, 1), cell(0.5, 1), cell(1, 1), cell(0, 2), cell(0.5, 2)] } as unknown as ResolvedPlan;
const common = { cacheDir: '/cache', bootstrapResamples: 10 };

describe('planJobs', () => {
  it('makes a generator job per seed and a job per cell, synthetic cells depending on their generator', () => {
    const jobs = planJobs(plan, plan.cells.map((c) => c.id), common);
    expect(jobs.map((j) => [j.id, j.dependsOn, j.after ?? []])).toEqual([
      ['generator-seed1', [], []],
      ['cell-r0-s1', [], ['generator-seed1']],
      ['cell-r0.5-s1', ['generator-seed1'], []],
      ['cell-r1-s1', ['generator-seed1'], []],
      ['generator-seed2', [], []],
      ['cell-r0-s2', [], ['generator-seed2']],
      ['cell-r0.5-s2', ['generator-seed2'], []],
    ]);
    // Plain JSON: it travels to other processes and nodes as a file.
    expect(JSON.parse(JSON.stringify(jobs))).toEqual(jobs);
    expect(jobs[0]).toMatchObject({ version: 1, kind: 'generator', seed: 1, outputDir: '/runs/x', cacheDir: '/cache' });
  });

  it('plans only pending cells, and no generator for a seed whose pending cells are all real', () => {
    const jobs = planJobs(plan, ['r0-s1', 'r0.5-s2'], common);
    expect(jobs.map((j) => j.id)).toEqual(['cell-r0-s1', 'generator-seed2', 'cell-r0.5-s2']);
    expect(jobs[0].after).toEqual([]);
  });
});

describe('qualityVerdict', () => {
  it('names the classes whose patch distance is far above the real-to-real floor', () => {
    const q = (ratio: number) => ({ ssimNearestMean: 0.5, ssimNearestMax: 0.6, diversity: 10, realDiversity: 12, slicedWasserstein: ratio * 10, slicedWassersteinRealFloor: 10, slicedWassersteinRatio: ratio });
    expect(qualityVerdict({ tumor: q(1.2), healthy: q(SWD_RATIO_WARNING - 0.1) })).toEqual({ far: [], threshold: SWD_RATIO_WARNING });
    const far = qualityVerdict({ tumor: q(SWD_RATIO_WARNING * 3), healthy: q(1.1) });
    expect(far.far).toEqual(['tumor']);
    expect(far.message).toMatch(new RegExp(`^SYNTHETIC IMAGES FAR FROM REAL ONES \\(tumor ${(SWD_RATIO_WARNING * 3).toFixed(1)}× the real-to-real patch distance; warning above ${SWD_RATIO_WARNING}×\\)`));
    // No measure (images too small for patches): no verdict either way.
    expect(qualityVerdict({ tumor: { ...q(1), slicedWassersteinRatio: NaN } }).far).toEqual([]);
    // Measured on fewer images than the calibration: said, whether or not the class is far.
    const small = qualityVerdict({ tumor: { ...q(1.1), slicedWassersteinSample: 65 }, healthy: { ...q(1.2), slicedWassersteinSample: SWD_SAMPLE } });
    expect(small.far).toEqual([]);
    expect(small.note).toBe(`weaker quality check: patch distance on tumor 65 images a side, fewer than the ${SWD_SAMPLE} its threshold was calibrated on (small samples read closer to 1; docs/results/quality-calibration.md)`);
    expect(qualityVerdict({ tumor: { ...q(1.1), slicedWassersteinSample: SWD_SAMPLE } }).note).toBeUndefined();
  });
});
