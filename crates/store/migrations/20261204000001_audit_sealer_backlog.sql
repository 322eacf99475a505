-- What the metrics listener reports of the sealer: how many events, across every
-- practice, await their seal, and when the oldest of them was recorded. Two numbers
-- only: nothing of any practice's events leaves, so the application role may call it
-- outside a tenant transaction, as it calls audit_unsealed_practices().
create function audit_sealer_backlog(out pending bigint, out oldest timestamptz)
    language sql stable security definer
    set search_path = public, pg_temp
    as $$
    select count(*), min(a.occurred_at) from audit_events a where a.seq is null
$$;

revoke execute on function audit_sealer_backlog() from public;
grant execute on function audit_sealer_backlog() to paddock_app;
