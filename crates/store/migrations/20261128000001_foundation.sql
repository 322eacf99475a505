-- Foundation: practices, users, roles, permissions, memberships, and the tenancy rules.
--
-- Runs as paddock_owner (see store::admin::migrate); the application connects as
-- paddock_app, which owns nothing and is granted only what it needs below.
--
-- Tenancy: every table is RLS ENABLED and FORCED. Policies compare practice_id with
-- the transaction-local setting app.practice_id that TenantTx sets; an unset (or
-- reset-to-empty) setting yields NULL, so every policy returns no rows: fail closed.
-- Policies call the helpers through (select ...) so they are evaluated once per query.

create function app_practice_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.practice_id', true), '')::uuid $$;

create function app_actor_id() returns uuid
    language sql stable parallel safe
    as $$ select nullif(current_setting('app.actor_id', true), '')::uuid $$;

-- Keeps updated_at/updated_by honest whatever the statement said.
create function touch_row() returns trigger
    language plpgsql
    as $$
begin
    new.updated_at := now();
    new.updated_by := app_actor_id();
    return new;
end
$$;

create table practices (
    id          uuid primary key,
    name        text not null check (char_length(name) between 2 and 200),
    created_at  timestamptz not null default now(),
    created_by  uuid default app_actor_id(),
    updated_at  timestamptz not null default now(),
    updated_by  uuid default app_actor_id(),
    deleted_at  timestamptz
);
alter table practices enable row level security;
alter table practices force row level security;
-- A practice sees only itself. Creating practices is an admin command (owner connection).
create policy practice_self on practices
    using (id = (select app_practice_id()))
    with check (id = (select app_practice_id()));
create trigger practices_touch before update on practices
    for each row execute function touch_row();

-- Global identity: one person, possibly member of several practices. No tenant data here.
create table users (
    id             uuid primary key,
    email          text not null check (email = lower(email) and char_length(email) between 3 and 254),
    display_name   text not null check (char_length(display_name) between 1 and 200),
    password_hash  text,
    created_at     timestamptz not null default now(),
    created_by     uuid default app_actor_id(),
    updated_at     timestamptz not null default now(),
    updated_by     uuid default app_actor_id(),
    deleted_at     timestamptz
);
create unique index users_email_key on users (email);
alter table users enable row level security;
alter table users force row level security;
create trigger users_touch before update on users
    for each row execute function touch_row();

create table roles (
    practice_id  uuid not null references practices (id),
    id           uuid not null,
    name         text not null check (char_length(name) between 1 and 100),
    -- Set for the five built-in roles (domain::BuiltinRole::key), null for custom roles.
    builtin_key  text check (builtin_key in ('practice_admin', 'veterinarian', 'technician', 'receptionist', 'bookkeeper')),
    created_at   timestamptz not null default now(),
    created_by   uuid default app_actor_id(),
    updated_at   timestamptz not null default now(),
    updated_by   uuid default app_actor_id(),
    deleted_at   timestamptz,
    primary key (practice_id, id),
    constraint roles_name_key unique (practice_id, name),
    constraint roles_builtin_key unique (practice_id, builtin_key)
);
alter table roles enable row level security;
alter table roles force row level security;
create policy tenant_isolation on roles
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
create trigger roles_touch before update on roles
    for each row execute function touch_row();

create table role_permissions (
    practice_id  uuid not null,
    role_id      uuid not null,
    -- Kept equal to domain::Permission::ALL by a test.
    permission   text not null check (permission in (
        'records.read', 'records.write', 'billing.read', 'billing.write',
        'appointments.read', 'appointments.write', 'controlled.read',
        'controlled.dispense', 'controlled.admin', 'staff.manage', 'settings.manage',
        'audit.read', 'referrals.send', 'referrals.receive', 'clients.read',
        'clients.write', 'patients.read', 'patients.write')),
    created_at   timestamptz not null default now(),
    created_by   uuid default app_actor_id(),
    primary key (practice_id, role_id, permission),
    foreign key (practice_id, role_id) references roles (practice_id, id) on delete cascade
);
alter table role_permissions enable row level security;
alter table role_permissions force row level security;
create policy tenant_isolation on role_permissions
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));

create table memberships (
    practice_id     uuid not null references practices (id),
    id              uuid not null,
    user_id         uuid not null references users (id),
    role_id         uuid not null,
    status          text not null default 'active' check (status in ('active', 'deactivated')),
    deactivated_at  timestamptz,
    created_at      timestamptz not null default now(),
    created_by      uuid default app_actor_id(),
    updated_at      timestamptz not null default now(),
    updated_by      uuid default app_actor_id(),
    primary key (practice_id, id),
    constraint memberships_user_key unique (practice_id, user_id),
    foreign key (practice_id, role_id) references roles (practice_id, id),
    check ((status = 'deactivated') = (deactivated_at is not null))
);
create index memberships_user_idx on memberships (user_id);
alter table memberships enable row level security;
alter table memberships force row level security;
create policy tenant_isolation on memberships
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
create trigger memberships_touch before update on memberships
    for each row execute function touch_row();

-- A user row is visible to the user themself, to practices they are a member of (the
-- memberships subquery is itself limited to the current practice by its policy), and
-- to a transaction that names its exact email in app.user_email (sign-in, invitation
-- acceptance, practice creation: the caller already knows the address).
create policy user_visible on users for select
    using (id = (select app_actor_id())
           or email = (select nullif(current_setting('app.user_email', true), ''))
           or exists (select 1 from memberships m where m.user_id = users.id));
create policy user_update on users for update
    using (id = (select app_actor_id())
           or exists (select 1 from memberships m where m.user_id = users.id));
-- New identities are created inside a practice's context (invitation acceptance).
create policy user_insert on users for insert
    with check ((select app_practice_id()) is not null);
-- No delete policy: identities are never deleted by the application.

grant select on practices to paddock_app;
grant select, insert, update on users to paddock_app;
grant select, insert, update, delete on roles, role_permissions, memberships to paddock_app;
