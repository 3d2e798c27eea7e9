import type { ConnectionModel, EdgeModel } from "../pagination.js";

/** A user as the API may show it (the GraphQL `User` mapper). No secrets here. */
export interface UserRow {
  id: string;
  username: string;
  email: string;
  role: "USER" | "ADMIN";
  active: boolean;
  tokenVersion: number;
  createdAt: Date;
  updatedAt: Date;
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

/** Splits a row read with a `PrefixedUserRow` into that user and the rest of the row. */
export function separateUser<Rest, Prefix extends string>(row: Rest & PrefixedUserRow<Prefix>, prefix: Prefix): { user: UserRow; rest: Rest } {
  const user: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith(prefix)) user[key.slice(prefix.length)] = value;
    else rest[key] = value;
  }
  return { user: user as unknown as UserRow, rest: rest as Rest };
}
