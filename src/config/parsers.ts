import type { z } from "zod";

/**
 * The machinery behind `settings.ts`: an environment variable declared once (its parser, its
 * default, its row of docs/configuration.md), and a reading of the whole environment that reports every
 * problem, not the first only. `settings.ts` holds the declarations (their value parsers are in
 * `values.ts`).
 */

/** What docs/configuration.md's table says of one declaration: one row. */
export interface VariableDoc {
  /** The variables the row is about: one, or a value and its `_FILE` form. */
  readonly names: readonly string[];
  readonly meaning: string;
  /** The values taken (the parser's `description`). */
  readonly accepts: string;
  readonly default: string;
}

/** The value of another declaration, read once on first use (for defaults and checks that depend on it). */
export type Get = <T>(setting: Setting<T>) => T;

/** Thrown through a reading when a declaration it depends on had a problem (already reported). */
class Unreadable extends Error {}

/** What one declaration sees of the reading in progress. */
export interface Reading {
  /** The environment, empty values left out (`VAR= cmd` means unset, as in most shells). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly get: Get;
  /** Whether NODE_ENV is production (for `requiredInProduction`). */
  readonly production: () => boolean;
  /** Reports a problem with `name` and abandons this declaration (its dependents are skipped, not reported). */
  problem(name: string, message: string): never;
}

/** One declaration: the variables it reads, its rows of the table, and how it turns them into a value. */
export class Setting<T> {
  constructor(
    readonly docs: readonly VariableDoc[],
    readonly read: (reading: Reading) => T,
  ) {}

  get names(): string[] {
    return this.docs.flatMap((doc) => doc.names);
  }
}

interface VariableOptions<T> {
  /** The table's "meaning" column (Markdown). */
  meaning: string;
  /** The table's "default" column, where it is not just the `default` text. */
  defaultDoc?: string;
  /** A problem with the value (given or default) as a message, or `undefined`; may read other declarations. */
  check?: (value: T, get: Get) => string | undefined;
  /** Unset in production is a problem, unless `unless` is set; `because` says why in the message. */
  requiredInProduction?: { because: string; unless?: Setting<unknown> };
}

type Default<T> = string | ((get: Get) => T);

/**
 * An environment variable. `parser` says in its `description` what it accepts (the table's
 * "accepted" column). `default` is either the text one would set (parsed like a set value,
 * and shown as is in the table), or computed from other declarations (then `defaultDoc`
 * says what it is). Without a default, unset is `undefined`.
 */
export function variable<T>(name: string, parser: z.ZodType<T>, options: VariableOptions<T> & { default: string }): Setting<T>;
export function variable<T>(
  name: string,
  parser: z.ZodType<T>,
  options: VariableOptions<T> & { default: (get: Get) => T; defaultDoc: string },
): Setting<T>;
export function variable<T>(name: string, parser: z.ZodType<T>, options: VariableOptions<T | undefined>): Setting<T | undefined>;
export function variable<T>(
  name: string,
  parser: z.ZodType<T>,
  options: VariableOptions<T | undefined> & { default?: Default<T> },
): Setting<T | undefined> {
  const { default: fallback, requiredInProduction: required, check } = options;
  if (!parser.description) throw new Error(`${name}: its parser has no description of what it accepts`);
  const parseDefault = (text: string): T => {
    const parsed = parser.safeParse(text);
    if (!parsed.success) throw new Error(`${name}: the declared default ${JSON.stringify(text)} does not parse: ${parsed.error.issues[0]?.message}`);
    return parsed.data;
  };
  const doc = { names: [name], meaning: options.meaning, accepts: parser.description, default: defaultDoc(options.defaultDoc, fallback, required) };
  return new Setting([doc], (reading) => {
    const text = reading.env[name];
    let value: T | undefined;
    if (text !== undefined) {
      const parsed = parser.safeParse(text);
      if (!parsed.success) reading.problem(name, parsed.error.issues[0]?.message ?? "invalid");
      value = parsed.data;
    } else if (typeof fallback === "string") {
      value = parseDefault(fallback);
    } else if (fallback) {
      value = fallback(reading.get);
    }
    if (value === undefined && required && reading.production() && (required.unless === undefined || reading.get(required.unless) === undefined)) {
      reading.problem(name, `required in production (${required.because})`);
    }
    const complaint = check?.(value, reading.get);
    if (complaint) reading.problem(name, complaint);
    return value;
  });
}

