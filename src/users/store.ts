import type { Queryable } from "../db/database.js";
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

/** Sets the role of the user with `email` (revoking their tokens); null if there is none. */
export async function setRoleByEmail(db: Queryable, email: string, role: UserRow["role"]): Promise<UserRow | null> {
  const [row] = await db.query<UserRow>(sql.SET_ROLE_BY_EMAIL, [email, role]);
  return row ?? null;
}

/** The viewer's row and whether their session is live; null when the session is not theirs or gone. */
export async function findViewer(
  db: Queryable,
  userId: string,
  sessionId: string,
): Promise<(UserRow & { sessionLive: boolean }) | null> {
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
