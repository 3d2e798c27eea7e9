import type { ApolloServerPlugin } from "@apollo/server";
import { ApolloArmor } from "@escape.tech/graphql-armor";
import {
  type FieldNode,
  type FragmentDefinitionNode,
  getArgumentValues,
  getEnterLeaveForKind,
  getNamedType,
  getNullableType,
  getVariableValues,
  type GraphQLError,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  isCompositeType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { LimitsConfig } from "../config/config.js";
import type { Context } from "./context.js";
import { ASSUMED_LIST_LENGTH, CostBudget } from "./cost-budget.js";
import { limitRefusal } from "../common/errors.js";

/**
 * Limits on what one operation may ask for, all checked before anything executes.
 *
 * - Depth, aliases and directives: GraphQL Armor's validation rules, run as soon as the
 *   document is entered. Each walks a fragment once and remembers what it found.
 * - Tokens: graphql-js's own parser limit (`parseOptions.maxTokens` in apollo.ts).
 * - Cost: ours, because Armor's static cost does not know that `first: 100` fetches a
 *   hundred of everything below it. Each response reports its cost in `extensions.cost`.
 *
 * A limit's refusal names its setting in `extensions.limit`, and is the one error of its
 * response (`limitsPlugin`): the other errors of a document built to be refused
 * (a thousand unknown directives) are not worth sending back.
 */

/** Armor's options that make its refusal one of ours (Armor would call it a "Syntax Error" with code BAD_USER_INPUT). */
function reportedAs(limit: string) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError) =>
        context?.reportError(limitRefusal(error.message.replace(/^Syntax Error: /, ""), limit)),
    ],
  };
}

/**
 * Runs Armor's rules for every operation as the document is entered, before graphql-js's
 * own rules have visited a node: their refusal is then reported even when the document
 * also holds a hundred other errors (graphql-js stops validating at 100, so a rule run on
 * the operation itself, after the fragments, might never run). Armor's rules count on
 * entering an operation, so entering each one is all they need.
 */
function onDocumentEnter(rules: readonly ValidationRule[]): ValidationRule {
  return (context) => {
    const visitors = rules.map((rule) => rule(context));
    return {
      Document(document) {
        for (const definition of document.definitions) {
          if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
          for (const visitor of visitors) {
            getEnterLeaveForKind(visitor, Kind.OPERATION_DEFINITION).enter?.call(visitor, definition, undefined, document, [], []);
          }
        }
        return false; // these rules have seen all they need
      },
    };
  };
}

/** The validation rule for depth, aliases and directives (Armor's cost and token rules are off). */
export function limitValidationRules(limits: LimitsConfig): ValidationRule[] {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...reportedAs("MAX_DEPTH") },
    // Every alias counts: Armor's default lets `t0: __typename t1: __typename …` through.
    maxAliases: { n: limits.maxAliases, allowList: [], ...reportedAs("MAX_ALIASES") },
    maxDirectives: { n: limits.maxDirectives, ...reportedAs("MAX_DIRECTIVES") },
    costLimit: { enabled: false },
    maxTokens: { enabled: false },
    // Apollo's hideSchemaDetailsFromClientErrors does this in production.
    blockFieldSuggestion: { enabled: false },
  });
  return [onDocumentEnter(armor.protect().validationRules)];
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
/**
 * The catalog's `facets` (exploreDatasets) group the whole filtered result three ways (tags,
 * licences, formats) besides counting it: three counts' worth, and a search's more when the
 * result is a search's.
 */
export const FACETS_COST = 3 * COUNT_COST;
/** The page size a list field gets when `first` is not given and the schema gives no default. */
const DEFAULT_PAGE_SIZE = ASSUMED_LIST_LENGTH;
/**
 * Object types that are values stored in their parent's row (a table's column profiles, in its
 * preview's row): reading the parent reads them, so their lists cost nothing of their own.
 */
const STORED_VALUE_TYPES: ReadonlySet<string> = new Set(["ColumnProfile", "HistogramBin", "ValueCount"]);
/** Fields whose pages may be larger than 100 (`FileTable.rows`: 500). */
const LARGEST_PAGES: Record<string, number> = { rows: 500 };

