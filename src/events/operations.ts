import { createHash } from "node:crypto";
import {
  type DocumentNode,
  type FieldNode,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  getVariableValues,
  Kind,
  parse,
  specifiedRules,
  validate,
} from "graphql";
import type { SubscribePayload } from "graphql-ws";
import type { Config } from "../config/config.js";
import { CostBudget } from "../graphql/cost-budget.js";
import { BAD_REQUEST, ClientError, ErrorCode, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, limitRefusal } from "../common/errors.js";
import { explainRequestErrors } from "../graphql/error-origins.js";
import { isLimitRefusal, limitValidationRules, operationCost } from "../graphql/limits.js";
import { type Manifest, resolveDocument } from "../graphql/persisted-operations.js";

/**
 * A subscribe message's operation, checked as an HTTP request's is before it executes: the
 * trusted-documents list (PERSISTED_OPERATIONS=only), the token limit while parsing,
 * graphql-js's validation with the same depth, alias and directive rules, the variables,
 * and the cost limit. Each refusal is the error an HTTP client would get, with its code.
 */

/** What passed: the document to run, and the operation in it. */
export interface CheckedOperation {
  document: DocumentNode;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  /** Its cost: what each event's execution starts from (lists without `first` charge more as they resolve). */
  cost: CostBudget;
}

const refusal = (message: string, code: string, extensions: Record<string, unknown> = {}) => [
  new GraphQLError(message, { extensions: { code, ...extensions } }),
];

/** The same error with `code` (graphql-js leaves its validation errors without one). */
const withCode = (error: GraphQLError, code: string) =>
  new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    extensions: { code, ...error.extensions },
  });

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const UNTRUSTED = "This server runs only trusted operations, and this one is not in its manifest";

export function checkOperation(
  schema: GraphQLSchema,
  config: Config,
  manifest: Manifest | undefined,
  payload: SubscribePayload & { documentId?: unknown },
): CheckedOperation | readonly GraphQLError[] {
  let query = payload.query;
  if (manifest) {
    const resolution = resolveDocument(manifest, {
      // graphql-ws wants a query string: a client that sends only the hash sends "".
      query: query === "" ? undefined : query,
      documentIds: payload.documentId === undefined ? [] : [payload.documentId],
      extensions: payload.extensions,
    });
    if (resolution.kind === "refused") return refusal(resolution.refusal.message, resolution.refusal.code);
    if (resolution.kind === "listed") query = resolution.query;
    // As over HTTP: a text not listed is told only that, nothing parsing or validation thought of it.
    else if (!manifest.has(sha256(query))) return [new ClientError(UNTRUSTED, ErrorCode.FORBIDDEN)];
  }

  const parsed = parsedDocument(schema, config, query);
  if (Array.isArray(parsed)) return parsed;
  const document = parsed as DocumentNode;

  const operationName = payload.operationName ?? undefined;
  const operation = getOperationAST(document, operationName);
  if (!operation) {
    return refusal(
      operationName ? `Unknown operation named "${operationName}"` : "Must provide operation name if query contains multiple operations",
      "OPERATION_RESOLUTION_FAILURE",
    );
  }
  if (operation.operation !== "subscription") {
    return refusal("Only subscriptions go over WebSocket here: send queries and mutations over HTTP (POST /graphql)", BAD_REQUEST);
  }
  const variables = payload.variables ?? undefined;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 1 });
  if (coerced.errors) {
    const errors = coerced.errors.map((error) => withCode(error, ErrorCode.BAD_USER_INPUT));
    // As over HTTP: `extensions.field` names the input that did not fit.
    explainRequestErrors({ schema, document, request: { variables }, errors });
    return errors;
  }

  const fragments = Object.fromEntries(
    document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((fragment) => [fragment.name.value, fragment]),
  );
  const itemCosts = new Map<FieldNode, number>();
  let cost: number;
  try {
    cost = operationCost(schema, operation, fragments, coerced.coerced, config.limits.maxAnalysisNodes, itemCosts);
    if (cost > config.limits.maxCost) {
      return [
        limitRefusal(`Query cost ${cost} exceeds the limit of ${config.limits.maxCost}: ask for fewer fields`, "MAX_COST", {
          cost,
          maxCost: config.limits.maxCost,
        }),
      ];
    }
  } catch (error) {
    if (error instanceof GraphQLError && isLimitRefusal(error)) return [error];
    throw error;
  }
  return { document, operationName, variables, cost: new CostBudget(cost, config.limits.maxCost, itemCosts) };
}

/**
 * Documents parsed and validated, by their text: every client of an app subscribes with the
 * same few documents, so each is parsed and validated once, and its syntax tree shared by
 * all the subscriptions that run it (as Apollo Server's document store does over HTTP).
 * Refusals are not kept: a client sending new texts gets nothing stored.
 */
const DOCUMENTS_KEPT = 200;
const documents = new WeakMap<GraphQLSchema, Map<string, DocumentNode>>();

function parsedDocument(schema: GraphQLSchema, config: Config, query: string): DocumentNode | readonly GraphQLError[] {
  const kept = documents.get(schema) ?? new Map<string, DocumentNode>();
  documents.set(schema, kept);
  const known = kept.get(query);
  if (known) {
    // Most recently used last: the first is the one to forget.
    kept.delete(query);
    kept.set(query, known);
    return known;
  }
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens: config.limits.maxTokens });
  } catch (error) {
    return [withCode(error as GraphQLError, GRAPHQL_PARSE_FAILED)];
  }
  // No "Did you mean …?" in production (graphql-js leaves the suggestions out), as over HTTP.
  const errors = validate(schema, document, [...specifiedRules, ...limitValidationRules(config.limits)], { hideSuggestions: config.production });
  if (errors.length > 0) {
    // A limit's refusal is the one error sent (src/graphql/limits.ts).
    const limit = errors.find(isLimitRefusal);
    return (limit ? [limit] : errors).map((error) => withCode(error, GRAPHQL_VALIDATION_FAILED));
  }
  kept.set(query, document);
  if (kept.size > DOCUMENTS_KEPT) kept.delete(kept.keys().next().value!);
  return document;
}
