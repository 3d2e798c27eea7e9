import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium, type BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAYGROUND_CSP } from "../src/http/playground.js";
import { createDataset, createUser, type TestUser, unique } from "./support/factories.js";
import { startServer, type TestServer } from "./support/server.js";

/** The development playground (GraphiQL on a browser's GET /graphql), and its absence in production. */

/** What a browser sends when it navigates to a page. */
const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

const require = createRequire(import.meta.url);
const installed = (pkg: string, file: string) => readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), file));

const ASSETS = [
  { path: "/playground/react.production.min.js", type: "text/javascript", body: () => installed("react", "umd/react.production.min.js") },
  { path: "/playground/react-dom.production.min.js", type: "text/javascript", body: () => installed("react-dom", "umd/react-dom.production.min.js") },
  { path: "/playground/graphiql.min.js", type: "text/javascript", body: () => installed("graphiql", "graphiql.min.js") },
  { path: "/playground/graphiql.min.css", type: "text/css", body: () => installed("graphiql", "graphiql.min.css") },
];

const origin = (server: TestServer) => new URL(server.url).origin;
const getPage = (server: TestServer, headers: Record<string, string> = { accept: BROWSER_ACCEPT }, search = "") =>
  fetch(`${server.url}${search}`, { headers });

describe("playground in development", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it("serves GraphiQL to a browser's GET /graphql, with the CSP and nothing from another host", async () => {
    const response = await getPage(server);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(response.headers.get("content-security-policy")).toBe(PLAYGROUND_CSP);
    expect(response.headers.get("vary")).toMatch(/accept/i);
    const html = await response.text();
    expect(html).toContain('<div id="graphiql">');
    // No absolute or protocol-relative URL anywhere: every reference is a path on this server.
    expect(html).not.toMatch(/https?:|\/\/[\w.-]+\.\w/i);
    const references = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);
    expect(references).toHaveLength(6);
    for (const reference of references) expect(reference).toMatch(/^\/playground\/[\w.-]+\?v=[0-9a-f]{16}$/);
    for (const { path } of ASSETS) expect(references.some((reference) => reference.startsWith(`${path}?v=`))).toBe(true);
  });

  it("serves every asset the page references, from the installed packages, cacheable for a year", async () => {
    const html = await (await getPage(server)).text();
    const references = [...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1]!);
    for (const reference of references) {
      const response = await fetch(`${origin(server)}${reference}`);
      expect(response.status, reference).toBe(200);
      expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      const known = ASSETS.find(({ path }) => reference.startsWith(`${path}?`));
      if (!known) continue; // the page's own script and stylesheet
      expect(response.headers.get("content-type")).toBe(`${known.type}; charset=utf-8`);
      expect(Buffer.from(await response.arrayBuffer()).equals(known.body())).toBe(true);
    }
  });

  it("leaves every other request to /graphql to Apollo", async () => {
    const me = `?query=${encodeURIComponent("{ __typename }")}`;
    // A JSON client's GET with a query, and even a browser's, get the GraphQL answer.
    for (const accept of ["application/json", "application/graphql-response+json", BROWSER_ACCEPT]) {
      const response = await getPage(server, { accept, "apollo-require-preflight": "true" }, me);
      expect(response.status, accept).toBe(200);
      expect(((await response.json()) as { data?: unknown }).data).toEqual({ __typename: "Query" });
    }
    // Without a query, a client that does not prefer HTML (curl's */*, none at all) hears from Apollo.
    for (const headers of [{ accept: "*/*" }, { accept: "application/json" }, {} as Record<string, string>]) {
      const response = await getPage(server, headers);
      expect(response.headers.get("content-type")).not.toContain("text/html");
      expect(await response.text()).not.toContain("graphiql");
    }
    // HTML ranked below JSON is not a browser navigating.
    const rankedLow = await getPage(server, { accept: "application/json, text/html;q=0.5" });
    expect(rankedLow.headers.get("content-type")).not.toContain("text/html");
  });

  it("keeps Apollo's CSRF prevention: a GET without a preflight header is refused, GraphiQL's JSON POST is not", async () => {
    const refused = await getPage(server, { accept: "application/json" }, `?query=${encodeURIComponent("{ __typename }")}`);
    expect(refused.status).toBe(400);
    // What GraphiQL's fetcher sends, from the page's own origin.
    const accepted = await fetch(server.url, {
      method: "POST",
      headers: { accept: "application/json, multipart/mixed", "content-type": "application/json", origin: origin(server) },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(accepted.status).toBe(200);
    expect(((await accepted.json()) as { data?: unknown }).data).toEqual({ __typename: "Query" });
  });
});

describe("playground in production", () => {
  let server: TestServer;
  beforeAll(async () => {
    // Production's start-up rules want DATABASE_URL and a bcrypt cost of at least 10; the test
    // server runs on its own test database all the same, so the URL is never opened.
    server = await startServer({ NODE_ENV: "production", DATABASE_URL: "postgres://unused.invalid/none", BCRYPT_COST: "10" });
  });
  afterAll(() => server.close());

  it("does not serve the page to a browser, nor its assets", async () => {
    expect(server.config.production).toBe(true);
    const response = await getPage(server);
    expect(response.headers.get("content-type")).not.toContain("text/html");
    expect(response.headers.get("content-security-policy")).toBeNull();
    expect((await response.text()).toLowerCase()).not.toContain("graphiql");
    for (const path of [...ASSETS.map((asset) => asset.path), "/playground/playground.js", "/playground/playground.css"]) {
      expect((await fetch(`${origin(server)}${path}`)).status, path).toBe(404);
    }
  });
});

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.log(`Skipping the playground browser test: ${CHROMIUM} is absent (.ci/run installs it with apt-get when it can).`);
}

