import type DataLoader from "dataloader";
import { invalidToken } from "../errors.js";
import type { UserRow } from "../users/rows.js";
import type { AccessTokens } from "./tokens.js";

/** The signed-in user making a request, as the database says now (not as the token says). */
export interface Viewer {
  id: string;
  role: UserRow["role"];
}

/**
 * Reads `Authorization: Bearer <token>`. No header: anonymous (null). A header that is
 * malformed, a token that is invalid or expired, or one whose user is gone, inactive or
 * has revoked it (older token version) fails the whole request with 401.
 *
 * The user row comes through the request's user loader, so `me` and owners already
 * loaded by it cost no second statement.
 */
export async function authenticate(
  authorization: string | undefined,
  tokens: AccessTokens,
  users: DataLoader<string, UserRow | null>,
): Promise<Viewer | null> {
  if (authorization === undefined) return null;
  const match = /^Bearer +(\S+) *$/i.exec(authorization);
  if (!match) throw invalidToken("The Authorization header must be `Bearer <access token>`");
  const claims = await tokens.verify(match[1]!);
  if (!claims) throw invalidToken();
  const user = await users.load(claims.userId);
  if (!user || !user.active || user.tokenVersion !== claims.tokenVersion) {
    throw invalidToken("The access token has been revoked; sign in again");
  }
  return { id: user.id, role: user.role };
}
