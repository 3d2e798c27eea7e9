import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { UntypedData } from "./server.js";

/** Runs the project's own entry points as separate processes, the way an operator does. */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The environment of a child: only what the test gives, plus PATH (no DATABASE_URL leaking in). */
function childEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...env };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * How Node runs `script`: a built `.js` file as production runs it; a TypeScript file with tsx's
 * loader inside the same Node process (`node --import tsx`). Not through the `tsx` command: that
 * is a second process which relays a signal to the script's and, when the script does not report
 * it within 30 ms (a busy machine), kills it with SIGKILL, so a SIGTERM test saw no graceful stop.
 */
function command(script: string): { file: string; args: string[] } {
  return { file: process.execPath, args: script.endsWith(".js") ? [script] : ["--import", "tsx", script] };
}

/** Runs `script` (relative to the project: `src/cli/migrate.ts`, or `dist/cli/migrate.js`) to completion. */
export function runScript(script: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { file, args: scriptArgs } = command(script);
    const child = spawn(file, [...scriptArgs, ...args], { cwd: ROOT, env: childEnvironment(env) });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface RunningServer {
  url: string;
  child: ChildProcess;
  /** What it wrote until it listened (its start-up log lines). */
  startupOutput: string;
  /** Everything it has written so far (stdout and stderr). */
  output(): string;
  /** Resolves once its output matches `pattern` (rejects if it exits first). */
  waitForOutput(pattern: RegExp): Promise<void>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts the server and waits until it listens: `src/main.ts` through tsx (what `npm run dev`
 * runs), or `dist/main.js` (what `npm start` runs, once `npm run build` made it).
 */
export function startServerProcess(env: Record<string, string>, entry = "src/main.ts"): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const { file, args } = command(entry);
    const child = spawn(file, args, { cwd: ROOT, env: childEnvironment({ PORT: "0", LOG_LEVEL: "info", ...env }) });
    let output = "";
    let listening = false;
    const exited = new Promise<number | null>((done) => child.on("close", done));
    const waiting = new Set<() => void>();
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const check of waiting) check();
      const match = listening ? null : /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        listening = true;
        resolve({
          url: `${match[1]}/graphql`,
          child,
          startupOutput: output,
          output: () => output,
          waitForOutput: (pattern) =>
            new Promise<void>((found, failed) => {
              const check = () => {
                if (!pattern.test(output)) return;
                waiting.delete(check);
                found();
              };
              waiting.add(check);
              check();
              void exited.then(() => {
                waiting.delete(check);
                failed(new Error(`server exited before writing ${pattern}:\n${output}`));
              });
            }),
          stop: () => {
            child.kill("SIGTERM");
            return exited;
          },
        });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${output}`)));
  });
}

/** POSTs one GraphQL operation to `url`. */
export async function post(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<UntypedData> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}
