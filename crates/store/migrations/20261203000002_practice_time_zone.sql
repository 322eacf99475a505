-- The practice's time zone, an IANA name (`Europe/London`), in which pages show times
-- and the calendar and record clock cut days. The API keeps RFC 3339 UTC. The name is
-- checked against the tz database in Rust (`PracticeZone::parse`), which this database
-- cannot see; here only its shape: present, and no longer than any IANA name.
alter table practice_settings
    add column time_zone text not null default 'UTC'
        check (char_length(time_zone) between 1 and 64);
-- Re-installed so the audit trigger covers (and records changes of) the new column.
select audit_install('practice_settings', 'practice_settings', 'practice_id', 'practice_id');
