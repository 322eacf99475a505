-- Identity: practice settings, sign-in throttling, server-side sessions, and the
-- audit table that authentication events are written to (chained by the audit work).
--
-- Credentials are found without a practice in scope: a transaction that names a
-- credential's hash (app.token_hash) or the user signing in (app.auth_user_id) may
-- see exactly those rows. The values are secrets or already known to the caller, so
-- naming them reveals nothing else; both settings are transaction-local.

create function app_token_hash() returns bytea
    language sql stable parallel safe
    as $$ select decode(nullif(current_setting('app.token_hash', true), ''), 'hex') $$;

create function app_auth_user_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.auth_user_id', true), '')::uuid $$;

-- A user signing in sees their own memberships in every practice (the practice picker).
create policy membership_of_signing_in_user on memberships for select
    using (user_id = (select app_auth_user_id()));
create policy practice_of_signing_in_user on practices for select
    using (exists (select 1 from memberships m
                    where m.practice_id = practices.id and m.user_id = (select app_auth_user_id())));
create policy signing_in_user on users for select
    using (id = (select app_auth_user_id()));
create policy signing_in_user_update on users for update
    using (id = (select app_auth_user_id()));

create table practice_settings (
    practice_id                uuid primary key references practices (id),
    lockout_threshold          integer not null default 10 check (lockout_threshold between 3 and 100),
    lockout_window_minutes     integer not null default 15 check (lockout_window_minutes between 1 and 1440),
    lockout_minutes            integer not null default 15 check (lockout_minutes between 1 and 10080),
    session_idle_minutes       integer not null default 30 check (session_idle_minutes between 5 and 1440),
    session_absolute_minutes   integer not null default 720 check (session_absolute_minutes between 15 and 10080),
    temporary_session_minutes  integer not null default 60 check (temporary_session_minutes between 5 and 720),
    require_second_factor      boolean not null default false,
    created_at                 timestamptz not null default now(),
    created_by                 uuid default app_actor_id(),
    updated_at                 timestamptz not null default now(),
    updated_by                 uuid default app_actor_id()
);
alter table practice_settings enable row level security;
alter table practice_settings force row level security;
create policy tenant_isolation on practice_settings
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
create policy settings_of_signing_in_user on practice_settings for select
    using (exists (select 1 from memberships m
                    where m.practice_id = practice_settings.practice_id
                      and m.user_id = (select app_auth_user_id())));
create trigger practice_settings_touch before update on practice_settings
    for each row execute function touch_row();

-- Failed sign-ins per email (known or not, so lockout reveals nothing), keyed by the
-- SHA-256 of the lower-cased address.
create table login_throttle (
    email_hash    bytea primary key,
    -- Times of the failures inside the sliding window (at most the threshold).
    recent_failures timestamptz[] not null default '{}',
    locked_until  timestamptz,
    updated_at    timestamptz not null default now()
);
alter table login_throttle enable row level security;
alter table login_throttle force row level security;
create policy throttle_by_key on login_throttle
    using (email_hash = (select app_token_hash()))
    with check (email_hash = (select app_token_hash()));

create table sessions (
    practice_id       uuid not null references practices (id),
    id                uuid not null,
    user_id           uuid not null references users (id),
    -- SHA-256 of the 256-bit token in the cookie; the token itself is never stored.
    token_hash        bytea not null,
    csrf_hash         bytea not null,
    temporary         boolean not null,
    idle_seconds      integer not null check (idle_seconds > 0),
    created_at        timestamptz not null,
    last_seen_at      timestamptz not null,
    expires_at        timestamptz not null,
    reauthenticated_at timestamptz,
    revoked_at        timestamptz,
    ip                inet,
    user_agent        text check (char_length(user_agent) <= 512),
    primary key (practice_id, id),
    foreign key (practice_id, user_id) references memberships (practice_id, user_id),
    constraint sessions_token_key unique (token_hash)
);
create index sessions_user_idx on sessions (practice_id, user_id) where revoked_at is null;
alter table sessions enable row level security;
alter table sessions force row level security;
create policy tenant_isolation on sessions
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
-- Found by its token (reads, and updates of last_seen_at/revoked_at); created only
-- through the tenant policy, inside the practice the session belongs to.
create policy session_by_token on sessions for select
    using (token_hash = (select app_token_hash()));
create policy session_by_token_update on sessions for update
    using (token_hash = (select app_token_hash()));

-- A session never changes hands: its practice, user and token are fixed at creation.
create function keep_session_identity() returns trigger
    language plpgsql
    as $$
begin
    if new.practice_id <> old.practice_id or new.user_id <> old.user_id
       or new.token_hash <> old.token_hash or new.id <> old.id then
        raise exception 'a session''s practice, user and token cannot change'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end
$$;
create trigger sessions_keep_identity before update on sessions
    for each row execute function keep_session_identity();

-- The practice's audit trail. Append-only: the application may insert and read;
-- nobody may change or remove a row (the trigger holds even for the owner).
create table audit_events (
    practice_id     uuid not null references practices (id),
    seq             bigint generated always as identity,
    id              uuid not null,
    occurred_at     timestamptz not null default now(),
    actor_user_id   uuid,
    actor_role      text,
    action          text not null check (char_length(action) between 1 and 64),
    entity_type     text,
    entity_id       uuid,
    changes         jsonb,
    ip              inet,
    user_agent      text,
    request_id      text,
    hash            bytea,
    primary key (practice_id, seq)
);
create index audit_events_entity_idx on audit_events (practice_id, entity_type, entity_id);
alter table audit_events enable row level security;
alter table audit_events force row level security;
create policy tenant_isolation on audit_events
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));

create function refuse_audit_change() returns trigger
    language plpgsql
    as $$
begin
    raise exception 'audit events are append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;
create trigger audit_events_append_only before update or delete on audit_events
    for each row execute function refuse_audit_change();
create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function refuse_audit_change();

grant select, update on practice_settings to paddock_app;
grant select, insert, update, delete on login_throttle to paddock_app;
grant select, insert, update on sessions to paddock_app;
grant select, insert on audit_events to paddock_app;
