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
