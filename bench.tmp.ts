import { loadBackend, createRng, normalArray } from './packages/core/src/index.ts';
import { Compiler } from './packages/compile/src/index.ts';
import { Unet, buildDdpmStep, trainDdpmOneStep, alphasCumprod, buildDdimStep, ddimSample } from './packages/gen-ddpm/src/index.ts';
const { tf } = await loadBackend('tensorflow');
const abar = alphasCumprod('linear', 1000);
for (const mode of ['off', 'on'] as const) {
  const unet = new Unet(tf, { size: 64, channels: 3, widths: [16, 32, 64], timeDim: 32, seed: 1 });
  const ema = new Map([...unet.params].map(([k, v]) => [k, tf.variable(v.clone(), false)]));
  const model = { unet, ema, optimizer: tf.train.adam(2e-4) };
  const c = new Compiler(tf, { mode, owner: 'bench', warn: console.warn });
  const step = buildDdpmStep(tf, c, model as never, 0.995);
  const x0 = tf.randomUniform([32, 64, 64, 3], -1, 1);
  const rnd = createRng(1);
  const once = () => { const t = Int32Array.from({ length: 32 }, () => Math.floor(rnd() * 1000)); const l = trainDdpmOneStep(tf, model as never, x0, t, normalArray(rnd, 32 * 64 * 64 * 3), abar, 0.995, step); l.dataSync(); l.dispose(); };
  for (let i = 0; i < 3; i++) once();
  let t0 = performance.now(); const n = 6;
  for (let i = 0; i < n; i++) once();
  console.log(mode, 'train', (n * 32 / ((performance.now() - t0) / 1000)).toFixed(1), 'img/s', step.counts);
  const s = buildDdimStep(tf, c, unet);
  ddimSample(tf, unet, 32, abar, 5, 1, s).dispose();
  t0 = performance.now();
  ddimSample(tf, unet, 32, abar, 25, 2, s).dispose();
  console.log(mode, 'sample 32 images x 25 steps', ((performance.now() - t0) / 1000).toFixed(2), 's', s.counts);
  c.dispose();
}
