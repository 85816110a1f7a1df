/**
 * The sweep report: the paper's results table (Markdown and CSV, mean ± 95 % CI over seeds),
 * significance against 100:0, the metric-vs-synthetic-fraction figure with CI bands, ROC curves
 * of all ratios, confusion matrices, and one self-contained report.html. Plots are plain SVG,
 * rendered to PNG with sharp.
 */
import fs from 'node:fs';
import { readJsonLines, writeFileAtomic } from '@synthmix/data';
import path from 'node:path';
import sharp from 'sharp';
import { nice, ticks, tickStep } from 'd3-array';
import { answerSweep, designLabel, designX, generatorsOfPlan, generatorVerdicts, isBaselineCell, modeOf, sizePerClass, isLossMetric, loadPlugin, readSeedQuality, safeFileName, SWD_RATIO_WARNING, sweepLayout, type CellResult, type PluginLogs, type ResolvedPlan } from '@synthmix/core';
import { delongTest, describeTask, holmAdjust, mcnemarTest, readComparablePredictions, rocCurve } from '@synthmix/metrics';
import { ratioLabel } from './ui/format.js';
import { markdownTable, resultsTable, TABLE_METRICS, type TableRow } from './ui/table.js';

/** The study's published numbers, for the comparison section. */
export const PAPER = {
  source: 'Proportional Sensitivity in GAN-Augmented Brain Tumor Classification (arXiv 2506.17165)',
  points: [
    { ratio: 0.1, accuracy: 0.952, f1: 0.9525, auc: 0.98 },
    { ratio: 0.2, accuracy: 0.904 },
    { ratio: 1.0, accuracy: 0.654, auc: 0.71, recall: 0.488, precision: 0.7305 },
  ] as { ratio: number; accuracy: number; f1?: number; auc?: number; recall?: number; precision?: number }[],
};

const readPredictions = readComparablePredictions;

export interface Significance {
  ratio: number;
  /** The grid point (`90:10`, `2×`) and its size. */
  label: string;
  perClass: number;
  seed: number;
  deltaAuc: number;
  delongP: number;
  mcnemarP: number;
  delongHolm: number;
  mcnemarHolm: number;
}

/** Each ratio against 100:0 of the same seed on the same test set, Holm-corrected per seed. */
export function significance(plan: ResolvedPlan, results: CellResult[]): Significance[] {
  const positive = plan.dataset.classes[plan.dataset.positiveClass].name;
  const binary = plan.dataset.classes.length === 2;
  const out: Significance[] = [];
  // Per seed and size, each cell against its own baseline (design.ts), Holm across that size's grid.
  const groups = [...new Set(results.map((r) => `${r.cell.seed}|${sizePerClass(r.cell)}`))];
  for (const group of groups) {
    const cells = results.filter((r) => `${r.cell.seed}|${sizePerClass(r.cell)}` === group && r.cell.generatorEpoch === undefined);
    const seed = cells[0]?.cell.seed;
    const base = cells.find((r) => isBaselineCell(r.cell));
    const basePred = base && readPredictions(base.files.predictions, positive);
    if (!basePred || seed === undefined) continue;
    const rows: Omit<Significance, 'delongHolm' | 'mcnemarHolm'>[] = [];
    for (const r of cells.filter((c) => !isBaselineCell(c.cell)).sort((a, b) => designX(a.cell) - designX(b.cell))) {
      const pred = readPredictions(r.files.predictions, positive);
      if (!pred || pred.labels.length !== basePred.labels.length) continue;
      try {
        // McNemar on right/wrong per image (the argmax class); DeLong compares the binary task's
        // AUCs and is not defined for macro one-vs-rest AUCs.
        const m = mcnemarTest(basePred.classLabels, pred.predicted, basePred.predicted);
        if (binary) {
          const d = delongTest(basePred.labels, pred.scores, basePred.scores);
          rows.push({ ratio: r.cell.ratio, label: designLabel(designX(r.cell), modeOf(r.cell)), perClass: sizePerClass(r.cell), seed, deltaAuc: d.difference, delongP: d.pValue, mcnemarP: m.pValue });
        } else {
          rows.push({ ratio: r.cell.ratio, label: designLabel(designX(r.cell), modeOf(r.cell)), perClass: sizePerClass(r.cell), seed, deltaAuc: r.metrics.auc - (base?.metrics.auc ?? NaN), delongP: NaN, mcnemarP: m.pValue });
        }
      } catch {
        // One class only in the test set: no test is defined.
      }
    }
    const dh = binary ? holmAdjust(rows.map((r) => r.delongP)) : rows.map(() => NaN);
    const mh = holmAdjust(rows.map((r) => r.mcnemarP));
    rows.forEach((r, i) => out.push({ ...r, delongHolm: dh[i], mcnemarHolm: mh[i] }));
  }
  return out;
}

/** The design as the report's "What ran" line says it. */
function designInWords(plan: ResolvedPlan): string {
  const d = plan.design;
  const sizes = d?.sizes ?? [plan.trainingSetSize];
  const budget = d?.generatorBudget === 'epochs' ? 'the same epochs at every size' : 'the optimizer steps of the largest size\'s generator at every size (its epochs scaled by the size)';
  const generators = d?.generatorData === 'size' ? `a generator per seed and size, trained on that size's real training images only, with ${budget}` : 'one generator per seed, trained on the whole real pool';
  if (d?.mode === 'augment') return `augment mode: ${sizes.join(', ')} real images per cell (training and validation), synthetic images added to the training split only (${d.multiples.join(', ')} per real one), so early stopping selects on real images; ${generators}`;
  return `${sizes.join(', ')} images per training set; ${generators}`;
}

/**
 * The answer at the top of the report: a sentence per training-set size, then the grid behind
 * it (mean paired difference, one-sided lower bound, non-inferiority, Holm-adjusted "better").
 */
function answerSection(plan: ResolvedPlan, results: CellResult[]): { md: string; html: string } {
  const warnedSeeds = [...new Set(generatorVerdicts(plan).filter((v) => v.far.length).map((v) => v.seed))];
  const answer = answerSweep(plan, results, { warnedSeeds });
  if (!answer.sizes.some((s) => s.points.length)) return { md: '', html: '' };
  const what = answer.metric === 'auc' ? 'ΔAUC' : 'Δaccuracy';
  const table = [
    `| ${answer.sizes[0]?.mode === 'augment' ? 'real images per class | synthetic per real' : 'images per class | real:synthetic'} | seeds | mean ${what} | one-sided 95 % lower bound | non-inferior (≥ −${answer.margin}) | better than none (Holm p) |`,
    '|---|---|---|---|---|---|---|',
    ...answer.sizes.flatMap((s) => s.points.map((p) => `| ${s.perClass} | ${p.label} | ${p.seeds} | ${p.meanDifference >= 0 ? '+' : ''}${p.meanDifference.toFixed(4)} | ${p.lower >= 0 ? '+' : ''}${p.lower.toFixed(4)} | ${p.nonInferior ? 'yes' : 'no'} | ${p.better ? 'yes' : 'no'} (${p.pBetterHolm < 0.001 ? '< 0.001' : p.pBetterHolm.toFixed(3)}) |`)),
  ].join('\n');
  const method = `Test: ${answer.test}.${answer.metricNote ? ` ${answer.metricNote}.` : ''}`;
  const md = `## The answer\n\n${answer.sizes.map((s) => `**${s.sentence}**`).join('\n\n')}\n\n${table}\n\n${method}\n\n`;
  const html = `<h2>The answer</h2>${answer.sizes.map((s) => `<p style="border-left:4px solid #1f77b4;padding-left:8px;font-weight:bold">${esc(s.sentence)}</p>`).join('')}${htmlTable(table)}<p>${esc(method)}</p>`;
  return { md, html };
}

