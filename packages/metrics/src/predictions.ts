/**
 * predictions.csv, the one module that knows its format: `id,label,p_<class>…`, one row per test
 * image, the id as a JSON string (ids are file paths and may hold commas or quotes), the label by
 * class name, one probability column per class. The sweep writes it; the report and
 * `synthmix metrics` read it through here.
 */
import fs from 'node:fs';
import { MetricInputError } from './binary.js';
import { argmaxRows } from './multiclass.js';

export interface Predictions {
  ids: string[];
  classes: string[];
  /** Class index per row. */
  labels: number[];
  /** Row-major N × K. */
  probabilities: number[];
}

export function formatPredictionsCsv(p: { ids: string[]; classes: string[]; labels: ArrayLike<number>; probabilities: ArrayLike<number> }): string {
  const k = p.classes.length;
  const header = ['id', 'label', ...p.classes.map((c) => `p_${c}`)].map(csvField).join(',');
  const rows = p.ids.map((id, i) => [JSON.stringify(id), csvField(p.classes[p.labels[i]]), ...Array.from({ length: k }, (_, c) => Number(p.probabilities[i * k + c]).toPrecision(6))].join(','));
  return `${header}\n${rows.join('\n')}\n`;
}

/** Quotes a plain field when it needs it (RFC 4180). */
function csvField(value: string): string {
  return /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Splits one CSV line, honouring quoted fields (RFC 4180 and JSON-quoted ids alike). */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new MetricInputError(`unterminated quoted field in: ${line.slice(0, 80)}`);
        if (line[i] === '\\' && line[i + 1] !== undefined) {
          // JSON escapes inside a JSON-quoted id.
          value += JSON.parse(`"${line[i]}${line[i + 1]}"`);
          i += 2;
        } else if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          break;
        } else value += line[i++];
      }
      out.push(value);
      if (line[i] === ',') i++;
      else if (i < line.length) throw new MetricInputError(`unexpected text after a quoted field in: ${line.slice(0, 80)}`);
      else break;
    } else {
      const end = line.indexOf(',', i);
      if (end < 0) {
        out.push(line.slice(i));
        break;
      }
      out.push(line.slice(i, end));
      i = end + 1;
      if (i === line.length) out.push('');
    }
  }
  return out;
}

export type ParsedPredictions =
  | { kind: 'binary'; labels: number[]; scores: number[] }
  | ({ kind: 'multi' } & Predictions);

/**
 * Reads predictions: the sweep's format (`id,label,p_<class>…`), or `label,score` (binary, labels
 * 0/1), or `label` plus one probability column per class. Errors name the file and line.
 */
export function parsePredictionsCsv(text: string, file: string): ParsedPredictions {
  const lines = text.replace(/\r/g, '').trim().split('\n');
  const header = splitCsvLine(lines[0]).map((h) => h.trim());
  const labelCol = header.indexOf('label');
  if (labelCol < 0) throw new MetricInputError(`${file}: no "label" column (found ${header.join(', ')})`);
  const rows = lines.slice(1).map((l, i) => {
    const r = splitCsvLine(l);
    if (r.length !== header.length) throw new MetricInputError(`${file}:${i + 2}: expected ${header.length} fields, found ${r.length}`);
    return r;
  });
  const scoreCol = header.indexOf('score');
  if (scoreCol >= 0) {
    const labels = rows.map((r, i) => {
      const v = r[labelCol].trim();
      if (v !== '0' && v !== '1') throw new MetricInputError(`${file}:${i + 2}: label must be 0 or 1 with a "score" column, found "${v}"`);
      return Number(v);
    });
    return { kind: 'binary', labels, scores: rows.map((r) => Number(r[scoreCol])) };
  }
  const idCol = header.indexOf('id');
  const classCols = header.map((h, i) => [h, i] as const).filter(([, i]) => i !== labelCol && i !== idCol);
  const classes = classCols.map(([h]) => h.replace(/^p_/, ''));
  if (classes.length < 2) throw new MetricInputError(`${file}: expected a "score" column or one probability column per class`);
  const labels = rows.map((r, i) => {
    const v = r[labelCol].trim();
    const k = classes.indexOf(v) >= 0 ? classes.indexOf(v) : /^\d+$/.test(v) ? Number(v) : -1;
    if (!(k >= 0 && k < classes.length)) throw new MetricInputError(`${file}:${i + 2}: label "${v}" is not one of ${classes.join(', ')}`);
    return k;
  });
  return { kind: 'multi', ids: rows.map((r, i) => (idCol >= 0 ? r[idCol] : String(i))), classes, labels, probabilities: rows.flatMap((r) => classCols.map(([, i]) => Number(r[i]))) };
}

/** A cell's predictions as the comparisons between cells need them (the report, the answer). */
export interface ComparablePredictions {
  /** 1 for the positive class (one-vs-rest with more classes), else 0. */
  labels: number[];
  /** Probability of the positive class. */
  scores: number[];
  /** Class index per row, and the predicted (argmax) class. */
  classLabels: number[];
  predicted: number[];
}

/** Reads a cell's predictions.csv against the class `positive`; undefined when the file is missing. */
export function readComparablePredictions(file: string, positive: string): ComparablePredictions | undefined {
  if (!fs.existsSync(file)) return undefined;
  const parsed = parsePredictionsCsv(fs.readFileSync(file, 'utf8'), file);
  if (parsed.kind !== 'multi') return undefined;
  const k = parsed.classes.length;
  const p = parsed.classes.indexOf(positive);
  return {
    labels: parsed.labels.map((l) => (l === p ? 1 : 0)),
    scores: parsed.labels.map((_, i) => parsed.probabilities[i * k + p]),
    classLabels: parsed.labels,
    predicted: Array.from(argmaxRows(parsed.probabilities, k)),
  };
}
