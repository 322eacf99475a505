-- Clinical core: clients (owners), patients (animals) and their owners, resources,
-- encounters with SOAP notes that lock, addenda, vital signs, problems/diagnoses,
-- allergies, prescriptions, vaccinations and appointments.
--
-- Every table follows the tenancy rules of the foundation: practice_id leads the
-- primary key, foreign keys between tenant tables include it, RLS is enabled and
-- FORCED with the tenant policy, and audit_install() generates the audit trigger.
-- The extension btree_gist (the appointment exclusion constraints) is created by
-- `paddock migrate` before it switches to the owner role.
--
-- What the application role may do is what the grants at the end say: no DELETE on
-- any clinical table (soft delete sets deleted_at; hard purge is the retention job's,
-- on the admin connection), and clinical entries that must not be rewritten are
-- INSERT-only (addenda, vital signs, vaccinations).

-- A new permission: finalising (signing) an encounter, which locks it. Vets and the
-- admin hold it; technicians write records but cannot sign them.
alter table role_permissions drop constraint role_permissions_permission_check;
alter table role_permissions add constraint role_permissions_permission_check check (permission in (
        'records.read', 'records.write', 'records.finalise', 'billing.read', 'billing.write',
        'appointments.read', 'appointments.write', 'controlled.read',
        'controlled.dispense', 'controlled.admin', 'staff.manage', 'settings.manage',
        'audit.read', 'referrals.send', 'referrals.receive', 'clients.read',
        'clients.write', 'patients.read', 'patients.write'));
alter table api_keys drop constraint api_keys_scopes_check;
alter table api_keys add constraint api_keys_scopes_check check (scopes <@ array[
        'records.read', 'records.write', 'records.finalise', 'billing.read', 'billing.write',
        'appointments.read', 'appointments.write', 'controlled.read',
        'controlled.dispense', 'controlled.admin', 'staff.manage', 'settings.manage',
        'audit.read', 'referrals.send', 'referrals.receive', 'clients.read',
        'clients.write', 'patients.read', 'patients.write']::text[]);

-- Existing practices' built-in admin and vet roles gain it (new practices get it from
-- domain::BuiltinRole). The owner cannot see practices through forced RLS, so the
-- list is read with forcing lifted for this statement only, inside this transaction;
-- each grant is then made inside its own practice's scope and audited as usual.
alter table practices no force row level security;
do $$
declare
    p uuid;
begin
    for p in select id from practices loop
        perform set_config('app.practice_id', p::text, true);
        insert into role_permissions (practice_id, role_id, permission)
        select practice_id, id, 'records.finalise' from roles
         where builtin_key in ('practice_admin', 'veterinarian')
        on conflict do nothing;
    end loop;
    perform set_config('app.practice_id', '', true);
end
$$;
alter table practices force row level security;

-- Record-keeping settings.
alter table practice_settings
    add column encounter_lock_hours integer not null default 24
        check (encounter_lock_hours between 1 and 720),
    add column record_retention_days integer not null default 2557
        check (record_retention_days between 365 and 36500),
    add column appointment_retention_days integer not null default 730
        check (appointment_retention_days between 30 and 36500);
select audit_install('practice_settings', 'practice_settings', 'practice_id', 'practice_id');

-- Search. Row-level security keeps a non-leakproof operator (LIKE, lower(), the
-- trigram operators) from being used as an index condition: it must run after the
-- policy, so a trigram index is never read by the application role. Searching
-- therefore compares stored lower-case keys (generated columns, collation "C") by
-- byte-wise prefix ranges and equality, which are leakproof, through btree indexes led
-- by practice_id: a name, family name, "given family" or email that starts with the
-- query, the last 9 digits of a phone number, or an exact microchip.

