import type { ApolloServerPlugin } from "@apollo/server";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import {
  type FieldNode,
  type FragmentDefinitionNode,
  getArgumentValues,
  getNamedType,
  getNullableType,
  getVariableValues,
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

/**
 * The cost analysis of one operation. Each fragment is costed once per list length it is
 * spread under, and then remembered: a fragment spread twice in each of 30 nested
 * fragments is 2^30 spreads but only 30 walks. Every selection visited counts against
 * `budget` (MAX_ANALYSIS_NODES), so no document, however built, costs more work than that.
 */
class CostAnalysis {
  private visits = 0;
  /** A fragment's cost by `name|listLength`; `null` while it is being computed (a cycle). */
  private readonly fragmentCosts = new Map<string, number | null>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
    private readonly budget: number,
  ) {}

  /**
   * The value of `first` on a field as execution will see it: a literal, a variable's
   * coerced value (its default when not sent), or the argument's default.
   */
  private pageSize(node: FieldNode, field: GraphQLField<unknown, unknown>): number {
    let first: unknown;
    try {
      first = getArgumentValues(field, node, this.variables).first;
    } catch {
      // An argument that does not coerce fails execution before any resolver runs.
      first = undefined;
    }
    const size = typeof first === "number" ? first : DEFAULT_PAGE_SIZE;
    // A page is never bigger than the API allows; a bad value is refused later, as bad input.
    return Math.max(1, Math.min(Math.trunc(size), 100));
  }

  private visit(): void {
    this.visits += 1;
    if (this.visits > this.budget) throw analysisBudgetExceeded(this.budget);
  }

  /**
   * The cost of a selection on `parent`. An object costs 1 plus its selection; a list of
   * objects costs that once per item, the list's length being the page size of the field
   * that took `first` above it (a connection's `edges` and `nodes`); leaves are free but
   * for `totalCount`.
   */
  selectionCost(selections: SelectionSetNode, parent: GraphQLObjectType, listLength: number): number {
    let total = 0;
    for (const selection of selections.selections) {
      this.visit();
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
          ? this.selectionCost(selection.selectionSet, named, takesPageSize ? this.pageSize(selection, field) : DEFAULT_PAGE_SIZE)
          : 0;
        total += (isListType(getNullableType(field.type)) ? listLength : 1) * (1 + below);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        if (isObjectType(on)) total += this.selectionCost(selection.selectionSet, on, listLength);
      } else {
        total += this.fragmentCost(selection.name.value, listLength);
      }
    }
    return total;
  }

  private fragmentCost(name: string, listLength: number): number {
    const key = `${name}|${listLength}`;
    const known = this.fragmentCosts.get(key);
    if (known !== undefined) return known ?? 0; // null: a cycle (validation refuses those anyway)
    const fragment = this.fragments.get(name);
    const on = fragment && this.schema.getType(fragment.typeCondition.name.value);
    if (!fragment || !isObjectType(on)) return 0;
    this.fragmentCosts.set(key, null);
    const cost = this.selectionCost(fragment.selectionSet, on, listLength);
    this.fragmentCosts.set(key, cost);
    return cost;
  }
}

/** The refusal of a document whose analysis would visit more than `budget` selections. */
function analysisBudgetExceeded(budget: number): GraphQLError {
  return new GraphQLError(`The query is too complex to analyse: it visits more than ${budget} selections`, {
    extensions: { code: "GRAPHQL_VALIDATION_FAILED", maxAnalysisNodes: budget, http: { status: 400 } },
  });
}

/**
 * The cost of `operation` with coerced `variables`, in the unit of "objects that may be fetched".
 * Throws GRAPHQL_VALIDATION_FAILED when the analysis would visit more than `budget` selections.
 */
export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
  budget = Number.POSITIVE_INFINITY,
): number {
  const root = operation.operation === "mutation" ? schema.getMutationType() : schema.getQueryType();
  if (!root) return 0;
  const analysis = new CostAnalysis(schema, new Map(Object.entries(fragments)), variables, budget);
  // A fragment spread 2^1000 times costs more than a double can say: it is over any limit.
  return Math.min(analysis.selectionCost(operation.selectionSet, root, DEFAULT_PAGE_SIZE), Number.MAX_SAFE_INTEGER);
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
          // The variables as execution will see them: defaults filled in (`$n: Int = 100`).
          const variables = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}, { maxErrors: 1 });
          // Variables that do not coerce fail execution before any resolver runs: nothing to cost.
          if (variables.errors) return;
          const cost = operationCost(schema, operation, fragments, variables.coerced, limits.maxAnalysisNodes);
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
