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

/**
 * What the database work behind a field costs, in objects: a COUNT reads every row it
 * counts (an index entry each), far more than the one object it returns.
 */
export const COUNT_COST = 10;
/**
 * A substring search (`search`, `filter: { search }`) is an ILIKE over every row in scope
 * (the viewer's datasets, every dataset for an admin) rather than an index seek: it costs
 * this much for the page, and again for the page's `totalCount`, a second scan.
 */
export const SEARCH_COST = 100;
/** The page size a list field gets when `first` is not given: the schema's default. */
const DEFAULT_PAGE_SIZE = 20;

/** What a selection inherits from the field above it. */
interface Scope {
  /** The length of a list selected here: the page size of the field that took `first`. */
  listLength: number;
  /** Whether that field searches (so a `totalCount` here counts a search). */
  searched: boolean;
}

const TOP: Scope = { listLength: DEFAULT_PAGE_SIZE, searched: false };

const isSearch = (value: unknown) => typeof value === "string" && value !== "";

/** Whether a field's arguments ask for a substring search: `search`, or `search` in an input object. */
function searches(args: Record<string, unknown>): boolean {
  return Object.entries(args).some(
    ([name, value]) =>
      (name === "search" && isSearch(value)) ||
      (typeof value === "object" && value !== null && isSearch((value as Record<string, unknown>).search)),
  );
}

/**
 * The cost analysis of one operation. Each fragment is costed once per scope (page size,
 * search) it is spread under, and then remembered: a fragment spread twice in each of 30
 * nested fragments is 2^30 spreads but only 30 walks. Every selection visited counts
 * against `budget` (MAX_ANALYSIS_NODES), so no document, however built, costs more work.
 */
class CostAnalysis {
  private visits = 0;
  /** A fragment's cost by `name|listLength|searched`; `null` while it is being computed (a cycle). */
  private readonly fragmentCosts = new Map<string, number | null>();

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly fragments: ReadonlyMap<string, FragmentDefinitionNode>,
    private readonly variables: Record<string, unknown>,
    private readonly budget: number,
  ) {}

  /**
   * A field's arguments as execution will see them: literals, variables' coerced values
   * (a variable's default when it is not sent), and the arguments' defaults.
   */
  private argumentsOf(node: FieldNode, field: GraphQLField<unknown, unknown>): Record<string, unknown> {
    try {
      return getArgumentValues(field, node, this.variables);
    } catch {
      // An argument that does not coerce fails execution before any resolver runs.
      return {};
    }
  }

  /** The scope a field that takes `first` gives its selection. */
  private pageScope(args: Record<string, unknown>): Scope {
    const size = typeof args.first === "number" ? args.first : DEFAULT_PAGE_SIZE;
    // A page is never bigger than the API allows; a bad value is refused later, as bad input.
    return { listLength: Math.max(1, Math.min(Math.trunc(size), 100)), searched: searches(args) };
  }

  private visit(): void {
    this.visits += 1;
    if (this.visits > this.budget) throw analysisBudgetExceeded(this.budget);
  }

  /**
   * The cost of a selection on `parent`. An object costs 1 plus its selection; a list of
   * objects costs that once per item, the list's length being the page size of the field
   * that took `first` above it (a connection's `edges` and `nodes`); a search adds
   * SEARCH_COST; leaves are free but for `totalCount` (COUNT_COST, and SEARCH_COST more
   * when it counts a search).
   */
  selectionCost(selections: SelectionSetNode, parent: GraphQLObjectType, scope: Scope): number {
    let total = 0;
    for (const selection of selections.selections) {
      this.visit();
      if (selection.kind === Kind.FIELD) {
        const field = parent.getFields()[selection.name.value];
        if (!field) continue; // __typename and friends
        const named = getNamedType(field.type);
        if (!selection.selectionSet || !isCompositeType(named)) {
          if (field.name === "totalCount") total += COUNT_COST + (scope.searched ? SEARCH_COST : 0);
          continue;
        }
        const takesPageSize = field.args.some((arg) => arg.name === "first");
        const inner = takesPageSize ? this.pageScope(this.argumentsOf(selection, field)) : TOP;
        const below = isObjectType(named) ? this.selectionCost(selection.selectionSet, named, inner) : 0;
        const own = 1 + (inner.searched ? SEARCH_COST : 0);
        total += (isListType(getNullableType(field.type)) ? scope.listLength : 1) * (own + below);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition ? this.schema.getType(selection.typeCondition.name.value) : parent;
        if (isObjectType(on)) total += this.selectionCost(selection.selectionSet, on, scope);
      } else {
        total += this.fragmentCost(selection.name.value, scope);
      }
    }
    return total;
  }

  private fragmentCost(name: string, scope: Scope): number {
    const key = `${name}|${scope.listLength}|${scope.searched}`;
    const known = this.fragmentCosts.get(key);
    if (known !== undefined) return known ?? 0; // null: a cycle (validation refuses those anyway)
    const fragment = this.fragments.get(name);
    const on = fragment && this.schema.getType(fragment.typeCondition.name.value);
    if (!fragment || !isObjectType(on)) return 0;
    this.fragmentCosts.set(key, null);
    const cost = this.selectionCost(fragment.selectionSet, on, scope);
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
  return Math.min(analysis.selectionCost(operation.selectionSet, root, TOP), Number.MAX_SAFE_INTEGER);
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
