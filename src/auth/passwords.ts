import bcrypt from "bcryptjs";
import { Piscina } from "piscina";

/**
 * Password hashing with bcrypt (bcryptjs), in a pool of worker threads: a wave of logins
 * keeps the workers busy while the event loop goes on serving other requests.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** True when `hash` was made at another cost than the configured one (rehash it at sign-in). */
  needsRehash(hash: string): boolean;
  /** Compares against `hash`, or spends the same work on a dummy hash when it is null. */
  verify(password: string, hash: string | null): Promise<boolean>;
  close(): Promise<void>;
}

const WORKER = new URL("./hash-worker.mjs", import.meta.url).href;

export function createPasswordHasher(cost: number, workers = 1): PasswordHasher {
  const pool = new Piscina({ filename: WORKER, minThreads: workers, maxThreads: workers, idleTimeout: 60_000 });
  const hash = (password: string): Promise<string> => pool.run({ op: "hash", password, cost });
  const compare = (password: string, against: string): Promise<boolean> => pool.run({ op: "compare", password, hash: against });
  // Made at start-up, so that even the first unknown email costs the same as a wrong password.
  const dummyHash = hash("not a real password");
  dummyHash.catch(() => undefined);
  return {
    hash,
    needsRehash: (stored) => bcrypt.getRounds(stored) !== cost,
    async verify(password, stored) {
      if (stored === null) {
        await compare(password, await dummyHash);
        return false;
      }
      return compare(password, stored);
    },
    close: () => pool.destroy(),
  };
}
