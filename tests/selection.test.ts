import { type FieldNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, parse } from "graphql";
import { describe, expect, it } from "vitest";
import { isSelected } from "../src/graphql/selection.js";

/** What a resolver of the operation's first root field would see: its field nodes and the fragments. */
function lookAhead(query: string) {
  const document = parse(query);
  const operation = document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)!;
  const root = operation.selectionSet.selections[0] as FieldNode;
  // Two selections of the same response key are one field with several nodes.
  const fieldNodes = operation.selectionSet.selections.filter(
    (selection): selection is FieldNode =>
      selection.kind === Kind.FIELD && (selection.alias ?? selection.name).value === (root.alias ?? root.name).value,
  );
  const fragments = Object.fromEntries(
    document.definitions
      .filter((definition): definition is FragmentDefinitionNode => definition.kind === Kind.FRAGMENT_DEFINITION)
      .map((fragment) => [fragment.name.value, fragment]),
  );
  return (...path: string[]) => isSelected({ fieldNodes, fragments }, path);
}

describe("isSelected: looking ahead into a list field's selection", () => {
  it("finds direct fields and paths, and nothing else", () => {
    const selected = lookAhead(`{ adminDatasets { totalCount nodes { id owner { id } } } }`);
    expect(selected("totalCount")).toBe(true);
    expect(selected("nodes", "owner")).toBe(true);
    expect(selected("edges", "node", "owner")).toBe(false);
    expect(selected("pageInfo")).toBe(false);
    expect(selected("owner")).toBe(false);
  });

  it("finds fields by name under an alias, and through edges", () => {
    const selected = lookAhead(`{ list: adminDatasets { all: totalCount edges { n: node { who: owner { id } } } } }`);
    expect(selected("totalCount")).toBe(true);
    expect(selected("edges", "node", "owner")).toBe(true);
    expect(selected("nodes", "owner")).toBe(false);
  });

  it("follows named fragments, fragments inside fragments, and inline fragments", () => {
    const selected = lookAhead(`
      query { adminDatasets { ...Connection } }
      fragment Connection on DatasetConnection { ... on DatasetConnection { totalCount } nodes { ...Node } }
      fragment Node on Dataset { id ... { owner { id } } }`);
    expect(selected("totalCount")).toBe(true);
    expect(selected("nodes", "owner")).toBe(true);
    expect(selected("nodes", "name")).toBe(false);
  });

  it("counts fields under @skip and @include as selected (reading too much is harmless)", () => {
    const selected = lookAhead(`query($no: Boolean!) {
      adminDatasets { totalCount @skip(if: true) nodes @include(if: $no) { owner { id } } }
    }`);
    expect(selected("totalCount")).toBe(true);
    expect(selected("nodes", "owner")).toBe(true);
  });

  it("reads every node of a field selected twice under one response key", () => {
    const selected = lookAhead(`{ adminDatasets { nodes { id } } adminDatasets { totalCount nodes { owner { id } } } }`);
    expect(selected("totalCount")).toBe(true);
    expect(selected("nodes", "owner")).toBe(true);
  });

  it("spreads a fragment used many times over once per selection set", () => {
    const fragments = Array.from({ length: 30 }, (_, index) => `fragment F${index} on DatasetConnection { ...F${index + 1} ...F${index + 1} }`);
    const selected = lookAhead(`{ adminDatasets { ...F0 } } ${fragments.join("\n")} fragment F30 on DatasetConnection { totalCount }`);
    // Without the once-per-set rule this would walk 2^30 spreads.
    expect(selected("totalCount")).toBe(true);
    expect(selected("nodes")).toBe(false);
  });
});