// --- SVG ---------------------------------------------------------------------------------------

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function axes(w: number, h: number, m: { l: number; r: number; t: number; b: number }, xLabel: string, yLabel: string, yTicks: number[], xTicks: number[], x: (v: number) => number, y: (v: number) => number, xFmt: (v: number) => string, yFmt: (v: number) => string): string {
  const parts = [`<rect x="0" y="0" width="${w}" height="${h}" fill="white"/>`];
  for (const t of yTicks) parts.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${y(t) + 4}" font-size="11" text-anchor="end">${yFmt(t)}</text>`);
  for (const t of xTicks) parts.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${h - m.b}" y2="${h - m.b + 4}" stroke="#333"/><text x="${x(t)}" y="${h - m.b + 16}" font-size="11" text-anchor="middle">${xFmt(t)}</text>`);
  parts.push(`<line x1="${m.l}" x2="${w - m.r}" y1="${h - m.b}" y2="${h - m.b}" stroke="#333"/><line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${h - m.b}" stroke="#333"/>`);
  parts.push(`<text x="${(m.l + w - m.r) / 2}" y="${h - 6}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text x="14" y="${(m.t + h - m.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(m.t + h - m.b) / 2})">${esc(yLabel)}</text>`);
  return parts.join('');
}

/**
 * Whether a sweep is the paper's setting (BR35H, two classes, a folder dataset), so that a
 * comparison with its published numbers means something.
 */
export function isPaperSetting(plan: ResolvedPlan): boolean {
  return plan.dataset.source === 'folder' && plan.dataset.classes.length === 2 && /br35h/i.test(plan.dataset.path ?? '');
}

/** Each metric against the synthetic fraction, with CI bands (clipped to the axis), and the paper's points. */
/** The x axis of a design's rows: the share in [0, 1] (replace) or 0 … the largest multiple (augment). */
function designAxis(rows: TableRow[]): { max: number; ticks: number[]; label: string; fmt: (v: number) => string } {
  const augment = rows[0]?.mode === 'augment';
  if (!augment) return { max: 1, ticks: [0, 0.2, 0.4, 0.6, 0.8, 1], label: 'synthetic fraction of the training set (real:synthetic)', fmt: (v) => ratioLabel(v) };
  const xs = [...new Set(rows.map((r) => r.x))].sort((a, b) => a - b);
  return { max: Math.max(...xs, 1e-9), ticks: xs, label: 'synthetic images added per real training image', fmt: (v) => designLabel(v, 'augment') };
}

