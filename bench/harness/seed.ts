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

export interface CatalogSeed {
  /** The datasets `seedDatasets` made (the oldest): only these get cards and files, not those other parts made since. */
  seeded: number;
  /** Every this-many-th of them (by creation) is PUBLIC, the rest PRIVATE: 5 makes 20,000 of 100,000. */
  publicEvery: number;
}

/** The licences of the seeded cards, by weight (a null is a dataset with none). */
const SEED_LICENSES = [
  "CC-BY-4.0",
  "CC-BY-4.0",
  "CC-BY-4.0",
  "CC0-1.0",
  "CC0-1.0",
  "ODbL-1.0",
  "MIT",
  "Apache-2.0",
  "CC-BY-SA-4.0",
  "PDDL-1.0",
  null,
  null,
];
/** 30 topics × 10 qualifiers: a vocabulary of 300 tags (`climate-daily`). */
const SEED_TAG_TOPICS = [
  "climate",
  "weather",
  "census",
  "traffic",
  "energy",
  "health",
  "retail",
  "finance",
  "sensor",
  "survey",
  "genome",
  "ocean",
  "forest",
  "water",
  "air",
  "soil",
  "transport",
  "housing",
  "education",
  "crime",
  "elections",
  "budget",
  "tourism",
  "agriculture",
  "fisheries",
  "mining",
  "labour",
  "trade",
  "satellite",
  "biodiversity",
];
const SEED_TAG_QUALIFIERS = ["daily", "monthly", "annual", "raw", "clean", "regional", "national", "historic", "forecast", "sample"];
/** A file per extension, by weight: its content type, and whether it is a table (the preview format). */
const SEED_FILES = [
  ["csv", "text/csv"],
  ["csv", "text/csv"],
  ["csv", "text/csv"],
  ["parquet", "application/vnd.apache.parquet"],
  ["json", "application/json"],
  ["jsonl", "application/x-ndjson"],
  ["tsv", "text/tab-separated-values"],
  ["txt", "text/plain"],
] as const;
/** The seeded versions' message: what tells them from versions other parts committed. */
const SEED_VERSION_MESSAGE = "Seeded for the catalog";
/** Distinct contents the seeded files share (the catalog counts formats, not bytes). */
const SEED_BLOBS = 64;

/**
 * The public catalog's data, over the datasets already seeded: every dataset gets a card (one
 * to five tags from `SEED_TAG_TOPICS` × `SEED_TAG_QUALIFIERS`, skewed so that a few are
 * common and most rare, and a licence or none), every `publicEvery`-th is made PUBLIC, and
 * each public one gets a first version of one to three files (CSV most often, a text file
 * now and then) with their preview rows (READY, empty), so the catalog's formats count
 * something. Set-based, as the rest of the seed; the server's triggers (migrations/016) count
 * the facets as the rows arrive.
 */
