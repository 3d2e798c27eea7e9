/**
 * Load over loopback with autocannon (programmatic API). Requests are prebuilt (no
 * per-request set-up, so the load generator spends as little CPU as it can); each
 * connection cycles through the list, which spreads the requests over many users' tokens.
 *
 * Every response is looked at, cheaply: autocannon already holds each body as a string,
 * so `onResponse` counts bodies carrying `"errors"`, reads `x-sql-statements` and the body
 * size. Latencies are taken from autocannon's per-response event (sub-millisecond), not
 * its 1 ms histogram.
 */
import type { IncomingHttpHeaders } from "node:http";
import autocannon from "autocannon";
import { type CpuUse, cpuBetween, snapshot, type Watched } from "./cpu.js";
import { onCleanup } from "./lifecycle.js";

/** One prebuilt HTTP request (always a POST). */
export interface HttpRequest {
  /** What the request is (e.g. `datasets`, `login`), for checks and messages. */
  kind: string;
  path: string;
  body: string;
  headers: Record<string, string>;
}

export interface LoadSpec {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  requests: readonly HttpRequest[];
  connections: number;
  /** Seconds of load at the start of the run that are not measured. */
  warmupSeconds: number;
  /** Seconds measured after the warm-up. */
  seconds: number;
  /** Processes whose CPU time over the measured window is reported. */
  watch?: Watched;
  /** Requests per second over all connections (a steady rate); as fast as answered when absent. */
  overallRate?: number;
}

export interface LoadResult {
  responses: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  /** Responses whose body has an `"errors"` member. */
  graphqlErrors: number;
  /** Connection errors and timeouts (autocannon's `errors`). */
  connectionErrors: number;
  /** `x-sql-statements` over the responses that carried it; null when none did. */
  statements: { mean: number; min: number; max: number } | null;
  meanBodyBytes: number;
  /** CPU over the measured window, in percent of one core, and the server's and PostgreSQL's CPU time per response. */
  cpu: CpuUse & { serverMsPerRequest: number; postgresMsPerRequest: number };
  /** The first response with errors or a non-2xx status, shortened, to say what went wrong. */
  firstError?: string;
}

export interface RunningLoad {
  done: Promise<LoadResult>;
  /** Ends the run early; `done` then resolves with what was measured so far. */
  stop(): void;
}

/**
 * One continuous run: the first `warmupSeconds` are load but not measured (a separate
 * warm-up run would leave its in-flight requests, logins queued for bcrypt above all,
 * to be served during the measured one).
 */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return startLoad(spec, spec.warmupSeconds + spec.seconds, spec.warmupSeconds).done;
}

/**
 * Load for `seconds` (a very long run can be ended with `stop`), measured from
 * `measureFrom` seconds on. Errors and non-2xx answers are counted over the whole run.
 */
export function startLoad(spec: LoadSpec, seconds: number, measureFrom = 0): RunningLoad {
  const latencies: number[] = [];
  let graphqlErrors = 0;
  let non2xx = 0;
  let bodyBytes = 0;
  let bodies = 0;
  let firstError: string | undefined;
  const statements = new Map<number, number>();
  const startedAt = performance.now();
  const measureStart = startedAt + measureFrom * 1000;
  const watch = spec.watch ?? {};
  let cpuAtStart = snapshot(watch);
  const cpuTimer = setTimeout(() => (cpuAtStart = snapshot(watch)), measureFrom * 1000);

  const onResponse = (status: number, body: string, _context: object, headers?: IncomingHttpHeaders) => {
    if (status < 200 || status > 299) non2xx += 1;
    const hasErrors = body.includes('"errors"');
    if (hasErrors) graphqlErrors += 1;
    if ((hasErrors || status < 200 || status > 299) && firstError === undefined) {
      firstError = `HTTP ${status}: ${body.slice(0, 300)}`;
    }
    if (performance.now() < measureStart) return;
    bodies += 1;
    bodyBytes += Buffer.byteLength(body);
    const header = headers?.["x-sql-statements"];
    if (typeof header === "string") {
      const count = Number(header);
      statements.set(count, (statements.get(count) ?? 0) + 1);
    }
  };

  let instance: autocannon.Instance | undefined;
  let unregister: (() => Promise<void>) | undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: spec.origin,
        connections: spec.connections,
        duration: seconds,
        // Logins queue behind bcrypt: a slow answer is a measurement, not a failure.
        timeout: 60,
        ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
        requests: spec.requests.map((request) => ({
          method: "POST" as const,
          path: request.path,
          body: request.body,
          headers: request.headers,
          onResponse,
        })),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    // The per-response event (not in @types/autocannon): (client, status, bytes, milliseconds).
    (instance as NodeJS.EventEmitter).on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => {
      if (performance.now() >= measureStart) latencies.push(ms);
    });
    unregister = onCleanup("stop load generator", () => instance?.stop());
  }).finally(() => {
    // Unregister without stopping: the run is over.
    instance = undefined;
    void unregister?.();
  });

  return {
    stop: () => instance?.stop(),
    done: done.then(async (result) => {
      clearTimeout(cpuTimer);
      const cpu = cpuBetween(await cpuAtStart, await snapshot(watch));
      const measuredSeconds = (performance.now() - Math.max(measureStart, startedAt)) / 1000;
      latencies.sort((a, b) => a - b);
      const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? Number.NaN;
      let counted = 0;
      let sum = 0;
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (const [count, times] of statements) {
        counted += times;
        sum += count * times;
        min = Math.min(min, count);
        max = Math.max(max, count);
      }
      return {
        responses: latencies.length,
        seconds: measuredSeconds,
        rps: latencies.length / measuredSeconds,
        p50Ms: at(0.5),
        p90Ms: at(0.9),
        p99Ms: at(0.99),
        maxMs: latencies.at(-1) ?? Number.NaN,
        non2xx,
        graphqlErrors,
        connectionErrors: result.errors,
        statements: counted > 0 ? { mean: sum / counted, min, max } : null,
        meanBodyBytes: bodies > 0 ? bodyBytes / bodies : 0,
        cpu: {
          ...cpu,
          serverMsPerRequest: (cpu.server * 10 * measuredSeconds) / latencies.length,
          postgresMsPerRequest: (cpu.postgres * 10 * measuredSeconds) / latencies.length,
        },
        ...(firstError ? { firstError } : {}),
      };
    }),
  };
}