export function metricsPlotSvg(rows: TableRow[], title: string, paperPoints = true): string {
  const w = 720;
  const h = 420;
  const m = { l: 56, r: 150, t: 36, b: 44 };
  const axis = designAxis(rows);
  const x = (v: number) => m.l + (v / axis.max) * (w - m.l - m.r);
  const lo = Math.max(0, Math.floor(Math.min(...rows.flatMap((r) => TABLE_METRICS.map((k) => (Number.isNaN(r.values[k].low) ? r.values[k].mean : r.values[k].low)).filter(Number.isFinite)), 0.5) * 10) / 10);
  // A t-interval over few seeds can reach past 0 or 1; the band is drawn within the axis.
  const y = (v: number) => m.t + (1 - (Math.min(1, Math.max(lo, v)) - lo) / (1 - lo)) * (h - m.t - m.b);
  const yTicks = Array.from({ length: Math.round((1 - lo) * 10) + 1 }, (_, i) => lo + i / 10);
  const parts = [axes(w, h, m, axis.label, 'score', yTicks, axis.ticks, x, y, axis.fmt, (v) => v.toFixed(1))];
  TABLE_METRICS.forEach((k, i) => {
    const pts = rows.filter((r) => Number.isFinite(r.values[k].mean));
    const band = pts.filter((r) => Number.isFinite(r.values[k].low) && Number.isFinite(r.values[k].high));
    if (band.length > 1) {
      const poly = [...band.map((r) => `${x(r.x)},${y(r.values[k].high)}`), ...band.slice().reverse().map((r) => `${x(r.x)},${y(r.values[k].low)}`)].join(' ');
      parts.push(`<polygon points="${poly}" fill="${COLORS[i]}" opacity="0.15"/>`);
    }
    parts.push(`<polyline fill="none" stroke="${COLORS[i]}" stroke-width="2" points="${pts.map((r) => `${x(r.x)},${y(r.values[k].mean)}`).join(' ')}"/>`);
    for (const r of pts) parts.push(`<circle cx="${x(r.x)}" cy="${y(r.values[k].mean)}" r="3" fill="${COLORS[i]}"/>`);
    parts.push(`<line x1="${w - m.r + 12}" x2="${w - m.r + 32}" y1="${m.t + 10 + i * 18}" y2="${m.t + 10 + i * 18}" stroke="${COLORS[i]}" stroke-width="2"/><text x="${w - m.r + 38}" y="${m.t + 14 + i * 18}" font-size="12">${k}</text>`);
    for (const p of paperPoints && rows[0]?.mode !== 'augment' ? PAPER.points : []) {
      const v = p[k as keyof typeof p];
      if (typeof v === 'number' && v >= lo) parts.push(`<rect x="${x(p.ratio) - 4}" y="${y(v) - 4}" width="8" height="8" fill="none" stroke="${COLORS[i]}" stroke-width="1.5"/>`);
    }
  });
  if (paperPoints) parts.push(`<rect x="${w - m.r + 16}" y="${m.t + 10 + TABLE_METRICS.length * 18}" width="8" height="8" fill="none" stroke="#333"/><text x="${w - m.r + 38}" y="${m.t + 18 + TABLE_METRICS.length * 18}" font-size="12">paper</text>`);
  parts.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/**
 * One metric against the share or multiple, a curve per training-set size (mean and its interval
 * over seeds): where synthetic data helps, in one look.
 */
export function sizesPlotSvg(rows: TableRow[], metric: (typeof TABLE_METRICS)[number], title: string): string {
  const w = 720;
  const h = 420;
  const m = { l: 56, r: 170, t: 36, b: 44 };
  const axis = designAxis(rows);
  const x = (v: number) => m.l + (v / axis.max) * (w - m.l - m.r);
  const values = rows.flatMap((r) => [r.values[metric].mean, r.values[metric].low, r.values[metric].high]).filter(Number.isFinite);
  const lo = Math.max(0, Math.floor(Math.min(...values, 1) * 10) / 10);
  const hi = Math.min(1, Math.ceil(Math.max(...values, lo + 0.1) * 10) / 10);
  const y = (v: number) => m.t + (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * (h - m.t - m.b);
  const yTicks = Array.from({ length: Math.round((hi - lo) * 10) + 1 }, (_, i) => lo + i / 10);
  const parts = [axes(w, h, m, axis.label, metric, yTicks, axis.ticks, x, y, axis.fmt, (v) => v.toFixed(1))];
  const sizes = [...new Set(rows.map((r) => r.perClass))].sort((a, b) => a - b);
  const augment = rows[0]?.mode === 'augment';
  sizes.forEach((size, i) => {
    const pts = rows.filter((r) => r.perClass === size && Number.isFinite(r.values[metric].mean));
    const band = pts.filter((r) => Number.isFinite(r.values[metric].low) && Number.isFinite(r.values[metric].high));
    if (band.length > 1) parts.push(`<polygon points="${[...band.map((r) => `${x(r.x)},${y(r.values[metric].high)}`), ...band.slice().reverse().map((r) => `${x(r.x)},${y(r.values[metric].low)}`)].join(' ')}" fill="${COLORS[i % COLORS.length]}" opacity="0.12"/>`);
    parts.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts.map((r) => `${x(r.x)},${y(r.values[metric].mean)}`).join(' ')}"/>`);
    for (const r of pts) parts.push(`<circle cx="${x(r.x)}" cy="${y(r.values[metric].mean)}" r="3" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<line x1="${w - m.r + 12}" x2="${w - m.r + 32}" y1="${m.t + 10 + i * 18}" y2="${m.t + 10 + i * 18}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/><text x="${w - m.r + 38}" y="${m.t + 14 + i * 18}" font-size="12">${size} ${augment ? 'real' : 'images'} / class</text>`);
  });
  parts.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/**
 * The same as a heatmap, for sweeps with many sizes where curves would crowd: a row per size, a
 * column per share or multiple, each cell the mean metric (and its difference from the row's
 * no-synthetic cell), blue above it, red below.
 */
export function sizesHeatmapSvg(rows: TableRow[], metric: (typeof TABLE_METRICS)[number], title: string): string {
  const sizes = [...new Set(rows.map((r) => r.perClass))].sort((a, b) => a - b);
  const xs = [...new Set(rows.map((r) => r.x))].sort((a, b) => a - b);
  const cw = 86;
  const ch = 34;
  const m = { l: 120, t: 56, r: 20, b: 50 };
  const w = m.l + xs.length * cw + m.r;
  const h = m.t + sizes.length * ch + m.b;
  const augment = rows[0]?.mode === 'augment';
  const parts = [`<rect x="0" y="0" width="${w}" height="${h}" fill="white"/>`, `<text x="12" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`];
  const deltas = rows.map((r) => r.values[metric].mean - (rows.find((b) => b.perClass === r.perClass && b.x === 0)?.values[metric].mean ?? NaN)).filter(Number.isFinite);
  const scale = Math.max(0.01, ...deltas.map(Math.abs));
  sizes.forEach((size, i) => {
    parts.push(`<text x="${m.l - 8}" y="${m.t + i * ch + ch / 2 + 4}" font-size="12" text-anchor="end">${size} ${augment ? 'real' : ''}/class</text>`);
    const base = rows.find((r) => r.perClass === size && r.x === 0)?.values[metric].mean;
    xs.forEach((x, j) => {
      const r = rows.find((row) => row.perClass === size && row.x === x);
      const v = r?.values[metric].mean;
      const d = v !== undefined && base !== undefined ? v - base : NaN;
      const t = Number.isFinite(d) ? Math.min(1, Math.abs(d) / scale) : 0;
      const fill = !Number.isFinite(d) || d === 0 ? '#f3f3f3' : d > 0 ? `rgba(31,119,180,${0.15 + 0.75 * t})` : `rgba(214,39,40,${0.15 + 0.75 * t})`;
      parts.push(`<rect x="${m.l + j * cw}" y="${m.t + i * ch}" width="${cw - 2}" height="${ch - 2}" fill="${fill}"/>`);
      if (v !== undefined && Number.isFinite(v)) parts.push(`<text x="${m.l + j * cw + cw / 2}" y="${m.t + i * ch + ch / 2 + 4}" font-size="11" text-anchor="middle">${v.toFixed(3)}${Number.isFinite(d) && x !== 0 ? ` (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)})` : ''}</text>`);
    });
  });
  xs.forEach((x, j) => parts.push(`<text x="${m.l + j * cw + cw / 2}" y="${m.t - 8}" font-size="12" text-anchor="middle">${esc(designLabel(x, rows[0]?.mode))}</text>`));
  parts.push(`<text x="${m.l}" y="${h - 16}" font-size="12">${esc(`${metric}, mean over seeds (difference from no synthetic images): blue above, red below`)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/** `label` names the grid point (`90:10`, `2×`); without one, `ratio` does. */
export interface RocCurve { ratio: number; label?: string; fpr: number[]; tpr: number[]; auc: number }

/**
 * ROC curves, one panel per entry of `panels` (two columns): binary sweeps have one panel, a
 * multi-class sweep one per class against the rest, each with that class's own AUC.
 */
export function rocPlotSvg(panels: { title: string; curves: RocCurve[] }[]): string {
  const w = 560;
  const h = 460;
  const cols = Math.min(2, panels.length);
  const width = cols * w;
  const height = Math.ceil(panels.length / cols) * h;
  const body = panels.map((panel, n) => `<g transform="translate(${(n % cols) * w},${Math.floor(n / cols) * h})">${rocPanel(panel.curves, panel.title, w, h)}</g>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif"><rect width="${width}" height="${height}" fill="white"/>${body.join('')}</svg>`;
}

function rocPanel(curves: RocCurve[], title: string, w: number, h: number): string {
  const m = { l: 56, r: 150, t: 36, b: 44 };
  const x = (v: number) => m.l + v * (w - m.l - m.r);
  const y = (v: number) => m.t + (1 - v) * (h - m.t - m.b);
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  const parts = [axes(w, h, m, 'false positive rate', 'true positive rate', ticks, ticks, x, y, (v) => v.toFixed(1), (v) => v.toFixed(1))];
  parts.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#999" stroke-dasharray="4 4"/>`);
  curves.forEach((c, i) => {
    parts.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.6" points="${c.fpr.map((f, j) => `${x(f)},${y(c.tpr[j])}`).join(' ')}"/>`);
    parts.push(`<line x1="${w - m.r + 12}" x2="${w - m.r + 32}" y1="${m.t + 10 + i * 17}" y2="${m.t + 10 + i * 17}" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/><text x="${w - m.r + 38}" y="${m.t + 14 + i * 17}" font-size="11">${c.label ?? ratioLabel(c.ratio)} (${c.auc.toFixed(3)})</text>`);
  });
  parts.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  return parts.join('');
}

export function confusionSvg(cells: { ratio: number; label?: string; confusion: number[][] }[], classNames: string[]): string {
  const size = 44;
  const k = classNames.length;
  const panel = k * size + 70;
  const cols = Math.min(6, cells.length);
  const w = cols * panel + 20;
  const h = Math.ceil(cells.length / cols) * (panel + 30) + 20;
  const parts = [`<rect width="${w}" height="${h}" fill="white"/>`];
  cells.forEach((c, n) => {
    const ox = 20 + (n % cols) * panel + 50;
    const oy = 20 + Math.floor(n / cols) * (panel + 30) + 20;
    const total = c.confusion.flat().reduce((a, b) => a + b, 0) || 1;
    parts.push(`<text x="${ox}" y="${oy - 8}" font-size="12" font-weight="bold">${c.label ?? ratioLabel(c.ratio)}</text>`);
    c.confusion.forEach((row, i) => row.forEach((v, j) => {
      const shade = Math.round(255 - (v / total) * k * 200);
      parts.push(`<rect x="${ox + j * size}" y="${oy + i * size}" width="${size}" height="${size}" fill="rgb(${shade},${shade},255)" stroke="#fff"/><text x="${ox + j * size + size / 2}" y="${oy + i * size + size / 2 + 4}" font-size="12" text-anchor="middle">${v}</text>`);
    }));
    classNames.forEach((name, i) => parts.push(`<text x="${ox - 4}" y="${oy + i * size + size / 2 + 4}" font-size="10" text-anchor="end">${esc(name.slice(0, 8))}</text>`));
  });
  parts.push(`<text x="20" y="${h - 4}" font-size="10">rows: actual class, columns: predicted class</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/**
 * Per-epoch series (GAN losses, accuracies) as lines against the epoch. `fitY` fits the y axis
 * to the data (with a margin) instead of starting at 0, for values that differ in the second
 * decimal (accuracies of a generator-epoch ablation); series with few points get a marker per
 * point.
 */
export function seriesPlotSvg(series: Record<string, { step: number; value: number }[]>, title: string, yLabel: string, { fitY = false } = {}): string {
  const w = 640;
  const h = 360;
  const m = { l: 56, r: 170, t: 36, b: 44 };
  const all = Object.values(series).flat().filter((p) => Number.isFinite(p.value));
  const maxStep = Math.max(1, ...all.map((p) => p.step));
  const dataLo = Math.min(...all.map((p) => p.value));
  const dataHi = Math.max(...all.map((p) => p.value));
  const margin = Math.max(0.01, (dataHi - dataLo) * 0.15);
  const fit = fitY && all.length > 0;
  // The y range widened to round tick values (0, 2, 4, 6 rather than 0, 1.66, 3.33, …).
  const [lo, hi] = nice(fit ? dataLo - margin : Math.min(0, dataLo), fit ? dataHi + margin : Math.max(1e-9, dataHi), 5);
  const x = (v: number) => m.l + (v / maxStep) * (w - m.l - m.r);
  const y = (v: number) => m.t + (1 - (v - lo) / (hi - lo)) * (h - m.t - m.b);
  const yTicks = ticks(lo, hi, 5);
  // As many decimals as the tick step needs (steps are 1, 2 or 5 × 10^k).
  const yDigits = Math.max(0, -Math.floor(Math.log10(tickStep(lo, hi, 5)) + 1e-9));
  // Epochs are whole: ticks at round epochs within the run (0, 20, 40, … for 90).
  const xTicks = [0, ...ticks(0, maxStep, 5).filter((t) => Number.isInteger(t) && t > 0)];
  const parts = [axes(w, h, m, 'epoch', yLabel, yTicks, xTicks, x, y, (v) => String(v), (v) => v.toFixed(yDigits))];
  Object.entries(series).forEach(([name, points], i) => {
    const color = COLORS[i % COLORS.length];
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${points.map((p) => `${x(p.step)},${y(p.value)}`).join(' ')}"/>`);
    if (points.length <= 20) parts.push(...points.map((p) => `<circle cx="${x(p.step)}" cy="${y(p.value)}" r="3" fill="${color}"/>`));
    parts.push(`<line x1="${w - m.r + 12}" x2="${w - m.r + 32}" y1="${m.t + 10 + i * 17}" y2="${m.t + 10 + i * 17}" stroke="${color}" stroke-width="2"/><text x="${w - m.r + 38}" y="${m.t + 14 + i * 17}" font-size="11">${esc(name)}</text>`);
  });
  parts.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

