-- Staff invitations: a single-use link (token hashed here, 7-day expiry, revocable)
-- that creates the membership with the role chosen at invitation time.

create table invitations (
    practice_id   uuid not null references practices (id),
    id            uuid not null,
    email         text not null check (email = lower(email) and char_length(email) between 3 and 254),
    role_id       uuid not null,
    token_hash    bytea not null,
    expires_at    timestamptz not null,
    accepted_at   timestamptz,
    accepted_by   uuid references users (id),
    revoked_at    timestamptz,
    created_at    timestamptz not null default now(),
    created_by    uuid default app_actor_id(),
    updated_at    timestamptz not null default now(),
    updated_by    uuid default app_actor_id(),
    primary key (practice_id, id),
    constraint invitations_token_key unique (token_hash),
    foreign key (practice_id, role_id) references roles (practice_id, id),
    check (accepted_at is null or revoked_at is null)
);
alter table invitations enable row level security;
alter table invitations force row level security;
create policy tenant_isolation on invitations
    using (practice_id = (select app_practice_id()))
    with check (practice_id = (select app_practice_id()));
create policy invitation_by_token on invitations for select
    using (token_hash = (select app_token_hash()));
create trigger invitations_touch before update on invitations
    for each row execute function touch_row();

grant select, insert, update on invitations to paddock_app;
