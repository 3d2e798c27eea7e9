/**
 * Bulk seeding, set-based: 1,000 users and 100,000 datasets in two statements, where one
 * store call per row would take minutes. Used by the benchmark (harness/database.ts) and by
 * scripts/explain.ts, so both measure the same data.
 *
 * The SQL is this module's own, not the server's: each INSERT names its columns, and its
 * values are passed by name (`:users`), so a column added to a table only matters here if
 * it has no default. Beside them, the two reads of what was seeded that the benchmark
 * needs (users to sign in, a user's newest datasets). Everything else the benchmark does
 * in the database goes through the product's own functions (harness/product.ts).
 */

/** What runs a statement: a `pg` client or pool. */
export interface SeedDb {
  query(text: string, values: unknown[]): Promise<{ rows: unknown[] }>;
}

/** `text` with `:name` placeholders (not `::casts`) as `$1`, `$2`…, and the values in that order; every name must be given and used. */
export function named(text: string, values: Record<string, unknown>): { text: string; values: unknown[] } {
  const order: string[] = [];
  const positional = text.replace(/(?<!:):([a-zA-Z]\w*)/g, (_match, name: string) => {
    if (!(name in values)) throw new Error(`seed: no value for :${name}`);
    if (!order.includes(name)) order.push(name);
    return `$${order.indexOf(name) + 1}`;
  });
  const unused = Object.keys(values).filter((name) => !order.includes(name));
  if (unused.length > 0) throw new Error(`seed: ${unused.join(", ")} not in the statement`);
  return { text: positional, values: order.map((name) => values[name]) };
}

async function run(db: SeedDb, text: string, values: Record<string, unknown>): Promise<void> {
  const statement = named(text, values);
  await db.query(statement.text, statement.values);
}

export interface UserSeed {
  /** `user0001@example.com` / `user_0001` up to this number, created a minute apart from 2024-01-01. */
  count: number;
  /** Every user's password hash (one real bcrypt hash shared by all, or a placeholder where nobody signs in). */
  passwordHash: string;
  /** The first this many users (by number) are admins, the rest users. */
  admins: number;
}

export async function seedUsers(db: SeedDb, seed: UserSeed): Promise<void> {
  await run(
    db,
    `insert into users (email, username, password_hash, role, created_at, updated_at)
     select format('user%s@example.com', lpad(g::text, 4, '0')), format('user_%s', lpad(g::text, 4, '0')),
            :passwordHash,
            case when g <= :admins then 'ADMIN' else 'USER' end,
            timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
            timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
     from generate_series(1, :count::int) g`,
    { count: seed.count, passwordHash: seed.passwordHash, admins: seed.admins },
  );
}

export interface DatasetSeed {
  /** Datasets in all. */
  count: number;
  /** Users already seeded (by username order), who own them in turn. */
  users: number;
}

/**
 * Datasets owned in turn (dataset g belongs to the (g mod users)-th user by username), one
 * second apart from 2024-02-01, so owners are interleaved in time; names from a few word
 * lists in varied case (about one in 12 has "weather"), a third of descriptions and a
 * quarter of file paths null.
 */
export async function seedDatasets(db: SeedDb, seed: DatasetSeed): Promise<void> {
  await run(
    db,
    `with owners as (select id, row_number() over (order by username) - 1 as n from users)
     insert into datasets (user_id, name, description, file_path, created_at, updated_at)
     select o.id,
            case g % 3 when 0 then initcap(w.name) when 1 then lower(w.name) else upper(left(w.name, 1)) || substr(w.name, 2) end,
            case when g % 3 = 0 then null else 'Collected ' || w.name || ' data, batch ' || (g % 97) end,
            case when g % 4 = 0 then null else format('/data/%s/%s.csv', o.n, g) end,
            t.at, t.at
     from generate_series(1, :count::int) g
     join owners o on o.n = g % :users::int
     cross join lateral (
       select (array['sales', 'weather', 'census', 'traffic', 'energy', 'health', 'retail', 'climate',
                     'finance', 'sensor', 'survey', 'genome'])[1 + (g + g / :users::int) % 12]
              || ' ' || (array['report', 'readings', 'export', 'sample', 'archive', 'snapshot', 'log'])[1 + (g / 12) % 7]
              || ' ' || (array['north', 'south', 'east', 'west', 'central'])[1 + (g / 84) % 5]
              || ' ' || (g * 7919 % 100000) as name
     ) w
     cross join lateral (select timestamptz '2024-02-01 00:00:00+00' + g * interval '1 second' as at) t`,
    { count: seed.count, users: seed.users },
  );
}

/** The seeded users in username order (the admins first), with what signing them in needs. */
export async function seededUsers(db: SeedDb): Promise<SeededUser[]> {
  const { rows } = await db.query(`select id, email, token_version as "tokenVersion" from users order by username`, []);
  return rows as SeededUser[];
}

export interface SeededUser {
  id: string;
  email: string;
  tokenVersion: number;
}

/** The newest `count` datasets of a user (by creation), e.g. to subscribe to. */
export async function newestDatasetIds(db: SeedDb, userId: string, count: number): Promise<string[]> {
  const statement = named("select id from datasets where user_id = :userId order by created_at desc, id limit :count", { userId, count });
  const { rows } = await db.query(statement.text, statement.values);
  return (rows as Array<{ id: string }>).map((row) => row.id);
}
