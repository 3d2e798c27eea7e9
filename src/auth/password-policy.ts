import { dictionary } from "@zxcvbn-ts/language-common";
import { badUserInput } from "../common/errors.js";
import { checkText } from "../common/validation.js";

/**
 * The password rules of NIST SP 800-63B: a length range, no composition rules, and no
 * password that is commonly used or equal to the account's own identifiers.
 */
export const PASSWORD_MIN_BYTES = 8;
/** bcrypt reads only the first 72 bytes; a longer password would be silently truncated. */
export const PASSWORD_MAX_BYTES = 72;

// The zxcvbn-ts project's list of commonly used passwords (about 49,000, maintained upstream).
const COMMON_PASSWORDS = new Set(dictionary["passwords-common"].map((word) => word.toLowerCase()));

/** Throws BAD_USER_INPUT on `field` naming the rule a new password breaks. */
export function checkNewPassword(field: string, password: string, account: { email: string; username: string }): void {
  checkPasswordShape(field, password);
  const folded = password.toLowerCase();
  if (COMMON_PASSWORDS.has(folded)) {
    throw badUserInput(field, `${field} is too common: it is on a list of frequently used passwords`);
  }
  if (folded === account.email.toLowerCase() || folded === account.username.toLowerCase()) {
    throw badUserInput(field, `${field} must not be the same as your email or username`);
  }
}

/** The length and character rules, which a password given to sign in must also meet. */
export function checkPasswordShape(field: string, password: string): void {
  checkText(field, password, { max: Number.MAX_SAFE_INTEGER });
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes < PASSWORD_MIN_BYTES || bytes > PASSWORD_MAX_BYTES) {
    throw badUserInput(field, `${field} must be ${PASSWORD_MIN_BYTES} to ${PASSWORD_MAX_BYTES} bytes long in UTF-8 (got ${bytes})`);
  }
}
