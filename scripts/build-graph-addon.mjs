// Builds @synthmix/compile's native addon (packages/compile/native) against the libtensorflow
// that setup-tensorflow.mjs provisioned for tfjs-node (or tfjs-node-gpu with --gpu), so both
// bindings load the same shared libraries. Fails loudly, like setup-tensorflow.mjs.
//
// Usage: node scripts/build-graph-addon.mjs [--gpu] [--force]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = path.join(ROOT, 'packages/compile/native');
const ADDON = path.join(NATIVE, 'build/Release/synthmix_graph.node');

function fail(what, hint) {
  process.stderr.write(`\nbuild-graph-addon: ERROR: ${what}\n${hint ? `  ${hint}\n` : ''}`);
  process.exit(1);
}
const log = (msg) => process.stderr.write(`build-graph-addon: ${msg}\n`);

function probe() {
  const r = spawnSync(process.execPath, ['-e', `const b=require(${JSON.stringify(ADDON)});process.stdout.write(b.version())`], { encoding: 'utf8', env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  return r.status === 0 ? { ok: true, version: r.stdout.trim() } : { ok: false, error: (r.stderr || '').trim().split('\n').filter((l) => /Error/.test(l))[0] ?? `exit ${r.status}` };
}

export function main(argv) {
  const gpu = argv.includes('--gpu');
  const force = argv.includes('--force');
  const require = createRequire(path.join(ROOT, 'package.json'));
  const pkg = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  let deps;
  try {
    deps = path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'deps');
  } catch {
    fail(`${pkg} is not installed`, 'Run `npm run setup` first.');
  }
  if (!fs.existsSync(path.join(deps, 'include/tensorflow/c/c_api.h')) || !fs.existsSync(path.join(deps, 'lib'))) {
    fail(`no libtensorflow headers and libraries in ${deps}`, `Run \`node scripts/setup-tensorflow.mjs${gpu ? ' --gpu' : ''}\` first (it stages them there).`);
  }
  const link = path.join(NATIVE, 'deps');
  const current = fs.existsSync(link) ? fs.realpathSync(link) : undefined;
  if (!force && current === fs.realpathSync(deps) && fs.existsSync(ADDON)) {
    const p = probe();
    if (p.ok) return log(`the graph addon already works (libtensorflow ${p.version})`);
    log(`the existing addon does not load (${p.error}); rebuilding`);
  }
  fs.rmSync(link, { force: true, recursive: true });
  fs.symlinkSync(deps, link);
  for (const tool of ['make', 'g++']) {
    if (spawnSync(tool, ['--version']).status !== 0) fail(`${tool} is not installed; it is needed to compile the graph addon`, 'On Debian/Ubuntu: apt-get install build-essential');
  }
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    fail('node-gyp is not installed', 'Run `npm ci` again (it is a devDependency).');
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const args = [gyp, 'rebuild'];
  // node-gyp would otherwise download Node's headers, which offline machines cannot.
  if (fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) args.push(`--nodedir=${prefix}`);
  log(`building the graph addon against ${fs.realpathSync(deps)}`);
  const r = spawnSync(process.execPath, args, { cwd: NATIVE, encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /error|ERR!/.test(l)).slice(0, 8).join('\n  ');
    fail('node-gyp could not build the graph addon', tail);
  }
  const p = probe();
  if (!p.ok) fail('the graph addon was built but does not load', p.error);
  log(`ok: graph addon built (libtensorflow ${p.version})`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
