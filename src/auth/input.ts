import { EmailAddressResolver } from "graphql-scalars";
import { badUserInput } from "../common/errors.js";
import { checkText } from "../common/validation.js";

/** Account input rules (docs/api.md "Input rules"). */

export const EMAIL_MAX = 254;
const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;

/** A valid address of at most 254 characters, returned lower-case (as it is stored). */
export function parseEmail(field: string, email: string): string {
  checkText(field, email, { min: 1, max: EMAIL_MAX });
  try {
    // The same check the EmailAddress output scalar makes, so what is stored can be shown.
    EmailAddressResolver.parseValue(email);
  } catch {
    throw badUserInput(field, `${field} is not a valid email address`);
  }
  return email.toLowerCase();
}

export function parseUsername(field: string, username: string): string {
  if (!USERNAME.test(username)) {
    throw badUserInput(field, `${field} must be 3 to 32 characters of A-Z a-z 0-9 _ . -`);
  }
  return username;
}
