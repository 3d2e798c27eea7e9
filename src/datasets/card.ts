import { createRequire } from "node:module";
import { badUserInput } from "../common/errors.js";
import { checkText } from "../common/validation.js";

/**
 * The dataset card's input rules (docs/api.md "Input rules"): an SPDX licence id, tags, a
 * README. The licence list is the one the `spdx-license-ids` package ships (kept in step with
 * the SPDX License List by its maintainers), never a list typed here.
 */

export const TAGS_MAX = 20;
export const TAG_MAX = 32;
export const README_MAX = 100_000;

const require = createRequire(import.meta.url);
/** Current SPDX ids, and those the SPDX list keeps as deprecated (refused, with a hint). */
const CURRENT: readonly string[] = require("spdx-license-ids");
const DEPRECATED: readonly string[] = require("spdx-license-ids/deprecated.json");
// SPDX ids match case-insensitively (SPDX spec, annex B); the stored form is the list's own.
const byLowerCase = (ids: readonly string[]) => new Map(ids.map((id) => [id.toLowerCase(), id]));
const CURRENT_IDS = byLowerCase(CURRENT);
const DEPRECATED_IDS = byLowerCase(DEPRECATED);

/** An SPDX licence id, in the list's own spelling; anything else is BAD_USER_INPUT. */
export function checkLicense(field: string, value: string): string {
  checkText(field, value, { max: 100, shown: true });
  const id = CURRENT_IDS.get(value.trim().toLowerCase());
  if (id) return id;
  const deprecated = DEPRECATED_IDS.get(value.trim().toLowerCase());
  if (deprecated)
    throw badUserInput(field, `${field}: ${deprecated} is deprecated in the SPDX License List; use its current id (such as ${deprecated}-only)`);
  throw badUserInput(field, `${field} must be an SPDX licence id, such as CC-BY-4.0, MIT or ODbL-1.0 (https://spdx.org/licenses/)`);
}

const TAG = /^[a-z0-9-]{1,32}$/;

/** One tag: 1 to 32 of a-z 0-9 '-', upper case lowered. */
export function checkTag(field: string, value: string): string {
  const tag = value.toLowerCase();
  if (!TAG.test(tag))
    throw badUserInput(field, `${field} must be 1 to ${TAG_MAX} characters of a-z, 0-9 and '-' (got ${JSON.stringify(value.slice(0, 40))})`);
  return tag;
}

/** At most 20 tags, each checked, no two the same (after lowering); kept in the order given. */
export function checkTags(field: string, values: readonly string[]): string[] {
  if (values.length > TAGS_MAX) throw badUserInput(field, `${field} may hold at most ${TAGS_MAX} tags (got ${values.length})`);
  const tags = values.map((value, at) => checkTag(`${field}[${at}]`, value));
  const duplicate = tags.find((tag, at) => tags.indexOf(tag) !== at);
  if (duplicate !== undefined) throw badUserInput(field, `${field} holds "${duplicate}" twice`);
  return tags;
}

/** Markdown of at most 100,000 characters; tab and newline allowed, other control characters not. Stored as it is. */
export const checkReadme = (field: string, value: string) => checkText(field, value, { max: README_MAX, multiline: true });
