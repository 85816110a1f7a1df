import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packageVersion } from './plugin-kit.js';
import { checkPluginShape, InvalidPluginError, loadPlugin, PluginLoadError, PluginNotInstalledError, resolvePluginRef } from './plugins.js';

const fixtures = path.join(import.meta.dirname, '__fixtures__');

describe('plugin loader', () => {
  it('resolves short names, package names and paths', () => {
    expect(resolvePluginRef('dcgan', '/x').specifier).toBe('@synthmix/gan-dcgan');
    expect(resolvePluginRef('@acme/gen', '/x').specifier).toBe('@acme/gen');
    expect(resolvePluginRef('./p.js', '/x').specifier).toBe('/x/p.js');
    expect(resolvePluginRef('ddpm', '/x', { ddpm: '@acme/ddpm' }).specifier).toBe('@acme/ddpm');
  });

  it('loads the built-in plugins by short name', async () => {
    const g = await loadPlugin('dcgan', 'generator', fixtures);
    expect(g.name).toBe('synthmix:dcgan');
    const c = await loadPlugin('cnn-tumor', 'classifier', fixtures);
    expect(c.name).toBe('synthmix:cnn-tumor');
  });

  it('loads a plugin by path', async () => {
    const g = await loadPlugin('./mean-generator.ts', 'generator', fixtures);
    expect(g.name).toBe('test:mean-generator');
  });

  it('says "not installed" for a missing package or file, with a hint', async () => {
    await expect(loadPlugin('cnn-tumour', 'classifier', fixtures)).rejects.toThrow(new PluginNotInstalledError('plugin "cnn-tumour" is not installed (no package cnn-tumour); did you mean "cnn-tumor"?'));
    await expect(loadPlugin('./nope.js', 'generator', fixtures)).rejects.toThrow(new PluginNotInstalledError(`plugin "./nope.js" is not installed (no file at ${fixtures}/nope.js); built-in plugins: dcgan, ddpm, cnn-tumor`));
  });

  it('says "threw while loading" when the module itself fails', async () => {
    await expect(loadPlugin('./throws-on-load.ts', 'generator', fixtures)).rejects.toThrow(new PluginLoadError('plugin "./throws-on-load.ts" threw while loading: cannot initialise the frobnicator'));
  });

  it('says "not a valid plugin" and what is missing', async () => {
    await expect(loadPlugin('./not-a-generator.ts', 'generator', fixtures)).rejects.toThrow(new InvalidPluginError('plugin "./not-a-generator.ts" is not a valid generator: missing `generate`'));
    await expect(loadPlugin('cnn-tumor', 'generator', fixtures)).rejects.toThrow(new InvalidPluginError('plugin "cnn-tumor" is not a valid generator: it is a classifier, but a generator is needed here'));
  });

  it('checks shapes of plain values', () => {
    expect(checkPluginShape(null, 'classifier')).toEqual(['the default export must be a plugin object or a factory returning one, found null']);
    expect(checkPluginShape({ kind: 'classifier' }, 'classifier')).toEqual(['missing `name`', 'missing `version`', 'missing `optionsSchema`', 'missing `fit`']);
  });
});

describe('packageVersion', () => {
  it("reads a plugin's version from the package.json above its module (src/ or dist/)", () => {
    const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-pkg-'));
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: '@acme/gen', version: '3.1.4' }));
    expect(packageVersion(pathToFileURL(path.join(pkg, 'dist', 'index.js')).href)).toBe('3.1.4');
    fs.rmSync(pkg, { recursive: true });
  });
});
