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
 * only connections are the fetcher's POSTs and the subscriptions' WebSocket to this server
 * ('self' covers ws: and wss: of the same host).
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

/**
 * The page's own script: a sign-in bar and GraphiQL. Signing in keeps the token pair in the
 * page (not in storage) and refreshes it a minute before it expires; every request, HTTP or
 * a subscription's graphql-ws connection (GraphiQL passes the headers as its connectionParams),
 * then carries `Authorization`, unless the headers editor sets one itself. Lines of the
 * default query stay short: the editor does not wrap them.
 */
function startScript(endpoint: string): string {
  const defaultQuery = [
    "# The dataset platform API's playground.",
    "# Sign in above (after `npm run seed`: ann@example.com,",
    '# "sample data passphrase"): every request then carries the',
    "# access token, refreshed before it expires. Or put a header",
    '# in Headers below: {"Authorization": "Bearer <accessToken>"}',
    "#",
    "# Subscriptions run here too, over WebSocket (graphql-ws):",
    "#   subscription { datasetEvents { type datasetId paths } }",
    "",
    "{ me { username email role } }",
    "",
  ].join("\n");
  return `"use strict";
(function () {
  var endpoint = ${JSON.stringify(endpoint)};
  var PAIR = "accessToken refreshToken expiresIn";
  var session = null;
  var refreshing = null;
  var status = document.getElementById("sign-in-status");
  var form = document.getElementById("sign-in");
  var signOut = document.getElementById("sign-out");

  function post(query, variables, token) {
    var headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    return fetch(endpoint, { method: "POST", headers: headers, body: JSON.stringify({ query: query, variables: variables }) })
      .then(function (response) { return response.json(); });
  }
  function show(text) {
    status.textContent = text;
    form.hidden = session !== null;
    signOut.hidden = session === null;
  }
  function adopt(pair, username) {
    session = { accessToken: pair.accessToken, refreshToken: pair.refreshToken, expiresAt: Date.now() + pair.expiresIn * 1000, username: username || session.username };
    show("Signed in as " + session.username + ": the token is sent and refreshed for you");
  }
  // One refresh at a time: a refresh token works once.
  function refresh() {
    if (!refreshing) {
      refreshing = post("mutation ($refreshToken: String!) { refreshSession(refreshToken: $refreshToken) { " + PAIR + " } }", { refreshToken: session.refreshToken })
        .then(function (body) {
          refreshing = null;
          if (!body.data) { session = null; show("The session ended: sign in again"); return null; }
          adopt(body.data.refreshSession);
          return session.accessToken;
        }, function (error) { refreshing = null; throw error; });
    }
    return refreshing;
  }
  function token() {
    if (!session) return Promise.resolve(null);
    return session.expiresAt - Date.now() > 60000 ? Promise.resolve(session.accessToken) : refresh();
  }
  setInterval(function () { if (session) token(); }, 15000);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = { email: form.elements.email.value, password: form.elements.password.value };
    show("Signing in…");
    post("mutation ($input: LoginInput!) { login(input: $input) { " + PAIR + " user { username } } }", { input: input }).then(function (body) {
      if (!body.data) return show(body.errors && body.errors[0] ? body.errors[0].message : "Could not sign in");
      form.elements.password.value = "";
      adopt(body.data.login, body.data.login.user.username);
    }, function () { show("The server did not answer"); });
  });
  signOut.addEventListener("click", function () {
    var ending = session;
    session = null;
    show("Signed out");
    if (ending) post("mutation ($t: String!) { logout(refreshToken: $t) }", { t: ending.refreshToken }, ending.accessToken);
  });

  var wsUrl = location.origin.replace(/^http/, "ws") + endpoint;
  var graphiqlFetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: wsUrl });
  function fetcher(params, options) {
    return token().then(function (current) {
      var headers = Object.assign({}, options && options.headers);
      var named = Object.keys(headers).some(function (name) { return name.toLowerCase() === "authorization"; });
      if (current && !named) headers.Authorization = "Bearer " + current;
      return graphiqlFetcher(params, Object.assign({}, options, { headers: headers }));
    });
  }
  show("Not signed in");
  var props = {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
    defaultQuery: ${JSON.stringify(defaultQuery)}
  };
  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
})();
`;
}

const PAGE_CSS = [
  "html, body { height: 100%; margin: 0; }",
  "body { display: flex; flex-direction: column; font: 14px system-ui, sans-serif; }",
  "#session { display: flex; gap: 8px; align-items: center; padding: 6px 12px; border-bottom: 1px solid #ddd; }",
  "#session form { display: flex; gap: 8px; }",
  "#session [hidden] { display: none; }",
  "#graphiql { flex: 1; min-height: 0; }",
  "",
].join("\n");

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
<div id="session">
<form id="sign-in"><input name="email" type="email" placeholder="email" autocomplete="username" required><input name="password" type="password" placeholder="password" autocomplete="current-password" required><button type="submit">Sign in</button></form>
<button id="sign-out" type="button" hidden>Sign out</button>
<span id="sign-in-status"></span>
</div>
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
