import { buildSchema as parseSDL, isObjectType } from "graphql";
import { describe, expect, it } from "vitest";
import { applyPolicy, findPolicyGaps, PolicyError, type PolicyEntries } from "../src/policy/apply.js";
import { policy } from "../src/policy/field-rules.js";
import { buildUnguardedSchema } from "../src/graphql/schema.js";

/** Deny by default: the schema and the policy table must agree, field by field. */
describe("authorization policy coverage", () => {
  const schema = buildUnguardedSchema();

  it("has a rule for every Query and Mutation field, and an entry for every object type", () => {
    expect(findPolicyGaps(schema, policy)).toEqual([]);
    const entries: PolicyEntries = policy;
    for (const root of ["Query", "Mutation"]) {
      const type = schema.getType(root);
      if (!isObjectType(type)) throw new Error(`${root} is missing`);
      for (const field of Object.keys(type.getFields())) {
        expect(entries[root]?.[field], `${root}.${field} has no rule`).toBeTypeOf("function");
      }
    }
  });

  it("refuses to build a schema with a root field that has no rule", () => {
    const extended = parseSDL(`
      type Query { me: String, secrets: String }
      type Mutation { wipe: Boolean }
    `);
    expect(() => applyPolicy(extended, { Query: { me: () => {} }, Mutation: {} })).toThrow(PolicyError);
    expect(findPolicyGaps(extended, { Query: { me: () => {} }, Mutation: {} })).toEqual(["Query.secrets has no rule", "Mutation.wipe has no rule"]);
  });

  it("refuses a field with arguments, or a resolver of its own, that has no rule", () => {
    const extended = parseSDL(`type Query { me: Account } type Account { id: ID, siblings(ownerId: ID): [Account] }`);
    expect(findPolicyGaps(extended, { Query: { me: () => {} }, Account: {} })).toEqual(["Account.siblings has no rule"]);
    const unguarded = buildUnguardedSchema();
    const owner = (unguarded.getType("Dataset") as import("graphql").GraphQLObjectType).getFields().owner!;
    expect(owner.resolve).toBeTypeOf("function");
    const { owner: _removed, ...datasetRules } = policy.Dataset!;
    expect(findPolicyGaps(unguarded, { ...policy, Dataset: datasetRules })).toEqual(["Dataset.owner has no rule"]);
  });

  it("refuses an object type that has no entry, and a rule for a field that does not exist", () => {
    const extended = parseSDL(`type Query { me: Account } type Account { id: ID }`);
    expect(findPolicyGaps(extended, { Query: { me: () => {}, gone: () => {} } })).toEqual([
      "Query.gone has a rule but no such field",
      "type Account has no entry",
    ]);
  });
});
