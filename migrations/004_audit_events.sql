-- The audit trail: who did what to what, written in the same transaction as the change it
-- describes, so a change that rolls back leaves no event.

create table audit_events (
  id         uuid primary key default gen_random_uuid(),
  -- e.g. login.failed, dataset.updated: see src/audit/events.ts for the list.
  type       text not null check (char_length(type) between 1 and 64),
  -- Who acted; null for an anonymous attempt. Kept (as null) if the user is deleted.
  actor_id   uuid references users (id) on delete set null,
  -- What it was about: a dataset, a user, a session.
  subject_id uuid,
  at         timestamptz not null default date_trunc('milliseconds', clock_timestamp()),
  details    jsonb not null default '{}'
);

-- auditEvents lists newest first, optionally by actor or type, from a time on.
create index audit_events_at_idx on audit_events (at, id);
create index audit_events_actor_at_idx on audit_events (actor_id, at, id);
create index audit_events_type_at_idx on audit_events (type, at, id);
