#!/usr/bin/env node
// Provision libtensorflow for @tensorflow/tfjs-node (or -gpu) and build its native binding.
//
// Why this exists: tfjs-node's own install script downloads libtensorflow 2.9.1 from a storage
// host that air-gapped machines (ours, CI, many clusters) cannot reach. The TensorFlow wheel on
// PyPI ships the same C API (libtensorflow_cc.so.2 + libtensorflow_framework.so.2, headers under
// tensorflow/include), so we take it from there and compile the binding with node-gyp.
//
// Order of sources, first that works wins:
//   1. --libtensorflow DIR or $SYNTHMIX_LIBTENSORFLOW: a libtensorflow you already have, either the
//      official tarball layout (DIR/lib, DIR/include) or an installed wheel's `tensorflow/` folder.
//   2. tfjs-node's own installer (official download), unless --from-wheel or offline.
//   3. The TensorFlow wheel from PyPI via pip (cached in .cache/tensorflow); with --gpu, a venv
//      with tensorflow[and-cuda], whose CUDA 12 / cuDNN 9 libraries come from PyPI too.
// It never falls back to pure JavaScript: every failure ends with exit code 1 and a message that
// says what is missing.
//
// Usage: node scripts/setup-tensorflow.mjs [--gpu] [--from-wheel] [--libtensorflow DIR] [--force]

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TF_WHEEL_VERSION = process.env.SYNTHMIX_TF_VERSION ?? '2.21.0';

function parseArgs(argv) {
  const args = { gpu: false, fromWheel: false, force: false, libtensorflow: process.env.SYNTHMIX_LIBTENSORFLOW };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--gpu') args.gpu = true;
    else if (a === '--from-wheel') args.fromWheel = true;
    else if (a === '--force') args.force = true;
    else if (a === '--libtensorflow') args.libtensorflow = argv[++i];
    else if (a === '--help' || a === '-h') args.help = true;
    else fail(`unknown option ${a}`, 'Run with --help to see the options.');
  }
  return args;
}

function fail(what, hint) {
  process.stderr.write(`\nsetup-tensorflow: ERROR: ${what}\n${hint ? `  ${hint}\n` : ''}`);
  process.exit(1);
}