describe.skipIf(!hasChromium)("playground in a browser", () => {
  let server: TestServer;
  let user: TestUser;
  let profile: string;
  let browser: BrowserContext;
  beforeAll(async () => {
    server = await startServer();
    user = await createUser(server);
    profile = mkdtempSync(join(tmpdir(), "playground-chromium-"));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await server?.close();
  });

  it("runs { me { username } } with the bearer token pasted into the headers editor", async () => {
    const page = await browser.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    const posts: Array<{ status: number; contentType: string | undefined }> = [];
    page.on("request", (request) => requests.push(request.url()));
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("response", (response) => {
      if (response.request().method() === "POST") {
        posts.push({ status: response.status(), contentType: response.request().headers()["content-type"] });
      }
    });

    await page.goto(server.url);
    const queryEditor = page.locator(".graphiql-query-editor .CodeMirror");
    await queryEditor.waitFor({ timeout: 20_000 });

    // Paste the query over the default one (inserted as one input, so no auto-closed brackets).
    await queryEditor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText("{ me { username } }");

    // The headers editor is open by default; paste the header into it.
    await page.getByRole("button", { name: "Headers" }).click();
    const headersEditor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror");
    await headersEditor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${user.token}` }));

    await page.locator(".graphiql-execute-button").click();
    const result = page.locator(".result-window");
    await expect.poll(async () => result.textContent(), { timeout: 15_000 }).toContain(user.username);
    expect(await result.textContent()).not.toContain("errors");

    // The schema (introspection) and the query: JSON POSTs that Apollo's CSRF prevention accepts.
    expect(posts.length).toBeGreaterThanOrEqual(2);
    for (const post of posts) expect(post).toEqual({ status: 200, contentType: "application/json" });
    // Everything came from this server: nothing from a CDN or any other host.
    expect(requests.length).toBeGreaterThan(0);
    for (const url of requests) expect(new URL(url).origin, url).toBe(origin(server));
    // The page ran under its CSP without a violation, and without a script error.
    expect(problems).toEqual([]);
    await page.close();
  });
  it("signs in with its form, then subscribes over graphql-ws: the events show as they come, the token sent for the user", async () => {
    const dataset = await createDataset(server, user);
    const page = await browser.newPage();
    // A first visit: nothing kept from the test before (GraphiQL keeps the last query),
    // cleared through the browser's own protocol before the page loads (cleared from a page of
    // GraphiQL's, it saved its state again as it left).
    const devtools = await browser.newCDPSession(page);
    await devtools.send("Storage.clearDataForOrigin", { origin: origin(server), storageTypes: "local_storage" });
    await devtools.detach();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    await page.goto(server.url);
    const queryEditor = page.locator(".graphiql-query-editor .CodeMirror");
    await queryEditor.waitFor({ timeout: 20_000 });
    // The default text's first line is whole (it once lost its start).
    expect(await page.locator(".graphiql-query-editor .CodeMirror-line").first().textContent()).toBe("# The dataset platform API's playground.");

    await page.fill('#sign-in input[name="email"]', user.email);
    await page.fill('#sign-in input[name="password"]', user.password);
    await page.click('#sign-in button[type="submit"]');
    await expect.poll(() => page.locator("#sign-in-status").textContent(), { timeout: 15_000 }).toContain(`Signed in as ${user.username}`);

    await queryEditor.click();
    await page.keyboard.press("Control+A");
    await page.keyboard.insertText(`subscription { datasetEvents(datasetId: "${dataset.id}") { type dataset { name } } }`);
    // GraphiQL parses the editor's text 100 ms after the last change and chooses WebSocket or
    // HTTP from that parse when Run is pressed: a press sooner (a busy machine's click can be)
    // sends the previous parse, and a subscription over HTTP is refused. Run once it has seen
    // the subscription, as any person's click comes after.
    // (page.evaluate, not waitForFunction: the page's CSP forbids the eval that polls with.)
    const parsedOperation = () =>
      page.evaluate(() => {
        type Editor = { CodeMirror?: { operations?: Array<{ operation: string }> } };
        const editor = (globalThis as unknown as { document: { querySelector(selector: string): Editor | null } }).document.querySelector(
          ".graphiql-query-editor .CodeMirror",
        );
        return editor?.CodeMirror?.operations?.[0]?.operation;
      });
    await expect.poll(parsedOperation, { timeout: 15_000 }).toBe("subscription");
    await page.locator(".graphiql-execute-button").click();
    const result = page.locator(".result-window");

    // graphql-ws does not say when the subscription is in place: rename until an event shows.
    let name = "";
    await expect
      .poll(
        async () => {
          if (name && (await result.textContent())?.includes(name)) return true;
          name = unique("Seen live");
          const renamed = await server.graphql(
            `mutation($id: ID!, $name: String!) { updateDataset(id: $id, input: { name: $name }) { id } }`,
            { id: dataset.id, name },
            { token: user.token },
          );
          expect(renamed.errors).toBeUndefined();
          return false;
        },
        { timeout: 30_000, interval: 1000 },
      )
      .toBe(true);
    expect(await result.textContent()).toContain("UPDATED");
    expect(await result.textContent()).not.toContain("errors");
    expect(problems).toEqual([]);
    await page.close();
  }, 90_000);
});
