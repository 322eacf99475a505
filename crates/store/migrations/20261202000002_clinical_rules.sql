-- Issue 12, findings 16 and 24: rules the database holds for every writer.

-- A vital sign, problem, prescription or vaccination may name the encounter it
-- belongs to only while that encounter is open: once finalised (or past its editing
-- period) the record of the visit is closed, and later findings are an addendum or an
-- entry of their own. Raised like encounter_guard, so the store maps it to the same
-- 409 `record_locked`. Changing the status of an entry later (resolving a problem,
-- stopping a prescription) does not touch encounter_id and stays allowed.
create function linked_record_needs_open_encounter() returns trigger
    language plpgsql
    as $$
begin
    if new.encounter_id is not null
       and (tg_op = 'INSERT' or new.encounter_id is distinct from old.encounter_id)
       and exists (select 1 from encounters e
                    where e.practice_id = new.practice_id and e.id = new.encounter_id
                      and (e.status = 'finalised' or e.lock_after <= now())) then
        raise exception 'encounter % is finalised; add an addendum instead', new.encounter_id
            using errcode = 'P0001', constraint = 'encounter_locked';
    end if;
    return new;
end
$$;

create trigger vital_signs_open_encounter before insert or update of encounter_id on vital_signs
    for each row execute function linked_record_needs_open_encounter();
create trigger problems_open_encounter before insert or update of encounter_id on problems
    for each row execute function linked_record_needs_open_encounter();
create trigger prescriptions_open_encounter before insert or update of encounter_id on prescriptions
    for each row execute function linked_record_needs_open_encounter();
create trigger vaccinations_open_encounter before insert or update of encounter_id on vaccinations
    for each row execute function linked_record_needs_open_encounter();

-- Role and resource names are unique per practice whatever their case, width or
-- spaces: "Practice\u00a0admin" or "PRACTICE ADMIN" is the built-in "Practice admin".
-- The store writes names NFKC-normalised with single spaces; the index folds the
-- same way, so rows written before this migration are compared alike too.
create unique index roles_name_folded_key
    on roles (practice_id, lower(regexp_replace(normalize(name, NFKC), '\s+', ' ', 'g')));
create unique index resources_name_folded_key
    on resources (practice_id, lower(regexp_replace(normalize(name, NFKC), '\s+', ' ', 'g')));
