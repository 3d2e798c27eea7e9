import bcrypt from "bcryptjs";

/**
 * Password hashing with bcrypt. bcryptjs's async API hashes in slices between event-loop
 * turns, so other requests keep being served while a hash runs.
 */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Compares against `hash`, or spends the same work on a dummy hash when it is null. */
  verify(password: string, hash: string | null): Promise<boolean>;
}

export function createPasswordHasher(cost: number): PasswordHasher {
  // Made once, lazily: an unknown email then costs the same as a wrong password.
  let dummyHash: Promise<string> | undefined;
  return {
    hash: (password) => bcrypt.hash(password, cost),
    async verify(password, hash) {
      if (hash === null) {
        dummyHash ??= bcrypt.hash("not a real password", cost);
        await bcrypt.compare(password, await dummyHash);
        return false;
      }
      return bcrypt.compare(password, hash);
    },
  };
}
