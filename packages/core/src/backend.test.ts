import { describe, expect, it } from 'vitest';
import { decideBackend, SLOW_CPU_WARNING, type MachineFacts } from './backend.js';
import { UserError } from './errors.js';

const gpuBox: MachineFacts = { cudaDevices: ['GPU 0: NVIDIA A100'], gpuPackage: true, tensorflowPackage: true };
const cpuBox: MachineFacts = { cudaDevices: [], cudaProblem: 'no NVIDIA driver loaded (/proc/driver/nvidia/version is absent)', gpuPackage: false, tensorflowPackage: true };
const bare: MachineFacts = { cudaDevices: [], cudaProblem: 'no NVIDIA driver loaded', gpuPackage: false, tensorflowPackage: false };

describe('decideBackend', () => {
  it('auto prefers a usable GPU, then libtensorflow, then pure JS with a warning', () => {
    expect(decideBackend('auto', gpuBox).choice).toBe('gpu');
    expect(decideBackend('auto', cpuBox)).toEqual({ choice: 'tensorflow', reasons: ['auto: no GPU (@tensorflow/tfjs-node-gpu is not set up (npm run setup:tensorflow -- --gpu))', 'auto: libtensorflow binding found'] });
    expect(decideBackend('auto', bare)).toMatchObject({ choice: 'cpu', warning: SLOW_CPU_WARNING });
  });

  it('auto does not pick the GPU package without a CUDA device', () => {
    expect(decideBackend('auto', { ...gpuBox, cudaDevices: [], cudaProblem: 'nvidia-smi lists no GPU' })).toMatchObject({ choice: 'tensorflow', reasons: ['auto: no GPU (nvidia-smi lists no GPU)', 'auto: libtensorflow binding found'] });
  });

  it('auto does not pick a CUDA device without the GPU package', () => {
    expect(decideBackend('auto', { ...gpuBox, gpuPackage: false }).choice).toBe('tensorflow');
  });

  it('fails loudly when an explicit request cannot be met', () => {
    expect(() => decideBackend('gpu', cpuBox)).toThrow(new UserError('backend "gpu" was requested but is not usable: @tensorflow/tfjs-node-gpu is not set up (npm run setup:tensorflow -- --gpu)'));
    expect(() => decideBackend('tensorflow', bare)).toThrow(/has no native binding; run `npm run setup:tensorflow`/);
  });

  it('honours explicit requests', () => {
    expect(decideBackend('gpu', gpuBox).choice).toBe('gpu');
    expect(decideBackend('tensorflow', gpuBox).choice).toBe('tensorflow');
    expect(decideBackend('cpu', gpuBox)).toMatchObject({ choice: 'cpu', warning: SLOW_CPU_WARNING });
  });
});
