import { BUILTIN_PLUGINS, loadPlugin, UserError } from '@synthmix/core';
import { EXIT, type Command } from '../command.js';
import { findProject } from '../project.js';

export const plugins: Command = {
  name: 'plugins',
  brief: 'List installed plugins and their options',
  summary: 'List the installed generator and classifier plugins and their options.',
  args: [],
  options: { json: { type: 'boolean', description: 'Print JSON (names, versions, option schemas)' } },
  async run({ options, io }) {
    const project = await findProject(io.cwd, io.env);
    const names = { ...BUILTIN_PLUGINS, ...project.config.plugins };
    const out: { ref: string; specifier: string; kind?: string; name?: string; version?: string; description?: string; optionsSchema?: unknown; error?: string }[] = [];
    for (const [ref, specifier] of Object.entries(names)) {
      let entry: (typeof out)[number] = { ref, specifier, error: 'not loadable' };
      for (const kind of ['generator', 'classifier'] as const) {
        try {
          const p = await loadPlugin(ref, kind, project.root, project.config.plugins);
          entry = { ref, specifier, kind, name: p.name, version: p.version, description: p.description, optionsSchema: p.optionsSchema };
          break;
        } catch (err) {
          if (!(err instanceof UserError)) throw err;
          if (!/is a (generator|classifier), but/.test(err.message)) entry = { ref, specifier, error: err.message };
        }
      }
      out.push(entry);
    }
    if (options.json) {
      io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return EXIT.ok;
    }
    for (const p of out) {
      if (p.error) {
        io.stdout.write(`${p.ref} (${p.specifier}): ${p.error}\n\n`);
        continue;
      }
      io.stdout.write(`${p.ref}  ${p.kind}  ${p.name}@${p.version}  (${p.specifier})\n  ${p.description ?? ''}\n  options:\n`);
      const props = (p.optionsSchema as { properties?: Record<string, { type?: string; enum?: unknown[]; default?: unknown; description?: string }> }).properties ?? {};
      for (const [k, s] of Object.entries(props)) {
        const required = ((p.optionsSchema as { required?: string[] }).required ?? []).includes(k);
        const fallback = s.default !== undefined ? `default ${JSON.stringify(s.default)}` : required ? 'required' : /\(default: [^)]*\)/.test(s.description ?? '') ? 'see note' : 'optional';
        io.stdout.write(`    ${k.padEnd(16)} ${(s.type ?? (s.enum ? s.enum.join('|') : '')).padEnd(8)} ${fallback}${s.description ? `  ${s.description}` : ''}\n`);
      }
      io.stdout.write('\n');
    }
    return EXIT.ok;
  },
};
