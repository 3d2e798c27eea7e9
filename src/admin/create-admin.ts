import { parseEmail, parseUsername } from "../auth/input.js";
import type { PasswordHasher } from "../auth/passwords.js";
import { checkNewPassword } from "../auth/password-policy.js";
import type { Database } from "../db/database.js";
import { fromDatabaseError } from "../errors.js";
import type { UserRow } from "../users/rows.js";
import { insertUser, setRoleByEmail } from "../users/store.js";

export interface AdminRequest {
  email: string;
  /** Needed only when the user does not exist yet. */
  username?: string;
  /** Needed only when the user does not exist yet; the usual password rules apply. */
  password?: string;
}

export interface AdminResult {
  user: UserRow;
  /** True when a new user was made; false when an existing one was promoted. */
  created: boolean;
}

/**
 * Makes `email` an admin: promotes the user with that email, or creates one with role
 * ADMIN. The only way an admin comes to be other than by another admin (docs/api.md).
 * Input errors are thrown as the API's `ClientError`s, with the field named.
 */
export async function createOrPromoteAdmin(
  database: Database,
  passwords: PasswordHasher,
  request: AdminRequest,
): Promise<AdminResult> {
  const email = parseEmail("email", request.email);
  const promoted = await setRoleByEmail(database, email, "ADMIN");
  if (promoted) return { user: promoted, created: false };

  if (request.username === undefined || request.password === undefined) {
    throw new Error(`No user has the email ${email}; to create one, give --username and --password too`);
  }
  const username = parseUsername("username", request.username);
  checkNewPassword("password", request.password, { email, username });
  const passwordHash = await passwords.hash(request.password);
  try {
    const user = await insertUser(database, { email, username, passwordHash, role: "ADMIN" });
    return { user, created: true };
  } catch (error) {
    throw fromDatabaseError(error);
  }
}
