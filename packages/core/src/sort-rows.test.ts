import { describe, expect, it } from 'vitest';
import { seededRandom } from '@synthmix/metrics';
import os from 'node:os';
import { rowsSortedOnSecondThread, sortRows, sortRowsInParallel } from './sort-rows.js';

/** Rows of values over many magnitudes and both signs; with `special`, the awkward floats too. */
function rowsOf(rows: number, n: number, seed: number, special: number[] = []): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: rows * n }, (_, i) => (i % n < special.length ? special[i % n] : (random() * 2 - 1) * 10 ** Math.floor(random() * 8 - 4)));
}

function expectSortedLikeTypedArraySort(sorted: Float32Array, original: Float32Array, rows: number, n: number) {
  const expected = original.slice();
  for (let r = 0; r < rows; r++) expected.subarray(r * n, (r + 1) * n).sort();
  // Object.is tells −0 from 0: the order of equal values is also the one sort gives.
  for (let i = 0; i < expected.length; i++) if (!Object.is(sorted[i], expected[i])) expect(`${i}: ${sorted[i]}`).toBe(`${i}: ${expected[i]}`);
}

const SPECIAL = [0, -0, 1, -1, 1e-40, -1e-40, 3.4e38, -3.4e38, Infinity, -Infinity, 0.5, 0.5, -0.5, -0.5];

describe('sortRows', () => {
  it('sorts each row ascending as Float32Array.sort does: signs, zeros, ties, extremes, subnormals', () => {
    for (const [rows, n] of [[1, 1], [3, 14], [4, 5000]]) {
      const values = rowsOf(rows, n, rows, SPECIAL);
      const original = values.slice();
      expect(sortRows(values, rows, n)).toBe(values);
      expectSortedLikeTypedArraySort(values, original, rows, n);
    }
  });

  it('sorts rows whose values share their top 22 bits (clustered tighter than 2⁻¹³): a few, many, and all of them', () => {
    const random = seededRandom(9);
    const n = 4000;
    // Row 0: normal spread with a cluster of 40; row 1: half the row in one cluster; row 2: every
    // value distinct within 1 ± 2⁻¹⁴, in random order (the insertion pass would be quadratic).
    const clustered = (share: number) => Float32Array.from({ length: n }, (_, i) => (i < share * n ? 1 + (random() - 0.5) * 2 ** -14 : (random() - 0.5) * 100));
    const values = new Float32Array(3 * n);
    values.set(clustered(0.01), 0);
    values.set(clustered(0.5), n);
    values.set(clustered(1), 2 * n);
    const original = values.slice();
    sortRows(values, 3, n);
    expectSortedLikeTypedArraySort(values, original, 3, n);
    // Reverse order inside a cluster, and negative clusters.
    const reversed = Float32Array.from({ length: n }, (_, i) => -1 - i * 2 ** -23);
    const copy = reversed.slice();
    expectSortedLikeTypedArraySort(sortRows(reversed, 1, n), copy, 1, n);
  });

  it('sorts only the rows it is given from firstRow on', () => {
    const values = rowsOf(4, 100, 5);
    const original = values.slice();
    sortRows(values, 2, 100, 1);
    expect(values.subarray(0, 100)).toEqual(original.subarray(0, 100));
    expect(values.subarray(300)).toEqual(original.subarray(300));
    expectSortedLikeTypedArraySort(values.subarray(100, 300), original.subarray(100, 300), 2, 100);
  });

  it('refuses values that are not rows × n', () => {
    expect(() => sortRows(new Float32Array(5), 2, 3)).toThrow('sortRows: 5 values are not 2 rows of 3');
    expect(() => sortRowsInParallel(new Float32Array(7), 2, 3)).toThrow('sortRows: 7 values are not 2 rows of 3');
  });
});

describe('sortRowsInParallel', () => {
  it('gives what sortRows gives, with half of the rows sorted on a second thread (odd and even row counts, repeated calls)', () => {
    for (const [rows, n] of [[256, 9600], [65, 5000], [2, 1 << 17]]) {
      const before = rowsSortedOnSecondThread();
      const values = rowsOf(rows, n, n, SPECIAL);
      const original = values.slice();
      expect(sortRowsInParallel(values, rows, n)).toBe(values);
      expectSortedLikeTypedArraySort(values, original, rows, n);
      // The second thread took the later half (on a machine with more than one core).
      expect(rowsSortedOnSecondThread() - before).toBe(os.availableParallelism() > 1 ? Math.floor(rows / 2) : 0);
    }
  });

  it('sorts small inputs on this thread alone', () => {
    const values = rowsOf(3, 14, 9, SPECIAL);
    const original = values.slice();
    const before = rowsSortedOnSecondThread();
    sortRowsInParallel(values, 3, 14);
    expect(rowsSortedOnSecondThread()).toBe(before);
    expectSortedLikeTypedArraySort(values, original, 3, 14);
  });
});
