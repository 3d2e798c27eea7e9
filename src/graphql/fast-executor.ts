import type { GatewayExecutor, GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from "@apollo/server-gateway-interface";
import {
  type DocumentNode,
  execute,
  type ExecutionResult,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from "graphql";
import { type CompiledQuery, compileQuery, isCompiledQuery } from "graphql-jit";
import { jitRefusal } from "./fast-executor-guard.js";

/**
 * The faster path for known documents (the default; GRAPHQL_EXECUTOR=graphql-js turns it off): query documents compiled once
 * by graphql-jit into a function, then run by it on every later request of the same document.
 *
 * It plugs in where Apollo runs a document (its `gateway` interface, whose executor is given
 * the parsed, validated and resolved operation), so Apollo still parses, validates, runs
 * every plugin (limits and cost, reporting, trusted documents), formats errors and shapes
 * the response; only execution differs. The same schema runs, policy wrappers and write
 * limit included: every resolver, rule and statement is the one graphql-js would call.
 *
 * graphql-js runs everything else, as it would without this path:
 * - a document's first request (a document compiles on its second, so documents sent once,
 *   a client's or an attacker's, never cost a compilation);
 * - mutations and anything that is not a query (their time is the database's; their
 *   order and error rules stay graphql-js's own);
 * - any document `jitRefusal` finds a semantic difference in (fast-executor-guard.ts);
 * - variables that do not coerce (their errors are graphql-js's, word for word);
 * - a document graphql-jit does not compile.
 * tests/executor-differential.test.ts runs every operation of the contract both ways, as
 * every role, and compares the responses byte for byte.
 */

/** A document's state: seen once, or compiled (per operation name), or refused. */
interface DocumentPlans {
  seen: number;
  /** By operation name ("" for the document's one unnamed operation); null: runs in graphql-js. */
  plans: Map<string, CompiledQuery | null>;
}

/**
 * How often each path ran in this process, every server in it together: the differential
 * test's proof that the compiled path ran.
 */
export const executorCounts = { compiled: 0, graphqlJs: 0 };

/** The documents whose second request compiles them (Apollo keeps each parsed document, so a repeated one comes back as the same object). */
const USES_BEFORE_COMPILING = 1;

export class FastExecutor {
  readonly #documents = new WeakMap<DocumentNode, DocumentPlans>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** Runs one operation of a parsed, validated `document` (as Apollo's own execution would). */
  async execute(
    document: DocumentNode,
    operation: OperationDefinitionNode | undefined,
    operationName: string | null | undefined,
    variables: Record<string, unknown> | undefined,
    contextValue: unknown,
  ): Promise<ExecutionResult> {
    const plan = operation ? this.#planFor(document, operation, operationName) : null;
    if (plan && this.#variablesCoerce(operation!, variables)) {
      executorCounts.compiled += 1;
      return withGraphQLJsErrors(await plan.query(undefined, contextValue, variables ?? {}));
    }
    executorCounts.graphqlJs += 1;
    return execute({ schema: this.schema, document, contextValue, variableValues: variables, operationName });
  }

  /** The compiled operation, compiling it on the document's second use; null when graphql-js runs it. */
  #planFor(document: DocumentNode, operation: OperationDefinitionNode, operationName: string | null | undefined): CompiledQuery | null {
    let state = this.#documents.get(document);
    if (!state) {
      state = { seen: 0, plans: new Map() };
      this.#documents.set(document, state);
    }
    const key = operation.name?.value ?? "";
    const known = state.plans.get(key);
    if (known !== undefined) return known;
    if (state.seen < USES_BEFORE_COMPILING) {
      state.seen += 1;
      return null;
    }
    let plan: CompiledQuery | null = null;
    if (!jitRefusal(this.schema, document, operation)) {
      try {
        const compiled = compileQuery(this.schema, document, operationName ?? undefined);
        plan = isCompiledQuery(compiled) ? compiled : null;
      } catch {
        plan = null; // graphql-js runs it, and reports whatever is wrong with it
      }
    }
    state.plans.set(key, plan);
    return plan;
  }

  /**
   * Whether the variables coerce: when they do not, graphql-js runs the operation, so that the
   * client gets graphql-js's own errors. Operations without variables have nothing to check.
   */
  #variablesCoerce(operation: OperationDefinitionNode, variables: Record<string, unknown> | undefined): boolean {
    const definitions = operation.variableDefinitions ?? [];
    if (definitions.length === 0) return true;
    return getVariableValues(this.schema, definitions, variables ?? {}, { maxErrors: 1 }).errors === undefined;
  }
}

/**
 * `result` with each of its errors as graphql-js would have made it. graphql-jit makes its own
 * GraphQLError, whose `extensions` is undefined when the error it wraps has none (the
 * database's unavailability, a bug: anything but a ClientError). Apollo's formatting reads
 * `extensions.code` first and, failing, answers a bare "Internal server error" with no path,
 * status 200, before our formatError ever sees the error: an unavailable database was not 503.
 */
function withGraphQLJsErrors(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.some((error) => error.extensions === undefined)) return result;
  const errors = result.errors.map((error) => {
    if (error.extensions !== undefined) return error;
    const copy = new GraphQLError(error.message, { path: error.path, originalError: error.originalError });
    // graphql-js derives locations from AST nodes, which graphql-jit does not keep: its own are the same.
    (copy as { locations: GraphQLError["locations"] }).locations = error.locations;
    return copy;
  });
  return { ...result, errors };
}

/**
 * Apollo's `gateway` interface around one schema and a FastExecutor: Apollo asks it for the
 * schema once at start and hands every operation to the executor.
 */
export function fastExecutionGateway(schema: GraphQLSchema, executor: FastExecutor): GatewayInterface {
  let announce: GatewaySchemaLoadOrUpdateCallback | undefined;
  const run: GatewayExecutor = (requestContext) =>
    executor.execute(
      requestContext.document,
      requestContext.operation,
      requestContext.request.operationName,
      requestContext.request.variables,
      requestContext.context,
    );
  return {
    onSchemaLoadOrUpdate(callback) {
      announce = callback;
      return () => {
        announce = undefined;
      };
    },
    async load() {
      announce?.({ apiSchema: schema, coreSupergraphSdl: "" });
      return { executor: run };
    },
    async stop() {},
  };
}
