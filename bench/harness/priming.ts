/** Sessions used once before a measurement, as a long-running server has seen its clients' sessions. */
import type { Fixtures } from "./database.js";
import { fmt } from "./format.js";
import { log } from "./lifecycle.js";

/**
 * Every fixture session used once, as a long-running server has seen its clients' sessions:
 * the viewer cache then holds them all, as it would in the steady state being measured. (A
 * warm-up alone does not reach every one of 2,000 sessions: each autocannon connection walks
 * the request list from its start.)
 */
export async function primeSessions(origin: string, fixtures: Fixtures): Promise<void> {
  const actors = [...fixtures.admin, ...fixtures.readers, ...fixtures.writers];
  const statements: number[] = [];
  for (let start = 0; start < actors.length; start += 16) {
    await Promise.all(
      actors.slice(start, start + 16).map(async (actor) => {
        const response = await fetch(`${origin}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${actor.token}` },
          body: JSON.stringify({ query: "{ me { id } }" }),
        });
        if (response.status !== 200) throw new Error(`priming a session answered HTTP ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
        statements.push(Number(response.headers.get("x-sql-statements") ?? 0));
      }),
    );
  }
  log(`primed ${fmt(actors.length)} sessions (${fmt(statements.reduce((sum, count) => sum + count, 0))} viewer reads)`);
}
