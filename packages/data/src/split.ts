/** The fixed real test set, chosen group-wise so near-duplicates never straddle it. */
import { createRng, deriveSeed, shuffled } from './rng.js';
import { groupMembers } from './groups.js';
import { DatasetError } from './types.js';

export interface TestSplit {
  /** Indices of test images, sorted. */
  test: number[];
  /** Indices of the remaining real images (the generator and the cells draw from these), sorted. */
  pool: number[];
}

/**
 * Takes `perClass` test images of each class by adding whole groups in a seeded random order.
 * A group that would overfill a class is passed over. Throws when a class cannot be filled.
 */
export function splitTest(labels: Int32Array, groups: Int32Array, classCount: number, perClass: number, seed: number, classNames?: string[]): TestSplit {
  const random = createRng(deriveSeed(seed, 'test-split'));
  const order = shuffled(groupMembers(groups), random);
  const filled = new Array(classCount).fill(0);
  const inTest = new Uint8Array(labels.length);
  for (const members of order) {
    const add = new Array(classCount).fill(0);
    for (const i of members) add[labels[i]]++;
    if (add.some((a, c) => filled[c] + a > perClass)) continue;
    for (const i of members) inTest[i] = 1;
    add.forEach((a, c) => (filled[c] += a));
    if (filled.every((f) => f === perClass)) break;
  }
  const short = filled.map((f, c) => (f < perClass ? `${classNames?.[c] ?? c}: ${f} of ${perClass}` : '')).filter(Boolean);
  if (short.length) throw new DatasetError(`cannot fill the test set with whole near-duplicate groups (${short.join(', ')}); lower testPerClass`);
  const test: number[] = [];
  const pool: number[] = [];
  for (let i = 0; i < labels.length; i++) (inTest[i] ? test : pool).push(i);
  return { test, pool };
}