export async function seedCatalog(db: SeedDb, seed: CatalogSeed): Promise<void> {
  await run(
    db,
    `with numbered as (select id, row_number() over (order by created_at, id) as n from datasets)
     update datasets d set
       visibility = case when numbered.n % :publicEvery::int = 0 then 'PUBLIC' else 'PRIVATE' end,
       license = (:licenses::text[])[1 + (numbered.n * 31) % cardinality(:licenses::text[])],
       tags = array(
         select distinct (:topics::text[])[1 + pick.i % cardinality(:topics::text[])] || '-'
                         || (:qualifiers::text[])[1 + (pick.i / cardinality(:topics::text[])) % cardinality(:qualifiers::text[])]
         -- One to five tags, spread independently of which datasets are public (every n-th).
         from generate_series(1, 1 + (numbered.n * 2654435761 % 1000003) % 5) k
         -- The square of a spread fraction: small indexes (common tags) far more often than large ones.
         cross join lateral (
           select floor(cardinality(:topics::text[]) * cardinality(:qualifiers::text[])
                        * power(((numbered.n * 7919 + k * 104729) % 10007) / 10007.0, 2))::int as i
         ) pick
       )
     from numbered where numbered.id = d.id and numbered.n <= :seeded::int and d.latest_version = 0`,
    { seeded: seed.seeded, publicEvery: seed.publicEvery, licenses: SEED_LICENSES, topics: SEED_TAG_TOPICS, qualifiers: SEED_TAG_QUALIFIERS },
  );
  await run(
    db,
    `insert into blobs (sha256, size)
     select encode(sha256(convert_to('bench catalog ' || g, 'UTF8')), 'hex'), 1000 * g from generate_series(0, :blobs::int - 1) g
     on conflict do nothing`,
    { blobs: SEED_BLOBS },
  );
  // A version's files go in while it is being committed (migrations/011): latest_version moved on, its row not yet written.
  // The seeded public datasets: public, and never committed to (the other parts' datasets are private or have versions).
  await run(db, `update datasets set latest_version = 1 where visibility = 'PUBLIC' and latest_version = 0`, {});
  await run(
    db,
    `with public_datasets as (
       select id, row_number() over (order by created_at, id) as n from datasets d
       where visibility = 'PUBLIC' and latest_version = 1 and not exists (select 1 from dataset_versions v where v.dataset_id = d.id)
     )
     insert into version_files (dataset_id, first_version, path, sha256, size, content_type)
     select public_datasets.id, 1, format('data-%s.%s', k, picked.ext), encode(sha256(convert_to('bench catalog ' || picked.blob, 'UTF8')), 'hex'), 1000 * picked.blob, picked.type
     from public_datasets
     cross join generate_series(1, 1 + (public_datasets.n * 5) % 3) k
     cross join lateral (
       select (:extensions::text[])[1 + (public_datasets.n * 13 + k * 7) % cardinality(:extensions::text[])] as ext,
              (:types::text[])[1 + (public_datasets.n * 13 + k * 7) % cardinality(:types::text[])] as type,
              (public_datasets.n + k) % :blobs::int as blob
     ) picked`,
    { extensions: SEED_FILES.map(([extension]) => extension), types: SEED_FILES.map(([, type]) => type), blobs: SEED_BLOBS },
  );
  await run(
    db,
    `insert into dataset_versions (dataset_id, number, message, file_count, total_size)
     select f.dataset_id, 1, :message::text, count(*)::int, sum(f.size) from version_files f
     where f.first_version = 1 and f.last_version is null
       and not exists (select 1 from dataset_versions v where v.dataset_id = f.dataset_id)
     group by f.dataset_id`,
    { message: SEED_VERSION_MESSAGE },
  );
  await run(
    db,
    `insert into file_previews (dataset_id, sha256, format, compression, status, row_count, columns, rows)
     select distinct f.dataset_id, f.sha256, substring(f.path from '\\.([a-z]+)$'), 'none', 'READY', 0, '[]'::jsonb, '[]'::jsonb
     from version_files f join dataset_versions v on v.dataset_id = f.dataset_id and v.number = 1 and v.message = :message::text
     where f.last_version is null and substring(f.path from '\\.([a-z]+)$') = any(:formats::text[])
     on conflict do nothing`,
    { formats: ["csv", "tsv", "parquet", "jsonl", "json"], message: SEED_VERSION_MESSAGE },
  );
}

/** What `seedCatalog` made, as the catalog part reports it. */
export interface CatalogSeedFacts {
  datasets: number;
  publicDatasets: number;
  /** Distinct tags on public datasets, and tags per public dataset on average. */
  tagsInUse: number;
  tagsPerPublic: number;
  /** Latest-version files of public datasets. */
  publicFiles: number;
}

export async function catalogSeedFacts(db: SeedDb): Promise<CatalogSeedFacts> {
  const { rows } = await db.query(
    `select (select count(*)::int from datasets) as "datasets",
            count(*)::int as "publicDatasets",
            (select count(distinct t.tag)::int from datasets d cross join unnest(d.tags) t(tag) where d.visibility = 'PUBLIC') as "tagsInUse",
            coalesce(avg(cardinality(tags)), 0)::float8 as "tagsPerPublic",
            (select count(*)::int from version_files f join datasets d on d.id = f.dataset_id
             where f.last_version is null and d.visibility = 'PUBLIC') as "publicFiles"
     from datasets where visibility = 'PUBLIC'`,
    [],
  );
  return rows[0] as CatalogSeedFacts;
}
