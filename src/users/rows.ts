import type { IsoTime } from "../db/timestamps.js";
import type { ConnectionModel, EdgeModel } from "../graphql/pagination.js";

/** A user as the API may show it (the GraphQL `User` mapper). No secrets here. */
export interface UserRow {
  id: string;
  username: string;
  email: string;
  role: "USER" | "ADMIN";
  active: boolean;
  tokenVersion: number;
  createdAt: IsoTime;
  updatedAt: IsoTime;
}

/** What sign-in needs: the user and the password hash, which never leaves the auth module. */
export interface UserCredentials extends UserRow {
  passwordHash: string;
}

export type UserEdgeModel = EdgeModel<UserRow>;
export type UserConnectionModel = ConnectionModel<UserRow>;

/** A `UserRow` read under prefixed column names (`owner.id`, …; see `prefixedUserColumns`). */
export type PrefixedUserRow<Prefix extends string> = {
  [Property in keyof UserRow as `${Prefix}${Property}`]: UserRow[Property];
};

/**
 * Splits a row read with a `PrefixedUserRow` into that user and the rest of the row. Once
 * per row of an admin list: `for…in` rather than `Object.entries`, which would allocate an
 * array per column.
 */
export function separateUser<Rest, Prefix extends string>(row: Rest & PrefixedUserRow<Prefix>, prefix: Prefix): { user: UserRow; rest: Rest } {
  const user: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  const source = row as Record<string, unknown>;
  for (const key in source) {
    if (key.startsWith(prefix)) user[key.slice(prefix.length)] = source[key];
    else rest[key] = source[key];
  }
  return { user: user as unknown as UserRow, rest: rest as Rest };
}
