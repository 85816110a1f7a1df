/** Text helpers shared by the dashboard and plain output. */

export function pct(x: number | undefined, digits = 1): string {
  return x === undefined || Number.isNaN(x) ? '—' : `${(x * 100).toFixed(digits)}%`;
}

export function num(x: number | undefined, digits = 3): string {
  return x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits);
}

export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values. */
export function sparkline(values: number[], width = 24): string {
  const v = values.slice(-width).filter(Number.isFinite);
  if (!v.length) return '';
  const min = Math.min(...v);
  const max = Math.max(...v);
  return v.map((x) => BARS[max === min ? 3 : Math.round(((x - min) / (max - min)) * (BARS.length - 1))]).join('');
}

export function progressBar(done: number, total: number, width = 20): string {
  const filled = total > 0 ? Math.round((Math.min(done, total) / total) * width) : 0;
  return `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
}

/** real:synthetic as the paper writes it (90:10). */
export function ratioLabel(ratio: number): string {
  const synth = Math.round(ratio * 100);
  return `${100 - synth}:${synth}`;
}

/** Left-pads or cuts to exactly `width` characters. */
export function cell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return align === 'left' ? t.padEnd(width) : t.padStart(width);
}