-- Owners. Phones are stored as typed, cleaned to digits with an optional leading +.
create table clients (
    practice_id       uuid not null references practices (id),
    id                uuid not null,
    given_name        text not null check (char_length(given_name) between 1 and 100),
    family_name       text not null check (char_length(family_name) between 1 and 100),
    email             text check (email = lower(email) and char_length(email) between 3 and 254),
    mobile            text check (mobile ~ '^\+?[0-9]{6,20}$'),
    phone             text check (phone ~ '^\+?[0-9]{6,20}$'),
    address           text check (char_length(address) <= 500),
    contact_by_email  boolean not null default true,
    contact_by_sms    boolean not null default false,
    reminders         boolean not null default true,
    notes             text check (char_length(notes) <= 4000),
    balance_minor     bigint not null default 0,
    currency          text not null default 'GBP' check (currency ~ '^[A-Z]{3}$'),
    sort_key          text collate "C" generated always as (lower(family_name || ', ' || given_name)) stored,
    family_key        text collate "C" generated always as (lower(family_name)) stored,
    full_key          text collate "C" generated always as (lower(given_name || ' ' || family_name)) stored,
    mobile_tail       text collate "C" generated always as (right(replace(mobile, '+', ''), 9)) stored,
    phone_tail        text collate "C" generated always as (right(replace(phone, '+', ''), 9)) stored,
    created_at        timestamptz not null default now(),
    created_by        uuid default app_actor_id(),
    updated_at        timestamptz not null default now(),
    updated_by        uuid default app_actor_id(),
    deleted_at        timestamptz,
    primary key (practice_id, id)
);
create index clients_family_key_idx on clients (practice_id, family_key);
create index clients_full_key_idx on clients (practice_id, full_key);
create index clients_email_idx on clients (practice_id, email text_pattern_ops);
create index clients_mobile_tail_idx on clients (practice_id, mobile_tail);
create index clients_phone_tail_idx on clients (practice_id, phone_tail);
create index clients_sort_key_idx on clients (practice_id, sort_key, id);

create table patients (
    practice_id        uuid not null references practices (id),
    id                 uuid not null,
    name               text not null check (char_length(name) between 1 and 100),
    species            text not null check (char_length(species) between 1 and 60),
    breed              text check (char_length(breed) between 1 and 100),
    sex                text not null default 'unknown'
        check (sex in ('female', 'female_spayed', 'male', 'male_neutered', 'unknown')),
    date_of_birth      date,
    dob_estimated      boolean not null default false,
    colour             text check (char_length(colour) between 1 and 100),
    microchip          text check (microchip ~ '^[0-9]{15}$'),
    insurer            text check (char_length(insurer) between 1 and 100),
    insurance_policy   text check (char_length(insurance_policy) between 1 and 100),
    status             text not null default 'active' check (status in ('active', 'deceased', 'transferred')),
    deceased_on        date,
    name_key           text collate "C" generated always as (lower(name)) stored,
    created_at         timestamptz not null default now(),
    created_by         uuid default app_actor_id(),
    updated_at         timestamptz not null default now(),
    updated_by         uuid default app_actor_id(),
    deleted_at         timestamptz,
    primary key (practice_id, id),
    check ((status = 'deceased') = (deceased_on is not null)),
    check (not dob_estimated or date_of_birth is not null)
);
create index patients_name_key_idx on patients (practice_id, name_key, id);
-- One live patient per chip in a practice.
create unique index patients_microchip_key on patients (practice_id, microchip)
    where microchip is not null and deleted_at is null;

create table patient_owners (
    practice_id  uuid not null,
    patient_id   uuid not null,
    client_id    uuid not null,
    is_primary   boolean not null default false,
    created_at   timestamptz not null default now(),
    created_by   uuid default app_actor_id(),
    updated_at   timestamptz not null default now(),
    updated_by   uuid default app_actor_id(),
    primary key (practice_id, patient_id, client_id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, client_id) references clients (practice_id, id)
);
create unique index patient_owners_primary_key on patient_owners (practice_id, patient_id) where is_primary;
create index patient_owners_client_idx on patient_owners (practice_id, client_id);

-- Rooms, tables and equipment that can be booked.
create table resources (
    practice_id  uuid not null references practices (id),
    id           uuid not null,
    name         text not null check (char_length(name) between 1 and 100),
    kind         text not null check (kind in ('room', 'surgery_table', 'equipment', 'kennel')),
    created_at   timestamptz not null default now(),
    created_by   uuid default app_actor_id(),
    updated_at   timestamptz not null default now(),
    updated_by   uuid default app_actor_id(),
    deleted_at   timestamptz,
    primary key (practice_id, id),
    constraint resources_name_key unique (practice_id, name)
);

