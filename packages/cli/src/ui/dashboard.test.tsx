import React from 'react';
import { describe, expect, it } from 'vitest';
import { render } from 'ink-testing-library';
import type { CellPlan, SweepEvent } from '@synthmix/core';
import { Dashboard, visibleRows } from './Dashboard.js';
import { initialView, reduce, type SweepView } from './state.js';
import { eventLine } from './lines.js';
import { sparkline } from './format.js';

const cells: CellPlan[] = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1].flatMap((ratio) => [1, 2].map((seed) => {
  const synth = Math.round(ratio * 500);
  return { id: `real${1000 - 2 * synth}-synth${2 * synth}-seed${seed}`, ratio, seed, realPerClass: 500 - synth, syntheticPerClass: synth, trainPerClass: 400, valPerClass: 100 };
}));
const plan = { name: 'br35h-quick', cells, outputDir: '/out' } as never;
const metrics = (acc: number) => ({ accuracy: acc, precision: acc, recall: acc, specificity: acc, f1: acc, auc: acc, balancedAccuracy: acc, mcc: 0.5 });

function viewAfter(events: Omit<SweepEvent, 'time'>[]): SweepView {
  return events.map((e, i) => ({ ...e, time: 1_000 + i * 1000 }) as SweepEvent).reduce(reduce, { ...initialView(), trackingUrl: 'http://127.0.0.1:5000' });
}

const running = viewAfter([
  { type: 'sweep:start', plan, backend: { choice: 'tensorflow', reasons: [], backendName: 'tensorflow', tensorflowVersion: '2.21.0' }, resumed: [] },
  { type: 'generator:start', seed: 1, plugin: 'synthmix:dcgan', cached: false, stateKey: 'abc' },
  ...[1.2, 0.9, 0.7].map((d, i) => ({ type: 'generator:progress' as const, seed: 1, progress: { step: i + 1, total: 25, unit: 'epoch', label: 'tumor (1/2)', metrics: { tumor_d_loss: d, tumor_g_loss: 2 - d } } })),
]);

describe('log lines', () => {
  it('say the dataset load at every tenth of each phase, and its end', () => {
    const said = (phase: 'reading' | 'decoding', total: number) => Array.from({ length: total }, (_, i) => eventLine({ type: 'data:progress', time: Date.UTC(2026, 11, 2, 10, 0, 0), phase, done: i + 1, total })).filter(Boolean);
    expect(said('reading', 3000)).toEqual(Array.from({ length: 10 }, (_, k) => `10:00:00 data reading files ${300 * (k + 1)}/3000`));
    expect(said('decoding', 25)).toEqual(['10:00:00 data decoding 10/25', '10:00:00 data decoding 20/25', '10:00:00 data decoding 25/25']);
  });

  it('say when compile: auto times a step\'s paths and which it took, not each cell\'s recall of it', () => {
    const time = Date.UTC(2026, 11, 2, 10, 0, 0);
    const scope = { kind: 'generator' as const, seed: 1 };
    const choice = { owner: 'synthmix:dcgan', step: 'GAN step', shape: 'float32[64,64,64,3] float32[64,100]', path: 'xla' as const, msPerStep: { compiled: 612.4, xla: 420, eager: 1130 }, machine: 'x', remembered: false };
    expect(eventLine({ type: 'compile:measuring', time, scope, owner: choice.owner, step: choice.step, shape: choice.shape, paths: ['compiled', 'xla', 'eager'] })).toBe('10:00:00 synthmix:dcgan GAN step [float32[64,64,64,3] float32[64,100]]: timing compiled, compiled + XLA, eager to take the fastest on this machine');
    expect(eventLine({ type: 'compile:chosen', time, scope, choice })).toBe('10:00:00 synthmix:dcgan GAN step [float32[64,64,64,3] float32[64,100]]: compiled + XLA (compiled 612 ms, compiled + XLA 420 ms, eager 1.13 s a step); remembered for this machine');
    expect(eventLine({ type: 'compile:chosen', time, scope: { kind: 'cell', cellId: 'c' }, choice: { ...choice, remembered: true } })).toBeUndefined();
  });
});

