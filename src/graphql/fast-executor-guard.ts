import { BREAK, type DocumentNode, Kind, type OperationDefinitionNode, type ValueNode, visit } from "graphql";

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
 * - **Introspection** (`__schema`, `__type`): rare, not worth a second implementation to trust.
 * - **Anything but a query**: mutations run their fields one after another and are bound by
 *   the database; subscriptions are not served over HTTP at all.
 *
 * Checked once per document, when it would be compiled.
 */
export function jitRefusal(document: DocumentNode, operation: OperationDefinitionNode): string | undefined {
  if (operation.operation !== "query") return `a ${operation.operation}`;
  const defaulted = operation.variableDefinitions?.find((definition) => definition.defaultValue !== undefined);
  if (defaulted) return `variable $${defaulted.variable.name.value} has a default value`;
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
