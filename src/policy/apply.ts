import { MapperKind, mapSchema } from "@graphql-tools/utils";
import { defaultFieldResolver, type GraphQLSchema, isObjectType } from "graphql";
import type { Context } from "../graphql/context.js";
import type { Rule } from "./field-rules.js";

const ROOT_TYPES = new Set(["Query", "Mutation", "Subscription"]);

/** A policy table as `apply.ts` reads it: rules by type name and field name (`PolicyTable` is one). */
export type PolicyEntries = Readonly<Record<string, Readonly<Record<string, Rule<never> | undefined>>>>;

/** The schema and the policy table disagree; the server must not start. */
export class PolicyError extends Error {
  override name = "PolicyError";
}

/**
 * Lists what the policy table leaves undecided: a root field without a rule, an object
 * type without an entry, a field elsewhere that takes arguments or has a resolver of its
 * own (it can reach data its parent does not hold) without a rule, or a rule naming a
 * field that does not exist.
 */
export function findPolicyGaps(schema: GraphQLSchema, policy: PolicyEntries): string[] {
  const gaps: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith("__")) continue;
    const rules = policy[type.name];
    if (!rules) {
      gaps.push(`type ${type.name} has no entry`);
      continue;
    }
    const fields = type.getFields();
    for (const [name, field] of Object.entries(fields)) {
      const needsRule = ROOT_TYPES.has(type.name) || field.args.length > 0 || field.resolve !== undefined;
      if (needsRule && !rules[name]) gaps.push(`${type.name}.${name} has no rule`);
    }
    for (const field of Object.keys(rules)) {
      if (!fields[field]) gaps.push(`${type.name}.${field} has a rule but no such field`);
    }
  }
  for (const typeName of Object.keys(policy)) {
    if (!schema.getType(typeName)) gaps.push(`type ${typeName} has an entry but no such type`);
  }
  return gaps;
}

/**
 * Returns `schema` with each ruled field's resolver (and a subscription field's `subscribe`) running its rule first. Throws
 * `PolicyError` when the table leaves anything undecided (deny by default).
 */
export function applyPolicy(schema: GraphQLSchema, policy: PolicyEntries): GraphQLSchema {
  const gaps = findPolicyGaps(schema, policy);
  if (gaps.length > 0) {
    throw new PolicyError(`Authorization policy (src/policy/field-rules.ts) is incomplete: ${gaps.join("; ")}`);
  }
  return mapSchema(schema, {
    [MapperKind.OBJECT_FIELD]: (field, fieldName, typeName) => {
      const rule = policy[typeName]?.[fieldName] as Rule | undefined;
      if (!rule) return field;
      const resolve = field.resolve ?? defaultFieldResolver;
      const subscribe = field.subscribe;
      return {
        ...field,
        resolve(parent, args, context: Context, info) {
          rule(context, parent);
          return resolve(parent, args, context, info);
        },
        // A subscription's rule is checked before it starts, and again at each event.
        ...(subscribe
          ? {
              subscribe(parent: unknown, args: Record<string, unknown>, context: Context, info: Parameters<typeof subscribe>[3]) {
                rule(context, parent);
                return subscribe(parent, args, context, info);
              },
            }
          : {}),
      };
    },
  });
}