describe('Dashboard', () => {
  it('shows how far the dataset has loaded, by phase, until it is loaded', () => {
    const start = { type: 'sweep:start' as const, plan, backend: { choice: 'tensorflow' as const, reasons: [], backendName: 'tensorflow', tensorflowVersion: '2.21.0' }, resumed: [] };
    const reading = render(<Dashboard view={viewAfter([start, { type: 'data:progress', phase: 'reading', done: 600, total: 3000 }])} width={80} height={30} />).lastFrame()!;
    expect(reading).toMatch(/Dataset · reading and hashing files 600\/3000 \S+/);
    const decoding = viewAfter([start, { type: 'data:progress', phase: 'reading', done: 3000, total: 3000 }, { type: 'data:progress', phase: 'decoding', done: 1500, total: 3000 }]);
    expect(render(<Dashboard view={decoding} width={80} height={30} />).lastFrame()).toMatch(/Dataset · decoding and resizing 1500\/3000/);
    const loaded = reduce(decoding, { type: 'data:loaded', time: 9_000, fingerprint: 'f', counts: { tumor: 1500, healthy: 1500 }, skipped: 0, groups: 2900, testPerClass: 500, reportFile: '/out/data-report.json', cached: false });
    expect(render(<Dashboard view={loaded} width={80} height={30} />).lastFrame()).not.toMatch(/Dataset ·/);
  });

  it('shows the header, the generator panel with sparklines, and the queued table', () => {
    const { lastFrame } = render(<Dashboard view={running} width={80} height={30} />);
    const frame = lastFrame()!;
    expect(frame).toContain('synthmix br35h-quick · backend tensorflow (tensorflow (libtensorflow 2.21.0))');
    expect(frame).toContain('MLflow http://127.0.0.1:5000');
    expect(frame).toContain('Generator seed 1 · tumor (1/2)  epoch 3/25');
    expect(frame).toContain(`tumor_d_loss           ${sparkline([1.2, 0.9, 0.7], 30)} 0.700`);
    expect(frame).toContain('real1000-synth0-seed1   queued');
    expect(frame).toContain('q stop · ? help');
    // Never wider than the terminal: rows are cut, not wrapped.
    for (const line of frame.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('shows which path each compiled step took, and the timing while auto measures', () => {
    const scope = { kind: 'generator' as const, seed: 1 };
    const measuring = viewAfter([...[{ type: 'sweep:start' as const, plan, backend: { choice: 'tensorflow' as const, reasons: [], backendName: 'tensorflow', tensorflowVersion: '2.21.0' }, resumed: [] }], { type: 'compile:measuring', scope, owner: 'synthmix:dcgan', step: 'GAN step', shape: 's', paths: ['compiled', 'xla', 'eager'] }]);
    expect(render(<Dashboard view={measuring} width={100} height={30} />).lastFrame()).toContain('synthmix:dcgan GAN step: timing compiled, compiled + XLA, eager to take the fastest here');
    const chosen = [
      { type: 'compile:chosen' as const, scope, choice: { owner: 'synthmix:dcgan', step: 'GAN step', shape: 's', path: 'xla' as const, msPerStep: { compiled: 2, xla: 1 }, machine: 'm', remembered: false } },
      { type: 'compile:chosen' as const, scope: { kind: 'cell' as const, cellId: 'c' }, choice: { owner: 'synthmix:cnn-tumor', step: 'train step', shape: 's', path: 'compiled' as const, msPerStep: {}, machine: 'm', remembered: true } },
    ];
    const frame = render(<Dashboard view={[measuring, ...chosen].reduce((v, e) => reduce(v as SweepView, { ...e, time: 9_000 } as SweepEvent)) as SweepView} width={100} height={30} />).lastFrame()!;
    expect(frame).toContain('steps: dcgan GAN step compiled + XLA · cnn-tumor train step compiled');
    expect(frame).not.toContain('timing');
  });

  it('summarises rows that do not fit', () => {
    const { lastFrame } = render(<Dashboard view={running} width={80} height={20} />);
    expect(lastFrame()).toMatch(/… \d+ queued not shown/);
    const { shown, hidden } = visibleRows(running.rows, 5);
    expect(shown).toHaveLength(5);
    expect(hidden).toEqual({ queued: 17 });
  });

  it('marks status, test metrics and the best row', () => {
    const view = viewAfter([
      { type: 'sweep:start', plan, backend: { choice: 'cpu', reasons: [], backendName: 'cpu' }, resumed: [] },
      { type: 'generator:done', seed: 1, cached: true, stateKey: 'abc', poolPerClass: 500, durationMs: 1 },
      { type: 'cell:start', cell: cells[0], index: 1, total: 22 },
      { type: 'cell:done', result: { cell: cells[0], metrics: metrics(0.9), confusion: [], valAccuracy: 0.91, durationMs: 5, files: { predictions: '' } }, cached: false },
      { type: 'cell:start', cell: cells[2], index: 2, total: 22 },
      { type: 'cell:done', result: { cell: cells[2], metrics: metrics(0.952), confusion: [], valAccuracy: 0.95, durationMs: 5, files: { predictions: '' } }, cached: false },
      { type: 'cell:start', cell: cells[4], index: 3, total: 22 },
      { type: 'cell:progress', cellId: cells[4].id, progress: { step: 3, total: 10, unit: 'epoch', metrics: { val_accuracy: 0.8 } } },
      { type: 'cell:failed', cellId: cells[1].id, error: 'boom' },
      { type: 'warning', scope: { kind: 'generator', seed: 1 }, message: 'tumor: sample diversity collapsed' },
    ]);
    const frame = render(<Dashboard view={view} width={100} height={40} />).lastFrame()!;
    expect(frame).toContain('★ real900-synth100-seed1  done');
    expect(frame).toMatch(/real1000-synth0-seed1 +done +91\.0% +90\.0% +90\.0% +0\.900 +100:0/);
    expect(frame).toMatch(/real800-synth200-seed1 +training +3\/10 +80\.0%/);
    expect(frame).toMatch(/real1000-synth0-seed2 +failed/);
    expect(frame).toContain('⚠ tumor: sample diversity collapsed');
  });

  it('shows a generator-epoch ablation\'s cells whole, with their epoch, when the terminal is wide', () => {
    const ablation: CellPlan[] = [...cells.slice(0, 4), ...cells.slice(2, 4).map((c) => ({ ...c, id: `${c.id}-gen150`, generatorEpoch: 150 }))];
    const view = viewAfter([{ type: 'sweep:start', plan: { name: 'ablation', cells: ablation, outputDir: '/out' } as never, backend: { choice: 'cpu', reasons: [], backendName: 'cpu' }, resumed: [] }]);
    const wide = render(<Dashboard view={view} width={100} height={40} />).lastFrame()!;
    expect(wide).toMatch(/ real900-synth100-seed1-gen150 +queued .* 90:10 @150\n/);
    expect(wide).toMatch(/ real900-synth100-seed1 +queued .* 90:10\n/);
    for (const line of wide.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    const narrow = render(<Dashboard view={view} width={80} height={40} />).lastFrame()!;
    for (const line of narrow.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('shows the key help and the stopping state', () => {
    expect(render(<Dashboard view={running} showHelp width={80} />).lastFrame()).toContain('q       stop after the current epoch (the sweep stays resumable with --resume)');
    expect(render(<Dashboard view={{ ...running, status: 'stopping' }} width={80} />).lastFrame()).toContain('Stopping after the current epoch… (Ctrl-C again to quit at once)');
  });
});
