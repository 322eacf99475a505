-- Second factors: TOTP (RFC 6238) and SMS codes. Secrets and phone numbers are
-- sealed by the application (envelope encryption) before they reach this table;
-- one-time codes are stored only as a keyed hash. Identities are global, so are
-- their factors: rows are reachable by the user acting or signing in only.

create table second_factors (
    user_id             uuid primary key references users (id),
    -- Confirmed factors.
    totp_secret         bytea,
    totp_confirmed_at   timestamptz,
    -- The last TOTP time step accepted: a code is never accepted twice (RFC 6238 5.2).
    totp_last_step      bigint,
    phone               bytea,
    phone_confirmed_at  timestamptz,
    -- Enrolments in progress: they replace the confirmed factor only once confirmed,
    -- so an abandoned enrolment never switches the working one off.
    totp_secret_pending bytea,
    phone_pending       bytea,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now()
);
alter table second_factors enable row level security;
alter table second_factors force row level security;
create policy own_second_factors on second_factors
    using (user_id = (select app_auth_user_id()) or user_id = (select app_actor_id()))
    with check (user_id = (select app_auth_user_id()) or user_id = (select app_actor_id()));

create table verification_codes (
    id           uuid primary key,
    user_id      uuid not null references users (id),
    purpose      text not null check (purpose in ('sms_sign_in', 'sms_enrol')),
    code_hash    bytea not null,
    sent_at      timestamptz not null,
    expires_at   timestamptz not null,
    attempts     integer not null default 0 check (attempts >= 0),
    consumed_at  timestamptz
);
create index verification_codes_user_idx on verification_codes (user_id, purpose, sent_at desc);
alter table verification_codes enable row level security;
alter table verification_codes force row level security;
create policy own_codes on verification_codes
    using (user_id = (select app_auth_user_id()) or user_id = (select app_actor_id()))
    with check (user_id = (select app_auth_user_id()) or user_id = (select app_actor_id()));

-- A session that passed the password but not yet the second factor can do nothing
-- but complete (or enrol) it.
alter table sessions add column second_factor_pending boolean not null default false;

grant select, insert, update on second_factors to paddock_app;
grant select, insert, update on verification_codes to paddock_app;