-- A visit. Open encounters can be edited until they are finalised (by someone with
-- records.finalise) or until lock_after passes (the practice's encounter_lock_hours
-- after creation, fixed when the encounter is created); the server's record clock
-- then marks them finalised. Corrections after that are addenda.
create table encounters (
    practice_id      uuid not null,
    id               uuid not null,
    patient_id       uuid not null,
    kind             text not null check (kind in ('consultation', 'vaccination', 'recheck', 'surgery',
                                                   'dental', 'emergency', 'telephone', 'euthanasia', 'other')),
    started_at       timestamptz not null,
    attending_id     uuid,
    reason           text check (char_length(reason) <= 500),
    subjective       text not null default '' check (char_length(subjective) <= 20000),
    objective        text not null default '' check (char_length(objective) <= 20000),
    assessment       text not null default '' check (char_length(assessment) <= 20000),
    plan             text not null default '' check (char_length(plan) <= 20000),
    status           text not null default 'open' check (status in ('open', 'finalised')),
    lock_after       timestamptz not null,
    finalised_at     timestamptz,
    finalised_by     uuid,
    created_at       timestamptz not null default now(),
    created_by       uuid default app_actor_id(),
    updated_at       timestamptz not null default now(),
    updated_by       uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, attending_id) references memberships (practice_id, user_id),
    check ((status = 'finalised') = (finalised_at is not null))
);
create index encounters_patient_idx on encounters (practice_id, patient_id, started_at desc);
create index encounters_due_idx on encounters (lock_after) where status = 'open';

-- Sets lock_after from the practice's setting, whatever the insert said.
create function encounter_lock_deadline() returns trigger
    language plpgsql
    as $$
begin
    new.lock_after := new.created_at + make_interval(hours => coalesce(
        (select s.encounter_lock_hours from practice_settings s where s.practice_id = new.practice_id), 24));
    return new;
end
$$;
create trigger encounters_deadline before insert on encounters
    for each row execute function encounter_lock_deadline();

-- A finalised encounter, or an open one past its deadline, cannot be changed; the
-- only update allowed is finalising it (and nothing else in the same statement).
create function encounter_guard() returns trigger
    language plpgsql
    as $$
begin
    if old.status = 'finalised' then
        raise exception 'encounter % is finalised; add an addendum instead', old.id
            using errcode = 'P0001', constraint = 'encounter_locked';
    end if;
    if new.status = 'finalised' then
        if (new.practice_id, new.id, new.patient_id, new.kind, new.started_at, new.attending_id,
            new.reason, new.subjective, new.objective, new.assessment, new.plan, new.lock_after,
            new.created_at, new.created_by)
           is distinct from
           (old.practice_id, old.id, old.patient_id, old.kind, old.started_at, old.attending_id,
            old.reason, old.subjective, old.objective, old.assessment, old.plan, old.lock_after,
            old.created_at, old.created_by) then
            raise exception 'finalising encounter % cannot change its content', old.id
                using errcode = 'P0001', constraint = 'encounter_locked';
        end if;
        return new;
    end if;
    if old.lock_after <= now() or new.lock_after is distinct from old.lock_after
       or new.created_at is distinct from old.created_at then
        raise exception 'encounter % is past its editing period; add an addendum instead', old.id
            using errcode = 'P0001', constraint = 'encounter_locked';
    end if;
    return new;
end
$$;
create trigger encounters_guard before update on encounters
    for each row execute function encounter_guard();
create trigger encounters_touch before update on encounters
    for each row execute function touch_row();

-- Marks every open encounter past its deadline finalised, in every practice (the
-- server's record clock calls it). Runs as the owner, which sees through the
-- owner-only policy below just which encounters are due; each practice's are then
-- finalised inside that practice's scope, so the audit trigger files them there.
create function encounters_finalise_due() returns integer
    language plpgsql
    security definer
    set search_path = public, pg_temp
    as $$
declare
    p uuid;
    n integer;
    total integer := 0;
begin
    for p in select distinct practice_id from encounters where status = 'open' and lock_after <= now() loop
        perform set_config('app.practice_id', p::text, true);
        update encounters set status = 'finalised', finalised_at = lock_after
         where practice_id = p and status = 'open' and lock_after <= now();
        get diagnostics n = row_count;
        total := total + n;
    end loop;
    perform set_config('app.practice_id', '', true);
    return total;
end
$$;
revoke execute on function encounters_finalise_due() from public;
grant execute on function encounters_finalise_due() to paddock_app;
create policy finalise_due on encounters for select to paddock_owner
    using (status = 'open' and lock_after <= now());

-- Corrections to a finalised encounter: the original stays as it was.
create table encounter_addenda (
    practice_id   uuid not null,
    id            uuid not null,
    encounter_id  uuid not null,
    body          text not null check (char_length(body) between 1 and 20000),
    created_at    timestamptz not null default now(),
    created_by    uuid not null default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, encounter_id) references encounters (practice_id, id)
);
create index encounter_addenda_encounter_idx on encounter_addenda (practice_id, encounter_id, created_at);

create function addendum_needs_finalised() returns trigger
    language plpgsql
    as $$
