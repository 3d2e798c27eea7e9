-- The announcements of migrations/005, narrowed and made unconditional.
--
-- Narrowed: an UPDATE is announced only when it changes what the viewer cache holds (a
-- user's row as `me` shows it and as authorization reads it; a session's owner and end).
-- A refresh (sessions.last_used_at) or a stronger hash of the same password
-- (users.password_hash) no longer empties anyone's cache.
--
-- Unconditional: ENABLE ALWAYS, so the triggers fire under session_replication_role =
-- replica too (logical replication applying changes, pg_restore --disable-triggers).

drop trigger users_viewer_change on users;
drop trigger sessions_viewer_change on sessions;

create trigger users_viewer_change after update on users
  for each row
  when ((old.id, old.email, old.username, old.role, old.active, old.token_version, old.created_at, old.updated_at)
    is distinct from (new.id, new.email, new.username, new.role, new.active, new.token_version, new.created_at, new.updated_at))
  execute function notify_viewer_change();
create trigger users_viewer_delete after delete on users
  for each row execute function notify_viewer_change();

create trigger sessions_viewer_change after update on sessions
  for each row
  when ((old.id, old.user_id, old.revoked_at) is distinct from (new.id, new.user_id, new.revoked_at))
  execute function notify_viewer_change();
create trigger sessions_viewer_delete after delete on sessions
  for each row execute function notify_viewer_change();

alter table users enable always trigger users_viewer_change;
alter table users enable always trigger users_viewer_delete;
alter table users enable always trigger users_viewer_truncate;
alter table sessions enable always trigger sessions_viewer_change;
alter table sessions enable always trigger sessions_viewer_delete;
alter table sessions enable always trigger sessions_viewer_truncate;
