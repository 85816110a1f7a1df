/** The end-to-end tests' sweep: phantom slices at 16 × 16, a tiny DCGAN, three ratios, one seed. */
import fs from 'node:fs';
import path from 'node:path';

export interface TinySweep {
  name: string;
  /** Folder the manifest is written to. */
  dir: string;
  /** The classifier section's lines (plugin and options), indented by two spaces. */
  classifier?: string;
  generatorEpochs?: number;
  checkpointEvery?: number;
  experiment?: string;
  description?: string;
}

export const CNN = '  plugin: cnn-tumor\n  options: { epochs: 2, filters: [8, 16], denseUnits: 16 }';

/** Writes `<dir>/<name>.yaml` and returns its path. */
export function writeTinySweep(s: TinySweep): string {
  const file = path.join(s.dir, `${s.name}.yaml`);
  fs.writeFileSync(file, `name: ${s.name}
${s.description ? `description: ${s.description}\n` : ''}seeds: [1]
backend: tensorflow
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 120
  imageSize: 16
  testPerClass: 40
generator:
  plugin: dcgan
  options: { epochs: ${s.generatorEpochs ?? 2}, ngf: 8, ndf: 8, batchSize: 16, latentDim: 16, checkpointEvery: ${s.checkpointEvery ?? 1} }
classifier:
${s.classifier ?? CNN}
ratios: [0, 0.5, 1]
trainingSetSize: 80
tracking:
  experiment: ${s.experiment ?? `${s.name}-${Date.now()}`}
`);
  return file;
}
