import {
  type ASTNode,
  BREAK,
  coerceInputValue,
  GraphQLError,
  type GraphQLInputType,
  type GraphQLSchema,
  getNullableType,
  isInputObjectType,
  isInputType,
  isListType,
  isNonNullType,
  Kind,
  typeFromAST,
  type VariableDefinitionNode,
  visit,
  type DocumentNode,
} from "graphql";
import { DatabaseUnavailableError } from "../db/database.js";
import { BAD_REQUEST, ClientError, ErrorCode, REFUSED_REQUEST_CODES } from "../common/errors.js";

/**
 * What an error that reaches a response is, told by where it came from, never by graphql-js's
 * English wording (which changes between versions):
 *
 * - our own `ClientError`, raised anywhere (resolvers arrive wrapped, with a path);
 * - the database's unavailability, wrapped likewise;
 * - a request Apollo Server refused before execution: it labels each with its own
 *   `extensions.code` (its SyntaxError is GRAPHQL_PARSE_FAILED, its ValidationError
 *   GRAPHQL_VALIDATION_FAILED, a variable that does not coerce BAD_USER_INPUT), or with a
 *   4xx `extensions.http.status` and no code;
 * - an argument graphql-js could not coerce during execution (a null sent through a
 *   defaulted variable into a non-null argument): a GraphQLError graphql-js raised itself,
 *   pointing at the argument's value in the document.
 *
 * Anything else (a driver error, a bug) is internal, and masked.
 */
export type Classification = { kind: "client"; code?: string; field?: string } | { kind: "unavailable" } | { kind: "internal" };

/** What `explainRequestErrors` found an input error to be about. */
const inputFields = new WeakMap<GraphQLError, { code: string; field: string }>();

/** The first error of `error`'s chain (itself, then each `originalError`) that `test` accepts. */
function inChain<T>(error: unknown, test: (candidate: unknown) => candidate is T): T | undefined {
  for (let current = error; current; current = (current as GraphQLError).originalError) {
    if (test(current)) return current;
    if (!(current instanceof GraphQLError)) return undefined;
  }
  return undefined;
}

/** The `ClientError` a reported error is, or wraps. */
export const findClientError = (error: unknown) => inChain(error, (candidate): candidate is ClientError => candidate instanceof ClientError);

export function classify(error: unknown): Classification {
  if (findClientError(error)) return { kind: "client" };
  if (inChain(error, (candidate): candidate is DatabaseUnavailableError => candidate instanceof DatabaseUnavailableError))
    return { kind: "unavailable" };
  if (!(error instanceof GraphQLError)) return { kind: "internal" };
  const input = inputFields.get(error);
  if (input) return { kind: "client", ...input };
  if (error.path) return { kind: "internal" };
  const code = error.extensions?.code;
  if (typeof code === "string" && REFUSED_REQUEST_CODES.has(code)) return { kind: "client" };
  // Apollo's own refusals of a malformed request (say, a persisted-query hash that does not
  // match) carry a 4xx status but no code.
  const status = (error.extensions?.http as { status?: number } | undefined)?.status;
  return code === undefined && status !== undefined && status < 500 ? { kind: "client", code: BAD_REQUEST } : { kind: "internal" };
}

/** What of the request the explanations need. */
export interface RequestErrors {
  readonly schema: GraphQLSchema;
  readonly document?: DocumentNode;
  readonly request: { readonly variables?: Record<string, unknown> };
  readonly errors: readonly GraphQLError[];
}

/**
 * Finds what the request's input errors are about, for `classify` and `extensions.field`
 * (the contract promises a field on BAD_USER_INPUT): a variable that did not coerce, as the
 * dotted path of the input that did not fit (`input.changes[0].path`); an argument that did
 * not coerce during execution, as the argument's name. Runs once per request, when its
 * errors are known and before they are formatted (`didEncounterErrors`).
 */
