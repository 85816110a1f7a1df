/**
 * A flaky network in front of a real server, on 127.0.0.1: a seeded share of requests fails
 * transiently in one of three ways — a 503 without reaching the server, a connection reset
 * without reaching it, or the server's reply lost after it applied the call. Bounded: it serves
 * only while the test holds it open, and forwards nowhere but the one target.
 */
import http from 'node:http';
import { createRng } from '@synthmix/data';

export type Fault = '503' | 'reset' | 'reply-lost';

export interface FlakyProxy {
  url: string;
  /** Faults injected so far, by kind. */
  faults: Record<Fault, number>;
  requests: number;
  close(): Promise<void>;
}

export async function startFlakyProxy(target: string, options: { failRate: number; seed: number }): Promise<FlakyProxy> {
  const random = createRng(options.seed);
  const upstream = new URL(target);
  const faults: Record<Fault, number> = { '503': 0, reset: 0, 'reply-lost': 0 };
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const roll = random();
      // The health check is left alone, so the run starts against a server it can see.
      const fault: Fault | undefined = req.url === '/health' || roll >= options.failRate ? undefined : (['503', 'reset', 'reply-lost'] as const)[Math.floor((roll / options.failRate) * 3)];
      if (fault) faults[fault]++;
      if (fault === '503') {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('injected: service unavailable');
        return;
      }
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      const forward = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          // Applied by the server; the client never hears it.
          if (fault === 'reply-lost') return void req.socket.destroy();
          res.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(body));
        });
      });
      forward.on('error', () => req.socket.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    get requests() {
      return requests;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
