import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { FastifyInstance } from "fastify";
import { acceptance, parseAccept } from "./accept.js";

/**
 * The development playground: a browser's `GET /graphql` gets GraphiQL 3, whose scripts and
 * styles come from the installed packages and are served by this server (nothing from a CDN).
 * Off in production: the server does not even import this module, so no page, no asset routes.
 */

const require = createRequire(import.meta.url);

/** Where the playground's files are served; referenced with `?v=<content hash>` so they can be cached for a year. */
export const PLAYGROUND_PREFIX = "/playground";

/**
 * The page's Content-Security-Policy, measured in Chromium against GraphiQL 3.9: scripts and
 * stylesheets only from this server, no 'unsafe-eval' (nothing evaluates strings). Styles
 * need 'unsafe-inline': Radix dialogs (settings, short keys) insert <style> elements, and
 * CodeMirror's search and jump-to-line bars carry style attributes. Inline CSS cannot load
 * anything: fonts and images are data: only (GraphiQL's stylesheet embeds them), and the
 * only connection is the fetcher's POST to this server.
 */
export const PLAYGROUND_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src data:",
  "img-src data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Asset {
  name: string;
  type: string;
  body: Buffer;
  /** The URL the page uses: the fixed path plus a content hash, so a new version is a new URL. */
  href: string;
}

/** A file inside an installed package. Through its package.json: `exports` hides the UMD builds from resolve(). */
function packageFile(pkg: string, file: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), file);
}

function asset(name: string, type: string, body: Buffer): Asset {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 16);
  return { name, type, body, href: `${PLAYGROUND_PREFIX}/${name}?v=${hash}` };
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

/** The page's own script: mounts GraphiQL, posting JSON to `endpoint`, with the headers editor open. */
function startScript(endpoint: string): string {
  const defaultQuery = [
    "# The dataset platform API. Sign in with the login (or register) mutation, copy its",
    "# accessToken, and put it in the Headers tab below:",
    '#   {"Authorization": "Bearer <accessToken>"}',
    "# Headers are kept in this browser's local storage.",
    "",
    "{ me { username email role } }",
    "",
  ].join("\n");
  return `"use strict";
(function () {
  var props = {
    fetcher: GraphiQL.createFetcher({ url: ${JSON.stringify(endpoint)} }),
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultEditorToolsVisibility: "headers",
    defaultQuery: ${JSON.stringify(defaultQuery)}
  };
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
`;
}

const PAGE_CSS = "html, body, #graphiql { height: 100%; margin: 0; }\n";

function page(assets: Record<string, Asset>): string {
  const script = (name: string) => `<script src="${assets[name]!.href}"></script>`;
  const style = (name: string) => `<link rel="stylesheet" href="${assets[name]!.href}">`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphQL playground</title>
${style("graphiql.min.css")}
${style("playground.css")}
</head>
<body>
<div id="graphiql">Loading the playground…</div>
${script("react.production.min.js")}
${script("react-dom.production.min.js")}
${script("graphiql.min.js")}
${script("playground.js")}
</body>
</html>
`;
}

/** A browser navigating: Accept ranks text/html above every JSON type Apollo answers with. */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = parseAccept(accept);
  const html = acceptance(ranges, "text/html").q;
  const json = Math.max(acceptance(ranges, "application/json").q, acceptance(ranges, "application/graphql-response+json").q);
  return html > 0 && html > json;
}

/** The installed packages' files, or `undefined` when they are not installed (`npm ci --omit=dev`). */
function packagedAssets(): Asset[] | undefined {
  try {
    return [
      asset("react.production.min.js", JS, readFileSync(packageFile("react", "umd/react.production.min.js"))),
      asset("react-dom.production.min.js", JS, readFileSync(packageFile("react-dom", "umd/react-dom.production.min.js"))),
      asset("graphiql.min.js", JS, readFileSync(packageFile("graphiql", "graphiql.min.js"))),
      asset("graphiql.min.css", CSS, readFileSync(packageFile("graphiql", "graphiql.min.css"))),
    ];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") return undefined;
    throw error;
  }
}

/**
 * Serves the playground on a browser's `GET <endpoint>` and its assets under `/playground/`
 * (the server registers it in development only). Answers in an onRequest hook, so it works
 * whether Apollo's route is registered before or after; every other request to the
 * endpoint (a POST, a GET with a `query` or `extensions` parameter, an Accept that prefers
 * JSON) goes on to Apollo untouched.
 */
export function registerPlayground(app: FastifyInstance, endpoint = "/graphql"): void {
  // Read once, here, rather than at the first page view.
  const packaged = packagedAssets();
  if (!packaged) {
    app.log.warn("playground off: graphiql, react and react-dom are not installed (development dependencies)");
    return;
  }
  const assets = Object.fromEntries(
    [...packaged, asset("playground.js", JS, Buffer.from(startScript(endpoint))), asset("playground.css", CSS, Buffer.from(PAGE_CSS))].map(
      (entry) => [entry.name, entry],
    ),
  );
  const html = page(assets);

  for (const { name, type, body } of Object.values(assets)) {
    app.get(`${PLAYGROUND_PREFIX}/${name}`, async (_request, reply) =>
      reply.type(type).header("cache-control", "public, max-age=31536000, immutable").header("x-content-type-options", "nosniff").send(body),
    );
  }

  app.addHook("onRequest", async (request, reply) => {
    if (request.method !== "GET" || request.routeOptions.url !== endpoint) return;
    const parameters = request.query as Record<string, unknown>;
    if (parameters.query !== undefined || parameters.extensions !== undefined) return;
    if (!prefersHtml(request.headers.accept)) return;
    return reply
      .type("text/html; charset=utf-8")
      .header("content-security-policy", PLAYGROUND_CSP)
      .header("cache-control", "no-cache")
      .header("vary", "Accept")
      .header("x-content-type-options", "nosniff")
      .header("referrer-policy", "no-referrer")
      .send(html);
  });
}
