// A small HTTP(S) client for tests that talk to real processes over TCP: a chosen local address (so that
// nginx sees different client IPs on loopback), a private CA for the self-signed certificate, raw headers
// (Set-Cookie, Content-Encoding) and raw bodies. Browser is a cookie jar with a CSRF-aware form helper.
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import { gunzipSync } from 'node:zlib';

export type HttpResponse = { status: number; headers: IncomingHttpHeaders; body: Buffer; text: string };

export type RequestOptions = {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Bind the client socket to this address (any 127.x.y.z works on Linux loopback). */
  localAddress?: string;
  /** Trusted CA (PEM) for https; the connection fails on any other certificate. */
  ca?: string | Buffer;
  /** SNI and certificate name for https (the URL may be an IP). */
  servername?: string;
  timeoutMs?: number;
};

export function httpRequest(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const headers: Record<string, string> = { connection: 'close', ...options.headers };
  if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request({
      protocol: target.protocol, hostname: target.hostname, port: target.port, path: `${target.pathname}${target.search}`,
      method: options.method ?? 'GET', headers, localAddress: options.localAddress, agent: false,
      ...(secure ? { ca: options.ca, servername: options.servername, rejectUnauthorized: true } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const plain = res.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: plain.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(new Error(`timeout: ${options.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The form's CSRF token, or '' on a form used before login, which carries none (S14). */
export function csrfFrom(html: string): string {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

/**
 * One visitor: a cookie jar shared by every base URL it talks to (a browser keeps cookies per host, not per
 * port, which is what lets one visitor move between app processes here), and fixed request options.
 */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly defaults: RequestOptions & { headers?: Record<string, string> } = {}) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...this.defaults.headers, ...options.headers };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    const res = await httpRequest(url, { ...this.defaults, ...options, headers });
    for (const line of [res.headers['set-cookie'] ?? []].flat()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  get(url: string, options: RequestOptions = {}) {
    return this.request(url, options);
  }

  post(url: string, fields: Record<string, string>, options: RequestOptions = {}) {
    return this.request(url, {
      ...options, method: 'POST', body: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
    });
  }

  /** GETs the form page at formUrl, then POSTs the fields with that page's CSRF token to postUrl. */
  async submit(formUrl: string, fields: Record<string, string>, postUrl = formUrl.split('?')[0]!) {
    const page = await this.get(formUrl);
    if (page.status !== 200) throw new Error(`form page ${formUrl} answered ${page.status}`);
    return this.post(postUrl, { _csrf: csrfFrom(page.text), ...fields });
  }
}
