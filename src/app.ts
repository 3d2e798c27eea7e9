import { createAuditLog } from "./audit/events.js";
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { createPasswordHasher } from "./auth/passwords.js";
import { resolveSigningSecret } from "./auth/signing-secret.js";
import { createAccessTokens } from "./auth/tokens.js";
import { ViewerCache } from "./auth/viewer-cache.js";
import { watchViewerChanges } from "./auth/viewer-changes.js";
import type { Config } from "./config/config.js";
import type { Database } from "./db/database.js";
import { migrate } from "./db/migrate.js";
import { openPglite } from "./db/pglite.js";
import { behindTransactionPooler } from "./db/pooler.js";
import { openPostgres } from "./db/postgres.js";
import { createMetrics, timeStatements } from "./observability/metrics.js";
import { buildSchema } from "./graphql/schema.js";
import { buildServer } from "./http/server.js";
import { EventHub } from "./events/hub.js";
import { createGarbageCollector, garbageSweepTask } from "./files/garbage.js";
import { openBlobStore } from "./storage/open.js";
import { HashingFileStore } from "./uploads/hashing-file-store.js";
import { startBackground } from "./jobs/runner.js";
import { sweeperTask } from "./jobs/sweeper.js";
import { previewJob } from "./previews/job.js";
import { createTables } from "./tables/service.js";
import { AnonymousLimit } from "./auth/anonymous-limit.js";

/**
 * Opens the configured database: PostgreSQL with `DATABASE_URL`, else PGlite in `DATA_DIR`
 * (locked for this process until it is closed; `DataDirBusyError` while another holds it).
 */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (!config.databaseUrl) return openPglite(config.dataDir);
  return openPostgres({
    connectionString: config.databaseUrl,
    logger,
    connectTimeoutMs: config.databaseConnectTimeoutSeconds * 1000,
    queryTimeoutMs: config.databaseQueryTimeoutSeconds * 1000,
    statementTimeoutMs: config.databaseStatementTimeoutSeconds * 1000,
    listenConnectionString: config.databaseListenUrl,
    preparedStatements: await choosePreparedStatements(config, config.databaseUrl, logger),
  });
}

/** DATABASE_PREPARED_STATEMENTS, with `auto` decided by a probe for a transaction pooler. */
async function choosePreparedStatements(config: Config, url: string, logger: Logger): Promise<boolean> {
  const setting = config.databasePreparedStatements;
  if (setting !== "auto") return setting === "on";
  try {
    const pooled = await behindTransactionPooler(url, config.databaseConnectTimeoutSeconds * 1000);
    if (pooled) logger.info("prepared statements off: DATABASE_URL goes through a transaction pooler (DATABASE_PREPARED_STATEMENTS=auto)");
    return !pooled;
  } catch (error) {
    // Unnamed statements work everywhere: the safe answer when the probe cannot tell.
    logger.warn({ err: error }, "prepared statements off: could not tell whether DATABASE_URL goes through a transaction pooler");
    return false;
  }
}

/**
 * The whole server on an open database: migrations applied, secrets resolved, routes
 * registered. Used by `main.ts` and by the tests, so both run the same thing.
 */
export async function createApp(config: Config, openedDatabase: Database, logger: Logger): Promise<FastifyInstance> {
  const metrics = createMetrics(() => openedDatabase.poolStats?.());
  const database = timeStatements(openedDatabase, metrics);
  const applied = await migrate(database);
  if (applied.length > 0) logger.info({ applied }, "applied database migrations");
  // With an Ed25519 key and no JWT_SECRET, nothing needs a shared secret: none is generated.
  const secret = config.signingKey && !config.jwtSecret ? undefined : await resolveSigningSecret(config, logger);
  // Every instance must derive the same successor of a refresh token: a configured secret
  // (JWT_SECRET, else the private key), never one made up per instance.
  const successorSeed = secret ?? config.signingKey!.privateKeyPem;
  const viewers = new ViewerCache(config.viewerCacheSize);
  const blobStore = await openBlobStore({ url: config.files.storageUrl, s3: config.files.s3 });
  const staging = new HashingFileStore({
    directory: config.files.uploadDir,
    expirationPeriodInMilliseconds: config.files.uploadExpirySeconds * 1000,
  });
  // Row queries of explored tables; its readers start when first needed.
  const tables = createTables(config.tables, config.files.storageUrl, blobStore, logger, metrics.registry);
  const garbage = createGarbageCollector(database, blobStore, staging, logger, (key) => tables.copies.remove(key));
  const previewsJob = previewJob({ database: openedDatabase, store: blobStore, config: config.previews, metrics: metrics.previews, logger });
  // Every queue, listener and timer, started in order here and stopped in the reverse order on close.
  const background = await startBackground({
    // Through the unwrapped database: the queue's polling is nobody's request and no statement metric.
    database: openedDatabase,
    logger,
    jobs: [previewsJob],
    listeners: {
      // Through the unwrapped database: its probes are nobody's request and no statement metric.
      viewerChanges: () => watchViewerChanges(openedDatabase, viewers, logger),
      events: () => EventHub.start(database, logger, { queueLimit: config.subscriptions.maxQueuedEvents }),
    },
    periodic: [sweeperTask(database, config, logger), garbageSweepTask(garbage, config.files.sweepIntervalSeconds * 1000, logger)],
  });
  const services = {
    config,
    tokens: await createAccessTokens({ secret, signingKey: config.signingKey, ttlSeconds: config.accessTokenTtlSeconds }),
    passwords: createPasswordHasher(config.bcryptCost, config.hashWorkers),
    successorKey: createHash("sha256").update(`refresh-successor-key:${successorSeed}`).digest("base64url"),
    metrics,
    audit: createAuditLog(metrics),
    viewers,
    viewerChanges: background.listeners.viewerChanges,
    files: {
      store: blobStore,
      downloadKey: createHash("sha256").update(`download-url-key:${successorSeed}`).digest("base64url"),
      downloadUrlTtlSeconds: config.files.downloadUrlTtlSeconds,
      garbage,
      staging,
    },
    events: background.listeners.events,
    previews: previewsJob.previews,
    tables,
    anonymousLimit: new AnonymousLimit(config.throttle.anonymousPerAddressPerMinute),
  };
  staging.onBytes = (count) => metrics.bytesUploaded.inc(count);
  logger.info({ storage: blobStore.description, staging: config.files.uploadDir }, "file storage");
  if (config.trustProxy === true) {
    logger.warn(
      "TRUST_PROXY=true takes the client address from the left-most X-Forwarded-For entry, which clients write themselves behind a proxy that appends to it; set TRUST_PROXY to the number of proxies instead",
    );
  }
  const app = await buildServer({ services, database, schema: buildSchema(), logger, staging });
  // Fastify runs the onClose hooks last-added first: the background work stops, then the store closes, then the hashing threads.
  app.addHook("onClose", () => services.passwords.close());
  app.addHook("onClose", () => tables.close());
  app.addHook("onClose", async () => {
    // Before the store closes: a profile in hand is stopped (its job is retried elsewhere).
    await background.stop();
    await blobStore.close();
  });
  return app;
}
