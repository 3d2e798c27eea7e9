import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../src/db/migrate.js";
import { USER_ROW_COLUMNS, VIEWER_WITH_SESSION } from "../src/users/sql.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

/**
 * The viewer cache holds a `UserRow` per live session, and forgets it only when the
 * database announces a change (migrations/005, 006). The triggers announce an UPDATE only
 * when one of the columns in their WHEN clause changed: a column the cache holds but the
 * trigger leaves out would serve a stale row, and no other test would notice. So the WHEN
 * clauses, as the database has them (pg_get_triggerdef), must name exactly the columns the
 * cache holds: `USER_ROW_COLUMNS` of a user, and what the viewer check reads of a session.
 */
describe("the viewer triggers and the viewer cache", () => {
  let test: TestDatabase;
  beforeAll(async () => {
    test = await createTestDatabase();
    await migrate(test.database);
  });
  afterAll(() => test.drop());

  /** The columns a trigger's WHEN compares, `old.x` and `new.x` each, as sorted lists. */
  async function whenColumns(table: string, trigger: string): Promise<{ old: string[]; new: string[] }> {
    const [row] = await test.database.query<{ definition: string }>(
      `select pg_get_triggerdef(t.oid) as definition from pg_trigger t where t.tgrelid = $1::regclass and t.tgname = $2`,
      [table, trigger],
    );
    if (!row) throw new Error(`no trigger ${trigger} on ${table}`);
    const when = /\bWHEN \((.*)\) EXECUTE /.exec(row.definition)?.[1];
    if (!when) throw new Error(`trigger ${trigger} has no WHEN clause: ${row.definition}`);
    const named = (side: "old" | "new") => [...new Set([...when.matchAll(new RegExp(`\\b${side}\\.(\\w+)`, "g"))].map((match) => match[1]!))].sort();
    return { old: named("old"), new: named("new") };
  }

  it("announces a change to a user in exactly the columns of the UserRow the cache holds", async () => {
    const cached = Object.values(USER_ROW_COLUMNS).sort();
    expect(await whenColumns("users", "users_viewer_change")).toEqual({ old: cached, new: cached });
  });

  it("announces a change to a session in exactly the columns the viewer check reads of it", async () => {
    const read = [...new Set([...VIEWER_WITH_SESSION.matchAll(/\bs\.(\w+)/g)].map((match) => match[1]!))].sort();
    expect(read).toEqual(["id", "revoked_at", "user_id"]);
    expect(await whenColumns("sessions", "sessions_viewer_change")).toEqual({ old: read, new: read });
  });
});
