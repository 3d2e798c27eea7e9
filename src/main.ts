import { createApp, openDatabase } from "./app.js";
import { ConfigError, loadConfig } from "./config/config.js";
import { DataDirBusyError } from "./db/data-dir-lock.js";
import { createLogger } from "./observability/logger.js";

/** `npm start`: the API on HOST:PORT, until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  if (!config.databaseUrl) {
    logger.info({ dataDir: config.dataDir }, "DATABASE_URL is not set: using the embedded database (PGlite)");
  }
  const database = await openDatabase(config, logger);
  const app = await createApp(config, database, logger);
  await app.listen({ host: config.host, port: config.port });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: no new connections, finishing in-flight requests");
    // Requests still running after the timeout are cut off: a stop must not hang forever.
    const timeout = setTimeout(() => {
      logger.error({ timeoutSeconds: config.shutdownTimeoutSeconds }, "in-flight requests did not finish in time: exiting");
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000);
    // A keep-alive connection busy when the stop began turns idle once its response is
    // sent; close those as they turn idle, or close() would wait for the client to hang up.
    const idleSweeper = setInterval(() => app.server.closeIdleConnections(), 100);
    await app.close();
    clearInterval(idleSweeper);
    await database.close();
    clearTimeout(timeout);
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DataDirBusyError) {
    process.stderr.write(`Cannot start: ${error.message}\n`);
  } else {
    process.stderr.write(`Cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
