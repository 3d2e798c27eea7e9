/** The admin's view of the audit trail, newest first. */

/** $1 actor or null, $2 type or null, $3 since or null. */
const FILTER = `($1::uuid is null or actor_id = $1)
  and ($2::text is null or type = $2)
  and ($3::timestamptz is null or at >= $3)`;

/** One page: $4/$5 the cursor's time and id (null: first page), $6 the limit. */
export const AUDIT_EVENT_PAGE = `
  select id, type, actor_id as "actorId", subject_id as "subjectId", at, details
  from audit_events
  where ${FILTER}
    and ($4::timestamptz is null or (at, id) < ($4::timestamptz, $5::uuid))
  order by at desc, id desc
  limit $6`;

export const AUDIT_EVENT_COUNT = `select count(*)::int as "count" from audit_events where ${FILTER}`;

/**
 * Deletes up to $2 events older than $1, oldest first (the `(at, id)` index finds them), and
 * says how many: the retention sweep runs it in batches, so no statement holds many locks.
 */
export const DELETE_AUDIT_EVENTS_BEFORE = `
  with doomed as (
    select id from audit_events where at < $1 order by at limit $2
  ), gone as (
    delete from audit_events where id in (select id from doomed) returning 1
  )
  select count(*)::int as "count" from gone`;
