import fs from 'node:fs';
import path from 'node:path';
import { binaryMetrics, bootstrapIntervals, MetricInputError, multiclassMetrics, parsePredictionsCsv, type ParsedPredictions } from '@synthmix/metrics';
import { EXIT, UsageError, type Command } from '../command.js';

/** Reads a predictions CSV with the one reader of that format; its errors are usage errors. */
export function readPredictionsCsv(text: string, file: string): ParsedPredictions {
  try {
    return parsePredictionsCsv(text, file);
  } catch (err) {
    if (err instanceof MetricInputError) throw new UsageError(err.message);
    throw err;
  }
}

export const metrics: Command = {
  name: 'metrics',
  brief: 'Metrics with CIs from a predictions CSV',
  summary: 'Compute classification metrics with 95 % bootstrap intervals from a predictions CSV.',
  args: [{ name: 'predictions.csv', description: 'Columns: label and score (binary), or label and one column per class', required: true }],
  options: {
    json: { type: 'boolean', description: 'Print JSON' },
    threshold: { type: 'string', valueName: 't', description: 'Decision threshold for binary scores (default 0.5)' },
    positive: { type: 'string', valueName: 'class', description: 'Positive class for a per-class CSV with two classes (default the first)' },
  },
  async run({ args, options, io }) {
    const file = path.resolve(io.cwd, args[0]);
    if (!fs.existsSync(file)) throw new UsageError(`file not found: ${args[0]}`);
    let data = readPredictionsCsv(fs.readFileSync(file, 'utf8'), args[0]);
    const threshold = Number(options.threshold ?? 0.5);
    if (data.kind === 'multi' && data.classes.length === 2) {
      const pos = options.positive ? data.classes.indexOf(options.positive as string) : 0;
      if (pos < 0) throw new UsageError(`--positive ${options.positive}: not one of ${data.classes.join(', ')}`);
      const d = data;
      data = { kind: 'binary', labels: d.labels.map((l) => (l === pos ? 1 : 0)), scores: d.labels.map((_, i) => d.probabilities[i * 2 + pos]) };
    }
    try {
      if (data.kind === 'binary') {
        const m = binaryMetrics(data.labels, data.scores, threshold);
        const ci = bootstrapIntervals(data.labels, data.scores, { threshold, seed: 1 });
        if (options.json) {
          io.stdout.write(`${JSON.stringify({ n: data.labels.length, ...m, ci }, null, 2)}\n`);
          return EXIT.ok;
        }
        io.stdout.write(`${data.labels.length} predictions, threshold ${threshold}\n`);
        for (const k of ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'balancedAccuracy', 'mcc', 'auc', 'averagePrecision'] as const) {
          io.stdout.write(`${k.padEnd(18)}${m[k].toFixed(4)}  [${ci[k].low.toFixed(4)}, ${ci[k].high.toFixed(4)}]\n`);
        }
        const c = m.confusion;
        io.stdout.write(`confusion         tp ${c.tp}  fp ${c.fp}  tn ${c.tn}  fn ${c.fn}\n`);
        return EXIT.ok;
      }
      const m = multiclassMetrics(data.labels, data.probabilities, data.classes.length);
      if (options.json) {
        io.stdout.write(`${JSON.stringify({ n: data.labels.length, classes: data.classes, ...m }, null, 2)}\n`);
        return EXIT.ok;
      }
      io.stdout.write(`${data.labels.length} predictions, ${data.classes.length} classes\naccuracy ${m.accuracy.toFixed(4)}  macro F1 ${m.macro.f1.toFixed(4)}  macro AUC ${m.macro.auc.toFixed(4)}\n`);
      m.perClass.forEach((p, i) => io.stdout.write(`${data.kind === 'multi' ? data.classes[i].padEnd(14) : ''} precision ${p.precision.toFixed(4)} recall ${p.recall.toFixed(4)} f1 ${p.f1.toFixed(4)} auc ${p.auc.toFixed(4)} n ${p.support}\n`));
      return EXIT.ok;
    } catch (err) {
      if (err instanceof MetricInputError) throw new UsageError(`${args[0]}: ${err.message}`);
      throw err;
    }
  },
};
