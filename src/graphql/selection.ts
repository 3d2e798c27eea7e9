import { type FieldNode, type GraphQLResolveInfo, Kind, type SelectionSetNode } from "graphql";

/**
 * Looking ahead from a resolver into what the client selected below its field, so a list
 * resolver can read in one statement what the fields below would otherwise each fetch on
 * their own (the count, the owners).
 *
 * It answers by field name only and is generous on purpose: fragments count whatever their
 * type condition, and fields under `@skip` or `@include` count as selected. Reading
 * something that is then not shown costs little; missing something costs the field below
 * its own statement, which the field's resolver still runs, so a wrong answer is never wrong
 * data.
 */

/**
 * True when the fields named by `path` are selected below the field `info` resolves, e.g.
 * `["totalCount"]` or `["edges", "node", "owner"]`, through named and inline fragments and
 * under any alias.
 */
export function isSelected(info: Pick<GraphQLResolveInfo, "fieldNodes" | "fragments">, path: readonly string[]): boolean {
  // A field selected once (the usual case) is a node of a document Apollo keeps parsed: its
  // answer is the same on every request of that document, so it is worked out once.
  if (info.fieldNodes.length !== 1) return lookAhead(info, path);
  const node = info.fieldNodes[0]!;
  let answers = answersByField.get(node);
  if (!answers) {
    answers = new Map();
    answersByField.set(node, answers);
  }
  const key = path.join(".");
  let answer = answers.get(key);
  if (answer === undefined) {
    answer = lookAhead(info, path);
    answers.set(key, answer);
  }
  return answer;
}

/** Answers by field node and path (a field's selection, fragments included, is fixed with its document). */
const answersByField = new WeakMap<FieldNode, Map<string, boolean>>();

function lookAhead(info: Pick<GraphQLResolveInfo, "fieldNodes" | "fragments">, path: readonly string[]): boolean {
  let fields: readonly FieldNode[] = info.fieldNodes;
  for (const name of path) {
    fields = fields.flatMap((field) => childFields(field.selectionSet, info.fragments)).filter((field) => field.name.value === name);
    if (fields.length === 0) return false;
  }
  return true;
}

/**
 * The fields of one selection set, fragments spread in. Each fragment is spread once per
 * set: its fields are the same wherever it appears, and fragments spreading one another
 * many times over could otherwise multiply the work.
 */
function childFields(
  selectionSet: SelectionSetNode | undefined,
  fragments: GraphQLResolveInfo["fragments"],
  spread: Set<string> = new Set(),
): FieldNode[] {
  if (!selectionSet) return [];
  return selectionSet.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return [selection];
    if (selection.kind === Kind.INLINE_FRAGMENT) return childFields(selection.selectionSet, fragments, spread);
    const name = selection.name.value;
    if (spread.has(name)) return [];
    spread.add(name);
    return childFields(fragments[name]?.selectionSet, fragments, spread);
  });
}
