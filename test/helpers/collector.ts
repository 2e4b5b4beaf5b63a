// A local recording collector for the analytics tests: answers Metrica's /collect and GA4's /mp/collect over real
// HTTP and keeps every request (path, query, form or JSON body); failNext / failPath make it answer 503.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Collected = { path: string; query: Record<string, string>; form: Record<string, string>; json: unknown; raw: string };

export async function startCollector() {
  const requests: Collected[] = [];
  let failures = 0;
  let failing: { path: string; left: number } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://collector');
      const failHere = failing && url.pathname === failing.path && failing.left > 0;
      if (failures > 0 || failHere) {
        if (failHere) failing!.left--;
        else failures--;
        res.writeHead(503).end();
        return;
      }
      const type = req.headers['content-type'] ?? '';
      requests.push({
        path: url.pathname, query: Object.fromEntries(url.searchParams), raw,
        form: type.startsWith('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw)) : {},
        json: type.startsWith('application/json') ? JSON.parse(raw) : null,
      });
      res.writeHead(url.pathname.endsWith('/mp/collect') ? 204 : 200, { 'content-type': 'text/plain' }).end('<!-- OK -->');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url, requests,
    failNext: (n: number) => { failures = n; },
    /** Answers the next n requests to this path 503. */
    failPath: (path: string, n: number) => { failing = { path, left: n }; },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
export type Collector = Awaited<ReturnType<typeof startCollector>>;
