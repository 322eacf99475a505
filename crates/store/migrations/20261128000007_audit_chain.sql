-- The audit trail as a product: every row change of every tenant table is recorded by
-- a trigger in the same transaction, and each practice's events form a hash chain.
--
-- Why a sealer: numbering and chaining an event when it is inserted would make every
-- writer of a practice wait for the previous writer's commit (the chain head would be
-- locked for the whole transaction). Instead an event is inserted unsealed (seq and
-- hash null) and the sealer, audit_seal_practice(), chains committed events in order
-- shortly afterwards (the server runs it every half second for every practice with
-- pending events). Writers never wait for each
-- other; the sealer holds a per-practice lock only while it seals.
--
-- Chain: hash(n) = SHA-256(hash(n-1) || canonical(event n)), hash(0) = 32 zero bytes.
-- canonical(event) concatenates 13 fields, each as a 4-byte big-endian byte length
-- followed by its UTF-8 text, or the 4 bytes ff ff ff ff for NULL, in this order:
-- practice_id, id (UUIDs as lower-case hyphenated text), occurred_at (microseconds
-- since the Unix epoch, decimal), actor_kind, actor_user_id, actor_role, action,
-- entity_type, entity_id, changes (the stored JSON text), ip (inet as
-- PostgreSQL's text(inet) prints it, with the prefix length), user_agent, request_id.
-- The sequence number is not hashed itself: it is the event's position in the chain,
-- which the chain fixes. store::audit::chain::chain_hash is the independent Rust version
-- that `paddock audit verify` uses; the two are kept equal by tests.

-- UUIDv7 from the database clock with microsecond precision in the 12 bits after the
-- millisecond timestamp (RFC 9562 method 3), so events of one transaction sort in the
-- order they were written.
create function audit_uuid_v7() returns uuid
    language plpgsql volatile parallel safe
    as $$
declare
    us bigint := (extract(epoch from clock_timestamp()) * 1000000)::bigint;
    sub integer := ((us % 1000) * 4096 / 1000)::integer;
    b bytea := uuid_send(gen_random_uuid());
begin
    b := overlay(b placing substring(int8send(us / 1000) from 3) from 1 for 6);
    b := set_byte(b, 6, 112 | (sub >> 8));
    b := set_byte(b, 7, sub & 255);
    return encode(b, 'hex')::uuid;
end
$$;

alter table audit_events drop constraint audit_events_pkey;
alter table audit_events alter column seq drop identity if exists;
alter table audit_events alter column seq drop not null;
alter table audit_events alter column id set default audit_uuid_v7();
-- The time of the write itself (not of the transaction's start), from the clock the id
-- comes from, so that time filters and id order agree.
alter table audit_events alter column occurred_at set default clock_timestamp();
alter table audit_events
    add column actor_kind text not null default 'system' check (actor_kind in ('user', 'system', 'client')),
    add column prev_hash  bytea,
    add column sealed_at  timestamptz;
alter table audit_events add primary key (practice_id, id);
-- Partial, so that writing an (unsealed) event does not touch it.
create unique index audit_events_seq_key on audit_events (practice_id, seq) where seq is not null;
create index audit_events_unsealed_idx on audit_events (practice_id, id) where seq is null;
-- No foreign key to practices: checking it would take a KEY SHARE lock on the practice
-- row in every audited transaction, and concurrent writers of one practice would then
-- contend on that row's lock. An event's practice comes from the row it records (whose
-- own key names the practice) or from the TenantTx of an authenticated principal.
alter table audit_events drop constraint audit_events_practice_id_fkey;
-- Stored as the exact JSON text written (json, not jsonb): the chain hashes these bytes,
-- and reading them back for verification is a copy, not a re-rendering.
alter table audit_events alter column changes type json using changes::json;
-- The lookup indexes (an entity's history, an actor's events) cover sealed events only,
-- so that writing an event touches just two indexes (the key and the unsealed list);
-- the few events awaiting the sealer are found through the unsealed index
-- (store::audit::log queries both).
drop index audit_events_entity_idx;
create index audit_events_entity_idx on audit_events (practice_id, entity_type, entity_id, id)
    where seq is not null;
create index audit_events_actor_idx on audit_events (practice_id, actor_user_id, id)
    where seq is not null;

-- Events written before the chain existed are chained by the sealer like new ones.
alter table audit_events disable trigger audit_events_append_only;
update audit_events
   set seq = null, hash = null,
       actor_kind = case when actor_user_id is null then 'system' else 'user' end;
alter table audit_events enable trigger audit_events_append_only;

alter table audit_events add constraint audit_events_sealed_together check (
    (seq is null) = (hash is null) and (seq is null) = (prev_hash is null)
    and (seq is null) = (sealed_at is null) and (seq is null or seq >= 1)
    and (hash is null or octet_length(hash) = 32));

-- Append-only, even for the owner. The single exception is sealing: setting the chain
-- columns of an unsealed event once, with every recorded column unchanged.
create or replace function refuse_audit_change() returns trigger
    language plpgsql
    as $$
begin
    if tg_op = 'UPDATE' and old.seq is null and new.seq is not null
       and (old.practice_id, old.id, old.occurred_at, old.actor_kind, old.actor_user_id,
            old.actor_role, old.action, old.entity_type, old.entity_id, old.changes::text, old.ip,
            old.user_agent, old.request_id)
           is not distinct from
           (new.practice_id, new.id, new.occurred_at, new.actor_kind, new.actor_user_id,
            new.actor_role, new.action, new.entity_type, new.entity_id, new.changes::text, new.ip,
            new.user_agent, new.request_id)
    then
        return new;
    end if;
    -- The retention purge (audit_purge below) removes a sealed prefix of a practice's
    -- chain, and only events older than that practice's retention period.
    if tg_op = 'DELETE' and old.seq is not null
       and split_part(current_setting('paddock.audit_purge', true), ':', 1) = old.practice_id::text
       and old.seq <= nullif(split_part(current_setting('paddock.audit_purge', true), ':', 2), '')::bigint
       and old.occurred_at < now() - make_interval(days => (
               select s.audit_retention_days from practice_settings s
                where s.practice_id = old.practice_id))
    then
        return old;
    end if;
    raise exception 'audit events are append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

-- The sealer functions run as the owner (security definer); row-level security is
-- forced on the owner too, so these policies let it see and seal every practice's
-- events. The application role cannot become the owner (doctor checks it).
create policy audit_sealer_reads on audit_events for select to paddock_owner using (true);
create policy audit_sealer_seals on audit_events for update to paddock_owner
    using (seq is null) with check (true);

create function audit_field(v text) returns bytea
    language sql immutable parallel safe
    as $$
    select case when v is null then '\xffffffff'::bytea
                else int4send(octet_length(convert_to(v, 'UTF8'))) || convert_to(v, 'UTF8') end
$$;

create function audit_canonical(e audit_events) returns bytea
    language sql stable parallel safe
    as $$
    select audit_field(e.practice_id::text)
        || audit_field(e.id::text)
        || audit_field(((extract(epoch from e.occurred_at) * 1000000)::bigint)::text)
        || audit_field(e.actor_kind)
        || audit_field(e.actor_user_id::text)
        || audit_field(e.actor_role)
        || audit_field(e.action)
        || audit_field(e.entity_type)
        || audit_field(e.entity_id::text)
        || audit_field(e.changes::text)
        || audit_field(text(e.ip))
        || audit_field(e.user_agent)
        || audit_field(e.request_id)
$$;

-- Chains up to max_events committed, unsealed events of practice p, oldest id first;
-- returns how many. Sealers of one practice take turns (advisory lock); each
-- statement sees what the previous sealer committed (read committed).
create function audit_seal_practice(p uuid, max_events integer default 10000) returns integer
    language plpgsql security definer
    set search_path = public, pg_temp
    as $$
declare
    head_seq bigint;
    head_hash bytea;
    e record;
    h bytea;
    ids uuid[] := '{}';
    seqs bigint[] := '{}';
    prevs bytea[] := '{}';
    hashes bytea[] := '{}';
begin
    perform pg_advisory_xact_lock(hashtextextended('paddock.audit_seal:' || p::text, 0));
    select a.seq, a.hash into head_seq, head_hash
      from audit_events a where a.practice_id = p and a.seq is not null
     order by a.seq desc limit 1;
    if head_seq is null then
        head_seq := 0;
        head_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    end if;
    -- Chain in memory, then write every link in one statement.
    for e in select a.id, audit_canonical(a) as canonical from audit_events a
              where a.practice_id = p and a.seq is null
              order by a.id limit max_events
    loop
        head_seq := head_seq + 1;
        h := sha256(head_hash || e.canonical);
        ids := ids || e.id;
        seqs := seqs || head_seq;
        prevs := prevs || head_hash;
        hashes := hashes || h;
        head_hash := h;
    end loop;
    update audit_events a
       set seq = v.seq, prev_hash = v.prev, hash = v.hash, sealed_at = clock_timestamp()
      from unnest(ids, seqs, prevs, hashes) as v(id, seq, prev, hash)
     where a.practice_id = p and a.id = v.id;
    return coalesce(array_length(ids, 1), 0);
end
$$;

-- The practices that have events awaiting the sealer. The sealer (store::audit::chain)
-- then seals each in a transaction of its own, so one pass never holds more than one
-- practice's lock, however many practices there are.
create function audit_unsealed_practices() returns setof uuid
    language sql stable security definer
    set search_path = public, pg_temp
    as $$
    with recursive pending(p) as (
        (select a.practice_id from audit_events a where a.seq is null
          order by a.practice_id limit 1)
        union all
        select (select a.practice_id from audit_events a
                 where a.seq is null and a.practice_id > pending.p
                 order by a.practice_id limit 1)
          from pending where pending.p is not null
    )
    select p from pending where p is not null
$$;

-- Every practice, with its chain head and how many events await sealing (for `paddock
-- audit verify` and `checkpoint`, whatever role the admin connects as). Practices are
-- listed from their own table, so one whose every event was deleted still shows up.
create policy audit_sealer_lists_practices on practices for select to paddock_owner using (true);
create function audit_heads()
    returns table (practice_id uuid, seq bigint, hash bytea, pending bigint)
    language sql stable security definer
    set search_path = public, pg_temp
    as $$
    select p.id,
           head.seq,
           head.hash,
           (select count(*) from audit_events u where u.practice_id = p.id and u.seq is null)
      from practices p
      left join lateral (select a.seq, a.hash from audit_events a
                          where a.practice_id = p.id and a.seq is not null
                          order by a.seq desc limit 1) head on true
     order by p.id
$$;

revoke execute on function audit_seal_practice(uuid, integer), audit_unsealed_practices(), audit_heads()
    from public;
grant execute on function audit_seal_practice(uuid, integer), audit_unsealed_practices() to paddock_app;

-- Row changes of tenant tables, recorded in the changing transaction by a trigger that
-- audit_install() generates for each table from the catalogue: an update compares the
-- recorded columns one by one (no conversion of unchanged values), which keeps an
-- audited update within reach of an unaudited one; an insert or a delete records every
-- non-null recorded value. Arguments of audit_install: the table, its entity type, its
-- id column, its practice column, then the secret columns (recorded only as "changed")
-- and the quiet ones (bookkeeping such as last-seen times: never recorded, and an update
-- touching only such columns writes no event). The generated function's comment lists
-- every column it covers; `paddock doctor` reports a column added since (re-run
-- audit_install for the table in the migration that adds it).

-- The `changes` of a create or delete: every non-null value, secrets as "changed".
create function audit_snapshot(j jsonb, op text, secrets text[], skip text[]) returns jsonb
    language sql immutable parallel safe
    as $$
    select coalesce(jsonb_object_agg(f.key,
               case when f.key = any(secrets) then '"changed"'::jsonb
                    when op = 'INSERT' then jsonb_build_array(null, f.value)
                    else jsonb_build_array(f.value, null) end), '{}'::jsonb)
      from jsonb_each(j) f
     where f.value <> 'null'::jsonb and not f.key = any(skip)
$$;

create function audit_install(tbl regclass, entity_type text, id_column text, practice_column text,
                              secrets text[] default '{}', quiet text[] default '{}')
    returns void
    language plpgsql
    as $install$
declare
    relname text := (select c.relname::text from pg_class c where c.oid = tbl);
    fn text := 'audit_' || relname;
    skip text[] := array['practice_id', 'created_at', 'created_by', 'updated_at', 'updated_by',
                         practice_column] || quiet;
    recorded text[];
    every_column text[];
    checks text := '';
    col text;
begin
    select array_agg(a.attname::text order by a.attnum),
           array_agg(a.attname::text order by a.attnum) filter (where not a.attname::text = any(skip))
      into every_column, recorded
      from pg_attribute a
     where a.attrelid = tbl and a.attnum > 0 and not a.attisdropped;
    foreach col in array recorded loop
        checks := checks || format(
            E'        if new.%1$I is distinct from old.%1$I then\n            d := d || jsonb_build_object(%2$L, %3$s);\n        end if;\n',
            col, col,
            case when col = any(secrets) then '''"changed"''::jsonb'
                 else format('jsonb_build_array(old.%1$I, new.%1$I)', col) end);
    end loop;
    execute format($f$
create or replace function %1$I() returns trigger
    language plpgsql
    as $body$
declare
    d jsonb := '{}';
    subject %2$s;
begin
    if tg_op = 'UPDATE' then
%3$s        if d = '{}' then
            return null;
        end if;
        subject := new;
    elsif tg_op = 'INSERT' then
        subject := new;
        d := audit_snapshot(to_jsonb(new), tg_op, %4$L, %5$L);
    else
        subject := old;
        d := audit_snapshot(to_jsonb(old), tg_op, %4$L, %5$L);
    end if;
    insert into audit_events (practice_id, actor_kind, actor_user_id, actor_role, action,
                              entity_type, entity_id, changes, ip, user_agent, request_id)
    values (subject.%6$I,
            case when app_actor_id() is null then 'system' else 'user' end,
            app_actor_id(),
            nullif(current_setting('app.actor_role', true), ''),
            case tg_op when 'INSERT' then 'create' when 'UPDATE' then 'update' else 'delete' end,
            %7$L,
            subject.%8$I,
            d,
            nullif(current_setting('app.ip', true), '')::inet,
            nullif(current_setting('app.user_agent', true), ''),
            nullif(current_setting('app.request_id', true), ''));
    return null;
end
$body$
$f$, fn, tbl, checks, secrets, skip, practice_column, entity_type, id_column);
    execute format('comment on function %I() is %L', fn,
                   'paddock audit trigger; covers: ' || array_to_string(every_column, ','));
    execute format('drop trigger if exists %I on %s', relname || '_audit', tbl);
    execute format('create trigger %I after insert or update or delete on %s
                        for each row execute function %I()', relname || '_audit', tbl, fn);
end
$install$;
revoke execute on function audit_install(regclass, text, text, text, text[], text[]) from public;

select audit_install('practices', 'practice', 'id', 'id');
select audit_install('roles', 'role', 'id', 'practice_id');
select audit_install('role_permissions', 'role_permission', 'role_id', 'practice_id');
select audit_install('memberships', 'membership', 'id', 'practice_id');
select audit_install('sessions', 'session', 'id', 'practice_id',
                     secrets => array['token_hash', 'csrf_hash'], quiet => array['last_seen_at']);
select audit_install('api_keys', 'api_key', 'id', 'practice_id',
                     secrets => array['key_hash'], quiet => array['last_used_at']);
select audit_install('invitations', 'invitation', 'id', 'practice_id',
                     secrets => array['token_hash']);

-- Retention of the audit trail itself (7 years unless the practice says otherwise).
alter table practice_settings
    add column audit_retention_days integer not null default 2557
        check (audit_retention_days between 365 and 36500);
select audit_install('practice_settings', 'practice_settings', 'practice_id', 'practice_id');

-- Purges practice p's events older than its retention period: the longest prefix of its
-- chain whose events are all that old (never the newest event). First a `purge` event is written naming the last
-- purged event's seq and hash (the checkpoint the remaining chain starts from, covered
-- by the chain itself once sealed), then the prefix is deleted. Admin only (`paddock
-- audit purge`); returns how many events were purged.
create function audit_purge(p uuid) returns bigint
    language plpgsql security definer
    set search_path = public, pg_temp
    as $$
declare
    retention integer;
    through bigint;
    through_hash bytea;
    first_seq bigint;
    purged bigint;
begin
    perform set_config('app.practice_id', p::text, true);
    while audit_seal_practice(p) > 0 loop
    end loop;
    perform pg_advisory_xact_lock(hashtextextended('paddock.audit_seal:' || p::text, 0));
    select s.audit_retention_days into retention from practice_settings s where s.practice_id = p;
    if retention is null then
        return 0;
    end if;
    select min(a.seq) into first_seq from audit_events a where a.practice_id = p and a.seq is not null;
    select coalesce(min(a.seq) - 1, max(a.seq)) into through
      from audit_events a
     where a.practice_id = p and a.seq is not null
       and a.occurred_at >= now() - make_interval(days => retention);
    -- The newest sealed event always stays: the chain goes on from it.
    through := least(through, (select max(a.seq) - 1 from audit_events a
                                where a.practice_id = p and a.seq is not null));
    if through is null or first_seq is null or through < first_seq then
        return 0;
    end if;
    select a.hash into through_hash from audit_events a where a.practice_id = p and a.seq = through;
    insert into audit_events (practice_id, actor_kind, action, entity_type, changes, request_id)
    values (p, 'system', 'purge', 'audit_log',
            json_build_object('through_seq', through, 'through_hash', encode(through_hash, 'hex'),
                              'from_seq', first_seq, 'retention_days', retention),
            'audit-purge');
    perform set_config('paddock.audit_purge', p::text || ':' || through::text, true);
    delete from audit_events a where a.practice_id = p and a.seq is not null and a.seq <= through;
    get diagnostics purged = row_count;
    perform set_config('paddock.audit_purge', '', true);
    perform audit_seal_practice(p);
    return purged;
end
$$;
revoke execute on function audit_purge(uuid) from public;
