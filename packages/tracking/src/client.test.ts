import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, MlflowClient, MlflowValidationError, optionsFromEnv } from './client.js';
import { startTestServer } from './test-server.js';

let server: Awaited<ReturnType<typeof startTestServer>>;
let client: MlflowClient;
beforeAll(async () => {
  server = await startTestServer();
  client = new MlflowClient({ trackingUri: server.url });
});
afterAll(async () => {
  await server?.stop();
});

describe('MlflowClient against a real MLflow server', () => {
  it('creates experiments idempotently and runs with tags', async () => {
    const id = await client.ensureExperiment('client-test');
    expect(await client.ensureExperiment('client-test')).toBe(id);
    const run = await client.createRun({ experimentId: id, runName: 'first', tags: { 'mlflow.note.content': 'hello' } });
    const got = await client.getRun(run.run_id);
    expect(got.info.run_name).toBe('first');
    expect(got.data.tags?.find((t) => t.key === 'mlflow.note.content')?.value).toBe('hello');
    await client.updateRun(run.run_id, 'FINISHED');
    expect((await client.getRun(run.run_id)).info.status).toBe('FINISHED');
  });

  it('chunks a batch past the server limits and every step arrives once', async () => {
    const id = await client.ensureExperiment('client-test');
    const run = await client.createRun({ experimentId: id, runName: 'big' });
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: 'loss', value: 1 / (i + 1), timestamp: 1, step: i }));
    const params = Array.from({ length: 230 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    await client.logBatch(run.run_id, { metrics, params });
    const history = await client.getMetricHistory(run.run_id, 'loss');
    expect(history).toHaveLength(2500);
    expect(new Set(history.map((m) => m.step)).size).toBe(2500);
    expect((await client.getRun(run.run_id)).data.params).toHaveLength(230);
  });

  it('rejects bad keys client-side and reports what it truncates', async () => {
    const id = await client.ensureExperiment('client-test');
    const run = await client.createRun({ experimentId: id, runName: 'limits' });
    await expect(client.logBatch(run.run_id, { metrics: [{ key: 'acc@best', value: 1, timestamp: 1, step: 0 }] })).rejects.toThrow(new MlflowValidationError('metric key "acc@best" has characters MLflow rejects; allowed: letters, digits, _ - . space / :'));
    await expect(client.logBatch(run.run_id, { params: [{ key: 'k'.repeat(251), value: 'v' }] })).rejects.toThrow(`param key "${'k'.repeat(40)}…" is 251 characters; MLflow allows 250`);
    await expect(client.logBatch(run.run_id, { metrics: [{ key: 'x', value: 1, timestamp: 1, step: 0.5 }] })).rejects.toThrow('metric x: step must be a whole number, found 0.5');
    await client.logBatch(run.run_id, { params: [{ key: 'long', value: 'x'.repeat(7000) }] });
    expect(client.truncations).toContain(`param long: 7000 characters cut to ${LIMITS.paramValueLength}`);
    expect((await client.getRun(run.run_id)).data.params?.[0].value).toHaveLength(6000);
  });

  it('uploads, lists and downloads artifacts through the artifact proxy', async () => {
    const id = await client.ensureExperiment('client-test');
    const run = await client.createRun({ experimentId: id, runName: 'artifacts' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-art-'));
    fs.mkdirSync(path.join(dir, 'model'));
    fs.writeFileSync(path.join(dir, 'model', 'model.json'), '{"a":1}');
    fs.writeFileSync(path.join(dir, 'predictions.csv'), 'id,label\n1,tumor\n');
    await client.logArtifact(run, path.join(dir, 'predictions.csv'));
    await client.logArtifacts(run, path.join(dir, 'model'), 'model');
    expect((await client.listArtifacts(run)).map((f) => f.path).sort()).toEqual(['model', 'predictions.csv']);
    expect((await client.listArtifacts(run, 'model')).map((f) => f.path)).toEqual(['model/model.json']);
    expect((await client.downloadArtifact(run, 'predictions.csv')).toString()).toBe('id,label\n1,tumor\n');
  });

  it('retries 503 honouring Retry-After, and gives up on 4xx at once', async () => {
    // A fault-injecting proxy in front of the real server: the first two calls get 503.
    let failures = 2;
    const target = new URL(server.url);
    const proxy = http.createServer((req, res) => {
      if (failures-- > 0) {
        res.writeHead(503, { 'Retry-After': '0' }).end('{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}');
        return;
      }
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const waits: number[] = [];
    const viaProxy = new MlflowClient({ trackingUri: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`, sleep: async (ms) => void waits.push(ms) });
    const id = await viaProxy.ensureExperiment('client-test');
    expect(id).toBe(await client.ensureExperiment('client-test'));
    expect(waits).toEqual([0, 0]);
    await expect(viaProxy.getRun('does-not-exist')).rejects.toThrow(/404|RESOURCE_DOES_NOT_EXIST/);
    proxy.close();
  });

  it('reads the Python client\'s environment', () => {
    expect(optionsFromEnv({})).toBeUndefined();
    expect(optionsFromEnv({ MLFLOW_TRACKING_URI: 'http://h:5000', MLFLOW_TRACKING_TOKEN: 't', MLFLOW_HTTP_REQUEST_MAX_RETRIES: '2', MLFLOW_HTTP_REQUEST_TIMEOUT: '5' })).toEqual({
      trackingUri: 'http://h:5000', username: undefined, password: undefined, token: 't', maxRetries: 2, backoffFactor: undefined, backoffJitter: undefined, timeoutSeconds: 5,
    });
    expect(() => new MlflowClient({ trackingUri: 'file:///tmp/mlruns' })).toThrow('tracking URI "file:///tmp/mlruns" is not an http(s) URL; synthmix talks to an MLflow tracking server');
  });
});
