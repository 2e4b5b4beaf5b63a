// The part of autocannon 9's API that the deploy tests and the benchmark use (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { ConnectionOptions } from 'node:tls';

  namespace autocannon {
    type Request = {
      method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer;
      /** Called before each send of this request; returns the request to send. */
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request;
    };
    type Options = {
      url: string;
      connections?: number;
      duration?: number;
      amount?: number;
      timeout?: number;
      pipelining?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      requests?: Request[];
      tlsOptions?: ConnectionOptions;
      servername?: string;
      title?: string;
    };
    type Histogram = {
      average: number; mean: number; stddev: number; min: number; max: number; total: number;
      p50: number; p75: number; p90: number; p97_5: number; p99: number; p99_9: number;
    };
    type Result = {
      title?: string;
      url: string;
      requests: Histogram & { sent: number };
      latency: Histogram;
      throughput: Histogram;
      duration: number;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number;
      statusCodeStats?: Record<string, { count: number }>;
    };
    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
    }
  }
  function autocannon(options: autocannon.Options): autocannon.Instance;
  export default autocannon;
}
