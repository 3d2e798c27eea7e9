import { timeCursors } from "../graphql/pagination.js";
import type { UserRow } from "./rows.js";

/** Cursors of the admin list of users (newest first): created_at and id of the last user seen. */
const cursors = timeCursors("users");

export interface UserCursor {
  createdAt: string;
  id: string;
}

export const encodeUserCursor = (user: UserRow) => cursors.encode(user.createdAt, user.id);

/** Decodes `after`; anything this server did not issue for this list is BAD_USER_INPUT on `after`. */
export function decodeUserCursor(after: string): UserCursor {
  const { at, id } = cursors.decode(after);
  return { createdAt: at, id };
}
