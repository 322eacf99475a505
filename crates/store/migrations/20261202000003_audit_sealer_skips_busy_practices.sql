-- The server's sealer skips a practice whose sealing lock is taken, instead of queueing
-- behind it: one practice's long-held lock (a stuck sealer, an admin purge) must not
-- stall the sealing of every practice after it in the pass. The skipped practice is
-- sealed on a later pass. Returns -1 when the lock was busy, else what
-- audit_seal_practice() sealed (it takes the same lock again, which a transaction
-- already holding it gets at once).
create function audit_seal_practice_unless_busy(p uuid, max_events integer default 10000)
    returns integer
    language plpgsql security definer
    set search_path = public, pg_temp
    as $$
begin
    if not pg_try_advisory_xact_lock(hashtextextended('paddock.audit_seal:' || p::text, 0)) then
        return -1;
    end if;
    return audit_seal_practice(p, max_events);
end
$$;
revoke execute on function audit_seal_practice_unless_busy(uuid, integer) from public;
grant execute on function audit_seal_practice_unless_busy(uuid, integer) to paddock_app;
