import { sameHash, secretPrefix } from "../auth/personal-secrets.js";
import type { Queryable } from "../db/database.js";
import type { IsoTime } from "../db/timestamps.js";
import type { TokenScope } from "../generated/graphql.js";
import { type PrefixedUserRow, separateUser, type UserRow } from "../users/rows.js";
import type { AccessTokenRow } from "./rows.js";
import * as sql from "./sql.js";

/** What `createAccessToken` stores: the secret itself is never passed here, only its prefix and hash. */
export interface NewAccessToken {
  userId: string;
  name: string;
  scope: TokenScope;
  datasetIds: string[] | null;
  prefix: string;
  secretHash: Buffer;
  expiresInDays: number | null;
}

export async function insertAccessToken(db: Queryable, token: NewAccessToken): Promise<AccessTokenRow> {
  const [row] = await db.query<AccessTokenRow>(sql.INSERT_TOKEN, [
    token.userId,
    token.name,
    token.scope,
    token.datasetIds,
    token.prefix,
    token.secretHash,
    token.expiresInDays,
  ]);
  return row!;
}

export function listAccessTokens(db: Queryable, userId: string): Promise<AccessTokenRow[]> {
  return db.query<AccessTokenRow>(sql.TOKENS_OF_USER, [userId]);
}

export async function findAccessToken(db: Queryable, id: string): Promise<AccessTokenRow | null> {
  const [row] = await db.query<AccessTokenRow>(sql.TOKEN_BY_ID, [id]);
  return row ?? null;
}

/** The row when this call revoked it; null when it was revoked already. */
export async function revokeAccessToken(db: Queryable, id: string): Promise<AccessTokenRow | null> {
  const [row] = await db.query<AccessTokenRow>(sql.REVOKE_TOKEN, [id]);
  return row ?? null;
}

/** A token found by the prefix of a presented secret, with its user. */
/** Revokes every token of user `userId` (deactivation ends tokens as it ends sessions); how many. */
export async function revokeUserTokens(db: Queryable, userId: string): Promise<number> {
  return (await db.query<{ id: string }>(sql.REVOKE_USER_TOKENS, [userId])).length;
}

export interface TokenCandidate {
  tokenId: string;
  scope: TokenScope;
  datasetIds: string[] | null;
  secretHash: Uint8Array;
  expiresAt: IsoTime | null;
  live: boolean;
  user: UserRow;
}

export async function tokensByPrefix(db: Queryable, prefix: string): Promise<TokenCandidate[]> {
  const rows = await db.query<Omit<TokenCandidate, "user"> & PrefixedUserRow<"user.">>(sql.TOKENS_BY_PREFIX, [prefix]);
  return rows.map((row) => {
    const { user, rest } = separateUser(row, "user.");
    return { ...rest, user };
  });
}

/** Stamps `lastUsedAt`, unless it was stamped less than a minute ago. */
export async function touchAccessToken(db: Queryable, id: string): Promise<void> {
  await db.query(sql.TOUCH_TOKEN, [id]);
}

/** The user behind a credential id and whether it works now; a token's scope and datasets. */
export interface CredentialViewer extends UserRow {
  live: boolean;
  isToken: boolean;
  tokenScope: TokenScope | null;
  tokenDatasetIds: string[] | null;
  /** The token's expiry, epoch milliseconds as text (a bigint), or null. */
  tokenExpiresAtMs: string | null;
}

export async function findCredentialViewer(db: Queryable, userId: string, credentialId: string): Promise<CredentialViewer | null> {
  const [row] = await db.query<CredentialViewer>(sql.VIEWER_WITH_CREDENTIAL, [userId, credentialId]);
  return row ?? null;
}

/** The token whose secret is `secret` (its SHA-256 `hash`): found by prefix, compared in constant time. */
export async function findTokenBySecret(db: Queryable, secret: string, hash: Uint8Array): Promise<TokenCandidate | null> {
  const candidates = await tokensByPrefix(db, secretPrefix(secret));
  // Every candidate is compared, so the time taken says nothing of which one matched.
  let match: TokenCandidate | null = null;
  for (const candidate of candidates) if (sameHash(candidate.secretHash, hash)) match = candidate;
  return match;
}
