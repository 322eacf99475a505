-- Sign-in hardening (issue 12): the shared identity row, reset links that end with the
-- password, reset-request limits, one lockout policy for every email, and unlock links.

-- A practice can no longer rewrite a global identity. Before, any practice whose
-- member a user was (or the user's own tenant transaction) could update the users
-- row that every other practice of theirs shares. Now the row changes only in an
-- authentication transaction that names the user (their own password change or a
-- reset, both in store::passwords) and has no practice in scope; a TenantTx always
-- has one.
drop policy user_update on users;
drop policy signing_in_user_update on users;
create policy own_identity_update on users for update
    using (id = (select app_auth_user_id()) and (select app_practice_id()) is null)
    with check (id = (select app_auth_user_id()) and (select app_practice_id()) is null);

-- Even there, the address and the id are fixed: the email is how every practice
-- finds the person, so changing it is not something a password path may do.
create function keep_user_identity() returns trigger
    language plpgsql
    as $$
begin
    if new.id <> old.id or new.email <> old.email then
        raise exception 'a user''s id and email cannot change'
            using errcode = 'insufficient_privilege';
    end if;
    return new;
end
$$;
create trigger users_keep_identity before update on users
    for each row execute function keep_user_identity();

-- Changing or resetting a password ends the person's other open reset links in the
-- same transaction, so they are reachable by the user being changed too.
create policy reset_of_user on password_resets for select
    using (user_id = (select app_auth_user_id()));
create policy reset_of_user_update on password_resets for update
    using (user_id = (select app_auth_user_id()))
    with check (user_id = (select app_auth_user_id()));

-- Reset requests per email and per client address within a sliding window (kept in
-- PostgreSQL so every server instance shares the limits). Keyed by the SHA-256 of
-- "reset-email:<address>" or "reset-source:<ip>"; known and unknown emails alike.
create table reset_throttle (
    key_hash    bytea primary key,
    recent      timestamptz[] not null default '{}',
    updated_at  timestamptz not null default now()
);
alter table reset_throttle enable row level security;
alter table reset_throttle force row level security;
create policy reset_throttle_by_key on reset_throttle
    using (key_hash = (select app_token_hash()))
    with check (key_hash = (select app_token_hash()));
grant select, insert, update, delete on reset_throttle to paddock_app;

-- login_throttle now holds two kinds of rows: one per account (email) and one per
-- account and client address. The kind is kept for maintenance and reports.
alter table login_throttle add column scope text not null default 'account'
    check (scope in ('account', 'source'));

-- One lockout policy for every email, known or not: the strictest in force in any
-- practice. A policy that followed the account's own practices would tell an
-- attacker which emails have accounts. The function reads every practice's three
-- lockout columns and answers only their aggregate; it runs as the owner, whom the
-- forced policies bind as well, so the owner gets a read-only policy for it.
create policy lockout_in_force_scan on practice_settings for select to paddock_owner
    using (true);
create function lockout_in_force(out threshold integer, out window_minutes integer,
                                 out lock_minutes integer)
    language sql stable security definer
    set search_path = public, pg_temp
    as $$
        select min(lockout_threshold), max(lockout_window_minutes), max(lockout_minutes)
          from practice_settings
    $$;
revoke all on function lockout_in_force() from public;
grant execute on function lockout_in_force() to paddock_app;

-- Unlock links: emailed to the owner of an account that was locked, single use,
-- expiring, only the SHA-256 of the token kept. Global like the identity they unlock.
create table account_unlocks (
    id          uuid primary key,
    user_id     uuid not null references users (id),
    token_hash  bytea not null,
    expires_at  timestamptz not null,
    used_at     timestamptz,
    created_at  timestamptz not null default now(),
    constraint account_unlocks_token_key unique (token_hash)
);
create index account_unlocks_user_idx on account_unlocks (user_id);
alter table account_unlocks enable row level security;
alter table account_unlocks force row level security;
create policy unlock_by_token on account_unlocks for select
    using (token_hash = (select app_token_hash()));
create policy unlock_by_token_update on account_unlocks for update
    using (token_hash = (select app_token_hash()));
create policy unlock_of_user on account_unlocks for select
    using (user_id = (select app_auth_user_id()));
create policy unlock_for_user on account_unlocks for insert
    with check (user_id = (select app_auth_user_id()));
grant select, insert, update on account_unlocks to paddock_app;
