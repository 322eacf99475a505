-- API keys for integrations: `pdk_` + 32 random bytes, shown once; only the SHA-256
-- is stored. A key acts as the member who created it, limited to its scopes, and
-- dies with their membership (deactivation revokes it; the membership check runs
-- on every request anyway).

create table api_keys (
    practice_id   uuid not null references practices (id),
    id            uuid not null,
    user_id       uuid not null,
    name          text not null check (char_length(name) between 1 and 100),
    -- The first characters after `pdk_`, so people can tell their keys apart.
    display_prefix text not null check (char_length(display_prefix) = 8),
    key_hash      bytea not null,
    scopes        text[] not null check (scopes <@ array[
        'records.read', 'records.write', 'billing.read', 'billing.write',
        'appointments.read', 'appointments.write', 'controlled.read',
        'controlled.dispense', 'controlled.admin', 'staff.manage', 'settings.manage',
        'audit.read', 'referrals.send', 'referrals.receive', 'clients.read',
        'clients.write', 'patients.read', 'patients.write']::text[]),
    expires_at    timestamptz not null,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz not null default now(),
    created_by    uuid default app_actor_id(),
    updated_at    timestamptz not null default now(),
    updated_by    uuid default app_actor_id(),
    primary key (practice_id, id),
    constraint api_keys_hash_key unique (key_hash),
    foreign key (practice_id, user_id) references memberships (practice_id, user_id)
);
alter table api_keys enable row level security;
alter table api_keys force row level security;
create policy tenant_isolation on api_keys
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
create policy api_key_by_hash on api_keys for select
    using (key_hash = (select app_token_hash()));
create policy api_key_by_hash_update on api_keys for update
    using (key_hash = (select app_token_hash()))
    with check (key_hash = (select app_token_hash()) and revoked_at is null);
create trigger api_keys_touch before update on api_keys
    for each row execute function touch_row();

grant select, insert, update on api_keys to paddock_app;
