/**
 * PostGraphile 5, the peer a user would pick instead (`--peer postgraphile`): found in the
 * shared folder beside the project (`shared/peers/postgraphile`, read-only), installed once
 * from the npm registry into a cache folder outside the repository (it brings its own
 * Node 22 as the `node` package), and started as a child process over the benchmark's own
 * seeded schema. Its README says how; nothing of it is committed.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { cp, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { log } from "../harness/lifecycle.js";
import { ROOT } from "../harness/paths.js";
import { type ChildServer, freePort, startChild } from "../harness/processes.js";
const run = promisify(execFile);

/** The files of the peer's folder that make an installation (a change to either is a new one). */
const PEER_FILES = ["package.json", "server.mjs"];

/** Where the shared folder's copy lives: PEER_POSTGRAPHILE_DIR, or `shared/peers/postgraphile` beside the checkout or one level up. */
export function findPeerSource(env: NodeJS.ProcessEnv): string {
  const candidates = [
    env.PEER_POSTGRAPHILE_DIR,
    resolve(ROOT, "../shared/peers/postgraphile"),
    resolve(ROOT, "../../shared/peers/postgraphile"),
  ].filter((path): path is string => Boolean(path));
  const found = candidates.find((path) => PEER_FILES.every((file) => existsSync(join(path, file))));
  if (!found) {
    throw new Error(`--peer postgraphile: no peer folder with ${PEER_FILES.join(" and ")} at ${candidates.join(", ")} (set PEER_POSTGRAPHILE_DIR)`);
  }
  return found;
}

/** An installed copy: its folder and the Node 22 it brought. */
export interface PeerInstallation {
  directory: string;
  node: string;
  version: string;
}

/**
 * The installed copy for this version of the peer's files, installing it first when there is
 * none: `npm install --prefix` into a temporary folder, renamed into place once complete, so
 * an interrupted install is never taken for a finished one.
 */
export async function installPeer(source: string, env: NodeJS.ProcessEnv): Promise<PeerInstallation> {
  const hash = createHash("sha256");
  for (const file of PEER_FILES) hash.update(await readFile(join(source, file)));
  const cache = join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "dataset-platform-bench");
  const directory = join(cache, `postgraphile-${hash.digest("hex").slice(0, 12)}`);
  const node = join(directory, "node_modules/node/bin/node");
  const marker = join(directory, ".installed");
  if (!existsSync(marker)) {
    const staging = `${directory}.partial-${process.pid}`;
    log(`installing PostGraphile from ${source} into ${directory} (npm install, about a minute)`);
    await rm(staging, { recursive: true, force: true });
    await mkdir(staging, { recursive: true });
    for (const file of PEER_FILES) await cp(join(source, file), join(staging, file));
    try {
      await run("npm", ["install", "--prefix", staging, "--no-audit", "--no-fund", "--loglevel=error"], { maxBuffer: 16 * 2 ** 20 });
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw new Error(`npm install of the peer failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
    }
    if (!existsSync(join(staging, "node_modules/node/bin/node"))) {
      await rm(staging, { recursive: true, force: true });
      throw new Error("the peer's install brought no node_modules/node/bin/node (its `node` package needs its install script)");
    }
    await writeFile(join(staging, ".installed"), `${new Date().toISOString()}\n`);
    await rm(directory, { recursive: true, force: true });
    await rename(staging, directory);
  }
  const version = JSON.parse(await readFile(join(directory, "node_modules/postgraphile/package.json"), "utf8")).version as string;
  return { directory, node, version };
}

export interface PeerServerOptions {
  installation: PeerInstallation;
  /** The benchmark schema's connection string (its application_name makes its backends counted). */
  databaseUrl: string;
  schema: string;
  /** The same HS256 secret the project's server signs with: one token works for both. */
  jwtSecret: string;
  /** A token it accepts, for the readiness check. */
  token: string;
}

/** PostGraphile on a free port, ready once it answers `{ __typename }` to a signed-in request. */
export async function startPeerServer(options: PeerServerOptions): Promise<ChildServer> {
  const port = await freePort();
  const { installation } = options;
  return startChild({
    label: "PostGraphile",
    command: installation.node,
    args: [join(installation.directory, "server.mjs")],
    cwd: installation.directory,
    env: {
      NODE_ENV: "production",
      DATABASE_URL: options.databaseUrl,
      PG_SCHEMA: options.schema,
      JWT_SECRET: options.jwtSecret,
      PORT: String(port),
    },
    port,
    ready: async (origin) => {
      try {
        const response = await fetch(`${origin}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${options.token}` },
          body: JSON.stringify({ query: "{ __typename }" }),
          signal: AbortSignal.timeout(2_000),
        });
        await response.arrayBuffer();
        return response.ok;
      } catch {
        return false;
      }
    },
  });
}

/** `node --version` of the peer's Node. */
export async function peerNodeVersion(installation: PeerInstallation): Promise<string> {
  return (await run(installation.node, ["--version"])).stdout.trim();
}
