import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "./support/process.js";
import { startServer, type TestServer } from "./support/server.js";

/** `npm run example` (examples/journey.ts), run by CI against a live server so it cannot rot. */
describe("npm run example", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("does the whole journey in a typed client: upload, commit, preview, download, share, unshare", async () => {
    const result = await runScript("examples/journey.ts", [], { API_URL: server.url });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("uploaded rain.csv over tus");
    expect(result.stdout).toMatch(/preview READY.*: 50 rows, columns station, date, rain_mm/);
    expect(result.stdout).toContain("downloaded the same bytes");
    expect(result.stdout).toMatch(/unshared: reader_[0-9a-f]{8} now gets NOT_FOUND/);
    expect(result.stdout.trim().endsWith("done")).toBe(true);
  }, 180_000);
});