interface LoggedEvent { type: string; scope?: { kind: string; seed?: number; generator?: string; cellId?: string }; name?: string; value?: number; step?: number; path?: string; folder?: string }

function readEvents(outputDir: string): LoggedEvent[] {
  const file = sweepLayout(outputDir).events;
  // A line torn when a run died (a full disk) is skipped: the report is drawn from the others.
  return readJsonLines<LoggedEvent>(file);
}

async function svgToFiles(svg: string, base: string): Promise<string> {
  writeFileAtomic(`${base}.svg`, svg);
  writeFileAtomic(`${base}.png`, await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer());
  return `${base}.png`;
}

/** A Markdown table (plain text in its cells) as an HTML table; the one place cells are escaped. */
function htmlTable(mdTable: string): string {
  const [head, , ...body] = mdTable.trim().split('\n');
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => esc(c.trim()));
  return `<table><tr>${cells(head).map((c) => `<th>${c}</th>`).join('')}</tr>${body.map((l) => `<tr>${cells(l).map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</table>`;
}

// --- report ------------------------------------------------------------------------------------

function csv(rows: TableRow[]): string {
  const header = ['ratio', 'real_synthetic', 'seeds', ...TABLE_METRICS.flatMap((m) => [`${m}_mean`, `${m}_ci_low`, `${m}_ci_high`])];
  const lines = rows.map((r) => [r.ratio, ratioLabel(r.ratio), r.seeds, ...TABLE_METRICS.flatMap((m) => [r.values[m].mean, r.values[m].low, r.values[m].high].map((v) => (Number.isNaN(v) ? '' : v.toFixed(6))))].join(','));
  return `${header.join(',')}\n${lines.join('\n')}\n`;
}

function paperComparison(rows: TableRow[]): string {
  const lines = ['| real:synthetic | metric | paper | this sweep | difference (points) |', '|---|---|---:|---:|---:|'];
  for (const p of PAPER.points) {
    const row = rows.find((r) => Math.abs(r.ratio - p.ratio) < 1e-9);
    for (const [k, v] of Object.entries(p)) {
      if (k === 'ratio' || !row || !(k in row.values)) continue;
      const ours = row.values[k].mean;
      lines.push(`| ${ratioLabel(p.ratio)} | ${k} | ${(v * 100).toFixed(2)} | ${(ours * 100).toFixed(2)} | ${((ours - v) * 100).toFixed(2)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What the sweep's generator plugin says it logs (its losses, where its sample grids go). */
async function generatorLogs(plan: ResolvedPlan): Promise<PluginLogs | undefined> {
  try {
    return (await loadPlugin(plan.generator.plugin, 'generator', path.dirname(plan.manifestFile))).logs;
  } catch {
    return undefined; // the report still shows every metric named like a loss
  }
}

/** Writes `<outputDir>/report/` and returns the path of report.html. */
export async function writeReport(outputDir: string, plan: ResolvedPlan, results: CellResult[]): Promise<string> {
  const layout = sweepLayout(outputDir);
  const dir = layout.reportDir;
  fs.mkdirSync(dir, { recursive: true });
  const rows = resultsTable(results);
  const sig = significance(plan, results);
  const positive = plan.dataset.classes[plan.dataset.positiveClass].name;
  // One-vs-rest per class for more than two classes (each with its own AUC), else the positive class.
  const rocClasses = plan.dataset.classes.length > 2 ? plan.dataset.classes.map((c) => ({ name: c.name, auc: `auc_${c.name}` })) : [{ name: positive, auc: 'auc' }];
  const rocOf = (r: CellResult, cls: { name: string; auc: string }): RocCurve[] => {
    const p = readPredictions(r.files.predictions, cls.name);
    if (!p) return [];
    try {
      const c = rocCurve(p.labels, p.scores);
      return [{ ratio: r.cell.ratio, label: designLabel(designX(r.cell), modeOf(r.cell)), fpr: c.fpr, tpr: c.tpr, auc: r.metrics[cls.auc] }];
    } catch {
      return []; // one class only
    }
  };
  const rocTitle = (cls: { name: string }, what: string) => (rocClasses.length > 1 ? `${cls.name} against the rest, ${what}` : `ROC curves, ${what}`);
  // The first seed's cells of the largest size (all of them at one size), along the grid.
  const largest = Math.max(...results.map((r) => sizePerClass(r.cell)), 0);
  const firstSeed = results.filter((r) => r.cell.seed === plan.seeds[0] && r.cell.generatorEpoch === undefined && sizePerClass(r.cell) === largest).sort((a, b) => designX(a.cell) - designX(b.cell));
  const sizes = [...new Set(rows.map((r) => r.perClass))].sort((a, b) => a - b);
  const against = rows[0]?.mode === 'augment' ? 'synthetic images added per real one' : 'the synthetic fraction';
  // Several sizes: a figure per size, and one with a curve per size for the answer's metric.
  const sizeFigures: Record<string, string> = sizes.length > 1 ? {
    sizes: sizesPlotSvg(rows, plan.analysis?.metric === 'accuracy' || plan.dataset.classes.length > 2 ? 'accuracy' : 'auc', `${plan.name}: a curve per training-set size`),
    // Many sizes crowd the curves: the same as a heatmap.
    ...(sizes.length >= 4 ? { 'sizes-heatmap': sizesHeatmapSvg(rows, plan.analysis?.metric === 'accuracy' || plan.dataset.classes.length > 2 ? 'accuracy' : 'auc', `${plan.name}: where synthetic data helps`) } : {}),
    ...Object.fromEntries(sizes.map((size) => [`metrics-${size}`, metricsPlotSvg(rows.filter((r) => r.perClass === size), `${size} ${rows[0]?.mode === 'augment' ? 'real ' : ''}images per class: test metrics against ${against}`, false)])),
  } : {};
  const svgs: Record<string, string> = {
    ...sizeFigures,
    metrics: metricsPlotSvg(sizes.length > 1 ? rows.filter((r) => r.perClass === sizes[sizes.length - 1]) : rows, `${plan.name}: test metrics against ${against}${sizes.length > 1 ? ` (${sizes[sizes.length - 1]} per class)` : ''}`, isPaperSetting(plan)),
    roc: rocPlotSvg(rocClasses.map((cls) => ({ title: rocTitle(cls, `seed ${plan.seeds[0]}`), curves: firstSeed.flatMap((r) => rocOf(r, cls)) }))),
    confusion: confusionSvg(firstSeed.map((r) => ({ ratio: r.cell.ratio, label: designLabel(designX(r.cell), modeOf(r.cell)), confusion: r.confusion })), plan.dataset.classes.map((c) => c.name)),
  };
  for (const [name, svg] of Object.entries(svgs)) {
    writeFileAtomic(path.join(dir, `${name}.svg`), svg);
    writeFileAtomic(path.join(dir, `${name}.png`), await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer());
  }
  // Generator losses per seed (the metrics the plugin declares as losses), and the last sample
  // grid of each class beside real samples.
  const events = readEvents(outputDir);
  const logs = await generatorLogs(plan);
  const ganFigures: string[] = [];
  // A figure per generator: per seed, or per seed and size when each size has its own.
  for (const g of generatorsOfPlan(plan)) {
    const own = g.realPerClass === undefined ? undefined : g.id;
    const series: Record<string, { step: number; value: number }[]> = {};
    for (const e of events) {
      if (e.type === 'metric' && e.scope?.kind === 'generator' && e.scope.seed === g.seed && e.scope.generator === own && isLossMetric(e.name ?? '', logs)) (series[e.name!] ??= []).push({ step: e.step!, value: e.value! });
    }
    if (Object.keys(series).length) ganFigures.push(await svgToFiles(seriesPlotSvg(series, `Generator losses, ${own ?? `seed ${g.seed}`}`, 'loss'), layout.generatorLossPlot(g.seed, own).replace(/\.png$/, '')));
  }
  const samplePairs: { className: string; seed: string; synthetic: string; real?: string }[] = [];
  for (const g of generatorsOfPlan(plan)) {
    const own = g.realPerClass === undefined ? undefined : g.id;
    for (const c of plan.dataset.classes) {
      const folder = (logs?.sampleGrids ?? 'samples/{class}').replace('{class}', safeFileName(c.name));
      const grids = events.filter((e) => e.type === 'artifact' && e.scope?.kind === 'generator' && e.scope.seed === g.seed && e.scope.generator === own && e.folder === folder).map((e) => e.path!);
      const last = grids[grids.length - 1];
      if (!last || !fs.existsSync(last)) continue;
      const copy = layout.syntheticSamples(c.name, g.seed, own);
      fs.copyFileSync(last, copy);
      const real = layout.realSamples(c.name);
      samplePairs.push({ className: c.name, seed: own ? `${g.seed} (${own})` : String(g.seed), synthetic: copy, real: fs.existsSync(real) ? real : undefined });
    }
  }
  // Per-cell ROC curve and confusion matrix, for the cell's own MLflow run.
  for (const r of results) {
    const cellDir = path.dirname(r.files.predictions);
    const panels = rocClasses.map((cls) => ({ title: rocTitle(cls, r.cell.id), curves: rocOf(r, cls) }));
    if (panels.some((p) => p.curves.length)) await svgToFiles(rocPlotSvg(panels), path.join(cellDir, 'roc'));
    await svgToFiles(confusionSvg([{ ratio: r.cell.ratio, label: designLabel(designX(r.cell), modeOf(r.cell)), confusion: r.confusion }], plan.dataset.classes.map((c) => c.name)), path.join(cellDir, 'confusion'));
  }
  // The normal tail approximation is good to ~1e-7 absolute, so smaller p-values are shown as a bound.
  const pValue = (p: number) => (Number.isNaN(p) ? '—' : `${p < 1e-6 ? '< 1e-6' : p.toPrecision(3)}${p < 0.05 ? ' *' : ''}`);
  const sigSized = new Set(sig.map((x) => x.perClass)).size > 1;
  const sigTable = [`${sigSized ? '| per class ' : ''}| ${rows[0]?.mode === 'augment' ? 'synthetic per real' : 'real:synthetic'} | seed | ΔAUC vs no synthetic | DeLong p (Holm) | McNemar p (Holm) |`, `${sigSized ? '|---:' : ''}|---|---:|---:|---:|---:|`, ...sig.map((s) => `${sigSized ? `| ${s.perClass} ` : ''}| ${s.label} | ${s.seed} | ${s.deltaAuc.toFixed(4)} | ${pValue(s.delongHolm)} | ${pValue(s.mcnemarHolm)} |`)].join('\n');
  // Each seed's generator quality, read once: its table rows, the small-sample note, the far warning.
  // With a generator per size, one per seed and size (the seed column names both: `1 (200)`).
  const qualities = generatorVerdicts(plan).flatMap(({ seed, trainingSetSize }) => {
    const q = readSeedQuality(outputDir, seed, undefined, trainingSetSize);
    return q ? [{ seed: trainingSetSize ? `${seed}, size ${trainingSetSize}` : String(seed), q }] : [];
  });
  const qualityRows = qualities.flatMap(({ seed, q }) => Object.entries(q.perClass).map(([name, v]) => `| ${seed} | ${name} | ${v.ssimNearestMean.toFixed(3)} / ${v.ssimNearestMax.toFixed(3)} | ${v.diversity.toFixed(2)} / ${v.realDiversity.toFixed(2)} | ${v.slicedWassersteinRatio == null || Number.isNaN(v.slicedWassersteinRatio) ? '—' : `${v.slicedWassersteinRatio.toFixed(2)}${v.slicedWassersteinRatio > SWD_RATIO_WARNING ? ' ⚠' : ''}`} | ${v.frechetRealClassifier === undefined ? '—' : v.frechetRealClassifier.toFixed(2)} | ${v.prdcRealClassifier ? `${v.prdcRealClassifier.precision.toFixed(2)} / ${v.prdcRealClassifier.recall.toFixed(2)}` : '—'} | ${v.prdcRealClassifier ? `${v.prdcRealClassifier.density.toFixed(2)} / ${v.prdcRealClassifier.coverage.toFixed(2)}` : '—'} |`));
  const qualityTable = qualityRows.length
    ? [`| seed${plan.design?.generatorData === 'size' ? ' (training-set size)' : ''} | class | SSIM to nearest real (mean / max) | diversity synthetic / real | patch distance to real (× the real-to-real floor) | Fréchet distance, real-only classifier features | precision / recall (k = 5) | density / coverage (k = 5) |`, '|---:|---|---:|---:|---:|---:|---:|---:|', ...qualityRows].join('\n')
    : '';
  // A patch distance measured on fewer images than the threshold's calibration is said under the table.
  const qualityNotes = qualities.flatMap(({ seed, q }) => (q.verdict?.note ? [`Seed ${seed}: ${q.verdict.note}.`] : []));
  // Generators whose images are far from the real ones: said first, before any number.
  const farWarnings = qualities.flatMap(({ seed, q }) => (q.verdict?.message ? [`seed ${seed}: ${q.verdict.message}`] : []));
  const banner = farWarnings.length ? `> **⚠ Warning.** ${farWarnings.join('\n>\n> ')}\n\n` : '';
  const task = results[0]?.task ?? (plan.dataset.classes.length === 2 ? { kind: 'binary' as const, positiveClass: positive } : { kind: 'multiclass' as const, average: 'macro' as const, classes: plan.dataset.classes.map((c) => c.name) });
  const metricsNote = `Metrics: ${describeTask(task)}.`;
  const paper = isPaperSetting(plan);
  // What actually ran, from the plan: a run with --set overrides keeps its manifest's description.
  const optionsText = (options: Record<string, unknown> | undefined) => (options && Object.keys(options).length ? ` (${Object.entries(options).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ')})` : '');
  const whatRan = `What ran: generator \`${plan.generator.plugin}\`${optionsText(plan.generator.options)}; classifier \`${plan.classifier.plugin}\`${optionsText(plan.classifier.options)}; ${plan.dataset.imageSize} × ${plan.dataset.imageSize} × ${plan.dataset.channels} images, ${designInWords(plan)}.`;
  const uncertainty = plan.seeds.length > 1 ? `mean ± half-width of the 95 % t-interval over ${plan.seeds.length} seeds` : 'one seed: ± half-width of the 95 % bootstrap interval of the test set';
  // Grad-CAM of the least and the most synthetic cell of the first seed, when the classifier explains itself.
  const gradcams = results.filter((r) => r.cell.seed === plan.seeds[0] && r.cell.generatorEpoch === undefined).sort((a, b) => sizePerClass(a.cell) - sizePerClass(b.cell) || designX(a.cell) - designX(b.cell)).flatMap((r) => {
    const file = layout.cellGradCam(r.cell.id);
    if (!fs.existsSync(file)) return [];
    const copy = path.join(dir, `gradcam-${r.cell.id}.png`);
    fs.copyFileSync(file, copy);
    const sized = new Set(results.map((x) => sizePerClass(x.cell))).size > 1;
    return [{ ratio: r.cell.ratio, label: `${designLabel(designX(r.cell), modeOf(r.cell))}${sized ? ` (${sizePerClass(r.cell)} per class)` : ''}`, file: copy }];
  });
  const gradcamMd = gradcams.length ? `\n## Where the classifiers look (Grad-CAM)\n\nThe same real ${positive} test images; left of each pair the image, right the heatmap of the last convolution for "${positive}".\n\n${gradcams.map((g) => `**${g.label}** ![Grad-CAM](${path.basename(g.file)})`).join('\n\n')}\n` : '';
  // GAN-epoch ablation: accuracy at each ratio against the generator's epochs (mean over seeds).
  const finalEpoch = typeof plan.generator.options.epochs === 'number' ? plan.generator.options.epochs : undefined;
  let epochFigure: string | undefined;
  if (plan.generator.checkpoints?.length) {
    const series: Record<string, { step: number; value: number }[]> = {};
    for (const ratio of plan.ratios.filter((x) => x > 0)) {
      const points = [...plan.generator.checkpoints.map((e) => ({ epoch: e, cells: results.filter((r) => r.cell.ratio === ratio && r.cell.generatorEpoch === e) })), ...(finalEpoch ? [{ epoch: finalEpoch, cells: results.filter((r) => r.cell.ratio === ratio && r.cell.generatorEpoch === undefined) }] : [])];
      series[`${ratioLabel(ratio)} accuracy`] = points.filter((p) => p.cells.length).map((p) => ({ step: p.epoch, value: p.cells.reduce((a, r) => a + r.metrics.accuracy, 0) / p.cells.length }));
    }
    epochFigure = await svgToFiles(seriesPlotSvg(series, 'Test accuracy against generator epochs (mean over seeds)', 'accuracy', { fitY: true }), path.join(dir, 'generator-epochs'));
  }
  // The snapshots' patch distance to real images, beside the curve: did later epochs look more real?
  const epochQuality = plan.generator.checkpoints?.length ? plan.seeds.flatMap((seed) => [...plan.generator.checkpoints!, undefined].flatMap((epoch) => {
    const q = readSeedQuality(outputDir, seed, epoch);
    if (!q) return [];
    return [`| ${seed} | ${epoch ?? `${finalEpoch ?? 'trained'} (trained)`} | ${Object.entries(q.perClass).map(([c, v]) => `${c} ${v.slicedWassersteinRatio == null ? '—' : v.slicedWassersteinRatio.toFixed(2)}`).join(', ')} |`];
  })) : [];
  const epochQualityTable = epochQuality.length ? ['| seed | generator epoch | patch distance to real (× floor), per class |', '|---:|---:|---|', ...epochQuality].join('\n') : '';
  const epochMd = epochFigure ? `\n## Generator epochs\n\nThe same cells with the generator as it was after ${plan.generator.checkpoints!.join(', ')}${finalEpoch ? ` and ${finalEpoch}` : ''} epochs (one training run, its snapshots).\n\n![generator epochs](generator-epochs.png)\n\n${epochQualityTable}\n` : '';
  const answer = answerSection(plan, results);
  const againstHeading = rows[0]?.mode === 'augment' ? 'Against no synthetic images' : 'Against 100:0';
  const md = `# ${plan.name}\n\n${banner}${answer.md}${plan.description}\n\n${whatRan}\n\nResults on the fixed real test set (${plan.dataset.testPerClass} per class, leakage guard ${plan.dataset.leakageGuard.enabled ? 'on' : 'off'}); ${uncertainty}.\n\n${markdownTable(rows)}\n${metricsNote}\n\n## ${againstHeading}\n\n${sig.length ? sigTable : 'No no-synthetic baseline in this sweep.'}\n\n\\* Holm-adjusted p < 0.05.\n\n## Synthetic images\n\n${qualityTable ? `${[qualityTable, ...qualityNotes].join('\n\n')}\n\nThe Fréchet distance uses the features of the 100:0 classifier (trained on real images only); it is not FID (no Inception weights, and ImageNet features suit MRI poorly). The patch distance (sliced Wasserstein distance of 7 × 7 patches at two scales, no learned features) is given as a multiple of the distance between two real samples; above ${SWD_RATIO_WARNING} (⚠) the images are far from real ones (docs/results/quality-calibration.md). SSIM near 1 would mean copies of training images. Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020), k = 5 as in their reference code, in the same features as the Fréchet distance: low precision and density mean unrealistic images, low recall and coverage too little variety.` : 'No generator in this sweep.'}\n\n${paper ? `## Against the paper\n\n${PAPER.source}\n\n${paperComparison(rows)}\n` : ''}${sizes.length > 1 ? `![a curve per size](sizes.png)\n\n${sizes.length >= 4 ? '![where synthetic data helps](sizes-heatmap.png)\n\n' : ''}${sizes.map((size) => `![${size} per class](metrics-${size}.png)`).join('\n\n')}` : '![metrics](metrics.png)'}\n\n![ROC](roc.png)\n\n![confusion matrices](confusion.png)\n${epochMd}${gradcamMd}${ganFigures.map((f) => `\n![generator losses](${path.basename(f)})\n`).join('')}${samplePairs.map((s) => `\n**${s.className}, seed ${s.seed}** — synthetic (last checkpoint): ![synthetic](${path.basename(s.synthetic)})${s.real ? ` real: ![real](../${path.basename(s.real)})` : ''}\n`).join('')}`;
  writeFileAtomic(path.join(dir, 'results.md'), md);
  writeFileAtomic(path.join(dir, 'results.csv'), csv(rows));
  writeFileAtomic(path.join(dir, 'significance.json'), JSON.stringify(sig, null, 2));
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(plan.name)} — synthmix report</title><style>body{font-family:sans-serif;max-width:980px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}</style></head><body>
<h1>${esc(plan.name)}</h1>${farWarnings.map((w) => `<p style="border:2px solid #c00;background:#fee;padding:8px;font-weight:bold">⚠ ${esc(w)}</p>`).join('')}${answer.html}<p>${esc(plan.description)}</p><p>${esc(whatRan)}</p><p>Test set: ${plan.dataset.testPerClass} real images per class; leakage guard ${plan.dataset.leakageGuard.enabled ? 'on' : 'off'}; ${esc(uncertainty)}.</p>
${htmlTable(markdownTable(rows))}<p>${esc(metricsNote)}</p>${sizes.length > 1 ? `${svgs.sizes}${svgs['sizes-heatmap'] ?? ''}${sizes.map((size) => svgs[`metrics-${size}`]).join('')}` : svgs.metrics}<h2>${againstHeading}</h2>${sig.length ? htmlTable(sigTable) : '<p>No no-synthetic baseline in this sweep.</p>'}
<h2>Synthetic images</h2>${qualityTable ? `${htmlTable(qualityTable)}${qualityNotes.map((n) => `<p>${esc(n)}</p>`).join('')}` : '<p>No generator in this sweep.</p>'}${paper ? `<h2>Against the paper</h2><p>${esc(PAPER.source)}</p>${htmlTable(paperComparison(rows))}` : ''}<h2>ROC curves</h2>${svgs.roc}<h2>Confusion matrices</h2>${svgs.confusion}${epochFigure ? `<h2>Generator epochs</h2>${fs.readFileSync(epochFigure.replace(/\.png$/, '.svg'), 'utf8')}${epochQualityTable ? htmlTable(epochQualityTable) : ''}` : ''}${gradcams.length ? `<h2>Where the classifiers look (Grad-CAM)</h2><p>The same real ${esc(positive)} test images; left of each pair the image, right the heatmap of the last convolution.</p>${gradcams.map((g) => `<p><b>${esc(g.label)}</b><br><img src="data:image/png;base64,${fs.readFileSync(g.file).toString('base64')}"></p>`).join('')}` : ''}
${ganFigures.length ? `<h2>Generator</h2>${ganFigures.map((f) => fs.readFileSync(f.replace(/\.png$/, '.svg'), 'utf8')).join('')}` : ''}
${samplePairs.map((s) => `<h3>${esc(s.className)}, seed ${s.seed}</h3><p>synthetic (last checkpoint)<br><img src="data:image/png;base64,${fs.readFileSync(s.synthetic).toString('base64')}"></p>${s.real ? `<p>real<br><img src="data:image/png;base64,${fs.readFileSync(s.real).toString('base64')}"></p>` : ''}`).join('')}
</body></html>\n`;
  const htmlFile = layout.reportHtml;
  writeFileAtomic(htmlFile, html);
  return htmlFile;
}

// --- comparison of sweeps ---------------------------------------------------------------------------

export interface SweepForComparison {
  label: string;
  plan: ResolvedPlan;
  results: CellResult[];
  outputDir: string;
}

/** One metric against the synthetic fraction for several sweeps, each with its CI band. */
export function comparisonPlotSvg(sweeps: { label: string; rows: TableRow[] }[], metric: (typeof TABLE_METRICS)[number], title: string): string {
  const w = 720;
  const h = 420;
  const m = { l: 56, r: 170, t: 36, b: 44 };
  const x = (v: number) => m.l + v * (w - m.l - m.r);
  const values = sweeps.flatMap((sw) => sw.rows.flatMap((r) => [r.values[metric].mean, r.values[metric].low]).filter(Number.isFinite));
  const lo = Math.max(0, Math.floor(Math.min(0.5, ...values) * 10) / 10);
  const y = (v: number) => m.t + (1 - (v - lo) / (1 - lo)) * (h - m.t - m.b);
  const yTicks = Array.from({ length: Math.round((1 - lo) * 10) + 1 }, (_, i) => lo + i / 10);
  const parts = [axes(w, h, m, 'synthetic fraction of the training set (real:synthetic)', metric, yTicks, [0, 0.2, 0.4, 0.6, 0.8, 1], x, y, (v) => ratioLabel(v), (v) => v.toFixed(1))];
  sweeps.forEach((sw, i) => {
    const pts = sw.rows.filter((r) => Number.isFinite(r.values[metric].mean));
    const band = pts.filter((r) => Number.isFinite(r.values[metric].low));
    if (band.length > 1) parts.push(`<polygon points="${[...band.map((r) => `${x(r.ratio)},${y(r.values[metric].high)}`), ...band.slice().reverse().map((r) => `${x(r.ratio)},${y(r.values[metric].low)}`)].join(' ')}" fill="${COLORS[i]}" opacity="0.15"/>`);
    parts.push(`<polyline fill="none" stroke="${COLORS[i]}" stroke-width="2" points="${pts.map((r) => `${x(r.ratio)},${y(r.values[metric].mean)}`).join(' ')}"/>`);
    parts.push(`<line x1="${w - m.r + 12}" x2="${w - m.r + 32}" y1="${m.t + 10 + i * 18}" y2="${m.t + 10 + i * 18}" stroke="${COLORS[i]}" stroke-width="2"/><text x="${w - m.r + 38}" y="${m.t + 14 + i * 18}" font-size="12">${esc(sw.label)}</text>`);
  });
  parts.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join('')}</svg>`;
}