begin
    -- A missing encounter is left to the foreign key (and another practice's to RLS).
    if exists (select 1 from encounters e
                where e.practice_id = new.practice_id and e.id = new.encounter_id
                  and e.status <> 'finalised') then
        raise exception 'addenda are for finalised encounters; edit the open encounter instead'
            using errcode = 'P0001', constraint = 'addendum_needs_finalised';
    end if;
    return new;
end
$$;
create trigger encounter_addenda_finalised before insert on encounter_addenda
    for each row execute function addendum_needs_finalised();

-- Vital signs; weight history is the weight_kg column over time.
create table vital_signs (
    practice_id        uuid not null,
    id                 uuid not null,
    patient_id         uuid not null,
    encounter_id       uuid,
    recorded_at        timestamptz not null,
    weight_kg          numeric(8, 3) check (weight_kg > 0 and weight_kg <= 1500),
    temperature_c      numeric(4, 1) check (temperature_c between 25 and 46),
    heart_rate         integer check (heart_rate between 1 and 600),
    respiratory_rate   integer check (respiratory_rate between 1 and 300),
    created_at         timestamptz not null default now(),
    created_by         uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, encounter_id) references encounters (practice_id, id),
    check (num_nonnulls(weight_kg, temperature_c, heart_rate, respiratory_rate) > 0)
);
create index vital_signs_patient_idx on vital_signs (practice_id, patient_id, recorded_at);

-- Problem list and diagnoses: free text with an optional VeNom or SNOMED CT code.
create table problems (
    practice_id   uuid not null,
    id            uuid not null,
    patient_id    uuid not null,
    encounter_id  uuid,
    kind          text not null check (kind in ('problem', 'diagnosis')),
    description   text not null check (char_length(description) between 1 and 500),
    code_system   text check (code_system in ('venom', 'snomed')),
    code          text check (code ~ '^[0-9]{1,18}$'),
    status        text not null default 'active' check (status in ('active', 'resolved')),
    onset_on      date,
    resolved_on   date,
    created_at    timestamptz not null default now(),
    created_by    uuid default app_actor_id(),
    updated_at    timestamptz not null default now(),
    updated_by    uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, encounter_id) references encounters (practice_id, id),
    check ((code_system is null) = (code is null)),
    check ((status = 'resolved') = (resolved_on is not null))
);
create index problems_patient_idx on problems (practice_id, patient_id);

create table allergies (
    practice_id   uuid not null,
    id            uuid not null,
    patient_id    uuid not null,
    substance     text not null check (char_length(substance) between 1 and 200),
    reaction      text check (char_length(reaction) between 1 and 500),
    severity      text not null check (severity in ('mild', 'moderate', 'severe', 'life_threatening')),
    active        boolean not null default true,
    created_at    timestamptz not null default now(),
    created_by    uuid default app_actor_id(),
    updated_at    timestamptz not null default now(),
    updated_by    uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id)
);
create index allergies_patient_idx on allergies (practice_id, patient_id);

create table prescriptions (
    practice_id    uuid not null,
    id             uuid not null,
    patient_id     uuid not null,
    encounter_id   uuid,
    drug           text not null check (char_length(drug) between 1 and 200),
    dose           text not null check (char_length(dose) between 1 and 100),
    route          text not null check (route in ('oral', 'subcutaneous', 'intramuscular', 'intravenous',
                                                  'topical', 'ophthalmic', 'otic', 'inhaled', 'rectal', 'other')),
    frequency      text not null check (char_length(frequency) between 1 and 100),
    duration_days  integer check (duration_days between 1 and 3650),
    prescriber_id  uuid not null,
    starts_on      date not null,
    status         text not null default 'active' check (status in ('active', 'completed', 'stopped')),
    notes          text check (char_length(notes) <= 2000),
    created_at     timestamptz not null default now(),
    created_by     uuid default app_actor_id(),
    updated_at     timestamptz not null default now(),
    updated_by     uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, encounter_id) references encounters (practice_id, id),
    foreign key (practice_id, prescriber_id) references memberships (practice_id, user_id)
);
create index prescriptions_patient_idx on prescriptions (practice_id, patient_id);

create table vaccinations (
    practice_id       uuid not null,
    id                uuid not null,
    patient_id        uuid not null,
    encounter_id      uuid,
    vaccine           text not null check (char_length(vaccine) between 1 and 200),
    manufacturer      text check (char_length(manufacturer) between 1 and 200),
    lot_number        text not null check (char_length(lot_number) between 1 and 60),
    lot_expires_on    date,
    given_on          date not null,
    next_due_on       date check (next_due_on > given_on),
    administered_by   uuid not null,
    rabies_tag        text check (char_length(rabies_tag) between 1 and 40),
    created_at        timestamptz not null default now(),
    created_by        uuid default app_actor_id(),
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, encounter_id) references encounters (practice_id, id),
    foreign key (practice_id, administered_by) references memberships (practice_id, user_id)
);
create index vaccinations_patient_idx on vaccinations (practice_id, patient_id, given_on);
create index vaccinations_due_idx on vaccinations (practice_id, next_due_on);

