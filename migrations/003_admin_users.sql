-- Admin user management: the users list and the last-admin check.

-- The admin list of users, newest first (created_at desc, id desc): read backwards, and
-- a keyset cursor continues from its (created_at, id). A search (ILIKE on username and
-- email) filters while walking this index in order.
create index users_created_idx on users (created_at, id);

-- setUserRole and setUserActive lock the active admins before changing anyone (so two
-- admins demoting each other cannot leave none); a partial index finds the few of them
-- without reading every user.
create index users_active_admins_idx on users (id) where role = 'ADMIN' and active;
