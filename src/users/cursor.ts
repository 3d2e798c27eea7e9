import { badUserInput } from "../errors.js";
import { decodeCursor, encodeCursor, isIssuedTime } from "../pagination.js";
import { checkId } from "../validation.js";
import type { UserRow } from "./rows.js";

/**
 * Cursors of the admin list of users (newest first). The first part names the list, so a
 * dataset cursor is refused here and a user cursor is refused by the dataset lists.
 */
const USERS = "users";

/** A position in the list: the created_at and id of the last user seen. */
export interface UserCursor {
  createdAt: string;
  id: string;
}

export function encodeUserCursor(user: UserRow): string {
  return encodeCursor([USERS, user.createdAt.toISOString(), user.id]);
}

/** Decodes `after`; anything this server did not issue for this list is BAD_USER_INPUT on `after`. */
export function decodeUserCursor(after: string): UserCursor {
  const [list, createdAt, id, ...rest] = decodeCursor(after);
  if (
    list !== USERS ||
    rest.length > 0 ||
    typeof createdAt !== "string" ||
    !isIssuedTime(createdAt) ||
    typeof id !== "string"
  ) {
    throw badUserInput("after", "after is not a cursor issued by this server for users");
  }
  try {
    return { createdAt, id: checkId("after", id) };
  } catch {
    throw badUserInput("after", "after is not a cursor issued by this server for users");
  }
}
