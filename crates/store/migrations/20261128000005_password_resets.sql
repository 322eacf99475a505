-- Password resets: an emailed single-use link (token hashed here, 30-minute expiry).
-- Identities are global, so resets are too: no practice_id; rows are reachable only
-- by a transaction that names the token's hash, or the user being reset.

create table password_resets (
    id          uuid primary key,
    user_id     uuid not null references users (id),
    token_hash  bytea not null,
    expires_at  timestamptz not null,
    used_at     timestamptz,
    created_at  timestamptz not null default now(),
    constraint password_resets_token_key unique (token_hash)
);
create index password_resets_user_idx on password_resets (user_id);
alter table password_resets enable row level security;
alter table password_resets force row level security;
create policy reset_by_token on password_resets for select
    using (token_hash = (select app_token_hash()));
create policy reset_by_token_update on password_resets for update
    using (token_hash = (select app_token_hash()));
create policy reset_for_user on password_resets for insert
    with check (user_id = (select app_auth_user_id()));

-- Ending a user's sessions everywhere (password reset or change) runs in each of
-- their practices in turn; the memberships policy for the signing-in user lists them.
grant select, insert, update on password_resets to paddock_app;
