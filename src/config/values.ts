import { readFileSync } from "node:fs";
import { z } from "zod";
import { type Get, Setting } from "./parsers.js";

// Parsers of the settings' values: text of the environment to a value, with the message a
// bad value gets, and (as each parser's description) what the table says it accepts.

export const text = z.string().min(1).describe("text");
export const path = text.describe("a path");

export const boolean = z
  .enum(["1", "0", "true", "false", "yes", "no", "on", "off"], { error: "expected one of true/false, 1/0, yes/no, on/off" })
  .transform((value) => ["1", "true", "yes", "on"].includes(value))
  .describe("boolean");

export const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `expected a whole number from ${min} to ${max}` })
    .transform(Number)
    .refine((value) => value >= min && value <= max, { error: `expected a whole number from ${min} to ${max}` })
    .describe(`${min}–${max}`);

export const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, { error: "expected a postgres:// or postgresql:// connection string" })
  .describe("`postgres://…` or `postgresql://…`");

export const oneOf = <const Words extends readonly [string, ...string[]]>(words: Words) =>
  z.enum(words, { error: `expected ${words.slice(0, -1).join(", ")} or ${words.at(-1)}` }).describe(words.map((word) => `\`${word}\``).join(", "));

const GIB = 1024 ** 3;
const UNITS: Record<string, number> = { "": 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB, TIB: 1024 ** 4 };

/** A size in bytes: a whole number with an optional unit (`5GiB`, `500MB`, `1048576`). */
export const bytes = z
  .string()
  .transform((value, context) => {
    const match = /^(\d+)\s*([KMGT]i?B|B)?$/i.exec(value.trim());
    const size = match ? Number(match[1]) * UNITS[(match[2] ?? "").toUpperCase()]! : Number.NaN;
    if (!Number.isSafeInteger(size) || size < 1) {
      context.addIssue({ code: "custom", message: "expected a size in bytes such as 1048576, 500MB or 5GiB" });
      return z.NEVER;
    }
    return size;
  })
  .describe("bytes, or with a unit (`500MB`, `5GiB`)");

/** false (nobody), true (any hop), a number of proxy hops, or the proxies' addresses/CIDRs. */
export const trustProxy = z
  .string()
  .transform((value, context): boolean | number | string[] => {
    const word = value.toLowerCase();
    if (["1", "true", "yes", "on"].includes(word)) return true;
    if (["0", "false", "no", "off"].includes(word)) return false;
    if (/^\d+$/.test(value)) return Number(value);
    const addresses = value.split(",").map((entry) => entry.trim());
    if (addresses.every((entry) => /^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry))) return addresses;
    context.addIssue({ code: "custom", message: "expected true/false, a number of proxy hops, or comma-separated proxy addresses/CIDRs" });
    return z.NEVER;
  })
  .describe("boolean, a number of proxy hops, or proxy addresses/CIDRs");

export const origins = z
  .string()
  .refine((value) => value.split(",").every((origin) => /^https?:\/\/[^/\s,]+$/.test(origin.trim())), {
    error: "expected comma-separated origins such as https://app.example.com (scheme and host, no path)",
  })
  .transform((value): readonly string[] =>
    Object.freeze(
      value
        .split(",")
        .map((origin) => origin.trim())
        .filter(Boolean),
    ),
  )
  .describe("comma-separated `http(s)://host[:port]`, no path");

/**
 * A PEM given inline (`NAME`) or as a file (`NAME_FILE`): one declaration, one row of the table.
 * Both at once is a mistake.
 */
export function pem(
  name: string,
  kind: string,
  options: { meaning: string; defaultDoc: string; check?: (pem: string | undefined, get: Get) => string | undefined },
) {
  const file = `${name}_FILE`;
  const doc = {
    names: [name, file],
    meaning: options.meaning,
    accepts: `Ed25519 \`${kind}\` PEM inline, or the path of a file holding it; not both`,
    default: options.defaultDoc,
  };
  return new Setting<string | undefined>([doc], (reading) => {
    const inline = reading.env[name];
    const path = reading.env[file];
    if (inline && path) reading.problem(name, `set ${name} or ${file}, not both`);
    let value = inline;
    if (path) {
      try {
        value = readFileSync(path, "utf8");
      } catch {
        reading.problem(file, `cannot read ${path}`);
      }
    }
    if (value !== undefined && !value.includes(`-----BEGIN ${kind}-----`)) reading.problem(path ? file : name, `expected a PEM "${kind}" (Ed25519)`);
    const complaint = options.check?.(value, reading.get);
    if (complaint) reading.problem(name, complaint);
    return value;
  });
}
