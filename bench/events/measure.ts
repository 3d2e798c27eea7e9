/**
 * The live-events part (issue 15): 1,000 subscriptions held open over graphql-ws by several
 * users while versions are committed at a steady rate; the delivery latency from each commit
 * to each subscriber that may read its dataset, the server's RSS per subscription, and that
 * every event reached exactly those it should (none lost, none to anyone without access).
 *
 * Who subscribes (each user on one connection of their own):
 * - writers: their own datasets one by one, and everything they may read;
 * - strangers: a few of their own datasets, and everything they may read (they may read none
 *   of the writers' datasets: any writer's event they get is a leak);
 * - the admin: everything, several times (an admin reads every dataset).
 * Commits go to the writers' subscribed datasets, round robin, from uploads made beforehand.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { type Client, createClient } from "graphql-ws";
import WebSocket from "ws";
import { graphql, uploadSmall } from "../harness/client.js";
import { type CpuUse, cpuBetween, snapshot, type Watched, waitUntilIdle } from "../harness/cpu.js";
import type { Actor } from "../harness/database.js";
import { fmt } from "../harness/format.js";
import { log, sleep, temporaryDirectory } from "../harness/lifecycle.js";
import { startApiServer } from "../harness/processes.js";
import type { BenchRun } from "../harness/run.js";
import { newestDatasetIds } from "../harness/seed.js";

export interface EventsResult {
  settings: Record<string, string | number>;
  subscriptions: number;
  connections: number;
  users: number;
  /** Strangers' attempts at a writer's dataset: each must be NOT_FOUND. */
  refusals: { tried: number; notFound: number };
  commits: { planned: number; committed: number; failed: number; seconds: number; perSecond: number; p50Ms: number; p99Ms: number };
  deliveries: { expected: number; received: number; missing: number; duplicates: number; withoutAccess: number };
  /** From the commit's timestamp (its transaction's start) to the subscriber's receipt, over every delivery. */
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** Before the subscriptions; with them open and idle; after the probes; after the commits. */
  rss: { beforeMiB: number; subscribedMiB: number; probedMiB: number; afterMiB: number; perSubscriptionKiB: number };
  cpu: CpuUse;
  targets: Array<{ target: string; measured: string; pass: boolean }>;
}

const SUBSCRIPTION = `subscription Events($datasetId: ID) { datasetEvents(datasetId: $datasetId) { type datasetId at version { number } } }`;
const COMMIT = `mutation Commit($input: CommitInput!) { commitDatasetVersion(input: $input) { number } }`;

interface Subscriber {
  id: number;
  owner: "writer" | "stranger" | "admin";
  userId: string;
  datasetId: string | null;
  /** Probes (UPDATED) seen: the subscription is in place once it has one. */
  probed: boolean;
}