/** Writes `<dir>/comparison.md`, plots and `comparison.html`; returns the HTML path. */
export async function writeComparison(dir: string, title: string, sweeps: SweepForComparison[]): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  const tables = sweeps.map((sw) => ({ label: sw.label, rows: resultsTable(sw.results) }));
  const figures: Record<string, string> = {};
  for (const metric of ['accuracy', 'auc', 'f1'] as const) {
    const svg = comparisonPlotSvg(tables, metric, `${title}: ${metric}`);
    figures[metric] = svg;
    await svgToFiles(svg, path.join(dir, `compare-${metric}`));
  }
  const ratios = [...new Set(tables.flatMap((t) => t.rows.map((r) => r.ratio)))].sort((a, b) => a - b);
  const fmt = (v?: { mean: number; low: number; high: number }) => (!v || Number.isNaN(v.mean) ? '—' : `${(v.mean * 100).toFixed(1)}${Number.isNaN(v.low) ? '' : ` ± ${(((v.high - v.low) / 2) * 100).toFixed(1)}`}`);
  const side = ['| real:synthetic | ' + tables.map((t) => `${t.label} accuracy %`).join(' | ') + ' |', '|---|' + tables.map(() => '---:').join('|') + '|',
    ...ratios.map((r) => `| ${ratioLabel(r)} | ${tables.map((t) => fmt(t.rows.find((x) => x.ratio === r)?.values.accuracy)).join(' | ')} |`)].join('\n');
  const quality = sweeps.flatMap((sw) => sw.plan.seeds.flatMap((seed) => {
    const q = readSeedQuality(sw.outputDir, seed);
    if (!q) return [];
    const ratio = (v?: number | null) => (v == null || Number.isNaN(v) ? '—' : `${v.toFixed(2)}${v > SWD_RATIO_WARNING ? ' ⚠' : ''}`);
    return Object.entries(q.perClass).map(([c, v]) => `| ${sw.label} | ${seed} | ${c} | ${ratio(v.slicedWassersteinRatio)} | ${v.ssimNearestMean.toFixed(3)} | ${v.diversity.toFixed(2)} / ${v.realDiversity.toFixed(2)} | ${v.frechetRealClassifier === undefined ? '—' : v.frechetRealClassifier.toFixed(2)} |`);
  }));
  const qualityTable = ['| sweep | seed | class | patch distance to real (× floor; ⚠ above ' + SWD_RATIO_WARNING + ') | SSIM to nearest real | diversity synthetic / real | Fréchet distance (real-only classifier) |', '|---|---:|---|---:|---:|---:|---:|', ...quality].join('\n');
  const md = `# ${title}\n\n${sweeps.map((sw) => `- **${sw.label}**: ${sw.plan.generator.plugin} → ${sw.outputDir}`).join('\n')}\n\n${side}\n\n![accuracy](compare-accuracy.png)\n\n![AUC](compare-auc.png)\n\n## Synthetic images\n\n${qualityTable}\n`;
  writeFileAtomic(path.join(dir, 'comparison.md'), md);
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head><body><h1>${esc(title)}</h1>${htmlTable(side)}${figures.accuracy}${figures.auc}${figures.f1}<h2>Synthetic images</h2>${htmlTable(qualityTable)}</body></html>\n`;
  const file = path.join(dir, 'comparison.html');
  writeFileAtomic(file, html);
  return file;
}
