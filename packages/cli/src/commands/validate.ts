import fs from 'node:fs';
import path from 'node:path';
import { cellsInWords, formatDiagnostic, isComparison, loadComparison, ManifestError, UserError } from '@synthmix/core';
import { EXIT, type Command } from '../command.js';
import { findProject, loadPlan, pluginSchemaFor } from '../project.js';

export const validate: Command = {
  name: 'validate',
  brief: 'Check manifests (schema and plugin options)',
  summary: 'Check experiment manifests against the schema and their plugins\' option schemas.',
  args: [{ name: 'manifest', description: 'Manifest files (experiments/*.yaml)', required: true, variadic: true }],
  options: {
    set: { type: 'string', multiple: true, valueName: 'key=value', description: 'Override a manifest value, e.g. generator.options.epochs=5' },
  },
  async run({ args, options, io }) {
    const project = await findProject(io.cwd, io.env);
    let failed = false;
    for (const file of args) {
      try {
        const abs = path.resolve(io.cwd, file);
        if (fs.existsSync(abs) && isComparison(fs.readFileSync(abs, 'utf8'))) {
          const c = await loadComparison(abs, { overrides: (options.set as string[] | undefined) ?? [], config: project.config, projectRoot: project.root, cwd: io.cwd, pluginSchema: pluginSchemaFor(project) });
          io.stdout.write(`${file}: ok (comparison of ${c.sweeps.map((s) => `${s.label}: ${s.plan.cells.length} cells`).join(', ')})\n`);
          continue;
        }
        const plan = await loadPlan(file, project, (options.set as string[] | undefined) ?? [], io.cwd);
        io.stdout.write(`${file}: ok (${plan.cells.length} cells: ${cellsInWords(plan)}; ${plan.generator.plugin} + ${plan.classifier.plugin})\n`);
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        failed = true;
        io.stderr.write(`${err instanceof ManifestError ? err.diagnostics.map(formatDiagnostic).join('\n') : `${file}: ${err.message}`}\n`);
      }
    }
    return failed ? EXIT.usage : EXIT.ok;
  },
};
