/** The paper's results table: ratio, accuracy, precision, recall, F1, AUC (mean ± 95 % CI over seeds). */
import { designLabel, designX, modeOf, sizePerClass, type CellResult, type DesignMode } from '@synthmix/core';
import { meanInterval } from '@synthmix/metrics';

export const TABLE_METRICS = ['accuracy', 'precision', 'recall', 'f1', 'auc'] as const;

export interface TableRow {
  /** Synthetic share of the training set. */
  ratio: number;
  mode: DesignMode;
  /** Images per class (replace) or real images per class (augment). */
  perClass: number;
  /** The design's x: the share (replace) or synthetic images per real one (augment). */
  x: number;
  /** `90:10` or `2×`. */
  label: string;
  seeds: number;
  values: Record<string, { mean: number; low: number; high: number }>;
}

/** One row per size and grid point, over seeds, for the trained generator (GAN-epoch ablation cells have their own figure). */
export function resultsTable(results: CellResult[]): TableRow[] {
  const byPoint = new Map<string, CellResult[]>();
  for (const r of results.filter((x) => x.cell.generatorEpoch === undefined)) {
    const key = `${sizePerClass(r.cell)}|${designX(r.cell)}`;
    byPoint.set(key, [...(byPoint.get(key) ?? []), r]);
  }
  return [...byPoint.values()].sort((a, b) => sizePerClass(a[0].cell) - sizePerClass(b[0].cell) || designX(a[0].cell) - designX(b[0].cell)).map((rs) => ({
    ratio: rs[0].cell.ratio,
    mode: modeOf(rs[0].cell),
    perClass: sizePerClass(rs[0].cell),
    x: designX(rs[0].cell),
    label: designLabel(designX(rs[0].cell), modeOf(rs[0].cell)),
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

const manySizes = (rows: TableRow[]) => new Set(rows.map((r) => r.perClass)).size > 1;
const pointHeader = (rows: TableRow[]) => (rows[0]?.mode === 'augment' ? 'syn/real' : 'real:syn');

/** Plain-text table that fits 80 columns; a size column when the sweep has several sizes. */
export function formatTable(rows: TableRow[]): string[] {
  const sized = manySizes(rows);
  const augment = rows[0]?.mode === 'augment';
  const size = (v: string) => (sized ? v.padEnd(8) : '');
  const header = `${size(augment ? 'real/cl' : 'n/class')}${pointHeader(rows).padEnd(9)}${['accuracy %', 'precision %', 'recall %', 'F1 %', 'AUC'].map((h) => h.padStart(14)).join('')}`;
  return [header, ...rows.map((r) => `${size(String(r.perClass))}${r.label.padEnd(9)}${TABLE_METRICS.map((m) => fmt(m, r.values[m]).padStart(14)).join('')}`)];
}

export function markdownTable(rows: TableRow[]): string {
  const sized = manySizes(rows);
  const augment = rows[0]?.mode === 'augment';
  const first = `${sized ? `| ${augment ? 'real images per class' : 'images per class'} ` : ''}| ${augment ? 'synthetic per real' : 'real:synthetic'} |`;
  const lines = [`${first} accuracy % | precision % | recall % | F1 % | AUC |`, `${sized ? '|---' : ''}|---|---:|---:|---:|---:|---:|`];
  for (const r of rows) lines.push(`${sized ? `| ${r.perClass} ` : ''}| ${r.label} | ${TABLE_METRICS.map((m) => fmt(m, r.values[m])).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