-- Appointments. Overlapping live bookings of one staff member or one resource are
-- refused by the database itself, whatever runs concurrently.
create table appointments (
    practice_id  uuid not null,
    id           uuid not null,
    patient_id   uuid,
    client_id    uuid,
    staff_id     uuid,
    resource_id  uuid,
    starts_at    timestamptz not null,
    ends_at      timestamptz not null,
    kind         text not null check (kind in ('consultation', 'vaccination', 'recheck', 'surgery',
                                               'dental', 'grooming', 'emergency', 'other')),
    status       text not null default 'booked' check (status in ('booked', 'confirmed', 'checked_in',
                                                               'in_progress', 'completed', 'cancelled', 'no_show')),
    reason       text check (char_length(reason) <= 500),
    created_at   timestamptz not null default now(),
    created_by   uuid default app_actor_id(),
    updated_at   timestamptz not null default now(),
    updated_by   uuid default app_actor_id(),
    deleted_at   timestamptz,
    primary key (practice_id, id),
    foreign key (practice_id, patient_id) references patients (practice_id, id),
    foreign key (practice_id, client_id) references clients (practice_id, id),
    foreign key (practice_id, staff_id) references memberships (practice_id, user_id),
    foreign key (practice_id, resource_id) references resources (practice_id, id),
    check (ends_at > starts_at and ends_at - starts_at <= interval '24 hours'),
    check (staff_id is not null or resource_id is not null),
    constraint appointments_staff_overlap exclude using gist
        (practice_id with =, staff_id with =, tstzrange(starts_at, ends_at) with &&)
        where (staff_id is not null and deleted_at is null and status not in ('cancelled', 'no_show')),
    constraint appointments_resource_overlap exclude using gist
        (practice_id with =, resource_id with =, tstzrange(starts_at, ends_at) with &&)
        where (resource_id is not null and deleted_at is null and status not in ('cancelled', 'no_show'))
);
create index appointments_range_idx on appointments (practice_id, starts_at);
create index appointments_patient_idx on appointments (practice_id, patient_id);

-- Tenancy and audit for every new table.
do $$
declare
    t text;
begin
    foreach t in array array['clients', 'patients', 'patient_owners', 'resources', 'encounters',
                             'encounter_addenda', 'vital_signs', 'problems', 'allergies',
                             'prescriptions', 'vaccinations', 'appointments'] loop
        execute format('alter table %I enable row level security', t);
        execute format('alter table %I force row level security', t);
        execute format('create policy tenant_isolation on %I
                            using (practice_id = (select app_practice_id()))
                            with check (practice_id = (select app_practice_id()))', t);
    end loop;
    foreach t in array array['clients', 'patients', 'patient_owners', 'resources', 'problems',
                             'allergies', 'prescriptions', 'appointments'] loop
        execute format('create trigger %I before update on %I for each row execute function touch_row()',
                       t || '_touch', t);
    end loop;
end
$$;

select audit_install('clients', 'client', 'id', 'practice_id',
                     quiet => array['sort_key', 'family_key', 'full_key', 'mobile_tail', 'phone_tail']);
select audit_install('patients', 'patient', 'id', 'practice_id', quiet => array['name_key']);
select audit_install('patient_owners', 'patient_owner', 'patient_id', 'practice_id');
select audit_install('resources', 'resource', 'id', 'practice_id');
select audit_install('encounters', 'encounter', 'id', 'practice_id');
select audit_install('encounter_addenda', 'encounter_addendum', 'id', 'practice_id');
select audit_install('vital_signs', 'vital_signs', 'id', 'practice_id');
select audit_install('problems', 'problem', 'id', 'practice_id');
select audit_install('allergies', 'allergy', 'id', 'practice_id');
select audit_install('prescriptions', 'prescription', 'id', 'practice_id');
select audit_install('vaccinations', 'vaccination', 'id', 'practice_id');
select audit_install('appointments', 'appointment', 'id', 'practice_id');

grant select, insert, update on clients, patients, resources, encounters, problems, allergies,
    prescriptions, appointments to paddock_app;
grant select, insert, update, delete on patient_owners to paddock_app;
grant select, insert on encounter_addenda, vital_signs, vaccinations to paddock_app;
