import fs from 'node:fs';
import path from 'node:path';
import { duplicateGroupsPng, imageGridPng, loadDataset, subset, writeFileAtomic } from '@synthmix/data';
import { EXIT, UsageError, type Command } from '../command.js';
import { findProject } from '../project.js';
import { loadProgressText } from '../ui/lines.js';

export const dataInspect: Command = {
  name: 'data inspect',
  brief: 'Counts, formats, bad files, duplicates',
  summary: 'Inspect an image-folder dataset: counts per class, formats and sizes, unreadable files, near-duplicate groups, a sample grid.',
  args: [{ name: 'dir', description: 'Folder with one sub-folder per class', required: true }],
  options: {
    json: { type: 'boolean', description: 'Print JSON' },
    size: { type: 'string', valueName: 'px', description: 'Preprocessing size (default 64)' },
    threshold: { type: 'string', valueName: 'bits', description: 'Near-duplicate dHash distance (default 8)' },
    out: { type: 'string', valueName: 'dir', description: 'Where to write the sample grids (default inspect/<dir> beside the cache)' },
  },
  async run({ args, options, io }) {
    const root = path.resolve(io.cwd, args[0]);
    if (!fs.existsSync(root)) throw new UsageError(`folder not found: ${root}`);
    if (!fs.statSync(root).isDirectory()) throw new UsageError(`${root} is a file; data inspect takes the dataset's folder (one sub-folder per class), e.g. a manifest's dataset.path`);
    const folders = fs.readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
    if (!folders.length) throw new UsageError(`${root} has no class sub-folders`);
    const project = await findProject(io.cwd, io.env);
    const size = Number(options.size ?? 64);
    const d = await loadDataset({
      source: 'folder', path: root, classes: folders.map((f) => ({ name: f, folder: f })), phantomPerClass: 0, imageSize: size, channels: 3,
      leakageGuard: { enabled: true, maxHammingDistance: Number(options.threshold ?? 8) }, strict: false, maxPixels: 40_000_000,
    }, {
      cacheDir: path.join(project.cacheDir, 'datasets'),
      // A large folder takes minutes cold: a line on stderr at every tenth of each phase.
      onProgress: (progress) => {
        const said = progress.total >= 1000 ? loadProgressText(progress) : undefined;
        if (said) io.stderr.write(`${said}\n`);
      },
    });
    // Beside the cache, so SYNTHMIX_HOME moves it too.
    const out = path.resolve(io.cwd, (options.out as string | undefined) ?? path.join(path.dirname(project.cacheDir), 'inspect', path.basename(root)));
    fs.mkdirSync(out, { recursive: true });
    const grids: Record<string, string> = {};
    for (const [c, name] of folders.entries()) {
      const idx = Array.from(d.set.labels).flatMap((l, i) => (l === c ? [i] : [])).slice(0, 32);
      grids[name] = path.join(out, `samples-${name}.png`);
      writeFileAtomic(grids[name], await imageGridPng(subset(d.set, idx), idx.length, 8));
    }
    // A few near-duplicate groups side by side, so the threshold can be judged by eye.
    const groups = d.report.groups.largest;
    const duplicates = await duplicateGroupsPng(d.set, groups);
    if (duplicates) {
      grids.duplicates = path.join(out, 'duplicate-groups.png');
      writeFileAtomic(grids.duplicates, duplicates);
    }
    const report = { ...d.report, grids };
    writeFileAtomic(path.join(out, 'data-report.json'), JSON.stringify(report, null, 2));
    if (options.json) {
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return EXIT.ok;
    }
    const lines = [
      `dataset      ${root}`,
      `fingerprint  ${d.fingerprint.slice(0, 16)}`,
      `classes      ${Object.entries(d.report.counts).map(([c, n]) => `${c}: ${n}`).join(', ')}`,
      `formats      ${Object.entries(d.report.formats).map(([f, n]) => `${f}: ${n}`).join(', ')}`,
      `sizes        shorter/longer sides from ${d.report.sizeRange[0]} to ${d.report.sizeRange[1]} px`,
      `unreadable   ${d.report.skipped.length}`,
      ...d.report.skipped.slice(0, 20).map((s) => `  ${s.file}: ${s.reason}`),
      `duplicates   ${d.report.groups.imagesInMultiMember} images in ${d.report.groups.multiMember} near-duplicate groups (dHash ≤ ${d.report.leakageGuard.maxHammingDistance} bits); ${d.report.groups.count} groups in all`,
      ...groups.slice(0, 3).map((g) => `  ${g.length}: ${g.slice(0, 6).join(' ')}${g.length > 6 ? ' …' : ''}`),
      `conflicts    ${d.report.groups.crossClass?.length ?? 0} near-duplicate group(s) span two classes (possible label conflicts)`,
      ...(d.report.groups.crossClass ?? []).slice(0, 5).map((g) => `  ${g.slice(0, 6).join(' ')}${g.length > 6 ? ' …' : ''}`),
      `grids        ${Object.values(grids).join(', ')}`,
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};
