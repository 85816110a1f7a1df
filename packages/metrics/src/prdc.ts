/**
 * Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020)
 * of synthetic features against real ones, as the `prdc` reference code computes them: each
 * sample's k-nearest-neighbour ball (Euclidean, k = 5 by default) in its own set;
 *   precision — the share of synthetic samples inside some real ball (realistic),
 *   recall    — the share of real samples inside some synthetic ball (diverse),
 *   density   — real balls containing a synthetic sample, counted, per synthetic sample, over k,
 *   coverage  — the share of real samples whose ball holds a synthetic sample.
 * They tell "unrealistic" from "not diverse", which one Fréchet distance cannot.
 */

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
}

/** Row-major n × dim features, distances between every row of `a` and every row of `b`. */
function distances(a: ArrayLike<number>, na: number, b: ArrayLike<number>, nb: number, dim: number): Float64Array {
  const out = new Float64Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const t = a[i * dim + d] - b[j * dim + d];
        s += t * t;
      }
      out[i * nb + j] = Math.sqrt(s);
    }
  }
  return out;
}

/** Distance of each row to its k-th nearest neighbour in its own set (the row itself, at 0, excluded as prdc does: the (k+1)-th smallest). */
function kthNeighbour(features: ArrayLike<number>, n: number, dim: number, k: number): Float64Array {
  if (n <= k) throw new Error(`k = ${k} nearest neighbours need more than ${k} samples, found ${n}`);
  const d = distances(features, n, features, n, dim);
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) radii[i] = Array.from(d.subarray(i * n, (i + 1) * n)).sort((x, y) => x - y)[k];
  return radii;
}

export function precisionRecallDensityCoverage(real: ArrayLike<number>, nReal: number, fake: ArrayLike<number>, nFake: number, dim: number, k = 5): Prdc {
  const realRadii = kthNeighbour(real, nReal, dim, k);
  const fakeRadii = kthNeighbour(fake, nFake, dim, k);
  const d = distances(real, nReal, fake, nFake, dim); // [real][fake]
  let precise = 0;
  let dense = 0;
  for (let j = 0; j < nFake; j++) {
    let inside = 0;
    for (let i = 0; i < nReal; i++) if (d[i * nFake + j] < realRadii[i]) inside++;
    if (inside) precise++;
    dense += inside;
  }
  let recalled = 0;
  let covered = 0;
  for (let i = 0; i < nReal; i++) {
    let anyFakeBall = false;
    let nearest = Infinity;
    for (let j = 0; j < nFake; j++) {
      const v = d[i * nFake + j];
      if (v < fakeRadii[j]) anyFakeBall = true;
      if (v < nearest) nearest = v;
    }
    if (anyFakeBall) recalled++;
    if (nearest < realRadii[i]) covered++;
  }
  return { precision: precise / nFake, recall: recalled / nReal, density: dense / (k * nFake), coverage: covered / nReal };
}
