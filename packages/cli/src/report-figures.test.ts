import { describe, expect, it } from 'vitest';
import { sizesHeatmapSvg, sizesPlotSvg } from './report.js';
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
