/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, that CI's log reader
 * understands whatever the test runner, and appends it to .synthmix/test-summary.txt with the
 * CPU the numbers came from (model, SIMD flags, the ISA oneDNN dispatched to): results that
 * depend on kernels differ between hosts, so every summary says which one it ran on.
 * SYNTHMIX_TEST_LABEL names the pass (CI's second pass under ONEDNN_MAX_CPU_ISA=AVX2).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
// @ts-expect-error a plain ES module of the project's scripts, without types
import { cpuFactsWithIsa, cpuLine } from '../scripts/cpu-facts.mjs';

export const SUMMARY_FILE = path.resolve(import.meta.dirname, '../.synthmix/test-summary.txt');

export default class SummaryReporter implements Reporter {
  async onTestRunEnd(modules: ReadonlyArray<TestModule>): Promise<void> {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const mod of modules) {
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (mod.state() === 'failed' && ![...mod.children.allTests()].length) failed++;
    }
    const line = `tests: ${passed} passed, ${failed} failed, ${skipped} skipped`;
    const label = process.env.SYNTHMIX_TEST_LABEL;
    const cpu = (cpuLine as (facts: unknown) => string)(await (cpuFactsWithIsa as () => Promise<unknown>)());
    process.stdout.write(`\n${cpu}\n${line}\n`);
    // .ci/run repeats these at the very end of the log (vitest's own summary prints after us).
    fs.mkdirSync(path.dirname(SUMMARY_FILE), { recursive: true });
    fs.appendFileSync(SUMMARY_FILE, `${label ? `[${label}] ` : ''}${cpu}\n${label ? `[${label}] ` : ''}${line}\n`);
  }
}