export function explainRequestErrors({ schema, document, request, errors }: RequestErrors): void {
  const byVariable = new Map<VariableDefinitionNode, GraphQLError[]>();
  for (const error of errors) {
    const node = error.nodes?.[0];
    if (error.extensions?.code === ErrorCode.BAD_USER_INPUT && node?.kind === Kind.VARIABLE_DEFINITION && !findClientError(error)) {
      byVariable.set(node, [...(byVariable.get(node) ?? []), error]);
    }
  }
  // graphql-js reports a variable's problems in the order coercion meets them: so does this.
  for (const [definition, variableErrors] of byVariable) {
    const name = definition.variable.name.value;
    const fields = coercionProblems(schema, definition, request.variables?.[name]).map((path) => name + path);
    for (const [index, error] of variableErrors.entries()) inputFields.set(error, { code: ErrorCode.BAD_USER_INPUT, field: fields[index] ?? name });
  }
  if (!document) return;
  for (const error of errors) {
    const argumentValue = uncoercedArgumentValue(error);
    const argument = argumentValue && argumentHolding(document, argumentValue);
    if (argument) inputFields.set(error, { code: ErrorCode.BAD_USER_INPUT, field: argument });
  }
}

/**
 * The paths (`.changes[0].path`, or empty for the value itself) at which `value` does not
 * fit the variable's type, as graphql-js's own coercion finds them. Where an input object
 * lacks a required field or has one its type does not define, that field ends the path.
 */
function coercionProblems(schema: GraphQLSchema, definition: VariableDefinitionNode, value: unknown): string[] {
  const type = typeFromAST(schema, definition.type);
  if (!type || !isInputType(type)) return [];
  const problems: string[] = [];
  coerceInputValue(value, type, (path, invalidValue) => {
    const fieldType = typeAt(type, path);
    problems.push(printPath([...path, ...offendingField(fieldType, invalidValue)]));
  });
  return problems;
}

/** The input type at `path` below `type` (a list accepts one item in its place, at the same path). */
function typeAt(type: GraphQLInputType, path: ReadonlyArray<string | number>): GraphQLInputType | undefined {
  let current: GraphQLInputType | undefined = type;
  for (const key of path) {
    let nullable: GraphQLInputType | undefined = current && getNullableType(current);
    if (typeof key === "number") {
      current = nullable && isListType(nullable) ? nullable.ofType : undefined;
      continue;
    }
    while (nullable && isListType(nullable)) nullable = getNullableType(nullable.ofType);
    current = nullable && isInputObjectType(nullable) ? nullable.getFields()[key]?.type : undefined;
  }
  return current;
}

/** The field of an input object `value` that makes it not fit `type`: the first required one missing, else the first unknown one. */
function offendingField(type: GraphQLInputType | undefined, value: unknown): string[] {
  let named = type && getNullableType(type);
  while (named && isListType(named) && !Array.isArray(value)) named = getNullableType(named.ofType);
  if (!named || !isInputObjectType(named) || typeof value !== "object" || value === null || Array.isArray(value)) return [];
  const fields = named.getFields();
  const record = value as Record<string, unknown>;
  const missing = Object.values(fields).find(
    (field) => isNonNullType(field.type) && field.defaultValue === undefined && record[field.name] === undefined,
  );
  if (missing) return [missing.name];
  const unknown = Object.keys(record).find((key) => !Object.hasOwn(fields, key));
  return unknown === undefined ? [] : [unknown];
}

const printPath = (path: ReadonlyArray<string | number>) => path.map((key) => (typeof key === "number" ? `[${key}]` : `.${key}`)).join("");

/**
 * The value node of an argument graphql-js could not coerce while executing a field: it
 * raises a GraphQLError of its own (no code, nothing beneath it) pointing at that value,
 * and locates it at the field's path. (A scalar that cannot serialize a result also raises
 * one, but pointing at nothing: graphql-js then points the located error at the field.)
 */
function uncoercedArgumentValue(error: GraphQLError): ASTNode | undefined {
  const raised = error.originalError;
  if (!error.path || !(raised instanceof GraphQLError) || raised.originalError || raised.extensions.code !== undefined) return undefined;
  const node = raised.nodes?.[0];
  return node && node.kind !== Kind.FIELD ? node : undefined;
}

/** The name of the argument in `document` whose value is `value` (the very node). */
function argumentHolding(document: DocumentNode, value: ASTNode): string | undefined {
  let name: string | undefined;
  visit(document, {
    Argument(argument) {
      if (argument.value !== value) return undefined;
      name = argument.name.value;
      return BREAK;
    },
  });
  return name;
}
