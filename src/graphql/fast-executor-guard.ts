import {
  BREAK,
  type DocumentNode,
  getNamedType,
  type GraphQLInputObjectType,
  type GraphQLSchema,
  isInputObjectType,
  Kind,
  type OperationDefinitionNode,
  typeFromAST,
  type ValueNode,
  visit,
} from "graphql";

/**
 * Which documents the compiled path (fast-executor.ts) leaves to graphql-js, because
 * graphql-jit would answer them differently. Each case is one graphql-js behaviour the
 * compiled code does not share:
 *
 * - **A variable inside an input literal** (`filter: { search: $s }`, `ids: [$a, $b]`):
 *   graphql-jit lets a variable's null (sent, or its default) reach a non-null input field
 *   or list item that graphql-js refuses, so a resolver could see input the schema promises
 *   it never sees.
 * - **A variable with a default value**: sent as null, graphql-jit lets the null through
 *   where the variable stands for a non-null argument (a nullable variable with a default
 *   may stand there), which graphql-js refuses.
 * - **A variable of a recursive input type** (`$where: RowFilter`, whose `and`/`or` hold
 *   RowFilters): graphql-jit's compilation of its coercion runs for tens of seconds on the
 *   event loop before it overflows the stack (24 s for FileTableRows here), so such a
 *   document is never handed to it.
 * - **Introspection** (`__schema`, `__type`): rare, not worth a second implementation to trust.
 * - **Anything but a query**: mutations run their fields one after another and are bound by
 *   the database; subscriptions are not served over HTTP at all.
 *
 * Checked once per document, when it would be compiled.
 */
export function jitRefusal(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): string | undefined {
  if (operation.operation !== "query") return `a ${operation.operation}`;
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (definition.defaultValue !== undefined) return `variable $${name} has a default value`;
    const type = typeFromAST(schema, definition.type as Parameters<typeof typeFromAST>[1]);
    const named = type && getNamedType(type);
    if (isInputObjectType(named) && isRecursive(named)) return `variable $${name} is of a recursive input type (${named.name})`;
  }
  let reason: string | undefined;
  visit(document, {
    Argument(node) {
      if (node.value.kind !== Kind.VARIABLE && holdsVariable(node.value)) {
        reason = `a variable inside the input literal of argument ${node.name.value}`;
        return BREAK;
      }
      return undefined;
    },
    Field(node) {
      if (node.name.value === "__schema" || node.name.value === "__type") {
        reason = "introspection";
        return BREAK;
      }
      return undefined;
    },
  });
  return reason;
}

/** Whether a value holds a variable anywhere within it. */
function holdsVariable(value: ValueNode): boolean {
  switch (value.kind) {
    case Kind.VARIABLE:
      return true;
    case Kind.LIST:
      return value.values.some(holdsVariable);
    case Kind.OBJECT:
      return value.fields.some((field) => holdsVariable(field.value));
    default:
      return false;
  }
}

/** Whether an input object type holds a cycle (itself, or a type that holds itself), through any depth of fields and lists. */
function isRecursive(root: GraphQLInputObjectType): boolean {
  const onPath = new Set<GraphQLInputObjectType>();
  const cleared = new Set<GraphQLInputObjectType>();
  const cycles = (type: GraphQLInputObjectType): boolean => {
    if (onPath.has(type)) return true;
    if (cleared.has(type)) return false;
    onPath.add(type);
    const found = Object.values(type.getFields()).some((field) => {
      const named = getNamedType(field.type);
      return isInputObjectType(named) && cycles(named);
    });
    onPath.delete(type);
    cleared.add(type);
    return found;
  };
  return cycles(root);
}
