import { describe, expect, it } from 'vitest';
import { seriesPlotSvg, sizesHeatmapSvg, sizesPlotSvg } from './report.js';
import type { TableRow } from './ui/table.js';

const v = (mean: number) => ({ accuracy: { mean, low: mean - 0.02, high: mean + 0.02 }, precision: { mean, low: NaN, high: NaN }, recall: { mean, low: NaN, high: NaN }, f1: { mean, low: NaN, high: NaN }, auc: { mean, low: mean - 0.01, high: mean + 0.01 } });
const rows: TableRow[] = [50, 200, 400, 1000].flatMap((perClass, i) => [0, 1, 4].map((x) => ({ ratio: x / (1 + x), mode: 'augment' as const, perClass, x, label: `${x}×`, seeds: 3, values: v(0.7 + i * 0.05 + (i === 0 ? 0.02 * x : -0.01 * x)) })));

describe('figures across sizes', () => {
  it('draws a curve per size with its legend', () => {
    const svg = sizesPlotSvg(rows, 'auc', 'curves');
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    for (const size of [50, 200, 400, 1000]) expect(svg).toContain(`${size} real / class`);
  });

  it('a heatmap cell per size and multiple, blue where synthetic images help and red where they cost', () => {
    const svg = sizesHeatmapSvg(rows, 'auc', 'heatmap');
    expect(svg.match(/<rect x="\d+" y="\d+" width=/g)).toHaveLength(1 + 12); // the background, then 4 sizes × 3 multiples
    expect(svg).toContain('0.780 (+0.080)'); // 50 a class, 4×: helps
    expect(svg).toContain('0.810 (−0.040)'); // 1000 a class, 4×: costs
    expect(svg).toMatch(/rgba\(31,119,180,0\.9\d*\)/); // the largest gain, full blue
    expect(svg).toMatch(/rgba\(214,39,40,/);
  });
});

describe('per-epoch series', () => {
  const labels = (svg: string, anchor: 'end' | 'middle') => [...svg.matchAll(new RegExp(`text-anchor="${anchor}">([^<]*)<`, 'g'))].map((m) => m[1]);

  it('puts the y ticks at round values covering the data, and the epochs at round epochs', () => {
    // GAN losses of a 90-epoch run: up to 6.65 (the axis once read 0, 1.66, 3.33, 4.99, 6.65).
    const series = { g_loss: Array.from({ length: 90 }, (_, i) => ({ step: i + 1, value: 2 + 4.65 * Math.sin((i / 89) * Math.PI) })), d_loss: Array.from({ length: 90 }, (_, i) => ({ step: i + 1, value: 0.02 + i / 200 })) };
    const svg = seriesPlotSvg(series, 'Generator losses', 'loss');
    expect(labels(svg, 'end')).toEqual(['0', '1', '2', '3', '4', '5', '6', '7']);
    expect(labels(svg, 'middle').slice(0, -1)).toEqual(['0', '20', '40', '60', '80']); // the last is the axis title
  });

  it('fits the y axis to close values with the decimals their ticks need', () => {
    const series = { accuracy: [0.912, 0.931, 0.925, 0.94].map((value, i) => ({ step: (i + 1) * 5, value })) };
    const svg = seriesPlotSvg(series, 'Accuracy by generator epoch', 'accuracy', { fitY: true });
    // 0.912–0.94 with a margin of 0.01, widened to round hundredths.
    expect(labels(svg, 'end')).toEqual(['0.90', '0.91', '0.92', '0.93', '0.94', '0.95']);
    expect(labels(svg, 'middle').slice(0, -1)).toEqual(['0', '5', '10', '15', '20']);
  });
});
