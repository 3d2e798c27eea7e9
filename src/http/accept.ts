/**
 * The `Accept` request header (RFC 9110 §12.5.1), read by the rules Apollo Server
 * negotiates its responses with (the `negotiator` package), so that what this server
 * answers before Apollo runs (the playground, the labels of Fastify's errors) agrees with
 * what Apollo answers.
 */

/** One media range of the header: `type/subtype;name=value;q=0.5`, lower-cased. */
interface MediaRange {
  type: string;
  subtype: string;
  q: number;
  /** Parameters other than `q`. */
  parameters: Array<[name: string, value: string]>;
  /** Its place in the header (ties go to the range listed first). */
  order: number;
}

/** How a header accepts one media type: the range that decides, or q 0 when none matches. */
export interface Acceptance {
  q: number;
  /** How closely the deciding range matched: type (4), subtype (2), parameters (1). */
  specificity: number;
  order: number;
}

/** The media ranges of an `Accept` header; malformed ones are left out. */
export function parseAccept(accept: string): MediaRange[] {
  return accept.split(",").flatMap((part, order) => {
    const [range = "", ...pieces] = part.split(";").map((piece) => piece.trim().toLowerCase());
    const [type, subtype] = range.split("/");
    if (!type || !subtype) return [];
    let q = 1;
    const parameters: Array<[string, string]> = [];
    for (const piece of pieces) {
      const [name = "", value = ""] = piece.split("=").map((text) => text.trim().replace(/^"(.*)"$/, "$1"));
      if (name === "q") q = Number.parseFloat(value);
      else parameters.push([name, value]);
    }
    return [{ type, subtype, q: Number.isNaN(q) ? 0 : q, parameters, order }];
  });
}

/**
 * How `ranges` accept `mediaType` (say `application/json`, always sent as UTF-8): the q
 * of the most specific range that matches it, then the higher q, then the later range, as
 * negotiator decides. A range with a parameter other than a UTF-8 charset does not match.
 */
export function acceptance(ranges: readonly MediaRange[], mediaType: string): Acceptance {
  const [type, subtype] = mediaType.split("/");
  let best: Acceptance = { q: 0, specificity: -1, order: -1 };
  for (const range of ranges) {
    let specificity = 0;
    if (range.type === type) specificity |= 4;
    else if (range.type !== "*") continue;
    if (range.subtype === subtype) specificity |= 2;
    else if (range.subtype !== "*") continue;
    if (range.parameters.length > 0) {
      if (!range.parameters.every(([name, value]) => name === "charset" && (value === "utf-8" || value === "*"))) continue;
      specificity |= 1;
    }
    if ((specificity - best.specificity || range.q - best.q || range.order - best.order) > 0) {
      best = { q: range.q, specificity, order: range.order };
    }
  }
  return best;
}

/**
 * Of `offered`, the type `accept` prefers: the highest q, then the more specific match,
 * then the range listed first, then the order of `offered`. No header: the first offered.
 * `undefined` when none is acceptable.
 */
export function preferredType<Type extends string>(accept: string | undefined, offered: readonly Type[]): Type | undefined {
  if (!accept) return offered[0];
  const ranges = parseAccept(accept);
  const [first] = offered
    .map((type, index) => ({ type, index, ...acceptance(ranges, type) }))
    .filter((entry) => entry.q > 0)
    .sort((a, b) => b.q - a.q || b.specificity - a.specificity || a.order - b.order || a.index - b.index);
  return first?.type;
}
