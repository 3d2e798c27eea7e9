/**
 * Load at a fixed rate, as wrk2 gives it: request i is due at start + i / rate, whether or
 * not earlier ones were answered (an open model), and its latency counts from when it was
 * due, not from when a connection was free to send it. A server that stalls for 100 ms
 * thus shows every request due meanwhile as late, which a closed loop (autocannon's
 * `overallRate` included: each connection sends its share of a second back to back, then
 * waits for the next second) hides.
 *
 * Requests go over `connections` keep-alive connections (node:http's agent); a request due
 * while all are busy waits for one, and that wait is in its latency.
 */
import http from "node:http";
import { cpuBetween, snapshot, type Watched } from "../harness/cpu.js";
import { onCleanup } from "../harness/lifecycle.js";
import type { HttpRequest, LoadResult } from "../harness/load.js";

export interface FixedRateSpec {
  origin: string;
  requests: readonly HttpRequest[];
  connections: number;
  /** Requests per second, over all connections. */
  rate: number;
  warmupSeconds: number;
  seconds: number;
  watch?: Watched;
}

/** Requests still unanswered this long after the last one was due count as errors. */
const DRAIN_MS = 10_000;

export async function runFixedRate(spec: FixedRateSpec): Promise<LoadResult & { rate: number }> {
  const url = new URL(spec.origin);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections, maxFreeSockets: spec.connections });
  const intervalMs = 1000 / spec.rate;
  const total = Math.round(spec.rate * (spec.warmupSeconds + spec.seconds));
  const startAt = performance.now() + 50;
  const measureFrom = startAt + spec.warmupSeconds * 1000;
  const measureTo = startAt + (spec.warmupSeconds + spec.seconds) * 1000;
  const watch = spec.watch ?? {};

  const latencies: number[] = [];
  let non2xx = 0;
  let graphqlErrors = 0;
  let connectionErrors = 0;
  let bodyBytes = 0;
  let bodies = 0;
  let firstError: string | undefined;
  let inFlight = 0;
  let sent = 0;
  let stopped = false;
  let allAnswered: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => (allAnswered = resolve));
  const settle = () => {
    if (sent === total && inFlight === 0) allAnswered();
  };

  const send = (index: number) => {
    const dueAt = startAt + index * intervalMs;
    const measured = dueAt >= measureFrom && dueAt < measureTo;
    const request = spec.requests[index % spec.requests.length]!;
    inFlight += 1;
    const done = () => {
      inFlight -= 1;
      settle();
    };
    const outgoing = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: request.path,
        headers: { ...request.headers, "content-length": Buffer.byteLength(request.body) },
        agent,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const latency = performance.now() - dueAt;
          const body = Buffer.concat(chunks).toString();
          const status = response.statusCode ?? 0;
          const failed = status < 200 || status > 299 || body.includes('"errors"');
          if (status < 200 || status > 299) non2xx += 1;
          else if (failed) graphqlErrors += 1;
          if (failed) firstError ??= `HTTP ${status}: ${body.slice(0, 300)}`;
          if (measured) {
            latencies.push(latency);
            bodies += 1;
            bodyBytes += Buffer.byteLength(body);
          }
          done();
        });
        response.on("error", () => undefined);
      },
    );
    outgoing.on("error", (error) => {
      connectionErrors += 1;
      firstError ??= error.message;
      done();
    });
    outgoing.end(request.body);
  };

  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    while (sent < total && startAt + sent * intervalMs <= now && !stopped) send(sent++);
    if (sent < total && !stopped) timer = setTimeout(tick, Math.max(0, startAt + sent * intervalMs - performance.now()));
    else settle();
  };
  const unregister = onCleanup("stop the fixed-rate load", () => {
    stopped = true;
    clearTimeout(timer);
    agent.destroy();
  });

  timer = setTimeout(tick, Math.max(0, startAt - performance.now()));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, measureFrom - performance.now())));
  const cpuAtStart = await snapshot(watch);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, measureTo - performance.now())));
  const cpuAtEnd = await snapshot(watch);
  const drained = await Promise.race([answered.then(() => true), new Promise<boolean>((resolve) => setTimeout(resolve, DRAIN_MS, false))]);
  if (!drained) {
    connectionErrors += inFlight;
    firstError ??= `${inFlight} requests unanswered ${DRAIN_MS / 1000} s after the last was due`;
  }
  stopped = true;
  await unregister();

  const cpu = cpuBetween(cpuAtStart, cpuAtEnd);
  latencies.sort((a, b) => a - b);
  const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? Number.NaN;
  const seconds = spec.seconds;
  return {
    rate: spec.rate,
    responses: latencies.length,
    seconds,
    rps: latencies.length / seconds,
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    non2xx,
    graphqlErrors,
    connectionErrors,
    statements: null,
    meanBodyBytes: bodies > 0 ? bodyBytes / bodies : 0,
    cpu: {
      ...cpu,
      serverMsPerRequest: (cpu.server * 10 * seconds) / Math.max(1, latencies.length),
      postgresMsPerRequest: (cpu.postgres * 10 * seconds) / Math.max(1, latencies.length),
    },
    ...(firstError ? { firstError } : {}),
  };
}
