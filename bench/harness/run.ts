/**
 * What every part is given: the options, the seeded throw-away schema, the signed-in
 * users, the server's JWT secret, and a wait for the machine to be quiet before each
 * measurement. `prepareRun` makes it (the one set-up every part shares).
 */
import { randomBytes } from "node:crypto";
import { quietWaiter } from "./cpu.js";
import { type BenchDatabase, createBenchDatabase, type Fixtures, seed, signIn } from "./database.js";
import { type Machine, machineFacts, type RunFacts } from "./facts.js";
import { fmt } from "./format.js";
import { log } from "./lifecycle.js";
import type { BenchOptions } from "./options.js";

export interface BenchRun {
  options: BenchOptions;
  database: BenchDatabase;
  fixtures: Fixtures;
  /** The secret every server of the run signs and checks tokens with. */
  jwtSecret: string;
  /** Waits (a little) for other work on the machine to stop before a measurement. */
  settle(): Promise<void>;
}

/** A throw-away schema, seeded, and users signed in; with the machine's facts and the seed's size. */
export async function prepareRun(options: BenchOptions): Promise<{ run: BenchRun; machine: Machine; seed: RunFacts["seed"] }> {
  const database = await createBenchDatabase(options.databaseUrl);
  const machine = machineFacts(database.facts);
  log(`schema ${database.schema} on ${machine.postgres.split(" on ")[0]}`);
  const seedMs = await seed(database, options);
  const datasets = options.users * options.datasetsPerUser;
  log(`seeded ${fmt(options.users)} users and ${fmt(datasets)} datasets in ${fmt(seedMs / 1000, 1)} s (vacuumed, analyzed)`);
  const jwtSecret = randomBytes(32).toString("hex");
  const fixtures = await signIn(database, jwtSecret, options.connections);
  const quiet = quietWaiter(options.quiet.totalSeconds, options.quiet.perPhaseSeconds);
  return {
    run: {
      options,
      database,
      fixtures,
      jwtSecret,
      async settle() {
        const note = await quiet();
        if (note) log(`  (${note})`);
      },
    },
    machine,
    seed: { users: options.users, datasets, seconds: Math.round(seedMs / 100) / 10 },
  };
}