/**
 * Lists read with their parent's row, no statement of their own: a preview's `columns` are in
 * its profile's row. Such a list costs one object, whatever its length (a page of datasets
 * with their files' previews and columns would otherwise count each column as a fetch, and a
 * 20-dataset page cost twice the default limit for work the limit does not guard).
 */
const EMBEDDED_LISTS: ReadonlySet<string> = new Set(["FilePreview.columns"]);

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
      (name === "search" && isSearch(value)) || (typeof value === "object" && value !== null && isSearch((value as Record<string, unknown>).search)),
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
    /** What one item of each list without `first` costs, for execution to charge its real length (cost-budget.ts). */
    private readonly itemCosts?: Map<FieldNode, number>,
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
  private pageScope(args: Record<string, unknown>, field: GraphQLField<unknown, unknown>): Scope {
    const defaultSize = field.args.find((arg) => arg.name === "first")?.defaultValue;
    const size = typeof args.first === "number" ? args.first : typeof defaultSize === "number" ? defaultSize : DEFAULT_PAGE_SIZE;
    // A page is never bigger than the API allows; a bad value is refused later, as bad input.
    const largest = LARGEST_PAGES[field.name] ?? 100;
    return { listLength: Math.max(1, Math.min(Math.trunc(size), largest)), searched: searches(args) };
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
   * when it counts a search) and a list of values that takes `first` (`rows(first:)`),
   * which costs its page size.
   */
  selectionCost(selections: SelectionSetNode, parent: GraphQLObjectType, scope: Scope): number {
    let total = 0;
    for (const selection of selections.selections) {
      this.visit();
      if (selection.kind === Kind.FIELD) {
        const field = parent.getFields()[selection.name.value];
        if (!field) continue; // __typename and friends
        const named = getNamedType(field.type);
        // Values stored with their parent (a table's column profiles) cost nothing more to send.
        if (STORED_VALUE_TYPES.has(named.name)) continue;
        if (!selection.selectionSet || !isCompositeType(named)) {
          if (field.name === "totalCount") total += COUNT_COST + (scope.searched ? SEARCH_COST : 0);
          // A list of values paged by `first` (a preview's `rows`): each value is an object's worth.
          else if (isListType(getNullableType(field.type)) && field.args.some((arg) => arg.name === "first")) {
            total += this.pageScope(this.argumentsOf(selection, field), field).listLength;
          }
          // A page's `nodes` as values (a table's rows, JSON arrays): each one an object's worth.
          else if (field.name === "nodes" && isListType(getNullableType(field.type)) && scope !== TOP) total += scope.listLength;
          continue;
        }
        const takesPageSize = field.args.some((arg) => arg.name === "first");
        const inner = takesPageSize ? this.pageScope(this.argumentsOf(selection, field), field) : TOP;
        const below = isObjectType(named) ? this.selectionCost(selection.selectionSet, named, inner) : 0;
        const facets = field.name === "facets" && parent.name === "ExploreConnection" ? FACETS_COST + (scope.searched ? SEARCH_COST : 0) : 0;
        const own = 1 + (inner.searched ? SEARCH_COST : 0) + facets;
        const isList = isListType(getNullableType(field.type));
        const embedded = EMBEDDED_LISTS.has(`${parent.name}.${field.name}`);
        if (isList && !takesPageSize && !embedded) this.itemCosts?.set(selection, own + below);
        total += (isList && !embedded ? scope.listLength : 1) * (own + below);
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
const analysisBudgetExceeded = (budget: number) =>
  limitRefusal(`The query is too complex to analyse: it visits more than ${budget} selections`, "MAX_ANALYSIS_NODES", { maxAnalysisNodes: budget });

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
  itemCosts?: Map<FieldNode, number>,
): number {
  const root =
    operation.operation === "mutation"
      ? schema.getMutationType()
      : operation.operation === "subscription"
        ? schema.getSubscriptionType()
        : schema.getQueryType();
  if (!root) return 0;
  const analysis = new CostAnalysis(schema, new Map(Object.entries(fragments)), variables, budget, itemCosts);
  // A fragment spread 2^1000 times costs more than a double can say: it is over any limit.
  return Math.min(analysis.selectionCost(operation.selectionSet, root, TOP), Number.MAX_SAFE_INTEGER);
}

/** Whether an error (as raised, or as formatted for the response) is a limit's refusal. */
export const isLimitRefusal = (error: { extensions?: Record<string, unknown> }) => typeof error.extensions?.limit === "string";

/** An operation's cost analysis: its static cost, and what each item of its lists without `first` costs. */
interface Analysis {
  cost: number;
  itemCosts: ReadonlyMap<FieldNode, number>;
}

/** Analyses kept per operation node and variables (Apollo keeps parsed documents, so a known document's nodes come back). */
const analyses = new WeakMap<OperationDefinitionNode, Map<string, Analysis>>();
/** Variable sets remembered per operation, and the longest (as JSON) worth a key: past either, the analysis simply runs. */
const ANALYSES_PER_OPERATION = 32;
const LONGEST_VARIABLES_KEY = 1_000;

/**
 * The analysis of `operation` with `variables`, from memory when the same document was costed
 * with the same variables before (the analysis reads nothing else: the schema and the
 * document's fragments are fixed with it). A refusal for the analysis budget is not kept.
 */
function analysed(operation: OperationDefinitionNode, variables: Record<string, unknown>, analyse: () => Analysis): Analysis {
  let key: string | undefined;
  try {
    key = JSON.stringify(variables);
  } catch {
    key = undefined; // a value JSON cannot write: no key, no memory
  }
  if (key === undefined || key.length > LONGEST_VARIABLES_KEY) return analyse();
  let known = analyses.get(operation);
  const found = known?.get(key);
  if (found) return found;
  const analysis = analyse();
  if (!known) {
    known = new Map();
    analyses.set(operation, known);
  }
  if (known.size < ANALYSES_PER_OPERATION) known.set(key, analysis);
  return analysis;
}

/**
 * Computes each operation's cost once it is resolved, refuses it before execution when
 * over `maxCost`, and reports it in the response's `extensions.cost` (with what lists
 * charged as they resolved: cost-budget.ts). A response with a limit's refusal carries that
 * one error only.
 */
export function limitsPlugin(schema: GraphQLSchema, limits: LimitsConfig): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, request, contextValue }) {
          if (!operation) return;
          // The variables as execution will see them: defaults filled in (`$n: Int = 100`).
          const definitions = operation.variableDefinitions ?? [];
          const variables =
            definitions.length === 0 ? { coerced: {} } : getVariableValues(schema, definitions, request.variables ?? {}, { maxErrors: 1 });
          // Variables that do not coerce fail execution before any resolver runs: nothing to cost.
          if (variables.errors) return;
          const { cost, itemCosts } = analysed(operation, variables.coerced, () => {
            const fragments = Object.fromEntries(
              document.definitions
                .filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION)
                .map((fragment) => [fragment.name.value, fragment]),
            );
            const itemCosts = new Map<FieldNode, number>();
            return { cost: operationCost(schema, operation, fragments, variables.coerced, limits.maxAnalysisNodes, itemCosts), itemCosts };
          });
          contextValue.cost = new CostBudget(cost, limits.maxCost, itemCosts);
          if (cost > limits.maxCost) {
            throw limitRefusal(`Query cost ${cost} exceeds the limit of ${limits.maxCost}: ask for smaller pages or fewer fields`, "MAX_COST", {
              cost,
              maxCost: limits.maxCost,
            });
          }
        },
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== "single") return;
          const result = response.body.singleResult;
          const refusal = result.errors?.find(isLimitRefusal);
          if (refusal) result.errors = [refusal];
          const cost = contextValue.cost?.total;
          if (cost !== undefined) result.extensions = { ...result.extensions, cost };
        },
      };
    },
  };
}
