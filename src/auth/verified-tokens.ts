import type { AccessClaims } from "./claims.js";

/**
 * A bounded cache of access tokens already verified, until their expiry. Verifying a JWT
 * (jose) costs tens of microseconds of main thread per request; a client sends the same
 * token many times in its 15 minutes. Only the signature check is skipped: revocation
 * (session, token version, active, role) is still read from the database on every request.
 */
export interface VerifiedTokens {
  get(token: string): AccessClaims | undefined;
  set(token: string, claims: AccessClaims, expiresAtSeconds: number): void;
}

export function createVerifiedTokens(capacity = 10_000, now = () => Date.now()): VerifiedTokens {
  // A Map keeps insertion order: the first key is the oldest, evicted when full.
  const entries = new Map<string, { claims: AccessClaims; expiresAtMs: number }>();
  return {
    get(token) {
      const entry = entries.get(token);
      if (!entry) return undefined;
      if (entry.expiresAtMs <= now()) {
        entries.delete(token);
        return undefined;
      }
      return entry.claims;
    },
    set(token, claims, expiresAtSeconds) {
      if (entries.size >= capacity) entries.delete(entries.keys().next().value!);
      entries.set(token, { claims, expiresAtMs: expiresAtSeconds * 1000 });
    },
  };
}
