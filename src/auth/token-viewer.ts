import type DataLoader from "dataloader";
import { invalidToken } from "../common/errors.js";
import type { Queryable } from "../db/database.js";
import { findTokenBySecret, touchAccessToken } from "../tokens/store.js";
import type { UserRow } from "../users/rows.js";
import { secretHash, wellFormedSecret } from "./personal-secrets.js";
import { createThrottle } from "./throttle.js";
import type { TokenFacts } from "./viewer-cache.js";
import type { AuthServices, Viewer } from "./viewer-model.js";

/** `lastUsedAt` is written at most this often per token (and per instance: the statement checks it too). */
const STAMP_EVERY_MS = 60_000;

/**
 * A personal access token (`dpat_…`) as the whole request's credential. Valid: its user,
 * active, with the token's scope and datasets, never an admin's powers (the policy, from
 * `credential`). Unknown, revoked or expired: 401 UNAUTHENTICATED, as an invalid access
 * token. An unknown secret counts against the client's address as a failed sign-in does,
 * so secrets cannot be guessed at speed; an address over that limit is RATE_LIMITED before
 * its secret is looked up.
 *
 * Like a session: no statement when the viewer cache holds the token (its facts by the
 * secret's hash, its validity under the token's id, forgotten when the token or its user
 * changes: migrations/014), else one on the prefix index.
 */
export async function authenticateSecret(
  secret: string,
  clientAddress: string,
  services: AuthServices,
  db: Queryable,
  users: DataLoader<string, UserRow | null>,
): Promise<Viewer> {
  const { viewers } = services;
  const hash = secretHash(secret);
  const key = hash.toString("base64url");
  const facts = viewers.tokenFacts(key);
  const cached = facts && viewers.get(facts.tokenId);
  const found =
    facts && cached && cached.id === facts.userId && cached.active
      ? { user: cached, facts }
      : await viewers
          .readOnce(`token ${key}`, async (snapshot) => {
            const read = await readTokenViewer(db, services, secret, hash, key, clientAddress, snapshot);
            return { ...read.user, read };
          })
          .then(({ read }) => read);
  const { user, facts: token } = found;
  if (Date.now() - token.stampedAt >= STAMP_EVERY_MS) {
    token.stampedAt = Date.now();
    // A stamp that fails costs the request nothing: `lastUsedAt` is a hint, not a record.
    await touchAccessToken(db, token.tokenId).catch(() => undefined);
  }
  users.prime(user.id, user);
  return {
    id: user.id,
    role: user.role,
    sessionId: token.tokenId,
    tokenVersion: user.tokenVersion,
    credential: { kind: "token", tokenId: token.tokenId, scope: token.scope, datasetIds: token.datasetIds, expiresAtMs: token.expiresAtMs },
  };
}

async function readTokenViewer(
  db: Queryable,
  services: AuthServices,
  secret: string,
  hash: Buffer,
  key: string,
  clientAddress: string,
  snapshot: number,
): Promise<{ user: UserRow; facts: TokenFacts }> {
  const { viewers } = services;
  const throttle = createThrottle(db, services.config.throttle);
  // A secret this instance has seen match a token is no guess: only others ask the throttle first.
  if (!viewers.tokenFacts(key)) await throttle.refuseGuessing(clientAddress);
  const found = wellFormedSecret(secret) ? await findTokenBySecret(db, secret, hash) : null;
  if (!found) {
    await throttle.secretGuessed(clientAddress);
    throw invalidToken("The access token is invalid, revoked or expired");
  }
  if (!found.live || !found.user.active) throw invalidToken("The access token is invalid, revoked or expired");
  const facts = viewers.tokenFacts(key) ?? {
    tokenId: found.tokenId,
    userId: found.user.id,
    scope: found.scope,
    datasetIds: found.datasetIds,
    expiresAtMs: found.expiresAt === null ? null : Date.parse(found.expiresAt),
    stampedAt: 0,
  };
  // The expiry as the database has it now (the facts may be from an earlier read).
  facts.expiresAtMs = found.expiresAt === null ? null : Date.parse(found.expiresAt);
  viewers.rememberTokenFacts(key, facts);
  viewers.remember(found.tokenId, found.user, snapshot, found.expiresAt === null ? null : Date.parse(found.expiresAt));
  return { user: found.user, facts };
}
