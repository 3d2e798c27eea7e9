/**
 * Seed SQL shared by scripts/explain.ts and the benchmark: $1 datasets, $2 users already
 * inserted. Owners take turns (one dataset a second, round-robin), names vary in case and words.
 */
export const SEED_DATASETS = `with owners as (select id, row_number() over (order by username) - 1 as n from users)
   insert into datasets (user_id, name, description, file_path, created_at, updated_at)
   select o.id,
          case g % 3 when 0 then initcap(w.name) when 1 then lower(w.name) else upper(left(w.name, 1)) || substr(w.name, 2) end,
          case when g % 3 = 0 then null else 'Collected ' || w.name || ' data, batch ' || (g % 97) end,
          case when g % 4 = 0 then null else format('/data/%s/%s.csv', o.n, g) end,
          t.at, t.at
   from generate_series(1, $1::int) g
   join owners o on o.n = g % $2::int
   cross join lateral (
     select (array['sales', 'weather', 'census', 'traffic', 'energy', 'health', 'retail', 'climate',
                   'finance', 'sensor', 'survey', 'genome'])[1 + (g + g / $2::int) % 12]
            || ' ' || (array['report', 'readings', 'export', 'sample', 'archive', 'snapshot', 'log'])[1 + (g / 12) % 7]
            || ' ' || (array['north', 'south', 'east', 'west', 'central'])[1 + (g / 84) % 5]
            || ' ' || (g * 7919 % 100000) as name
   ) w
   cross join lateral (select timestamptz '2024-02-01 00:00:00+00' + g * interval '1 second' as at) t`;