function log(msg) {
  process.stderr.write(`setup-tensorflow: ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error && r.error.code === 'ENOENT') return { ok: false, missing: true, out: '', err: `${cmd} not found` };
  return { ok: r.status === 0, out: r.stdout ?? '', err: r.stderr ?? '', status: r.status };
}

/** The tfjs-node package folder as resolved from @synthmix/core, which depends on it. */
function findTfjsNode(gpu) {
  const name = gpu ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const require = createRequire(path.join(ROOT, 'packages/core/package.json'));
  try {
    return { name, dir: path.dirname(require.resolve(`${name}/package.json`)) };
  } catch {
    fail(`${name} is not installed`, 'Run `npm install` in the repository root first.');
  }
}

function bindingPath(pkgDir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const modulePath = pkg.binary.module_path.replace('{napi_build_version}', String(Math.min(8, Number(process.versions.napi))));
  return path.join(pkgDir, modulePath, 'tfjs_binding.node');
}

/** Loads the package in a child process; returns the TensorFlow version or an error text. */
function probe(name) {
  const code = `const tf=require(${JSON.stringify(name)});` +
    `const b=tf.backend();process.stdout.write(JSON.stringify({backend:tf.getBackend(),tf:b.binding&&b.binding.TF_Version}))`;
  const require = createRequire(path.join(ROOT, 'packages/core/package.json'));
  const r = run(process.execPath, ['-e', code], { cwd: path.dirname(require.resolve(`${name}/package.json`)), env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  if (!r.ok) return { ok: false, error: (r.err || r.out).trim().split('\n').slice(-6).join('\n') };
  try {
    const info = JSON.parse(r.out.trim().split('\n').pop());
    return info.backend === 'tensorflow' ? { ok: true, ...info } : { ok: false, error: `backend is ${info.backend}` };
  } catch {
    return { ok: false, error: r.out };
  }
}

/** Finds lib + include inside a folder that is either a libtensorflow tarball or a wheel's tensorflow/. */
function libtensorflowLayout(dir) {
  const abs = path.resolve(dir);
  const tarball = { lib: path.join(abs, 'lib'), include: path.join(abs, 'include') };
  if (fs.existsSync(path.join(tarball.lib, 'libtensorflow.so.2')) && fs.existsSync(path.join(tarball.include, 'tensorflow/c/c_api.h'))) {
    return { ...tarball, main: 'libtensorflow.so.2', framework: 'libtensorflow_framework.so.2' };
  }
  if (fs.existsSync(path.join(abs, 'libtensorflow_cc.so.2')) && fs.existsSync(path.join(abs, 'include/tensorflow/c/c_api.h'))) {
    return { lib: abs, include: path.join(abs, 'include'), main: 'libtensorflow_cc.so.2', framework: 'libtensorflow_framework.so.2' };
  }
  return undefined;
}

function cacheDir() {
  return path.resolve(process.env.SYNTHMIX_CACHE_DIR ?? path.join(ROOT, '.cache'), 'tensorflow');
}

function python() {
  for (const candidate of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    if (run(candidate, ['--version']).ok) return candidate;
  }
  fail('no Python found to download the TensorFlow wheel with pip', 'Install Python 3 with pip, or pass --libtensorflow DIR.');
}

/**
 * GPU: a venv with `tensorflow[and-cuda]`, whose wheel brings CUDA 12 and cuDNN 9 as pip
 * packages next to it (site-packages/nvidia/*). libtensorflow finds them through its RUNPATH
 * `$ORIGIN/../nvidia/<pkg>/lib`, which `stage` reproduces with a `deps/nvidia` link.
 */
function fromGpuVenv() {
  const venv = path.join(cacheDir(), `gpu-venv-${TF_WHEEL_VERSION}`);
  const py = path.join(venv, 'bin', 'python');
  const sitePackages = () => run(py, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).out.trim();
  if (!fs.existsSync(path.join(venv, '.complete'))) {
    if (!fs.existsSync(py)) {
      const made = run(python(), ['-m', 'venv', venv]);
      if (!made.ok) fail(`could not create ${venv}`, made.err.trim().split('\n').pop());
    }
    log(`installing tensorflow[and-cuda]==${TF_WHEEL_VERSION} into ${venv} (CUDA 12 and cuDNN from PyPI; several GB once)`);
    const pip = run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', `tensorflow[and-cuda]==${TF_WHEEL_VERSION}`], { stdio: ['ignore', 'inherit', 'pipe'] });
    if (!pip.ok) fail(`pip could not install tensorflow[and-cuda]==${TF_WHEEL_VERSION}`, pip.err.trim().split('\n').slice(-3).join('\n  '));
    fs.writeFileSync(path.join(venv, '.complete'), new Date().toISOString());
  }
  const layout = libtensorflowLayout(path.join(sitePackages(), 'tensorflow'));
  if (!layout) fail(`the tensorflow wheel in ${venv} has no libtensorflow_cc.so.2 or C headers`);
  return layout;
}

/** Downloads (pip caches it) and unpacks the CPU wheel's shared libraries and C headers. */
function fromWheel() {
  const dist = 'tensorflow-cpu';
  const target = path.join(cacheDir(), `${dist}-${TF_WHEEL_VERSION}`);
  const done = path.join(target, '.complete');
  if (fs.existsSync(done)) {
    log(`using cached ${dist} ${TF_WHEEL_VERSION} from ${target}`);
    return libtensorflowLayout(path.join(target, 'tensorflow'));
  }
  const py = python();
  const wheels = path.join(cacheDir(), 'wheels');
  fs.mkdirSync(wheels, { recursive: true });
  log(`downloading ${dist}==${TF_WHEEL_VERSION} from PyPI (about 270 MB once; pip caches it)`);
  // --platform/--python-version make the choice independent of the local interpreter: we only
  // want the shared libraries, which are the same for every cp3xx tag.
  const dl = run(py, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--platform', 'manylinux_2_27_x86_64',
    '--platform', 'manylinux2014_x86_64', '--python-version', '3.11', '-d', wheels, `${dist}==${TF_WHEEL_VERSION}`], { stdio: ['ignore', 'inherit', 'pipe'] });
  if (!dl.ok) fail(`pip could not download ${dist}==${TF_WHEEL_VERSION}`, `${dl.err.trim().split('\n').slice(-3).join('\n  ')}\n  Check that PyPI is reachable, or pass --libtensorflow DIR.`);
  const wheel = fs.readdirSync(wheels).find((f) => f.startsWith(`${dist.replace('-', '_')}-${TF_WHEEL_VERSION}-`) && f.endsWith('.whl'));
  if (!wheel) fail(`pip reported success but no ${dist} wheel is in ${wheels}`);
  log(`unpacking libtensorflow and headers from ${wheel}`);
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { recursive: true });
  const unzip = run(py, ['-c', `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
keep = [n for n in z.namelist() if n.startswith('tensorflow/include/') or n in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2')]
for n in keep: z.extract(n, sys.argv[2])
print(len(keep))
`, path.join(wheels, wheel), target]);
  if (!unzip.ok) fail(`could not unpack ${wheel}`, unzip.err.trim());
  const layout = libtensorflowLayout(path.join(target, 'tensorflow'));
  if (!layout) fail(`${wheel} has no libtensorflow_cc.so.2 or C headers`, 'This TensorFlow version does not ship the C API; set SYNTHMIX_TF_VERSION to another one.');
  fs.writeFileSync(done, JSON.stringify({ dist, version: TF_WHEEL_VERSION, wheel, at: new Date().toISOString() }, null, 2));
  return layout;
}

/** Puts libtensorflow where binding.gyp (and the binding's rpath $ORIGIN/../../deps/lib) expects it. */
function stage(pkgDir, layout) {
  const deps = path.join(pkgDir, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
  const link = (target, name) => fs.symlinkSync(target, path.join(deps, 'lib', name));
  // The linker needs the unversioned names (-ltensorflow, -ltensorflow_framework); the loader
  // needs the SONAMEs, which differ between the official tarball and the wheel.
  link(path.join(layout.lib, layout.main), 'libtensorflow.so');
  link(path.join(layout.lib, layout.framework), 'libtensorflow_framework.so');
  link(path.join(layout.lib, layout.main), layout.main);
  if (layout.main !== 'libtensorflow_framework.so.2') link(path.join(layout.lib, layout.framework), layout.framework);
  fs.symlinkSync(layout.include, path.join(deps, 'include'));
  // A wheel's CUDA libraries (tensorflow[and-cuda]) sit in site-packages/nvidia; libtensorflow's
  // RUNPATH looks in $ORIGIN/../nvidia/<pkg>/lib, and $ORIGIN is deps/lib here.
  const nvidia = path.join(layout.lib, '..', 'nvidia');
  if (fs.existsSync(nvidia)) fs.symlinkSync(path.resolve(nvidia), path.join(deps, 'nvidia'));
}

function nodeHeadersDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const header = path.join(prefix, 'include/node/node_version.h');
  if (fs.existsSync(header) && fs.existsSync(path.join(prefix, 'include/node/node_api.h'))) return prefix;
  return undefined;
}

function buildBinding(pkgDir) {
  for (const tool of ['make', 'g++']) {
    if (!run(tool, ['--version']).ok) fail(`${tool} is not installed; it is needed to compile the TensorFlow binding`, 'On Debian/Ubuntu: apt-get install build-essential');
  }
  const require = createRequire(path.join(pkgDir, 'package.json'));
  let preGyp;
  try {
    preGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp');
  } catch {
    fail('@mapbox/node-pre-gyp (a dependency of tfjs-node) is not installed', 'Run `npm install` again.');
  }
  const nodedir = nodeHeadersDir();
  const args = [preGyp, 'rebuild', '--build-from-source'];
  // node-gyp would otherwise download Node's headers, which offline machines cannot.
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  log(`building the native binding with node-gyp${nodedir ? ` (Node headers from ${nodedir}/include/node)` : ''}`);
  const r = run(process.execPath, args, { cwd: pkgDir });
  if (!r.ok) {
    const tail = (r.err + r.out).trim().split('\n').filter((l) => /error|ERR!/.test(l)).slice(0, 8).join('\n  ');
    fail('node-gyp could not build the TensorFlow binding', `${tail}\n  Node headers: ${nodedir ? `${nodedir}/include/node` : 'not found next to node; node-gyp tried to download them'}`);
  }
}

function tryOfficialInstaller(pkgDir) {
  log('trying tfjs-node\'s own installer (official libtensorflow download)');
  const pkgJson = path.join(pkgDir, 'package.json');
  const saved = fs.readFileSync(pkgJson);
  const r = run(process.execPath, ['scripts/install.js', ...(pkgDir.endsWith('-gpu') ? ['gpu', 'download'] : [])], { cwd: pkgDir, timeout: 15 * 60_000 });
  // The installer rewrites package.json's addon name and does not restore it when it crashes.
  fs.writeFileSync(pkgJson, saved);
  if (!r.ok) {
    const why = (r.err + r.out).match(/(ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|certificate|403|404)[^\n]*/)?.[0] ?? `exit ${r.status}`;
    log(`official download unavailable (${why}); using the PyPI wheel instead`);
    return false;
  }
  return true;
}

export function main(argv) {
  const args = parseArgs(argv);
  if (args.help) {
    process.stdout.write('Usage: node scripts/setup-tensorflow.mjs [--gpu] [--from-wheel] [--libtensorflow DIR] [--force]\n');
    return;
  }
  const { name, dir } = findTfjsNode(args.gpu);
  if (!args.force && fs.existsSync(bindingPath(dir))) {
    const p = probe(name);
    if (p.ok) {
      log(`${name} already works: backend ${p.backend}, TensorFlow ${p.tf}`);
      return;
    }
    log(`existing binding does not load (${p.error.split('\n').pop()}); rebuilding`);
  }
  let layout;
  if (args.libtensorflow) {
    layout = libtensorflowLayout(args.libtensorflow);
    if (!layout) fail(`no libtensorflow found in ${args.libtensorflow}`, 'Expected lib/libtensorflow.so.2 + include/tensorflow/c/c_api.h (official tarball) or libtensorflow_cc.so.2 + include/ (a TensorFlow wheel\'s tensorflow/ folder).');
    log(`using libtensorflow from ${args.libtensorflow}`);
  } else if (!args.gpu && !args.fromWheel && process.env.SYNTHMIX_OFFLINE !== '1' && tryOfficialInstaller(dir)) {
    layout = null;
  } else {
    // The official GPU download is libtensorflow 2.9.1 for CUDA 11.2, which CUDA 12 machines cannot
    // run; the GPU route is always the wheel with its pip CUDA libraries.
    layout = args.gpu ? fromGpuVenv() : fromWheel();
  }
  if (layout) {
    stage(dir, layout);
    buildBinding(dir);
  }
  const p = probe(name);
  if (!p.ok) fail(`${name} was built but does not load`, p.error);
  fs.writeFileSync(path.join(dir, 'deps', 'synthmix-provenance.json'), JSON.stringify({ package: name, tensorflow: p.tf, source: args.libtensorflow ? 'user' : layout ? 'pypi-wheel' : 'official-download', at: new Date().toISOString() }, null, 2));
  log(`ok: ${name} uses libtensorflow ${p.tf} (backend "${p.backend}")`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
