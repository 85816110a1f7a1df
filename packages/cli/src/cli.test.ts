import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { damageFile, DAMAGES } from '@synthmix/data';
import { afterAll, describe, expect, it } from 'vitest';
import { SWD_RATIO_WARNING, SWD_SAMPLE } from '@synthmix/core';
import { main, mainHelp } from './cli.js';
import type { IO } from './command.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const fixtures = path.resolve(import.meta.dirname, '../../core/src/__fixtures__');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: IO = { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: { ...process.env, SYNTHMIX_HOME: path.join(tmp, 'home'), MLFLOW_TRACKING_URI: '' }, cwd: tmp };
  const code = await main(argv, io);
  return { code, out, err };
}

function manifest(name: string, extra = ''): string {
  const file = path.join(tmp, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}
seeds: [1]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 30
  imageSize: 16
  testPerClass: 10
generator:
  plugin: ${fixtures}/mean-generator.ts
classifier:
  plugin: ${fixtures}/nearest-mean.ts
ratios: [0, 0.5]
trainingSetSize: 20
backend: cpu
${extra}`);
  return file;
}

describe('synthmix help', () => {
  it('prints the command list', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toBe(mainHelp());
    expect(r.out).toContain('  run           Run a ratio sweep and report it\n');
    for (const line of r.out.split('\n')) expect(line.length).toBeLessThanOrEqual(92);
  });

  it('prints exact help for run', async () => {
    const r = await cli('run', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toBe(`Usage: synthmix run <manifest> [options]

Run a ratio sweep: train the generator, then one classifier per ratio × seed, and evaluate each on the real test set.

Arguments:
  manifest              Experiment manifest (experiments/*.yaml)

Options:
  --set <key=value>     Override a manifest value, e.g. generator.options.epochs=5 (repeatable)
  --resume              Skip cells already finished in the output folder (the default)
  --fresh               Rerun every cell, ignoring finished ones
  --backend <name>      auto, gpu, tensorflow or cpu (overrides the manifest)
  --no-ui               Plain log lines instead of the live dashboard
  --json                Stream the typed events as JSON Lines
  --no-tracking         Do not log to MLflow
  --tracking-uri <url>  MLflow server (else MLFLOW_TRACKING_URI, manifest, config)
  --executor <name>     Where jobs run: inline, local or ray (overrides the manifest)
  --workers <n>         Jobs at once for the local and ray executors
  --ray-address <url>   Ray dashboard address for the ray executor (else manifest, RAY_ADDRESS)
  --compile <mode>      Training steps as TensorFlow graphs: auto, on or off (overrides the manifest)
  --xla                 XLA in every compiled step (default: auto measures it)
  --wait                If another run holds the output folder, wait for it instead of refusing
  -h, --help            Show this help

Exit codes: 0 finished, 1 a cell or the sweep failed, 2 usage or manifest error,
3 finished but MLflow refused or did not receive calls (kept for synthmix sync), 130 interrupted.
Jobs (a generator per seed, a classifier per cell) run in this process by default; --executor local
runs them in worker processes, --executor ray as Ray jobs on a cluster (its folders must be shared).
`);
  });

  it('prints the version', async () => {
    expect(await cli('--version')).toEqual({ code: 0, out: '0.1.0\n', err: '' });
  });
});

describe('synthmix errors', () => {
  it('unknown command', async () => {
    expect(await cli('rnu')).toEqual({ code: 2, out: '', err: 'synthmix: unknown command "rnu"\nRun `synthmix --help` for the list of commands.\n' });
  });

  it('unknown option and missing argument', async () => {
    expect(await cli('run', 'x.yaml', '--sett', 'a=1')).toEqual({ code: 2, out: '', err: 'synthmix run: unknown option --sett\nRun `synthmix run --help` for usage.\n' });
    expect(await cli('run')).toEqual({ code: 2, out: '', err: 'synthmix run: missing argument <manifest>\nRun `synthmix run --help` for usage.\n' });
  });

  it('manifest errors: one line each, no stack trace, exit 2', async () => {
    const file = manifest('bad', 'seed: 3\n');
    const r = await cli('validate', file, '--set', 'generator.options.epochs=0');
    expect(r.code).toBe(2);
    const shown = path.relative(tmp, file);
    expect(r.err).toBe([
      `${shown}:16:1: seed: unknown key "seed"; did you mean "seeds"?`,
      '--set generator.options.epochs=0: generator.options.epochs: expected a number ≥ 1, found number 0',
      '',
    ].join('\n'));
  });

  it('a missing manifest file', async () => {
    expect(await cli('run', 'nope.yaml')).toEqual({ code: 2, out: '', err: 'synthmix run: nope.yaml: cannot read manifest (ENOENT)\n' });
  });
});

describe('synthmix validate', () => {
  it('accepts a good manifest', async () => {
    const file = manifest('good');
    expect(await cli('validate', file)).toEqual({ code: 0, out: `${file}: ok (2 cells: 2 ratios × 1 seed; ${fixtures}/mean-generator.ts + ${fixtures}/nearest-mean.ts)\n`, err: '' });
  });
});

describe('synthmix run without a terminal', () => {
  it('prints one timestamped line per event, the results table, and exits 0', async () => {
    const file = manifest('plain');
    const r = await cli('run', file, '--no-ui', '--no-tracking');
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const events = lines.filter((l) => /^\d\d:\d\d:\d\d /.test(l)).map((l) => l.slice(9));
    expect(events[0]).toBe('sweep plain: 2 cells (2 ratios × 1 seed), backend cpu [cpu]');
    expect(events[1]).toMatch(/^warning: Using the pure-JavaScript "cpu" backend/);
    expect(events[2]).toBe('data tumor=30 healthy=30, 0 skipped, 60 groups, test 10/class');
    expect(events[3]).toMatch(/^generator seed 1: training \(test:mean-generator, [0-9a-f]{12}\)$/);
    expect(events[4]).toBe('generator seed 1 epoch 1/2 loss=1.000');
    expect(events[5]).toBe('generator seed 1 epoch 2/2 loss=0.500');
    expect(events[6]).toMatch(/^generator seed 1: ready, 5 synthetic images per class \(\d+s\)$/);
    // The quality measures say what runs, per class, instead of going silent.
    expect(events.slice(7, 10)).toEqual(['generator seed 1: measuring tumor against real images (SSIM, patch distance) (0/2)', 'generator seed 1: measuring healthy against real images (SSIM, patch distance) (1/2)', 'generator seed 1: quality measured (2/2)']);
    expect(events[10]).toBe('cell 1/2 real20-synth0-seed1 (100:0): training');
    expect(events[11]).toBe('cell real20-synth0-seed1 epoch 1/1 loss=— val_acc=100.0%');
    expect(events[12]).toMatch(/^cell real20-synth0-seed1: done acc=\d+\.\d% f1=\d+\.\d% auc=\d\.\d{3} \(\d+s\)$/);
    expect(events[13]).toBe('cell 2/2 real10-synth10-seed1 (50:50): training');
    expect(events).toHaveLength(17);
    expect(events.at(-1)).toBe(`sweep finished: 2 cells; output in ${path.join(tmp, 'runs', 'plain')}`);
    expect(r.out).toContain('real:syn     accuracy %   precision %      recall %          F1 %           AUC\n100:0 ');
    expect(r.out).toContain(`Report: ${path.join(tmp, 'runs', 'plain', 'report', 'report.html')}`);
    for (const f of ['results.md', 'results.csv', 'metrics.svg', 'metrics.png', 'roc.png', 'confusion.png', 'report.html']) expect(fs.existsSync(path.join(tmp, 'runs', 'plain', 'report', f)), f).toBe(true);
  });

  it('reports a three-class sweep in macro terms: consistent metrics, intervals around them, no paper comparison', async () => {
    const file = manifest('three');
    const text = fs.readFileSync(file, 'utf8').replace('classes: { tumor: tumor, healthy: healthy }', 'classes: { glioma: glioma, healthy: healthy, meningioma: meningioma }');
    fs.writeFileSync(file, text.replace('ratios: [0, 0.5]', 'ratios: [0, 0.5, 1]').replace('trainingSetSize: 20', 'trainingSetSize: 30'));
    const r = await cli('run', file, '--no-ui', '--no-tracking');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Metrics: macro averages over 3 classes (glioma, healthy, meningioma); AUC one-vs-rest.');
    const out = path.join(tmp, 'runs', 'three');
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(csv[0].slice(5, 10)).toEqual(['generator_epoch', 'averaging', 'accuracy', 'accuracy_ci_low', 'accuracy_ci_high']);
    for (const cellId of ['real30-synth0-seed1', 'real15-synth15-seed1', 'real0-synth30-seed1']) {
      const result = JSON.parse(fs.readFileSync(path.join(out, 'cells', cellId, 'result.json'), 'utf8'));
      expect(result.task).toEqual({ kind: 'multiclass', average: 'macro', classes: ['glioma', 'healthy', 'meningioma'] });
      const c: number[][] = result.confusion;
      const n = c.flat().reduce((a, b) => a + b, 0);
      const recall = c.map((row, i) => row[i] / row.reduce((a, b) => a + b, 0));
      const precision = c.map((_, i) => (c.reduce((s, row) => s + row[i], 0) ? c[i][i] / c.reduce((s, row) => s + row[i], 0) : 0));
      expect(result.metrics.accuracy).toBeCloseTo(c.reduce((s, row, i) => s + row[i], 0) / n, 12);
      expect(result.metrics.recall).toBeCloseTo(recall.reduce((a, b) => a + b, 0) / 3, 12);
      expect(result.metrics.precision).toBeCloseTo(precision.reduce((a, b) => a + b, 0) / 3, 12);
      expect(result.metrics.recall_healthy).toBeCloseTo(recall[1], 12);
      for (const m of ['accuracy', 'precision', 'recall', 'f1', 'auc']) {
        expect(result.metrics[`${m}_ci_low`], `${cellId} ${m}`).toBeLessThanOrEqual(result.metrics[m] + 1e-12);
        expect(result.metrics[`${m}_ci_high`], `${cellId} ${m}`).toBeGreaterThanOrEqual(result.metrics[m] - 1e-12);
      }
      const row = csv.find((x) => x[0] === cellId)!;
      expect(row[6]).toBe('macro');
      expect(Number(row[7])).toBeCloseTo(result.metrics.accuracy, 5);
    }
    const md = fs.readFileSync(path.join(out, 'report', 'results.md'), 'utf8');
    expect(md).toContain('Metrics: macro averages over 3 classes');
    expect(md).not.toContain('Against the paper');
    // McNemar compares right and wrong per image (argmax), not a thresholded one-vs-rest score.
    const sig = JSON.parse(fs.readFileSync(path.join(out, 'report', 'significance.json'), 'utf8'));
    expect(sig).toHaveLength(2);
    const base = JSON.parse(fs.readFileSync(path.join(out, 'cells', 'real30-synth0-seed1', 'result.json'), 'utf8'));
    const synth = JSON.parse(fs.readFileSync(path.join(out, 'cells', 'real0-synth30-seed1', 'result.json'), 'utf8'));
    if (Math.abs(base.metrics.accuracy - synth.metrics.accuracy) > 0.3) expect(sig[1].mcnemarP).toBeLessThan(0.05);
    expect(sig[1].delongP).toBeNull();
  });

  it('names the positive class of a binary sweep and keeps the paper out of the phantom demo', () => {
    const md = fs.readFileSync(path.join(tmp, 'runs', 'plain', 'report', 'results.md'), 'utf8');
    expect(md).toContain('Metrics: binary, positive class "tumor".');
    // What ran comes from the plan (a --set override is not in the manifest's description).
    expect(md).toMatch(/^What ran: generator `[^`]*mean-generator\.ts` \(noise 0\.1, epochs 2\); classifier `[^`]*nearest-mean\.ts`; 16 × 16 × 3 images, 20 images per training set; one generator per seed, trained on the whole real pool\.$/m);
    expect(md).not.toContain('Against the paper');
  });

  it('says under the quality table, in the report and on the event stream, when the patch distance had fewer images than its calibration', async () => {
    const r = await cli('run', manifest('small-sample'), '--no-ui', '--no-tracking', '--set', 'ratios=[0,1]');
    expect(r.code, r.err).toBe(0);
    const note = `weaker quality check: patch distance on tumor 10, healthy 10 images a side, fewer than the ${SWD_SAMPLE} its threshold was calibrated on`;
    expect(r.out).toContain(`warning: ${note}`);
    const report = path.join(tmp, 'runs', 'small-sample', 'report');
    expect(fs.readFileSync(path.join(report, 'results.md'), 'utf8')).toContain(`|\n\nSeed 1: ${note}`);
    expect(fs.readFileSync(path.join(report, 'report.html'), 'utf8')).toContain(`</table><p>Seed 1: ${note}`);
  });

  it('measures a sweep\'s synthetic images and images made elsewhere the same way (synthmix quality)', async () => {
    const out = path.join(tmp, 'runs', 'plain');
    const exported = await cli('quality', out, '--export-real', path.join(tmp, 'real-pools'));
    expect(exported.code, exported.err).toBe(0);
    expect(exported.out.split('\n')[0]).toBe(`real training pools (tumor: 20, healthy: 20) → ${path.join(tmp, 'real-pools')}`);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'real-pools', 'real-tumor.f32.json'), 'utf8'))).toEqual({ count: 20, height: 16, width: 16, channels: 3 });
    // Real images given as "synthetic" are as close as real ones get; noise is far.
    const noise = path.join(tmp, 'noise.f32');
    fs.writeFileSync(noise, Buffer.from(Float32Array.from({ length: 20 * 16 * 16 * 3 }, (_, i) => Math.sin(i * 12.9898) * 0.9).buffer));
    fs.writeFileSync(`${noise}.json`, JSON.stringify({ count: 20, height: 16, width: 16, channels: 3 }));
    const r = await cli('quality', out, '--synthetic', `tumor=${path.join(tmp, 'real-pools', 'real-tumor.f32')}`, '--synthetic', `tumor=${noise}`, '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out).rows as { source: string; className: string; quality: { slicedWassersteinRatio: number | null } }[];
    // The sweep's own pool (5 images a class) is too small for the patch distance: no number, not a wrong one.
    expect(rows.map((x) => `${x.source} ${x.className} ${x.quality.slicedWassersteinRatio === null ? '—' : 'measured'}`)).toEqual(['test:mean-generator (this sweep, seed 1) tumor —', 'test:mean-generator (this sweep, seed 1) healthy —', 'real-tumor.f32 tumor measured', 'noise.f32 tumor measured']);
    expect(rows[2].quality.slicedWassersteinRatio!).toBeLessThan(SWD_RATIO_WARNING);
    expect(rows[3].quality.slicedWassersteinRatio!).toBeGreaterThan(SWD_RATIO_WARNING);
    // 20 real images give two disjoint samples of 10: measured, and said to be fewer than the calibration's.
    expect(rows[3].quality).toMatchObject({ slicedWassersteinSample: 10 });
    const text = await cli('quality', out, '--synthetic', `tumor=${noise}`);
    expect(text.out).toMatch(/^noise\.f32 +tumor +\d+\.\d\d +10 /m);
    expect(text.out).toContain(`The threshold was calibrated on ${SWD_SAMPLE} images a side; smaller samples read closer to 1, so the check is weaker for them.`);
    const bad = await cli('quality', out, '--synthetic', 'glioma=x.f32');
    expect(bad).toMatchObject({ code: 2, err: 'synthmix quality: --synthetic glioma=x.f32: expected <class>=<file> with a class of tumor, healthy\nRun `synthmix quality --help` for usage.\n' });
  });

  it.each(DAMAGES)('does not reload a 100:0 classifier whose saved files were damaged (%s)', async (how) => {
    const out = path.join(tmp, 'runs', `model-${how}`);
    const file = manifest(`model-${how}`);
    expect((await cli('run', file, '--no-ui', '--no-tracking', '--set', `output=${out}`)).code).toBe(0);
    const fine = await cli('quality', out, '--json');
    expect(fine.code, fine.err).toBe(0);
    expect(JSON.parse(fine.out).rows[0].quality.frechetRealClassifier).toBeGreaterThanOrEqual(0); // reloaded and used
    const saved = path.join(out, 'cells', 'real20-synth0-seed1', 'model', 'means.json');
    damageFile(saved, how);
    const r = await cli('quality', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`^synthmix quality: cannot reload the 100:0 classifier: damaged file ${saved.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*; run the sweep with --fresh to train it again\n$`));
  });

  it('shows plugins without "default undefined"', async () => {
    const r = await cli('plugins');
    expect(r.code).toBe(0);
    expect(r.out).not.toContain('undefined');
    expect(r.out).toMatch(/ {4}epochs +integer +see note +Training epochs per class \(default: from the preset\)\./);
  });

  it('streams JSON Lines of the typed events with --json', async () => {
    const file = manifest('json');
    const r = await cli('run', file, '--json', '--no-tracking');
    expect(r.code).toBe(0);
    const events = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(events[0].type).toBe('sweep:start');
    expect(events.at(-1)).toMatchObject({ type: 'sweep:done', status: 'finished' });
    expect(events.filter((e) => e.type === 'cell:done')).toHaveLength(2);
  });

  it('records runs locally when MLflow is not installed and says how to replay them', async () => {
    const file = manifest('offline');
    let err = '';
    const io: IO = { stdout: { write: () => true, isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: { PATH: '/nonexistent', SYNTHMIX_HOME: path.join(tmp, 'home2') }, cwd: tmp };
    expect(await main(['run', file, '--no-ui'], io)).toBe(0);
    expect(err).toContain('MLflow is not installed');
    expect(err).toContain(`replay them with: synthmix sync ${path.join(tmp, 'runs', 'offline')}`);
    expect(fs.readFileSync(path.join(tmp, 'runs', 'offline', 'mlflow', 'spool.jsonl'), 'utf8').split('\n').length).toBeGreaterThan(10);
  });
});

describe('synthmix metrics', () => {
  it('computes metrics with intervals from a predictions CSV', async () => {
    const file = path.join(tmp, 'pred.csv');
    fs.writeFileSync(file, 'label,score\n1,0.9\n1,0.8\n0,0.3\n0,0.6\n1,0.4\n0,0.1\n');
    const r = await cli('metrics', file);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('6 predictions, threshold 0.5');
    expect(r.out).toMatch(/^accuracy {10}0\.6667 {2}\[\d\.\d{4}, \d\.\d{4}\]$/m);
    expect(r.out).toContain('confusion         tp 2  fp 1  tn 2  fn 1\n');
    const j = JSON.parse((await cli('metrics', file, '--json')).out);
    expect(j.auc).toBeCloseTo(8 / 9, 12);
  });

  it('explains a bad CSV', async () => {
    const file = path.join(tmp, 'bad.csv');
    fs.writeFileSync(file, 'y,score\n1,0.2\n');
    expect(await cli('metrics', file)).toEqual({ code: 2, out: '', err: `synthmix metrics: ${file}: no "label" column (found y, score)\nRun \`synthmix metrics --help\` for usage.\n` });
  });
});

describe('synthmix data inspect', () => {
  it('reports counts, formats, unreadable files, duplicate groups and writes sample grids', async () => {
    const root = path.join(tmp, 'inspect');
    for (const c of ['glioma', 'notumor']) fs.mkdirSync(path.join(root, c), { recursive: true });
    const img = (seed: number) => sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (Math.sin(i * seed) * 127 + 128) & 255)), { raw: { width: 64, height: 64, channels: 3 } });
    await img(1).png().toFile(path.join(root, 'glioma', 'a.jpg'));
    fs.copyFileSync(path.join(root, 'glioma', 'a.jpg'), path.join(root, 'glioma', 'a-copy.jpg'));
    await img(2).jpeg().toFile(path.join(root, 'notumor', 'b.jpg'));
    fs.writeFileSync(path.join(root, 'notumor', 'broken.png'), 'not a png');
    const r = await cli('data', 'inspect', root, '--json', '--size', '16', '--out', path.join(tmp, 'inspect-out'));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.counts).toEqual({ glioma: 2, notumor: 1 });
    expect(report.formats).toEqual({ png: 2, jpeg: 1 });
    expect(report.skipped).toEqual([{ file: 'notumor/broken.png', reason: 'not an image, or a format sharp cannot read' }]);
    expect(report.groups).toMatchObject({ multiMember: 1, imagesInMultiMember: 2, largest: [['glioma/a-copy.jpg', 'glioma/a.jpg']] });
    for (const f of Object.values(report.grids) as string[]) expect(fs.existsSync(f), f).toBe(true);
    expect(Object.keys(report.grids).sort()).toEqual(['duplicates', 'glioma', 'notumor']);
    expect(report.groups.crossClass).toEqual([]);
    // Without --out the grids go beside the cache, under SYNTHMIX_HOME.
    const plain = await cli('data', 'inspect', root, '--size', '16');
    expect(plain.code).toBe(0);
    expect(plain.out).toContain(`grids        ${path.join(tmp, 'home', 'inspect', 'inspect', 'samples-glioma.png')}`);
    expect(plain.out).toContain('conflicts    0 near-duplicate group(s) span two classes');
  });

  it('says what it takes when given a file', async () => {
    const file = path.join(tmp, 'inspect', 'glioma', 'a.jpg');
    const r = await cli('data', 'inspect', file);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`synthmix data inspect: ${file} is a file; data inspect takes the dataset's folder (one sub-folder per class), e.g. a manifest's dataset.path\nRun \`synthmix data inspect --help\` for usage.\n`);
  });

  it('has a help of its own', async () => {
    const r = await cli('data', '--help');
    expect(r).toEqual({ code: 0, err: '', out: 'Usage: synthmix data <command> [options]\n\nCommands:\n  data inspect    Counts, formats, bad files, duplicates\n\nRun `synthmix data <command> --help` for a command\'s options.\n' });
  });
});

describe('errors a user can fix: one line, exit 2, no stack trace', () => {
  it('refuses a YAML alias bomb with its position', async () => {
    const file = path.join(tmp, 'bomb.yaml');
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) rows.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    fs.writeFileSync(file, `${rows.join('\n')}\nname: bomb\n`);
    const r = await cli('validate', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^bomb\.yaml:2:\d+: YAML aliases expand too much \(.+\); write the values out\n$/);
  });

  it('says which ratio is outside [0, 1]', async () => {
    const r = await cli('validate', manifest('ratios-bad', ''), '--set', 'ratios=[1.5, -0.1, 0.5]');
    expect(r.code).toBe(2);
    expect(r.err).toBe('--set ratios=[1.5, -0.1, 0.5]: ratios.0: a synthetic fraction must be between 0 and 1, found 1.5\n--set ratios=[1.5, -0.1, 0.5]: ratios.1: a synthetic fraction must be between 0 and 1, found -0.1\n');
    const range = await cli('validate', manifest('ratios-range', ''), '--set', 'ratios={from: 0, to: 2, step: 0.5}');
    expect(range.err).toBe('--set ratios={from: 0, to: 2, step: 0.5}: ratios.to: a synthetic fraction must be between 0 and 1, found 2\n');
  });

  it('refuses an unknown --compile mode, and a manifest compile mode, with where it is', async () => {
    const r = await cli('run', manifest('compile-bad', ''), '--no-ui', '--no-tracking', '--compile', 'fast');
    expect(r.code).toBe(2);
    expect(r.err).toBe('synthmix run: --compile fast: expected one of auto, on, off\n');
    const m = await cli('validate', manifest('compile-bad-manifest', 'compile: always\n'));
    expect(m.code).toBe(2);
    expect(m.err).toBe('compile-bad-manifest.yaml:16:10: compile: expected one of auto, on, off, found "always"\n');
  });

  it('catches an output folder that is a file at validation', async () => {
    fs.writeFileSync(path.join(tmp, 'a-file'), 'x');
    const file = manifest('out-file', 'output: a-file/run\n');
    const r = await cli('validate', file);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`out-file.yaml:16:9: output: the output folder ${path.join(tmp, 'a-file', 'run')} is inside ${path.join(tmp, 'a-file')}, which is a file\n`);
  });

  it('names every unreadable file in strict mode, and a class with too few images', async () => {
    const root = path.join(tmp, 'strict-data');
    for (const c of ['yes', 'no']) fs.mkdirSync(path.join(root, c), { recursive: true });
    for (const name of ['one.png', 'two.png']) fs.writeFileSync(path.join(root, 'yes', name), 'not a png');
    const folder = (name: string, extra: string) => {
      const file = manifest(name, extra);
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('source: phantom', `source: folder\n  path: ${root}`).replace('classes: { tumor: tumor, healthy: healthy }', 'classes: { tumor: yes, healthy: no }'));
      return file;
    };
    const strict = await cli('run', folder('strict', ''), '--no-ui', '--no-tracking', '--set', 'dataset.strict=true');
    expect(strict.code).toBe(2);
    expect(strict.err).toBe(`synthmix run: 2 unreadable file(s) with strict: true:\n  ${path.join(root, 'yes', 'one.png')}: not an image, or a format sharp cannot read\n  ${path.join(root, 'yes', 'two.png')}: not an image, or a format sharp cannot read\n`);
    const few = await cli('run', folder('few', ''), '--no-ui', '--no-tracking');
    expect(few.code, few.err).toBe(2);
    expect(few.err).toBe('synthmix run: class "tumor" has 0 usable images; the test set needs 10 (testPerClass) and each cell needs 10 real training images per class (trainingSetSize), 20 in all; class "healthy" has 0 usable images; the test set needs 10 (testPerClass) and each cell needs 10 real training images per class (trainingSetSize), 20 in all\n');
    expect(few.err).not.toMatch(/\n\s+at /);
  });
});
