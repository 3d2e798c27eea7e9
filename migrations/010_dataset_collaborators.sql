-- Sharing: the users a dataset's owner gave access to, and as what.
--
-- The owner is not a row here (datasets.user_id says who owns it), and neither are admins
-- (their access comes from their role). Which role may do what is decided in
-- src/policy/rules.ts; the SQL that reads this table is in src/policy/access-sql.ts.

create table dataset_collaborators (
  -- Access goes with the dataset.
  dataset_id uuid not null references datasets (id) on delete cascade,
  -- And with the account.
  user_id    uuid not null references users (id) on delete cascade,
  -- VIEWER reads and downloads; EDITOR also changes metadata, uploads and commits.
  role       text not null check (role in ('VIEWER', 'EDITOR')),
  -- When the user was first given access (a later role change keeps it), and by whom; the
  -- share outlives the account of whoever made it.
  added_at   timestamptz not null default date_trunc('milliseconds', now()),
  added_by   uuid references users (id) on delete set null,
  -- One role per user and dataset; also the look-up "who has access to this dataset".
  primary key (dataset_id, user_id)
);

-- "Datasets shared with me" (datasets(filter: {access: SHARED | ALL})), and the cascade on
-- user delete.
create index dataset_collaborators_user_idx on dataset_collaborators (user_id, dataset_id);
-- The set-null on a deleted sharer's account.
create index dataset_collaborators_added_by_idx on dataset_collaborators (added_by);
