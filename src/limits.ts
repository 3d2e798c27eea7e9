import type { ApolloServerPlugin } from "@apollo/server";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import {
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  isCompositeType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";
import type { LimitsConfig } from "./config.js";
import type { Context } from "./context.js";

/**
 * Limits on what one operation may ask for, all checked before anything executes.
 *
 * - Depth, aliases and directives: GraphQL Armor's validation rules.
 * - Tokens: graphql-js's own parser limit (`parseOptions.maxTokens` in apollo.ts).
 * - Cost: ours, because Armor's static cost does not know that `first: 100` fetches a
 *   hundred of everything below it. Each response reports its cost in `extensions.cost`.
 */

/** Armor's validation rules for depth, aliases and directives (its cost and token rules are off). */
export function armorValidationRules(limits: LimitsConfig) {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true },
    maxAliases: { n: limits.maxAliases },
    maxDirectives: { n: limits.maxDirectives },
    costLimit: { enabled: false },
    maxTokens: { enabled: false },
    // Apollo's hideSchemaDetailsFromClientErrors does this in production.
    blockFieldSuggestion: { enabled: false },
  });
  return armor.protect().validationRules;
}

/** What a field costs: object fields 1 (something is fetched), leaves 0, `totalCount` 1 (a COUNT). */
const COSTED_LEAVES = new Set(["totalCount"]);
/** The page size a list field gets when `first` is not given: the schema's default. */
const DEFAULT_PAGE_SIZE = 20;

interface CostContext {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Record<string, unknown>;
}

/** The value of `first` on a field: literal, variable, or the argument's default. */
function pageSize(node: FieldNode, field: GraphQLField<unknown, unknown>, context: CostContext): number {
  const argument = node.arguments?.find((arg) => arg.name.value === "first");
  const fromNode = (value: ValueNode | undefined): unknown => {
    if (!value) return undefined;
    if (value.kind === Kind.INT) return Number(value.value);
    if (value.kind === Kind.VARIABLE) return context.variables[value.name.value];
    return undefined;
  };
  const given = fromNode(argument?.value);
  const fallback = field.args.find((arg) => arg.name === "first")?.defaultValue;
  const size = typeof given === "number" ? given : typeof fallback === "number" ? fallback : DEFAULT_PAGE_SIZE;
  // A page is never bigger than the API allows; a bad value is refused later, as bad input.
  return Math.max(1, Math.min(Math.trunc(size), 100));
}

/**
 * The cost of a selection on `parent`. An object costs 1 plus its selection; a list of
 * objects costs that once per item, the list's length being the page size of the field
 * that took `first` above it (a connection's `edges` and `nodes`); leaves are free but for
 * `totalCount`.
 */
function selectionCost(
  selections: SelectionSetNode,
  parent: GraphQLObjectType,
  context: CostContext,
  seen: Set<string>,
  listLength: number,
): number {
  let total = 0;
  for (const selection of selections.selections) {
    if (selection.kind === Kind.FIELD) {
      const field = parent.getFields()[selection.name.value];
      if (!field) continue; // __typename and friends
      const named = getNamedType(field.type);
      if (!selection.selectionSet || !isCompositeType(named)) {
        total += COSTED_LEAVES.has(field.name) ? 1 : 0;
        continue;
      }
      const takesPageSize = field.args.some((arg) => arg.name === "first");
      const below = isObjectType(named)
        ? selectionCost(selection.selectionSet, named, context, seen, takesPageSize ? pageSize(selection, field, context) : DEFAULT_PAGE_SIZE)
        : 0;
      total += (isListType(getNullableType(field.type)) ? listLength : 1) * (1 + below);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = selection.typeCondition ? context.schema.getType(selection.typeCondition.name.value) : parent;
      if (isObjectType(on)) total += selectionCost(selection.selectionSet, on, context, seen, listLength);
    } else {
      const name = selection.name.value;
      const fragment = context.fragments.get(name);
      if (!fragment || seen.has(name)) continue;
      const on = context.schema.getType(fragment.typeCondition.name.value);
      if (isObjectType(on)) total += selectionCost(fragment.selectionSet, on, context, new Set([...seen, name]), listLength);
    }
  }
  return total;
}

/** The cost of `operation` with `variables`, in the unit of "objects that may be fetched". */
export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
): number {
  const root = operation.operation === "mutation" ? schema.getMutationType() : schema.getQueryType();
  if (!root) return 0;
  const context = { schema, fragments: new Map(Object.entries(fragments)), variables };
  return selectionCost(operation.selectionSet, root, context, new Set(), DEFAULT_PAGE_SIZE);
}

const costs = new WeakMap<object, number>();

/**
 * Computes each operation's cost once it is resolved, refuses it before execution when
 * over `maxCost`, and reports it in the response's `extensions.cost`.
 */
export function costLimitPlugin(schema: GraphQLSchema, limits: LimitsConfig): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request, contextValue }) {
          if (!operation) return;
          const fragments = Object.fromEntries(
            document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((fragment) => [fragment.name.value, fragment]),
          );
          const cost = operationCost(schema, operation, fragments, request.variables ?? {});
          costs.set(contextValue, cost);
          if (cost > limits.maxCost) {
            throw new GraphQLError(`Query cost ${cost} exceeds the limit of ${limits.maxCost}: ask for smaller pages or fewer fields`, {
              extensions: { code: "GRAPHQL_VALIDATION_FAILED", cost, maxCost: limits.maxCost, http: { status: 400 } },
            });
          }
        },
        async willSendResponse({ response, contextValue }) {
          const cost = costs.get(contextValue);
          if (cost === undefined || response.body.kind !== "single") return;
          response.body.singleResult.extensions = { ...response.body.singleResult.extensions, cost };
        },
      };
    },
  };
}
