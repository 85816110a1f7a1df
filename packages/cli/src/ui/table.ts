/** The paper's results table: ratio, accuracy, precision, recall, F1, AUC (mean ± 95 % CI over seeds). */
import type { CellResult } from '@synthmix/core';
import { meanInterval } from '@synthmix/metrics';
import { ratioLabel } from './format.js';

export const TABLE_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc'] as const;

export interface TableRow {
  ratio: number;
  seeds: number;
  values: Record<string, { mean: number; low: number; high: number }>;
}

/** One row per ratio, over seeds, for the trained generator (GAN-epoch ablation cells have their own figure). */
export function resultsTable(results: CellResult[]): TableRow[] {
  const byRatio = new Map<number, CellResult[]>();
  for (const r of results.filter((x) => x.cell.generatorEpoch === undefined)) byRatio.set(r.cell.ratio, [...(byRatio.get(r.cell.ratio) ?? []), r]);
  return [...byRatio].sort((a, b) => a[0] - b[0]).map(([ratio, rs]) => ({
    ratio,
    seeds: rs.length,
    values: Object.fromEntries(TABLE_METRICS.map((m) => {
      if (rs.length === 1) {
        // One seed: the bootstrap interval of that run.
        const x = rs[0].metrics;
        return [m, { mean: x[m], low: x[`${m}_ci_low`], high: x[`${m}_ci_high`] }];
      }
      return [m, meanInterval(rs.map((r) => r.metrics[m]).filter((v) => !Number.isNaN(v)))];
    })),
  }));
}

function fmt(m: string, v: { mean: number; low: number; high: number }): string {
  const scale = m === 'auc' ? 1 : 100;
  const d = m === 'auc' ? 3 : 1;
  if (Number.isNaN(v.mean)) return '—';
  const half = Number.isNaN(v.low) ? undefined : ((v.high - v.low) / 2) * scale;
  return `${(v.mean * scale).toFixed(d)}${half === undefined ? '' : ` ± ${half.toFixed(d)}`}`;
}

/** Plain-text table that fits 80 columns. */
export function formatTable(rows: TableRow[]): string[] {
  const header = `${'real:syn'.padEnd(9)}${['accuracy %', 'precision %', 'recall %', 'F1 %', 'AUC'].map((h) => h.padStart(14)).join('')}`;
  return [header, ...rows.map((r) => `${ratioLabel(r.ratio).padEnd(9)}${TABLE_METRICS.map((m) => fmt(m, r.values[m]).padStart(14)).join('')}`)];
}

export function markdownTable(rows: TableRow[]): string {
  const lines = ['| real:synthetic | accuracy % | precision % | recall % | F1 % | AUC |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${ratioLabel(r.ratio)} | ${TABLE_METRICS.map((m) => fmt(m, r.values[m])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
