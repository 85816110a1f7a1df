import { formatDiagnostic, ManifestError, UserError } from '@synthmix/core';
import { EXIT, type Command } from '../command.js';
import { findProject, loadPlan } from '../project.js';

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
        const plan = await loadPlan(file, project, (options.set as string[] | undefined) ?? [], io.cwd);
        io.stdout.write(`${file}: ok (${plan.cells.length} cells: ${plan.ratios.length} ratios × ${plan.seeds.length} seeds; ${plan.generator.plugin} + ${plan.classifier.plugin})\n`);
      } catch (err) {
        if (!(err instanceof UserError)) throw err;
        failed = true;
        io.stderr.write(`${err instanceof ManifestError ? err.diagnostics.map(formatDiagnostic).join('\n') : `${file}: ${err.message}`}\n`);
      }
    }
    return failed ? EXIT.usage : EXIT.ok;
  },
};
