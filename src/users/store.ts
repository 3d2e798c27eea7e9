import type { AuditLog } from "../audit/events.js";
import type { AuditType } from "../audit/types.js";
import type { Database, Queryable } from "../db/database.js";
import { separateCount } from "../graphql/pagination.js";
import { containsPattern } from "../common/search.js";
import { revokeUserSessions } from "../sessions/store.js";
import { revokeUserTokens } from "../tokens/store.js";
import type { UserCursor } from "./cursor.js";
import type { UserCredentials, UserRow } from "./rows.js";
import * as sql from "./sql.js";

/** Users by id, in no particular order; missing ids are simply absent. */
export function findUsersByIds(db: Queryable, ids: readonly string[]): Promise<UserRow[]> {
  return db.query<UserRow>(sql.USERS_BY_IDS, [ids]);
}

export async function findCredentialsByEmail(db: Queryable, email: string): Promise<UserCredentials | null> {
  const [row] = await db.query<UserCredentials>(sql.USER_CREDENTIALS_BY_EMAIL, [email]);
  return row ?? null;
}

/** The user with `email` (stored lower-case), without credentials; null if there is none. */
export async function findUserByEmail(db: Queryable, email: string): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.USER_BY_EMAIL, [email]);
  return row ?? null;
}

/** The active user named `username` (any case); null when nobody active is. */
export async function findActiveUserByUsername(db: Queryable, username: string): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.ACTIVE_USER_BY_USERNAME, [username]);
  return row ?? null;
}

export interface NewUser {
  email: string;
  username: string;
  passwordHash: string;
  role: UserRow["role"];
}

/** Inserts a user; a taken email or username raises PostgreSQL's 23505 (see errors.ts). */
export async function insertUser(db: Queryable, user: NewUser): Promise<UserRow> {
  const [row] = await db.query<UserRow>(sql.INSERT_USER, [user.email, user.username, user.passwordHash, user.role]);
  return row!;
}

/** Sets the role of user `userId` (revoking their tokens); null if there is no such user. */
export async function setRole(db: Queryable, userId: string, role: UserRow["role"]): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.SET_ROLE, [userId, role]);
  return row ?? null;
}

/** The viewer's row and whether their session is live; null when the session is not theirs or gone. */
export async function findViewer(db: Queryable, userId: string, sessionId: string): Promise<(UserRow & { sessionLive: boolean }) | null> {
  const [row] = await db.query<UserRow & { sessionLive: boolean }>(sql.VIEWER_WITH_SESSION, [userId, sessionId]);
  return row ?? null;
}

export async function bumpTokenVersion(db: Queryable, userId: string): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.BUMP_TOKEN_VERSION, [userId]);
  return row ?? null;
}

export async function findPasswordHash(db: Queryable, userId: string): Promise<string | null> {
  const [row] = await db.query<{ passwordHash: string }>(sql.PASSWORD_HASH_BY_ID, [userId]);
  return row?.passwordHash ?? null;
}

export async function rehashPassword(db: Queryable, userId: string, passwordHash: string): Promise<void> {
  await db.query(sql.REHASH_PASSWORD, [userId, passwordHash]);
}

/** Sets a new password hash and bumps the token version; the updated row. */
export async function setPassword(db: Queryable, userId: string, passwordHash: string): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.SET_PASSWORD, [userId, passwordHash]);
  return row ?? null;
}

/** A page of users and, when it was asked for, how many users the search matches in all. */
export interface UserPage {
  rows: UserRow[];
  totalCount: number | null;
}

/**
 * One page of users, newest first, matching `search` (a literal substring of username or
 * email; null: all). With `withTotalCount`, the count comes in the same statement.
 */
export async function listUsers(
  db: Queryable,
  search: string | null,
  after: UserCursor | null,
  limit: number,
  withTotalCount: boolean,
): Promise<UserPage> {
  const params = [containsPattern(search), after?.createdAt ?? null, after?.id ?? null, limit];
  if (!withTotalCount) return { rows: await db.query<UserRow>(sql.USER_PAGE, params), totalCount: null };
  return separateCount(await db.query<UserRow & { totalCount: number }>(sql.USER_PAGE_WITH_COUNT, params), after === null);
}

export async function countUsers(db: Queryable, search: string | null): Promise<number> {
  const [row] = await db.query<{ count: number }>(sql.USER_COUNT, [containsPattern(search)]);
  return row!.count;
}

/** What an admin changes about a user: the role, or whether the account is active. */
export type AccountChange = { role: UserRow["role"] } | { active: boolean };

/** What an account change came to. */
export type AccountChangeOutcome =
  /** Changed: every token issued before is revoked (and, on deactivation, every session). */
  | { kind: "changed"; user: UserRow }
  /** The user already had that role or state: nothing was written, no token revoked. */
  | { kind: "unchanged"; user: UserRow }
  | { kind: "notFound" }
  /** The acting admin is no longer an active admin (demoted or deactivated meanwhile): nothing written. */
  | { kind: "actorNotAdmin" }
  /** The user is the last active admin, and the change would leave none. */
  | { kind: "lastAdmin" };

/**
 * Changes a user's role or active state, keeping at least one active admin. The check and
 * the change run in one transaction that first locks every active admin row: of two admins
 * demoting each other at the same moment, the second waits for the first, then sees that
 * only it is left and is refused. A change bumps the token version (every token issued
 * before stops working); a deactivation also ends every session.
 */
export function changeAccount(
  database: Database,
  audit: AuditLog,
  userId: string,
  change: AccountChange,
  actorId: string,
): Promise<AccountChangeOutcome> {
  return database.transaction(async (tx): Promise<AccountChangeOutcome> => {
    const admins = await tx.query<{ id: string }>(sql.LOCK_ACTIVE_ADMINS);
    // The request's viewer check may be a moment old; under the lock, this is the truth.
    if (!admins.some((admin) => admin.id === actorId)) return { kind: "actorNotAdmin" };
    const [user] = await tx.query<UserRow>(sql.USER_BY_ID_FOR_UPDATE, [userId]);
    if (!user) return { kind: "notFound" };

    const next = { role: user.role, active: user.active, ...change };
    if (next.role === user.role && next.active === user.active) return { kind: "unchanged", user };

    const wasActiveAdmin = user.role === "ADMIN" && user.active;
    const staysActiveAdmin = next.role === "ADMIN" && next.active;
    if (wasActiveAdmin && !staysActiveAdmin && !admins.some((admin) => admin.id !== user.id)) {
      return { kind: "lastAdmin" };
    }

    const [changed] =
      "role" in change
        ? await tx.query<UserRow>(sql.SET_ROLE, [userId, change.role])
        : await tx.query<UserRow>(sql.SET_ACTIVE, [userId, change.active]);
    // Deactivation ends sessions and personal access tokens for good: reactivating the user
    // later brings neither back (a leaked secret is a reason to deactivate someone).
    let tokensRevoked = 0;
    if ("active" in change && !change.active) {
      await revokeUserSessions(tx, userId, "deactivated");
      tokensRevoked = await revokeUserTokens(tx, userId);
    }
    const [type, details]: [AuditType, Record<string, unknown>] =
      "role" in change
        ? ["user.role_changed", { from: user.role, to: change.role }]
        : ["user.active_changed", { from: user.active, to: change.active, ...(tokensRevoked > 0 ? { tokensRevoked } : {}) }];
    await audit.record(tx, { type, actorId, subjectId: userId, details });
    return { kind: "changed", user: changed! };
  });
}