interface Received {
  subscriber: number;
  key: string;
  latencyMs: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function measureEvents(run: BenchRun): Promise<EventsResult> {
  const { options, database, fixtures } = run;
  const sizes = options.events;
  const writers = fixtures.writers.slice(0, sizes.writers);
  const strangers = fixtures.readers.slice(0, sizes.strangers);
  const admin = fixtures.admin[0]!;
  const directory = await temporaryDirectory("bench-events-");
  const subscriptionsPlanned =
    writers.length * (sizes.datasetsPerWriter + 1) + strangers.length * (sizes.datasetsPerStranger + 1) + sizes.adminSubscriptions;
  log(
    `\n== Live events: ${fmt(subscriptionsPlanned)} subscriptions (${writers.length} writers, ${strangers.length} strangers, the admin) ` +
      `while ${sizes.commitsPerSecond} commits/s for ${sizes.seconds} s`,
  );

  const server = await startApiServer({
    databaseUrl: database.url,
    jwtSecret: run.jwtSecret,
    bcryptCost: options.bcryptCost,
    environment: {
      DATA_DIR: join(directory, "server"),
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: "1000",
      WS_MAX_SUBSCRIPTIONS_PER_USER: "1000",
      MAX_CONNECTIONS_PER_ADDRESS: "10000",
    },
  });
  const watch: Watched = { serverPid: server.pid, postgresPids: database.backendPids };
  const pool = database.pool(4);
  const clients: Client[] = [];
  try {
    const datasetsOf = (actor: Actor, count: number) => newestDatasetIds(pool, actor.userId, count);
    const writerDatasets = await Promise.all(writers.map((writer) => datasetsOf(writer, sizes.datasetsPerWriter)));
    const strangerDatasets = await Promise.all(strangers.map((stranger) => datasetsOf(stranger, sizes.datasetsPerStranger)));

    // The uploads the commits will use, made first (tus creation-with-upload, a few bytes each).
    const planned = sizes.commitsPerSecond * sizes.seconds;
    const targets = writerDatasets.flatMap((ids, index) => ids.map((datasetId) => ({ datasetId, writer: writers[index]! })));
    const commits: Array<{ datasetId: string; writer: Actor; uploadId: string; path: string }> = [];
    const uploadStarted = performance.now();
    for (let start = 0; start < planned; start += 16) {
      const batch = Array.from({ length: Math.min(16, planned - start) }, (_, offset) => start + offset);
      commits.push(
        ...(await Promise.all(
          batch.map(async (index) => {
            const { datasetId, writer } = targets[index % targets.length]!;
            const path = `events/commit-${index}.txt`;
            return { datasetId, writer, path, uploadId: await uploadSmall(server.origin, writer.token, datasetId, `commit ${index}\n`) };
          }),
        )),
      );
    }
    log(`  ${fmt(planned)} uploads ready in ${fmt((performance.now() - uploadStarted) / 1000, 1)} s`);
    // One commit first: the server has then run every statement of the measured phase once.
    await graphql(server.origin, writers[0]!.token, COMMIT, {
      input: {
        datasetId: writerDatasets[0]![0],
        changes: [{ path: "events/warm-up.txt", uploadId: await uploadSmall(server.origin, writers[0]!.token, writerDatasets[0]![0]!, "warm\n") }],
      },
    });
    await sleep(500);
    const beforeMiB = server.rssMiB();

    // The subscriptions.
    const subscribers: Subscriber[] = [];
    const received: Received[] = [];
    const withoutAccess: string[] = [];
    const writerDatasetIds = new Set(writerDatasets.flat());
    const connect = (actor: Actor) => {
      const client = createClient({
        url: `${server.origin.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${actor.token}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: (error) => log(`  !! a connection failed: ${String((error as { reason?: string }).reason ?? error)}`),
      });
      clients.push(client);
      return client;
    };
    const subscribe = (client: Client, owner: Subscriber["owner"], actor: Actor, datasetId: string | null) => {
      const subscriber: Subscriber = { id: subscribers.length, owner, userId: actor.userId, datasetId, probed: false };
      subscribers.push(subscriber);
      client.subscribe(
        { query: SUBSCRIPTION, variables: { datasetId } },
        {
          next: (result) => {
            const event = (
              result.data as { datasetEvents?: { type: string; datasetId: string; at: string; version: { number: number } | null } } | null
            )?.datasetEvents;
            if (!event) {
              log(`  !! subscription ${subscriber.id} (${owner}) got errors: ${JSON.stringify(result.errors).slice(0, 200)}`);
              return;
            }
            if (event.type === "UPDATED") {
              subscriber.probed = true;
              return;
            }
            if (owner === "stranger" && writerDatasetIds.has(event.datasetId)) withoutAccess.push(`${event.type} ${event.datasetId}`);
            if (event.type !== "VERSION_COMMITTED" || !event.version) return;
            received.push({
              subscriber: subscriber.id,
              key: `${event.datasetId} ${event.version.number}`,
              latencyMs: Date.now() - Date.parse(event.at),
            });
          },
          error: (error) => log(`  !! subscription ${subscriber.id} (${owner}) ended: ${JSON.stringify(error).slice(0, 200)}`),
          complete: () => {},
        },
      );
      return subscriber;
    };
    const writerAll = new Map<string, number>();
    const adminAll: number[] = [];
    const single = new Map<string, number>();
    writers.forEach((writer, index) => {
      const client = connect(writer);
      writerAll.set(writer.userId, subscribe(client, "writer", writer, null).id);
      for (const datasetId of writerDatasets[index]!) single.set(datasetId, subscribe(client, "writer", writer, datasetId).id);
    });
    strangers.forEach((stranger, index) => {
      const client = connect(stranger);
      subscribe(client, "stranger", stranger, null);
      for (const datasetId of strangerDatasets[index]!) subscribe(client, "stranger", stranger, datasetId);
    });
    const adminClient = connect(admin);
    for (let index = 0; index < sizes.adminSubscriptions; index += 1) adminAll.push(subscribe(adminClient, "admin", admin, null).id);

    // A stranger asking for a writer's dataset is told NOT_FOUND, as if it did not exist.
    const refusals = { tried: strangers.length, notFound: 0 };
    await Promise.all(
      strangers.map(
        (_stranger, index) =>
          new Promise<void>((resolve) => {
            const client = clients[writers.length + index]!;
            client.subscribe(
              { query: SUBSCRIPTION, variables: { datasetId: writerDatasets[index % writerDatasets.length]![0] } },
              {
                next: (result) => {
                  if (result.errors?.[0]?.extensions?.code === "NOT_FOUND") refusals.notFound += 1;
                },
                error: () => resolve(),
                complete: () => resolve(),
              },
            );
          }),
      ),
    );

    // RSS with the subscriptions open and nothing else happening: once the server has taken
    // them all in (its CPU idle), before any event.
    await waitUntilIdle(watch);
    const subscribedMiB = server.rssMiB();

    // In place once each has seen a probe: an UPDATED of a dataset it may see, announced
    // (with the pinned payload) for every subscribed dataset, then again for any not yet there.
    const probeStarted = performance.now();
    const firstOf = new Map<string, string>([
      ...writers.map((writer, index) => [writer.userId, writerDatasets[index]![0]!] as const),
      ...strangers.map((stranger, index) => [stranger.userId, strangerDatasets[index]![0]!] as const),
      [admin.userId, writerDatasets[0]![0]!],
    ]);
    let round = [...writerDatasets.flat(), ...strangerDatasets.flat()];
    for (;;) {
      await pool.query(
        `select pg_notify('dataset_events', json_build_object('type', 'UPDATED', 'datasetId', id, 'version', null, 'userId', null, 'sha256', null, 'at', '2000-01-01T00:00:00.000Z')::text)
         from unnest($1::uuid[]) as id`,
        [round],
      );
      const waitUntil = performance.now() + 10_000;
      while (subscribers.some((subscriber) => !subscriber.probed) && performance.now() < waitUntil) await sleep(250);
      const waiting = subscribers.filter((subscriber) => !subscriber.probed);
      if (waiting.length === 0) break;
      if (performance.now() - probeStarted > 120_000) throw new Error(`${waiting.length} subscriptions not in place after 120 s`);
      round = [...new Set(waiting.map((subscriber) => subscriber.datasetId ?? firstOf.get(subscriber.userId)!))];
    }
    const probedMiB = server.rssMiB();
    log(
      `  ${fmt(subscribers.length)} subscriptions on ${clients.length} connections; server RSS ${fmt(beforeMiB)} → ${fmt(subscribedMiB)} MiB with them open; ` +
        `all in place (a probe reached each) ${fmt((performance.now() - probeStarted) / 1000, 1)} s later, RSS ${fmt(probedMiB)} MiB`,
    );

    // The measured phase: commits at a steady rate, each one sent on its schedule.
    await run.settle();
    const expected = new Map<string, number[]>();
    const commitMs: number[] = [];
    let failed = 0;
    const cpuBefore = await snapshot(watch);
    const started = performance.now();
    const inFlight: Array<Promise<void>> = [];
    for (const [index, commit] of commits.entries()) {
      const due = started + (index * 1000) / sizes.commitsPerSecond;
      if (due > performance.now()) await sleep(due - performance.now());
      const sent = performance.now();
      inFlight.push(
        graphql<{ commitDatasetVersion: { number: number } }>(server.origin, commit.writer.token, COMMIT, {
          input: { datasetId: commit.datasetId, changes: [{ path: commit.path, uploadId: commit.uploadId }] },
        }).then(
          (data) => {
            commitMs.push(performance.now() - sent);
            expected.set(`${commit.datasetId} ${data.commitDatasetVersion.number}`, [
              single.get(commit.datasetId)!,
              writerAll.get(commit.writer.userId)!,
              ...adminAll,
            ]);
          },
          (error: unknown) => {
            failed += 1;
            if (failed <= 3) log(`  !! a commit failed: ${String(error).slice(0, 300)}`);
          },
        ),
      );
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    // Every delivery expected, or 10 s more at most.
    const total = () => [...expected.values()].reduce((sum, list) => sum + list.length, 0);
    const deadline = performance.now() + 10_000;
    while (received.length < total() && performance.now() < deadline) await sleep(100);
    const cpu = cpuBetween(cpuBefore, await snapshot(watch));
    const afterMiB = server.rssMiB();

    const got = new Map<string, number>();
    for (const delivery of received) got.set(`${delivery.key} ${delivery.subscriber}`, (got.get(`${delivery.key} ${delivery.subscriber}`) ?? 0) + 1);
    let missing = 0;
    let duplicates = 0;
    let unexpected = 0;
    const wanted = new Set<string>();
    for (const [key, subscriberIds] of expected) {
      for (const id of subscriberIds) {
        wanted.add(`${key} ${id}`);
        const count = got.get(`${key} ${id}`) ?? 0;
        if (count === 0) missing += 1;
        if (count > 1) duplicates += count - 1;
      }
    }
    for (const key of got.keys()) if (!wanted.has(key)) unexpected += 1;
    const latencies = received.map((delivery) => delivery.latencyMs).sort((a, b) => a - b);
    const sortedCommits = [...commitMs].sort((a, b) => a - b);
    const latencyMs = {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? Number.NaN,
    };
    const perSubscriptionKiB = ((subscribedMiB - beforeMiB) * 1024) / subscribers.length;
    const deliveries = { expected: total(), received: received.length, missing, duplicates, withoutAccess: withoutAccess.length + unexpected };
    log(
      `  ${fmt(commitMs.length)} commits in ${fmt(seconds, 1)} s (${fmt(commitMs.length / seconds, 1)}/s, ${failed} failed; commit p50 ${fmt(percentile(sortedCommits, 50), 1)} ms, p99 ${fmt(percentile(sortedCommits, 99), 1)} ms); ` +
        `deliveries ${fmt(received.length)} of ${fmt(deliveries.expected)}: ${missing} missing, ${duplicates} duplicates, ${deliveries.withoutAccess} without access`,
    );
    log(
      `  latency commit → client p50 ${fmt(latencyMs.p50, 1)} ms, p90 ${fmt(latencyMs.p90, 1)} ms, p99 ${fmt(latencyMs.p99, 1)} ms, max ${fmt(latencyMs.max, 1)} ms; ` +
        `RSS ${fmt(perSubscriptionKiB, 1)} KiB per subscription (${fmt(afterMiB)} MiB after the run); ` +
        `CPU: server ${fmt(cpu.server)}%, PostgreSQL ${fmt(cpu.postgres)}%, benchmark ${fmt(cpu.loadGenerator)}%, other ${fmt(cpu.other)}%`,
    );
    return {
      settings: {
        subscriptions: `${writers.length} writers × (${sizes.datasetsPerWriter} datasets + all), ${strangers.length} strangers × (${sizes.datasetsPerStranger} + all), admin × ${sizes.adminSubscriptions} all`,
        connections: `${clients.length}, one per user (graphql-ws client over ws, in the benchmark's process)`,
        commits: `${sizes.commitsPerSecond}/s for ${sizes.seconds} s, round robin over the writers' subscribed datasets, one new file each (uploaded beforehand)`,
        perCommit: `${2 + sizes.adminSubscriptions} deliveries expected (the dataset's subscription, its writer's all, the admin's ${sizes.adminSubscriptions})`,
        selection: "type datasetId at version { number }",
        latency: "receipt (Date.now in the benchmark) minus the event's `at`: the version's created_at, its commit transaction's start",
        environment: "NODE_ENV=production LOG_LEVEL=warn, WS limits raised",
      },
      subscriptions: subscribers.length,
      connections: clients.length,
      users: writers.length + strangers.length + 1,
      refusals,
      commits: {
        planned,
        committed: commitMs.length,
        failed,
        seconds,
        perSecond: commitMs.length / seconds,
        p50Ms: percentile(sortedCommits, 50),
        p99Ms: percentile(sortedCommits, 99),
      },
      deliveries,
      latencyMs,
      rss: { beforeMiB, subscribedMiB, probedMiB, afterMiB, perSubscriptionKiB },
      cpu,
      targets: [
        { target: "delivery p99 < 100 ms", measured: `${fmt(latencyMs.p99, 1)} ms`, pass: latencyMs.p99 < 100 },
        { target: "no event lost", measured: `${missing} missing of ${fmt(deliveries.expected)}`, pass: missing === 0 && failed === 0 },
        {
          target: "no event to anyone without access",
          measured: `${deliveries.withoutAccess}; strangers refused NOT_FOUND ${refusals.notFound} of ${refusals.tried}`,
          pass: deliveries.withoutAccess === 0 && refusals.notFound === refusals.tried,
        },
      ],
    };
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await pool.end();
    await server.stop();
    await rm(directory, { recursive: true, force: true });
  }
}
