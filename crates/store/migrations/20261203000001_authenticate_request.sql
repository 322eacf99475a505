-- One statement authenticates a request and scopes its transaction.
--
-- authenticate_request checks the presented credential (a session by its token hash,
-- the session named by an access token's claims, or an API key by its hash), loads the
-- active membership with its role's permissions, restarts the idle timer, and sets the
-- transaction-local settings every policy and audit trigger reads (app.practice_id,
-- app.actor_id, app.actor_role, app.request_id, app.ip, app.user_agent). The request's
-- work then runs in the same transaction: no second BEGIN, no second set_config.
--
-- SECURITY INVOKER: it runs as the caller (paddock_app) under the same row-level
-- security as before, so it can see only what the credential settings it sets first
-- admit. The credential setting is cleared before it returns, so the work sees the
-- practice through the tenant policies alone. No row means no valid credential; the
-- caller then abandons the transaction.

create function authenticate_request(
    credential text,        -- 'session', 'access_token' or 'api_key'
    presented bytea,        -- SHA-256 of the session token or API key (null for access tokens)
    claimed_practice uuid,  -- an access token's claims (null otherwise)
    claimed_session uuid,
    claimed_user uuid,
    at_time timestamptz,    -- the server's clock (controllable in tests)
    req_id text,
    req_ip text,
    req_agent text)
returns table (
    session_id uuid, practice_id uuid, user_id uuid, csrf_hash bytea, temporary boolean,
    second_factor_pending boolean, created_at timestamptz, expires_at timestamptz,
    reauthenticated_at timestamptz, scopes text[], membership_id uuid, role_id uuid,
    role_name text, permissions text[])
language plpgsql volatile security invoker
as $$
#variable_conflict use_column
declare
    found_credential record;
    found_member record;
begin
    perform set_config('app.request_id', req_id, true),
            set_config('app.ip', req_ip, true),
            set_config('app.user_agent', req_agent, true);
    if credential = 'session' then
        perform set_config('app.token_hash', encode(presented, 'hex'), true);
        select s.id, s.practice_id, s.user_id, s.csrf_hash, s.temporary, s.second_factor_pending,
               s.created_at, s.last_seen_at as last_active, s.expires_at, s.reauthenticated_at,
               null::text[] as scopes
          into found_credential
          from sessions s
         where s.token_hash = app_token_hash() and s.revoked_at is null
           and at_time < s.expires_at
           and at_time < s.last_seen_at + make_interval(secs => s.idle_seconds);
    elsif credential = 'access_token' then
        -- A short-lived token is its own idle limit; the absolute limit still holds.
        perform set_config('app.practice_id', claimed_practice::text, true);
        select s.id, s.practice_id, s.user_id, s.csrf_hash, s.temporary, s.second_factor_pending,
               s.created_at, s.last_seen_at as last_active, s.expires_at, s.reauthenticated_at,
               null::text[] as scopes
          into found_credential
          from sessions s
         where s.id = claimed_session and s.user_id = claimed_user and s.revoked_at is null
           and at_time < s.expires_at;
    elsif credential = 'api_key' then
        perform set_config('app.token_hash', encode(presented, 'hex'), true);
        select k.id, k.practice_id, k.user_id, null::bytea as csrf_hash, false as temporary,
               false as second_factor_pending, k.created_at, k.last_used_at as last_active,
               k.expires_at, null::timestamptz as reauthenticated_at, k.scopes
          into found_credential
          from api_keys k
         where k.key_hash = app_token_hash() and k.revoked_at is null and k.expires_at > at_time;
    else
        raise exception 'unknown credential kind %', credential
            using errcode = 'invalid_parameter_value';
    end if;
    if found_credential.id is null then
        perform set_config('app.token_hash', '', true), set_config('app.practice_id', '', true);
        return;
    end if;

    perform set_config('app.practice_id', found_credential.practice_id::text, true);
    select m.id as membership_id, m.role_id, r.name as role_name,
           coalesce(array_agg(rp.permission) filter (where rp.permission is not null), '{}') as permissions
      into found_member
      from memberships m
      join practices p on p.id = m.practice_id and p.deleted_at is null
      join roles r on r.practice_id = m.practice_id and r.id = m.role_id
      left join role_permissions rp on rp.practice_id = m.practice_id and rp.role_id = m.role_id
     where m.user_id = found_credential.user_id and m.practice_id = found_credential.practice_id
       and m.status = 'active'
     group by m.id, m.role_id, r.name;
    if found_member.membership_id is null then
        perform set_config('app.token_hash', '', true), set_config('app.practice_id', '', true);
        return;
    end if;

    -- Activity, written at most once a minute (before the actor is set: the row is the
    -- credential's own bookkeeping, not a change by the member).
    if credential = 'session' and at_time - found_credential.last_active > interval '60 seconds' then
        update sessions set last_seen_at = at_time where token_hash = app_token_hash();
    elsif credential = 'api_key' and (found_credential.last_active is null
                                      or at_time - found_credential.last_active > interval '60 seconds') then
        update api_keys set last_used_at = at_time where key_hash = app_token_hash();
    end if;

    perform set_config('app.token_hash', '', true),
            set_config('app.actor_id', found_credential.user_id::text, true),
            set_config('app.actor_role', found_member.role_name, true);
    return query select found_credential.id, found_credential.practice_id, found_credential.user_id,
                        found_credential.csrf_hash, found_credential.temporary,
                        found_credential.second_factor_pending, found_credential.created_at,
                        found_credential.expires_at, found_credential.reauthenticated_at,
                        found_credential.scopes, found_member.membership_id, found_member.role_id,
                        found_member.role_name, found_member.permissions::text[];
end
$$;
