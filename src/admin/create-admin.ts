import type { AuditLog } from "../audit/events.js";
import { parseEmail, parseUsername } from "../auth/input.js";
import type { PasswordHasher } from "../auth/passwords.js";
import { checkNewPassword } from "../auth/password-policy.js";
import type { Database } from "../db/database.js";
import { fromDatabaseError } from "../common/errors.js";
import type { UserRow } from "../users/rows.js";
import { findUserByEmail, insertUser, setRole } from "../users/store.js";

export interface AdminRequest {
  email: string;
  /** For a new admin; with `promoteExisting`, a check that the account is the one meant. */
  username?: string;
  /** For a new admin only; the usual password rules apply. */
  password?: string;
  /**
   * Promote the account that already has this email; it keeps its own password. Without
   * it an existing account is never touched: whoever registered the email first need not
   * be the operator.
   */
  promoteExisting?: boolean;
}

export interface AdminResult {
  user: UserRow;
  /** `created`: a new admin; `promoted`: an existing account made admin; `unchanged`: it was one. */
  outcome: "created" | "promoted" | "unchanged";
}

/** An operator's request that was refused, said in one line; nothing was changed. */
export class AdminRefusal extends Error {
  override name = "AdminRefusal";
}

/** Who holds an account, as the operator needs to judge whether it is theirs. */
export function describeAccount(user: UserRow): string {
  return `"${user.username}" (id ${user.id}, registered ${user.createdAt})`;
}

const promoteHint = (email: string) =>
  `if that account is yours, promote it with --email ${email} --promote-existing (and no --password); otherwise choose another email`;

/**
 * Makes an admin: creates a new user with role ADMIN, or, only when `promoteExisting` is
 * set, promotes the existing user with that email. The only way an admin comes to be
 * other than by another admin. Input errors are thrown as the API's `ClientError`s (with
 * the field named), refusals as `AdminRefusal`.
 */
export async function createOrPromoteAdmin(
  database: Database,
  passwords: PasswordHasher,
  audit: AuditLog,
  request: AdminRequest,
): Promise<AdminResult> {
  const email = parseEmail("email", request.email);
  if (request.promoteExisting) return promote(database, audit, email, request);

  const existing = await findUserByEmail(database, email);
  if (existing) {
    throw new AdminRefusal(`The email ${email} is already registered, by ${describeAccount(existing)}: nothing was changed; ${promoteHint(email)}`);
  }
  if (request.username === undefined || request.password === undefined) {
    throw new AdminRefusal(`No user has the email ${email}; to create one, give --username and --password too`);
  }
  const username = parseUsername("username", request.username);
  checkNewPassword("password", request.password, { email, username });
  const passwordHash = await passwords.hash(request.password);
  try {
    const user = await insertUser(database, { email, username, passwordHash, role: "ADMIN" });
    return { user, outcome: "created" };
  } catch (error) {
    // Registered while the password was being hashed: the same refusal as above.
    const taken = await findUserByEmail(database, email);
    if (taken)
      throw new AdminRefusal(`The email ${email} was registered just now, by ${describeAccount(taken)}: nothing was changed; ${promoteHint(email)}`);
    throw fromDatabaseError(error);
  }
}

/** Promotes the account with `email`, recording who did it in the audit trail. */
async function promote(database: Database, audit: AuditLog, email: string, request: AdminRequest): Promise<AdminResult> {
  if (request.password !== undefined) {
    throw new AdminRefusal("--promote-existing keeps the account's own password: leave out --password");
  }
  const existing = await findUserByEmail(database, email);
  if (!existing) {
    throw new AdminRefusal(
      `No user has the email ${email}: nothing to promote (to create one, give --username and --password instead of --promote-existing)`,
    );
  }
  if (request.username !== undefined && request.username.toLowerCase() !== existing.username.toLowerCase()) {
    throw new AdminRefusal(`The email ${email} belongs to ${describeAccount(existing)}, not to "${request.username}": nothing was changed`);
  }
  if (existing.role === "ADMIN") return { user: existing, outcome: "unchanged" };
  const promoted = await database.transaction(async (tx) => {
    // The account checked above, by id: deleted meanwhile, it is not there to promote.
    const row = await setRole(tx, existing.id, "ADMIN");
    if (row) {
      const details = { from: existing.role, to: "ADMIN", by: "create-admin" };
      await audit.record(tx, { type: "user.role_changed", actorId: null, subjectId: row.id, details });
    }
    return row;
  });
  if (!promoted) throw new AdminRefusal(`The user with the email ${email} was deleted just now: nothing to promote`);
  return { user: promoted, outcome: "promoted" };
}
