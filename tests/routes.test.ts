import { createApp } from "../src/app.js";
import { loadConfig } from "../src/config/config.js";
import { createLogger } from "../src/observability/logger.js";
import { createTestDatabase } from "./support/database.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routePolicy } from "../src/policy/route-rules.js";
import { startServer, testEnvironment, type TestServer } from "./support/server.js";

/** Every HTTP route has a rule in the policy's route table, and the table names no route that is gone. */

let server: TestServer;
const seen = new Set<string>();
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe("route policy", () => {
  it("names every route the server answers, and each named route answers", async () => {
    for (const route of Object.keys(routePolicy)) {
      if (route === "/playground/*") continue; // static files, named one by one (tests/playground.test.ts)
      const path = route.replace(":datasetId", "00000000-0000-4000-8000-000000000000").replace(":version", "1").replace("*", "x");
      const response = await fetch(`${server.origin}${path}`, { method: route.startsWith("/uploads") ? "HEAD" : "GET" });
      // Fastify's own 404 for an unknown route has this JSON body; our routes answer otherwise.
      const body = await response.text();
      expect(body, route).not.toMatch(/"message":"Route (GET|HEAD):.* not found"/);
      seen.add(route);
    }
    expect(seen.size).toBe(Object.keys(routePolicy).length - 1);
  });

  it("refuses a route the policy does not name", async () => {
    const config = loadConfig(testEnvironment({ DATA_DIR: server.config.dataDir }));
    const database = await createTestDatabase();
    const app = await createApp(config, database.database, createLogger("silent"));
    try {
      expect(() => app.get("/unruled", async () => "data")).toThrow(/no rule for the route \/unruled/);
    } finally {
      await app.close();
      await database.drop();
    }
  });
});
