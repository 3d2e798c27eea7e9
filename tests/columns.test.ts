import { describe, expect, it } from "vitest";
import {
  columnMap,
  insertedColumn,
  insertParts,
  readColumn,
  selectList,
  setList,
  updateParts,
  writableColumn,
  writableFields,
} from "../src/db/columns.js";
import { INSERT_DATASET, UPDATE_DATASET } from "../src/datasets/sql.js";

/** A table's declaration, and the statement parts built from it (src/db/columns.ts). */
describe("column declarations", () => {
  const NOTES = {
    id: readColumn<string>("id"),
    ownerId: insertedColumn<string>("owner_id"),
    title: writableColumn<string>("title", "text"),
    pinnedAt: writableColumn<string | null>("pinned_at", "timestamptz"),
    createdAt: readColumn<string>("created_at"),
  };

  it("reads every column, aliased to its property", () => {
    expect(selectList(columnMap(NOTES))).toBe(`id, owner_id as "ownerId", title, pinned_at as "pinnedAt", created_at as "createdAt"`);
  });

  it("inserts the columns written on insert, numbered in the declaration's order, their values taken by name", () => {
    const insert = insertParts(NOTES);
    expect(insert.columns).toBe("owner_id, title, pinned_at");
    expect(insert.values).toBe("$1, $2, $3");
    expect(insert.next).toBe(4);
    expect(insert.params({ pinnedAt: "p", title: "t", ownerId: "o" })).toEqual(["o", "t", "p"]);
    // A nullable field left out is inserted as null.
    expect(insert.params({ title: "t", ownerId: "o" })).toEqual(["o", "t", null]);
  });

  it("updates each writable column under a flag: left out keeps it, null clears it", () => {
    const update = updateParts(NOTES, 3);
    expect(writableFields(NOTES)).toEqual(["title", "pinnedAt"]);
    expect(setList(update.assignments)).toBe(
      [
        "      title     = case when $3::boolean then $4::text else title end",
        "      pinned_at = case when $5::boolean then $6::timestamptz else pinned_at end",
      ].join(",\n"),
    );
    expect(update.next).toBe(7);
    expect(update.params({ pinnedAt: null })).toEqual([false, null, true, null]);
    expect(update.params({ title: "t" })).toEqual([true, "t", false, null]);
  });

  it("gives the datasets statements their parameters by name", () => {
    const row = { filePath: "f", description: null, name: "n", userId: "u", visibility: "PUBLIC" as const, tags: ["a"], license: "MIT" };
    expect(INSERT_DATASET.params(row)).toEqual(["u", "n", null, "f", "PUBLIC", "MIT", ["a"], null]);
    expect(INSERT_DATASET.text).toContain(
      "insert into datasets (user_id, name, description, file_path, visibility, license, tags, readme)\n    values ($1, $2, $3, $4, $5, $6, $7, $8)",
    );
    expect(UPDATE_DATASET.params({ id: "i", scope: ["v", false, ["OWNER"], null], changes: { name: "x", filePath: null, tags: [] } })).toEqual([
      "i",
      "v",
      false,
      ["OWNER"],
      null,
      true,
      "x",
      false,
      null,
      true,
      null,
      false,
      null,
      false,
      null,
      true,
      [],
      false,
      null,
      '{"fields":["filePath","name","tags"]}',
    ]);
    expect(UPDATE_DATASET.text).toContain("file_path   = case when $10::boolean then $11::text else file_path end");
    expect(UPDATE_DATASET.text).toContain("tags        = case when $16::boolean then $17::text[] else tags end");
    expect(UPDATE_DATASET.text).toContain("$20::jsonb");
    // The audit event's token id (AuditLog.query adds it) comes after the statement's own.
    expect(UPDATE_DATASET.text).toContain("jsonb_build_object('tokenId', $21::text)");
    expect(INSERT_DATASET.text).toContain("jsonb_build_object('tokenId', $9::text)");
  });
});
