import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { precisionRecallDensityCoverage } from './prdc.js';

// Features and the answers of `prdc` 0.2 (Naeem et al.'s reference code): scripts/make_prdc_fixtures.py.
const fixture = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../fixtures/prdc.json'), 'utf8')) as {
  cases: { name: string; k: number; dim: number; real: number[]; fake: number[]; nReal: number; nFake: number; expected: Record<string, number> }[];
};

describe('precision, recall, density and coverage, against prdc', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const got = precisionRecallDensityCoverage(c.real, c.nReal, c.fake, c.nFake, c.dim, c.k);
    for (const key of ['precision', 'recall', 'density', 'coverage'] as const) expect(got[key], key).toBeCloseTo(c.expected[key], 10);
  });

  it('separates unrealistic from not diverse', () => {
    const [same, shifted, collapsed] = fixture.cases;
    const of = (c: typeof same) => precisionRecallDensityCoverage(c.real, c.nReal, c.fake, c.nFake, c.dim, c.k);
    expect(of(shifted).precision).toBeLessThan(0.3); // unrealistic: few samples look real
    expect(of(collapsed).precision).toBe(1); // realistic …
    expect(of(collapsed).recall).toBe(0); // … but covering none of the real variety
    expect(of(same).precision).toBeGreaterThan(0.75);
  });
});
