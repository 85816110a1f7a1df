import { describe, expect, it } from 'vitest';
import type { Manifest } from '@synthmix/core';
import { refusedSummary, resolveTrackingUri } from './tracking.js';
import type { Project } from './project.js';

const project = (trackingUri?: string) => ({ root: '/p', config: { root: '/p', trackingUri }, cacheDir: '/p/.synthmix/cache', mlflowDir: '/p/.synthmix/mlflow' }) as Project;
const plan = (uri?: string) => ({ manifest: { tracking: { enabled: true, uri } } as Manifest });

describe('resolveTrackingUri', () => {
  it('takes the flag, then MLFLOW_TRACKING_URI, then the manifest, then the project config', () => {
    expect(resolveTrackingUri(project('http://config'), { MLFLOW_TRACKING_URI: 'http://env' }, plan('http://manifest'), 'http://flag')).toEqual({ uri: 'http://flag', source: 'flag' });
    expect(resolveTrackingUri(project('http://config'), { MLFLOW_TRACKING_URI: 'http://env' }, plan('http://manifest'))).toEqual({ uri: 'http://env', source: 'environment' });
    expect(resolveTrackingUri(project('http://config'), {}, plan('http://manifest'))).toEqual({ uri: 'http://manifest', source: 'manifest' });
    expect(resolveTrackingUri(project('http://config'), {}, plan())).toEqual({ uri: 'http://config', source: 'project config' });
    // No plan (sync, mlflow, doctor): the same order without the manifest.
    expect(resolveTrackingUri(project('http://config'), { MLFLOW_TRACKING_URI: 'http://env' })).toEqual({ uri: 'http://env', source: 'environment' });
    expect(resolveTrackingUri(project(), {})).toBeUndefined();
  });
});

describe('refusedSummary', () => {
  it('says what was not logged where and how to replay it', () => {
    const refused = Array.from({ length: 7 }, (_, i) => ({ server: 'http://b:5000', op: 'log', run: `sweep-1:cell:c${i}`, error: 'INVALID_PARAMETER_VALUE bad\nmore' }));
    expect(refusedSummary(refused, '/runs/demo')).toBe(`MLflow refused 7 call(s); they are not logged there but kept in /runs/demo/mlflow/spool.jsonl:
  http://b:5000: 7 call(s)
    log sweep-1:cell:c0: INVALID_PARAMETER_VALUE bad
    log sweep-1:cell:c1: INVALID_PARAMETER_VALUE bad
    log sweep-1:cell:c2: INVALID_PARAMETER_VALUE bad
    log sweep-1:cell:c3: INVALID_PARAMETER_VALUE bad
    log sweep-1:cell:c4: INVALID_PARAMETER_VALUE bad
    … and 2 more
Replay them to a server with: synthmix sync /runs/demo --tracking-uri <url>`);
  });
});
