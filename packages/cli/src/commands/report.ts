import fs from 'node:fs';
import path from 'node:path';
import { readCellResult, sweepLayout, type ResolvedPlan, isDamagedFileError, readJsonFile } from '@synthmix/core';
import { EXIT, UsageError, type Command } from '../command.js';
import { writeReport } from '../report.js';

export const report: Command = {
  name: 'report',
  brief: 'Write the report of a sweep folder',
  summary: 'Write the report of a sweep (tables, significance, plots, report.html) from its output folder.',
  args: [{ name: 'sweep-dir', description: 'Output folder of a sweep (runs/<name>)', required: true }],
  options: {},
  async run({ args, io }) {
    const dir = path.resolve(io.cwd, args[0]);
    const layout = sweepLayout(dir);
    const planFile = layout.plan;
    if (!fs.existsSync(planFile)) throw new UsageError(`${dir} is not a sweep output folder (no plan.json)`);
    const plan = readJsonFile<ResolvedPlan>(planFile);
    // A cell whose result.json no longer reads is left out, and said (the next run reruns it).
    const results = (fs.existsSync(layout.cellsDir) ? fs.readdirSync(layout.cellsDir).map((c) => layout.cellResult(c)).filter((f) => fs.existsSync(f)) : []).flatMap((f) => {
      try {
        return [readCellResult(f)];
      } catch (err) {
        if (!isDamagedFileError(err)) throw err;
        io.stderr.write(`synthmix report: ${err.message}; that cell is left out (run the sweep again to rerun it)\n`);
        return [];
      }
    });
    if (!results.length) throw new UsageError(`${dir} has no finished cells yet`);
    const html = await writeReport(dir, plan, results);
    io.stdout.write(`${results.length} cells → ${html}\n`);
    return EXIT.ok;
  },
};
