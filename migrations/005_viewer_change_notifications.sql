-- Every change to a user or a session row is announced on the channel `viewer_changes`, so
-- that each server instance can drop what it keeps in memory about that viewer before the
-- next request (src/auth/viewer-changes.ts). A trigger, not application code, so that no
-- writer is missed: another instance, `npm run create-admin`, an operator's own SQL.
-- Payloads: `user:<id>`, `session:<id>`, or `*` (a TRUNCATE: forget everything).
-- NOTIFY is sent at COMMIT and not at all on ROLLBACK.

create function notify_viewer_change() returns trigger
language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    perform pg_notify('viewer_changes', '*');
  elsif tg_table_name = 'users' then
    perform pg_notify('viewer_changes', 'user:' || old.id);
  else
    perform pg_notify('viewer_changes', 'session:' || old.id);
  end if;
  return null;
end
$$;

create trigger users_viewer_change after update or delete on users
  for each row execute function notify_viewer_change();
create trigger users_viewer_truncate after truncate on users
  for each statement execute function notify_viewer_change();
create trigger sessions_viewer_change after update or delete on sessions
  for each row execute function notify_viewer_change();
create trigger sessions_viewer_truncate after truncate on sessions
  for each statement execute function notify_viewer_change();
