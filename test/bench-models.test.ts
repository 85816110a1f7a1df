/**
 * The benchmark's models (bench/models.mjs) compile: `npm run bench` is never part of the tests,
 * and a builder that a compiled step refuses only showed up eleven minutes into a bench run (the
 * DDPM's average once shared its weights' buffers). Each builder runs three steps with
 * `compile: on`, which throws where `auto` would fall back to eager.
 */
import { describe, expect, it } from 'vitest';

// Built packages (dist), as the benchmark runs them; setup builds them.
const models = await import('../bench/models.mjs');

describe('bench models', () => {
  for (const name of ['buildCnn', 'buildDcgan', 'buildDdpm'] as const) {
    it(`${name} runs compiled steps`, () => {
      const model = models[name]({ mode: 'on', xla: false });
      model.step(); // records; creates the optimiser's slots
      const before = models.backend.tf.memory().numTensors;
      for (let i = 0; i < 2; i++) model.step();
      expect(models.backend.tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }
});