function defaultDoc(
  given: string | undefined,
  fallback: Default<unknown> | undefined,
  required: VariableOptions<unknown>["requiredInProduction"],
): string {
  const text = given ?? (typeof fallback === "string" ? `\`${fallback}\`` : "unset");
  if (!required) return text;
  return `${text}; production: required${required.unless ? ` (or \`${required.unless.names[0]}\`)` : ""}`;
}

/** A value made of several declarations (each keeps its own row of the table). */
export function combine<const Parts extends Record<string, Setting<unknown>>, T>(
  parts: Parts,
  build: (values: { [K in keyof Parts]: ValueOf<Parts[K]> }) => T,
): Setting<T> {
  return new Setting(
    Object.values(parts).flatMap((part) => part.docs),
    (reading) =>
      build(Object.fromEntries(Object.entries(parts).map(([key, part]) => [key, reading.get(part)])) as { [K in keyof Parts]: ValueOf<Parts[K]> }),
  );
}

type ValueOf<S> = S extends Setting<infer T> ? T : never;

/** Declarations, grouped as the configuration object is. */
export type Settings = { readonly [key: string]: Setting<unknown> | Settings };

/** The configuration a tree of declarations reads to (readonly all the way down). */
export type Resolved<S> = S extends Setting<infer T> ? T : { readonly [K in keyof S]: Resolved<S[K]> };

/** Every row of the table of a tree, in declaration order. */
export function docsOf(settings: Settings): VariableDoc[] {
  return Object.values(settings).flatMap((entry) => (entry instanceof Setting ? entry.docs : docsOf(entry)));
}

/**
 * Reads a tree of declarations from `env`. Returns the frozen values, or every problem
 * found, each as `NAME: what is wrong`, in declaration order. A declaration whose
 * dependency had a problem is skipped: its problem is the dependency's.
 */
export function readSettings<S extends Settings>(
  settings: S,
  environment: Record<string, string | undefined>,
  production: Setting<boolean>,
): { values: Resolved<S>; problems: [] } | { values: undefined; problems: string[] } {
  const env = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== ""));
  const problems: string[] = [];
  const read = new Map<Setting<unknown>, { value: unknown } | "reading" | "unreadable">();
  const get: Get = <T>(setting: Setting<T>): T => {
    const known = read.get(setting);
    if (known === "unreadable") throw new Unreadable();
    if (known === "reading") throw new Error(`configuration: ${setting.names.join(", ")} depends on itself`);
    if (known) return known.value as T;
    read.set(setting, "reading");
    try {
      const value = setting.read(reading);
      read.set(setting, { value });
      return value;
    } catch (error) {
      if (error instanceof Unreadable) read.set(setting, "unreadable");
      throw error;
    }
  };
  const reading: Reading = {
    env,
    get,
    production: () => get(production),
    problem(name, message) {
      problems.push(`${name}: ${message}`);
      throw new Unreadable();
    },
  };
  const resolve = (tree: Settings): Record<string, unknown> =>
    Object.freeze(
      Object.fromEntries(
        Object.entries(tree).map(([key, entry]) => {
          if (!(entry instanceof Setting)) return [key, resolve(entry)];
          try {
            return [key, get(entry)];
          } catch (error) {
            if (error instanceof Unreadable) return [key, undefined];
            throw error;
          }
        }),
      ),
    );
  const values = resolve(settings) as Resolved<S>;
  return problems.length === 0 ? { values, problems: [] } : { values: undefined, problems };
}
