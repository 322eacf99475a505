//! Staff over HTTP: invitations (single use, expiring, hashed, mailed), members and
//! roles, role changes (re-authentication, audit, no privilege escalation, never
//! without an admin), deactivation (every credential dies at once) and API keys
//! (shown once, hashed, scoped, revocable, expiring).
//!
//! Everything is driven through the router in process, with a manual clock and a
//! mail outbox of the test's own; storage is only observed (as superuser) to check
//! what was kept.

use crate::support::answer::uuid_of;
use crate::support::client::{dispatch, json_request};
use crate::support::mail::link_token_in;
use crate::support::{
    Anonymous, Answer, ApiKeyUser, CookieUser, Credential, MEMBER_PASSWORD, NORTHSIDE_ADMIN,
    RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, TokenUser, bearer,
};
use axum::http::{HeaderMap, Method, StatusCode, header};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{BuiltinRole, PracticeId};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;

// ---------------------------------------------------------------------------------
// The staff steps tests share, over the one test client.
// ---------------------------------------------------------------------------------

const ADMIN_A: &str = RIVERSIDE_ADMIN;
const ADMIN_B: &str = NORTHSIDE_ADMIN;

/// A member added for a test, signed in.
struct Member {
    session: CookieUser,
    membership_id: Uuid,
    user_id: Uuid,
    email: String,
}

/// The staff area's steps, over the one test client.
impl TestApp {
    // --- sessions -----------------------------------------------------------------

    async fn login_answer(&self, email: &str, password: &str, practice: Option<Uuid>) -> Answer {
        let mut body = json!({ "email": email, "password": password });
        if let Some(practice) = practice {
            body["practice_id"] = json!(practice);
        }
        self.post_json("/api/v1/auth/login", &body, Anonymous).await
    }

    async fn admin_a(&self) -> CookieUser {
        self.login(ADMIN_A, TEST_PASSWORD).await
    }

    async fn admin_b(&self) -> CookieUser {
        self.login(ADMIN_B, TEST_PASSWORD).await
    }

    async fn reauth(&self, session: &CookieUser, password: &str) -> Answer {
        self.post_json(
            "/api/v1/auth/reauth",
            &json!({ "password": password }),
            session.credential(),
        )
        .await
    }

    /// Moves the clock on by `minutes`, with a request half-way so the session stays
    /// active (the idle timeout plays no part in what the test checks).
    async fn advance_keeping_alive(&self, session: &CookieUser, minutes: i64) {
        self.clock.advance(Duration::minutes(minutes - 2));
        self.me(session.credential()).await.expect(StatusCode::OK);
        self.clock.advance(Duration::minutes(2));
    }

    // --- roles and members --------------------------------------------------------

    async fn roles(&self, session: &CookieUser) -> Vec<Value> {
        let answer = self
            .get("/api/v1/roles", session.credential())
            .await
            .expect(StatusCode::OK);
        answer.body.as_array().unwrap().clone()
    }

    async fn role_uuid(&self, session: &CookieUser, name: &str) -> Uuid {
        let roles = self.roles(session).await;
        let role = roles
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no role {name} in {roles:?}"));
        uuid_of(&role["id"])
    }

    async fn members(&self, session: &CookieUser) -> Vec<Value> {
        let answer = self
            .get("/api/v1/members", session.credential())
            .await
            .expect(StatusCode::OK);
        answer.body.as_array().unwrap().clone()
    }

    async fn member(&self, session: &CookieUser, email: &str) -> Value {
        let members = self.members(session).await;
        members
            .into_iter()
            .find(|m| m["email"] == email)
            .unwrap_or_else(|| panic!("{email} is not listed"))
    }

    async fn change_role(&self, session: &CookieUser, membership: Uuid, role: Uuid) -> Answer {
        self.post_json(
            &format!("/api/v1/members/{membership}/role"),
            &json!({ "role_id": role }),
            session.credential(),
        )
        .await
    }

    async fn deactivate(&self, session: &CookieUser, membership: Uuid) -> Answer {
        self.post(
            &format!("/api/v1/members/{membership}/deactivate"),
            session.credential(),
        )
        .await
    }

    async fn reactivate(&self, session: &CookieUser, membership: Uuid) -> Answer {
        self.post(
            &format!("/api/v1/members/{membership}/reactivate"),
            session.credential(),
        )
        .await
    }

    /// A custom role of `practice` granting `permissions`. There is no API for custom
    /// roles yet, so it is created through the admin door (owner connection, acting
    /// as the system in that practice), as `paddock` admin commands would.
    async fn custom_role(&self, practice: PracticeId, name: &str, permissions: &[&str]) -> Uuid {
        let id = Uuid::now_v7();
        let mut tx = self.world.admin.begin_system(practice).await.unwrap();
        sqlx::query("insert into roles (practice_id, id, name) values ($1, $2, $3)")
            .bind(practice.as_uuid())
            .bind(id)
            .bind(name)
            .execute(tx.conn())
            .await
            .unwrap();
        for permission in permissions {
            sqlx::query(
                "insert into role_permissions (practice_id, role_id, permission) values ($1, $2, $3)",
            )
            .bind(practice.as_uuid())
            .bind(id)
            .bind(permission)
            .execute(tx.conn())
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        id
    }

    // --- invitations ----------------------------------------------------------------

    /// Invites `email` with the role named `role`, accepts as a new person and signs in.
    async fn join_member(&self, admin: &CookieUser, email: &str, role: &str) -> Member {
        let role = self.role_uuid(admin, role).await;
        self.join_member_with_role(admin, email, role).await
    }

    async fn join_member_with_role(&self, admin: &CookieUser, email: &str, role: Uuid) -> Member {
        self.invite(admin, email, role)
            .await
            .expect(StatusCode::CREATED);
        let token = self.invitation_token(email);
        let accepted = self
            .accept_invitation(&token, MEMBER_PASSWORD, Some("New Colleague"))
            .await
            .expect(StatusCode::OK);
        let session = self.login(email, MEMBER_PASSWORD).await;
        let membership = self.member(admin, email).await;
        assert_eq!(accepted.uuid("user_id"), session.user_id());
        Member {
            membership_id: uuid_of(&membership["id"]),
            user_id: session.user_id(),
            email: email.to_owned(),
            session,
        }
    }

    // --- API keys -------------------------------------------------------------------

    async fn create_key(&self, session: &CookieUser, name: &str, scopes: &[&str]) -> Answer {
        self.post_json(
            "/api/v1/api-keys",
            &json!({ "name": name, "scopes": scopes, "expires_in_days": 30 }),
            session.credential(),
        )
        .await
    }

    async fn keys(&self, session: &CookieUser) -> Answer {
        self.get("/api/v1/api-keys", session.credential())
            .await
            .expect(StatusCode::OK)
    }

    // --- storage, observed as superuser -------------------------------------------

    async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.world.db.admin_url())
            .await
            .unwrap()
    }

    /// `(actor_user_id, actor_role, entity_id, changes)` of the practice's events with
    /// `action`, oldest first.
    async fn audit(
        &self,
        practice: PracticeId,
        action: &str,
    ) -> Vec<(Option<Uuid>, Option<String>, Option<Uuid>, Value)> {
        let mut conn = self.superuser().await;
        sqlx::query_as::<_, (Option<Uuid>, Option<String>, Option<Uuid>, Option<Value>)>(
            "select actor_user_id, actor_role, entity_id, changes from audit_events
              where practice_id = $1 and action = $2 order by id",
        )
        .bind(practice.as_uuid())
        .bind(action)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|(user, role, entity, changes)| (user, role, entity, changes.unwrap_or(Value::Null)))
        .collect()
    }

    /// The tables with a row whose text contains `needle` anywhere.
    async fn tables_containing(&self, needle: &str) -> Vec<String> {
        let mut conn = self.superuser().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "select table_name::text from information_schema.tables
              where table_schema = 'public' and table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut found = Vec::new();
        for table in tables {
            let hits: i64 = sqlx::query_scalar(&format!(
                "select count(*) from \"{table}\" t where strpos(t::text, $1) > 0"
            ))
            .bind(needle)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            if hits > 0 {
                found.push(table);
            }
        }
        found
    }

    /// Whether `stored` is the SHA-256 of `secret` (computed by PostgreSQL).
    async fn is_sha256_of(&self, stored: &[u8], secret: &str) -> bool {
        let mut conn = self.superuser().await;
        sqlx::query_scalar("select $1 = sha256(convert_to($2, 'UTF8'))")
            .bind(stored)
            .bind(secret)
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn permission_names(role: BuiltinRole) -> BTreeSet<String> {
    role.permissions()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect()
}

fn names(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_invited_receptionist_gets_one_mailed_link_kept_only_as_a_hash_and_joins_with_receptionist_permissions()
 {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;

    let invited = p
        .invite(&admin, "new@riverside.example", receptionist)
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(invited.body["email"], "new@riverside.example");
    assert_eq!(invited.uuid("role_id"), receptionist);
    let expires: DateTime<Utc> = invited.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, p.now() + Duration::days(7), "a 7-day link");
    assert!(
        invited.body.get("token").is_none(),
        "the link goes by mail only: {}",
        invited.body
    );

    let mails = p.mails();
    assert_eq!(mails.len(), 1, "exactly one message");
    assert!(
        mails[0].to.contains("new@riverside.example"),
        "{}",
        mails[0].to
    );
    let token =
        link_token_in(&mails[0].body_text, "invitations").expect("the mail carries the link");
    assert_eq!(token.len(), 43, "a 256-bit token");

    // Only the token's SHA-256 is stored; the token itself is nowhere in the database.
    let mut conn = p.superuser().await;
    let stored: Vec<u8> = sqlx::query_scalar(
        "select token_hash from invitations where email = 'new@riverside.example'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(p.is_sha256_of(&stored, &token).await);
    assert_eq!(p.tables_containing(&token).await, Vec::<String>::new());

    let accepted = p
        .accept_invitation(&token, MEMBER_PASSWORD, Some("Nora Newcomb"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(accepted.uuid("practice_id"), p.world.a.id.as_uuid());

    let newcomer = p.login("new@riverside.example", MEMBER_PASSWORD).await;
    assert_eq!(newcomer.user_id(), accepted.uuid("user_id"));
    let me = p.me(newcomer.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Receptionist");
    assert_eq!(me.body["user"]["display_name"], "Nora Newcomb");
    assert_eq!(me.body["practice"]["id"], json!(p.world.a.id.as_uuid()));
    let permissions = strings(&me.body["permissions"]);
    assert_eq!(permissions, permission_names(BuiltinRole::Receptionist));
    assert!(!permissions.contains("records.read"), "no clinical notes");

    // The invitation and its acceptance are on the practice's audit trail.
    let invites = p.audit(p.world.a.id, "invite").await;
    let ours: Vec<_> = invites
        .iter()
        .filter(|(_, _, _, changes)| changes["email"] == "new@riverside.example")
        .collect();
    assert_eq!(ours.len(), 1, "{invites:?}");
    assert_eq!(ours[0].0, Some(admin.user_id()), "the inviter is named");
    assert_eq!(ours[0].3["role"], "Receptionist");
    let accepts = p.audit(p.world.a.id, "invitation_accept").await;
    assert_eq!(accepts.len(), 1);
    assert_eq!(accepts[0].0, Some(newcomer.user_id()));
}

#[tokio::test]
async fn an_invitation_link_works_only_once() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let role = p.role_uuid(&admin, "Technician").await;
    let invited = p
        .invite(&admin, "tech@riverside.example", role)
        .await
        .expect(StatusCode::CREATED);
    let token = p.invitation_token("tech@riverside.example");

    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Tess Tech"))
        .await
        .expect(StatusCode::OK);
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Tess Tech"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    p.accept_invitation(
        &token,
        "another-quiet-harbour-19-lights",
        Some("Someone Else"),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let listed: Vec<Value> = p
        .members(&admin)
        .await
        .into_iter()
        .filter(|m| m["email"] == "tech@riverside.example")
        .collect();
    assert_eq!(listed.len(), 1, "one membership");
    // The later attempts did not replace the password.
    p.login("tech@riverside.example", MEMBER_PASSWORD).await;
    p.login_answer(
        "tech@riverside.example",
        "another-quiet-harbour-19-lights",
        None,
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    // A used invitation cannot be revoked either: there is nothing open to revoke.
    p.request(
        Method::DELETE,
        &format!("/api/v1/invitations/{}", invited.uuid("id")),
        None,
        admin.credential(),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    p.me(&p.login("tech@riverside.example", MEMBER_PASSWORD).await)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn an_invitation_link_works_for_seven_days_and_not_a_second_longer() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let role = p.role_uuid(&admin, "Bookkeeper").await;
    for email in ["early@riverside.example", "late@riverside.example"] {
        p.invite(&admin, email, role)
            .await
            .expect(StatusCode::CREATED);
    }
    let early = p.invitation_token("early@riverside.example");
    let late = p.invitation_token("late@riverside.example");

    p.clock.advance(Duration::days(7) - Duration::seconds(1));
    p.accept_invitation(&early, MEMBER_PASSWORD, Some("Early Bird"))
        .await
        .expect(StatusCode::OK);

    p.clock.advance(Duration::seconds(2));
    p.accept_invitation(&late, MEMBER_PASSWORD, Some("Late Comer"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    p.login_answer("late@riverside.example", MEMBER_PASSWORD, None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn a_revoked_invitation_link_no_longer_works() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let role = p.role_uuid(&admin, "Veterinarian").await;
    let invited = p
        .invite(&admin, "vet@riverside.example", role)
        .await
        .expect(StatusCode::CREATED);
    let id = invited.uuid("id");
    let token = p.invitation_token("vet@riverside.example");

    let path = format!("/api/v1/invitations/{id}");
    p.request(Method::DELETE, &path, None, admin.credential())
        .await
        .expect(StatusCode::NO_CONTENT);
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Victor Vet"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Revoked once is revoked: a second revocation finds no open invitation.
    p.request(Method::DELETE, &path, None, admin.credential())
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let revocations = p.audit(p.world.a.id, "invitation_revoke").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].0, Some(admin.user_id()));
    assert_eq!(revocations[0].2, Some(id));
}

#[tokio::test]
async fn a_weak_password_is_refused_with_a_field_error_and_the_link_stays_usable() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let role = p.role_uuid(&admin, "Receptionist").await;
    p.invite(&admin, "weak@riverside.example", role)
        .await
        .expect(StatusCode::CREATED);
    let token = p.invitation_token("weak@riverside.example");

    let refused = p
        .accept_invitation(&token, "password1234", Some("Wendy Weak"))
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), vec!["password"], "{}", refused.body);
    let refused = p
        .accept_invitation(&token, MEMBER_PASSWORD, None)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        refused.error_fields(),
        vec!["display_name"],
        "{}",
        refused.body
    );

    // Nothing was created by the refused attempts...
    let mut conn = p.superuser().await;
    let users: i64 =
        sqlx::query_scalar("select count(*) from users where email = 'weak@riverside.example'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(users, 0);
    // ... and the link still works.
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Wendy Weak"))
        .await
        .expect(StatusCode::OK);
    p.login("weak@riverside.example", MEMBER_PASSWORD).await;
}

#[tokio::test]
async fn a_mailer_failure_answers_a_generic_503_and_keeps_its_cause_out_of_the_answer() {
    // The outbox "directory" is a file: every send fails with an I/O error naming it.
    let blocked =
        std::env::temp_dir().join(format!("paddock-not-a-dir-{}", Uuid::new_v4().simple()));
    std::fs::write(&blocked, b"a file, not a directory").unwrap();
    let env = TestApp::with(|state| {
        let mut mail = (*state.mail).clone();
        mail.mailer = paddock_notify::Mailer::outbox(blocked.clone());
        state.mail = Arc::new(mail);
    })
    .await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { body: roles, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(&admin))
        .await;
    let role_id = roles[0]["id"].as_str().unwrap().to_owned();
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "new.vet@riverside.example", "role_id": role_id})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let text = body.to_string();
    let path = blocked.display().to_string();
    for leak in [path.as_str(), "outbox", "I/O", "directory", "os error"] {
        assert!(!text.contains(leak), "{leak:?} in the answer: {text}");
    }
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("could not be emailed"),
        "{body}"
    );
    // No mail, no invitation: it was rolled back with the request's transaction.
    let Answer { body: listed, .. } = env
        .request(Method::GET, "/api/v1/invitations", None, Some(&admin))
        .await;
    let items = listed["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .all(|i| i["email"] != "new.vet@riverside.example"),
        "{listed}"
    );
    std::fs::remove_file(&blocked).unwrap();
}

#[tokio::test]
async fn inviting_someone_who_is_already_a_member_is_a_conflict_and_sends_nothing() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let role = p.role_uuid(&admin, "Veterinarian").await;
    for email in [ADMIN_A, "  Admin@Riverside.EXAMPLE "] {
        let refused = p
            .invite(&admin, email, role)
            .await
            .expect_problem(StatusCode::CONFLICT, "conflict");
        assert_eq!(refused.error_fields(), vec!["email"], "{}", refused.body);
    }
    assert!(p.mails().is_empty(), "no mail for a refused invitation");
}

#[tokio::test]
async fn inviting_with_another_practices_role_is_refused_like_an_unknown_role() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let admin_b = p.admin_b().await;
    let foreign = p.role_uuid(&admin_b, "Receptionist").await;

    let refused = p
        .invite(&admin, "new@riverside.example", foreign)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), vec!["role_id"]);
    let unknown = p
        .invite(&admin, "new@riverside.example", Uuid::now_v7())
        .await;
    assert_eq!(refused.problem_shape(), unknown.problem_shape());
    assert_eq!(refused.body["errors"], unknown.body["errors"]);
    assert!(p.mails().is_empty(), "no mail for a refused invitation");
}

#[tokio::test]
async fn only_staff_managers_may_invite_or_revoke_invitations() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;

    p.invite(&desk.session, "friend@riverside.example", receptionist)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(p.mails_naming("friend@riverside.example").is_empty());

    let open = p
        .invite(&admin, "pending@riverside.example", receptionist)
        .await
        .expect(StatusCode::CREATED);
    p.request(
        Method::DELETE,
        &format!("/api/v1/invitations/{}", open.uuid("id")),
        None,
        desk.session.credential(),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // Still open: the invitee can join.
    let token = p.invitation_token("pending@riverside.example");
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Pat Pending"))
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn revoking_another_practices_invitation_answers_like_an_unknown_one_and_leaves_it_open() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let mut conn = p.superuser().await;
    let foreign: Uuid = sqlx::query_scalar("select id from invitations where practice_id = $1")
        .bind(p.world.b.id.as_uuid())
        .fetch_one(&mut conn)
        .await
        .unwrap();

    let theirs = p
        .request(
            Method::DELETE,
            &format!("/api/v1/invitations/{foreign}"),
            None,
            admin.credential(),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = p
        .request(
            Method::DELETE,
            &format!("/api/v1/invitations/{}", Uuid::now_v7()),
            None,
            admin.credential(),
        )
        .await;
    assert_eq!(theirs.problem_shape(), unknown.problem_shape());

    let revoked: Option<DateTime<Utc>> =
        sqlx::query_scalar("select revoked_at from invitations where id = $1")
            .bind(foreign)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(revoked, None, "practice B's invitation is untouched");
}

#[tokio::test]
async fn an_existing_account_joins_another_practice_only_with_its_own_password_and_can_switch_to_it()
 {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    p.invite(&admin, ADMIN_B, vet)
        .await
        .expect(StatusCode::CREATED);
    let token = p.invitation_token(ADMIN_B);

    // Whoever holds the link must still own the account: a new password is not enough.
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Impostor"))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    let accepted = p
        .accept_invitation(&token, TEST_PASSWORD, Some("Impostor"))
        .await
        .expect(StatusCode::OK);
    assert_eq!(accepted.uuid("user_id"), p.world.b.admin.as_uuid());
    assert_eq!(accepted.uuid("practice_id"), p.world.a.id.as_uuid());

    // Signed in at home (B), the person now may switch to A, as a veterinarian there.
    let home = CookieUser::from_answer(
        &p.login_answer(ADMIN_B, TEST_PASSWORD, Some(p.world.b.id.as_uuid()))
            .await
            .expect(StatusCode::OK),
    );
    assert_eq!(home.practice_id(), p.world.b.id.as_uuid());
    let switched = p
        .post_json(
            "/api/v1/auth/switch",
            &json!({ "practice_id": p.world.a.id.as_uuid() }),
            home.credential(),
        )
        .await
        .expect(StatusCode::OK);
    let in_a = CookieUser::from_answer(&switched);
    assert_eq!(in_a.practice_id(), p.world.a.id.as_uuid());
    let me = p.me(in_a.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["practice"]["id"], json!(p.world.a.id.as_uuid()));
    assert_eq!(me.body["role"]["name"], "Veterinarian");
    assert_eq!(
        strings(&me.body["permissions"]),
        permission_names(BuiltinRole::Veterinarian)
    );
    assert_eq!(
        me.body["user"]["display_name"], "Admin",
        "an existing account keeps its name"
    );
    // The password never changed, and B's admin is still B's admin.
    let back_home = CookieUser::from_answer(
        &p.login_answer(ADMIN_B, TEST_PASSWORD, Some(p.world.b.id.as_uuid()))
            .await
            .expect(StatusCode::OK),
    );
    let me = p.me(back_home.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Practice admin");
}

#[tokio::test]
async fn a_second_invitation_to_someone_who_already_joined_is_refused_cleanly() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;
    // Two links to the same address (say the first mail seemed lost).
    p.invite(&admin, "twice@riverside.example", receptionist)
        .await
        .expect(StatusCode::CREATED);
    let first = p.invitation_token("twice@riverside.example");
    p.invite(&admin, "twice@riverside.example", receptionist)
        .await
        .expect(StatusCode::CREATED);
    let second = p.invitation_token("twice@riverside.example");
    assert_ne!(first, second);

    p.accept_invitation(&first, MEMBER_PASSWORD, Some("Tom Twice"))
        .await
        .expect(StatusCode::OK);
    // The person is a member now; the other link must not break anything, nor answer 500.
    let again = p.accept_invitation(&second, MEMBER_PASSWORD, None).await;
    assert!(
        matches!(again.status, StatusCode::NOT_FOUND | StatusCode::CONFLICT),
        "a used-up invitation is a client error, not {}: {}",
        again.status,
        again.body
    );
    let listed: Vec<Value> = p
        .members(&admin)
        .await
        .into_iter()
        .filter(|m| m["email"] == "twice@riverside.example")
        .collect();
    assert_eq!(listed.len(), 1);
}

// ---------------------------------------------------------------------------------
// Members and roles
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn admins_list_only_their_own_practices_members_and_roles() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let admin_b = p.admin_b().await;
    p.join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    p.join_member(&admin_b, "surgeon@northside.example", "Veterinarian")
        .await;

    let emails = |members: Vec<Value>| -> BTreeSet<String> {
        members
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        emails(p.members(&admin).await),
        names(&[ADMIN_A, "desk@riverside.example"])
    );
    assert_eq!(
        emails(p.members(&admin_b).await),
        names(&[ADMIN_B, "surgeon@northside.example"])
    );
    let desk = p.member(&admin, "desk@riverside.example").await;
    assert_eq!(desk["role_name"], "Receptionist");
    assert_eq!(desk["status"], "active");

    let roles_a = p.roles(&admin).await;
    let roles_b = p.roles(&admin_b).await;
    let role_names: BTreeSet<String> = roles_a
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        role_names,
        BuiltinRole::ALL
            .iter()
            .map(|r| r.name().to_owned())
            .collect::<BTreeSet<_>>()
    );
    assert!(roles_a.iter().all(|r| r["builtin"] == true));
    let admin_role = roles_a
        .iter()
        .find(|r| r["name"] == "Practice admin")
        .unwrap();
    assert_eq!(
        strings(&admin_role["permissions"]),
        permission_names(BuiltinRole::PracticeAdmin)
    );
    let ids =
        |roles: &[Value]| -> BTreeSet<Uuid> { roles.iter().map(|r| uuid_of(&r["id"])).collect() };
    assert!(
        ids(&roles_a).is_disjoint(&ids(&roles_b)),
        "each practice sees its own roles only"
    );
}

#[tokio::test]
async fn a_receptionist_may_not_list_members_or_roles() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    for path in ["/api/v1/members", "/api/v1/roles"] {
        let refused = p
            .get(path, desk.session.credential())
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
        assert!(
            refused.body["detail"]
                .as_str()
                .unwrap()
                .contains("staff.manage"),
            "{}",
            refused.body
        );
    }
}

#[tokio::test]
async fn a_role_change_needs_the_password_re_entered_within_ten_minutes() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let member = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let technician = p.role_uuid(&admin, "Technician").await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;

    // Signing in counts as entering the password.
    let changed = p
        .change_role(&admin, member.membership_id, technician)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (&changed.body["old_role"], &changed.body["new_role"]),
        (&json!("Receptionist"), &json!("Technician"))
    );

    p.advance_keeping_alive(&admin, 11).await;
    p.change_role(&admin, member.membership_id, vet)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "reauth_required");
    assert_eq!(
        p.member(&admin, &member.email).await["role_name"],
        "Technician",
        "a refused change changes nothing"
    );

    // Re-authentication renews the session: the admin continues with the new cookie.
    let admin =
        CookieUser::from_answer(&p.reauth(&admin, TEST_PASSWORD).await.expect(StatusCode::OK));
    p.change_role(&admin, member.membership_id, vet)
        .await
        .expect(StatusCode::OK);
    let me = p
        .me(member.session.credential())
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Veterinarian", "effective at once");
}

#[tokio::test]
async fn a_wrong_password_does_not_re_authenticate() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let member = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;

    p.advance_keeping_alive(&admin, 11).await;
    p.reauth(&admin, "not-the-password-at-all-42")
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    p.change_role(&admin, member.membership_id, vet)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "reauth_required");
    assert_eq!(
        p.member(&admin, &member.email).await["role_name"],
        "Receptionist"
    );
}

#[tokio::test]
async fn a_role_change_is_audited_with_the_actor_and_the_old_and_new_role() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let member = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let technician = p.role_uuid(&admin, "Technician").await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;

    p.change_role(&admin, member.membership_id, technician)
        .await
        .expect(StatusCode::OK);
    // A refused change leaves no event.
    p.advance_keeping_alive(&admin, 11).await;
    p.change_role(&admin, member.membership_id, vet)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "reauth_required");

    let events = p.audit(p.world.a.id, "role_change").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (actor, actor_role, entity, changes) = &events[0];
    assert_eq!(*actor, Some(admin.user_id()), "the actor");
    assert_eq!(actor_role.as_deref(), Some("Practice admin"));
    assert_eq!(*entity, Some(member.membership_id), "the membership");
    assert_eq!(changes["user_id"], json!(member.user_id), "the member");
    assert_eq!(changes["role"], json!(["Receptionist", "Technician"]));
    assert!(p.audit(p.world.b.id, "role_change").await.is_empty());
}

#[tokio::test]
async fn a_role_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let member = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let path = format!("/api/v1/members/{}/role", member.membership_id);
    let body = json!({ "role_id": admin_role });
    for csrf in [
        None,
        Some("forged-token"),
        Some(member.session.csrf.as_str()),
    ] {
        p.post_json(&path, &body.clone(), admin.with_csrf(csrf))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "csrf_failed");
    }
    assert_eq!(
        p.member(&admin, &member.email).await["role_name"],
        "Receptionist"
    );
}

// ---------------------------------------------------------------------------------
// Privilege escalation: every attempt refused
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_role_of_another_practice_cannot_be_assigned() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let admin_b = p.admin_b().await;
    let member = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let foreign_admin = p.role_uuid(&admin_b, "Practice admin").await;

    let refused = p
        .change_role(&admin, member.membership_id, foreign_admin)
        .await
        .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), vec!["role_id"]);
    let unknown = p
        .change_role(&admin, member.membership_id, Uuid::now_v7())
        .await;
    assert_eq!(refused.problem_shape(), unknown.problem_shape());

    let me = p
        .me(member.session.credential())
        .await
        .expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Receptionist");
    assert_eq!(
        strings(&me.body["permissions"]),
        permission_names(BuiltinRole::Receptionist)
    );
}

#[tokio::test]
async fn a_staff_manager_cannot_hand_out_a_role_holding_permissions_they_lack() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let lead_role = p
        .custom_role(
            p.world.a.id,
            "Front desk lead",
            &["staff.manage", "clients.read"],
        )
        .await;
    let lead = p
        .join_member_with_role(&admin, "lead@riverside.example", lead_role)
        .await;
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;
    // The lead does manage staff (and has just signed in, so re-authentication is fresh).
    p.get("/api/v1/members", lead.session.credential())
        .await
        .expect(StatusCode::OK);

    // Promoting themself to admin, or to a role with permissions they lack: refused.
    for role in [admin_role, receptionist] {
        p.change_role(&lead.session, lead.membership_id, role)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    // Inviting someone (an accomplice) as admin: refused, and no link goes out.
    p.invite(&lead.session, "accomplice@riverside.example", admin_role)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    assert!(p.mails_naming("accomplice@riverside.example").is_empty());

    let me = p.me(lead.session.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Front desk lead");
    assert_eq!(
        strings(&me.body["permissions"]),
        names(&["clients.read", "staff.manage"])
    );
    assert!(p.audit(p.world.a.id, "role_change").await.is_empty());
}

#[tokio::test]
async fn a_staff_manager_cannot_change_or_deactivate_a_member_who_outranks_them() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let lead_role = p
        .custom_role(
            p.world.a.id,
            "Front desk lead",
            &["staff.manage", "clients.read"],
        )
        .await;
    let lead = p
        .join_member_with_role(&admin, "lead@riverside.example", lead_role)
        .await;
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let admin_membership = uuid_of(&p.member(&admin, ADMIN_A).await["id"]);

    // Demoting the admin to the lead's own role, or deactivating them: refused.
    p.change_role(&lead.session, admin_membership, lead_role)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    p.deactivate(&lead.session, admin_membership)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    // A receptionist holds permissions the lead lacks: out of the lead's reach too.
    p.change_role(&lead.session, desk.membership_id, lead_role)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    p.deactivate(&lead.session, desk.membership_id)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    let me = p.me(admin.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Practice admin");
    p.me(desk.session.credential()).await.expect(StatusCode::OK);
    assert!(p.audit(p.world.a.id, "role_change").await.is_empty());
    assert!(p.audit(p.world.a.id, "deactivate").await.is_empty());
}

#[tokio::test]
async fn editing_ones_own_profile_cannot_grant_anything() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let before = p.me(desk.session.credential()).await.expect(StatusCode::OK);

    let escalation = json!({
        "role_id": admin_role,
        "role": { "id": admin_role, "name": "Practice admin" },
        "permissions": ["staff.manage", "records.read", "settings.manage"],
    });
    for method in [Method::PATCH, Method::PUT, Method::POST] {
        p.request(
            method.clone(),
            "/api/v1/me",
            Some(escalation.clone()),
            desk.session.credential(),
        )
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
    let after = p.me(desk.session.credential()).await.expect(StatusCode::OK);
    assert_eq!(after.body["role"], before.body["role"]);
    assert_eq!(after.body["permissions"], before.body["permissions"]);
    p.get("/api/v1/members", desk.session.credential())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");

    // No write in the whole API takes a role or permissions, except the role change
    // itself, an invitation (role chosen by a staff manager), an API key's scopes
    // (a subset of the creator's own permissions) and custom-role definitions (their
    // escalation tests are in roles.rs).
    let doc = p
        .get("/api/v1/openapi.json", Anonymous)
        .await
        .expect(StatusCode::OK)
        .body;
    let granting = granting_writes(&doc);
    assert_eq!(
        granting,
        names(&[
            "POST /api/v1/api-keys",
            "POST /api/v1/invitations",
            "POST /api/v1/members/{id}/role",
            "POST /api/v1/roles",
            "PUT /api/v1/roles/{id}",
        ]),
        "a new write that takes a role or permissions needs its own escalation test"
    );
}

/// `METHOD path` of every write whose JSON body has a field naming a role or
/// permissions.
fn granting_writes(doc: &Value) -> BTreeSet<String> {
    let schemas = &doc["components"]["schemas"];
    let granting_field = |field: &str| {
        let field = field.to_ascii_lowercase();
        field.contains("role") || field.contains("permission") || field.contains("scope")
    };
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            let schema = match schema["$ref"].as_str() {
                Some(reference) => &schemas[reference.trim_start_matches("#/components/schemas/")],
                None => schema,
            };
            let fields: Vec<&String> = schema["properties"]
                .as_object()
                .map(|p| p.keys().collect())
                .unwrap_or_default();
            if fields.iter().any(|f| granting_field(f)) {
                found.insert(format!("{} {path}", method.to_ascii_uppercase()));
            }
        }
    }
    found
}

#[tokio::test]
async fn an_invitation_acceptance_cannot_choose_its_own_role() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    p.invite(&admin, "desk@riverside.example", receptionist)
        .await
        .expect(StatusCode::CREATED);
    let token = p.invitation_token("desk@riverside.example");

    p.post_json(
        "/api/v1/invitations/accept",
        &json!({
            "token": token, "password": MEMBER_PASSWORD, "display_name": "Dee Desk",
            "role_id": admin_role,
        }),
        Anonymous,
    )
    .await
    .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Dee Desk"))
        .await
        .expect(StatusCode::OK);
    let desk = p.login("desk@riverside.example", MEMBER_PASSWORD).await;
    let me = p.me(desk.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Receptionist");
}

#[tokio::test]
async fn another_practices_member_id_answers_exactly_like_an_unknown_id() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let admin_b = p.admin_b().await;
    let foreign = uuid_of(&p.member(&admin_b, ADMIN_B).await["id"]);
    let unknown = Uuid::now_v7();
    let vet = p.role_uuid(&admin, "Veterinarian").await;

    for action in ["role", "deactivate", "reactivate"] {
        let mut answers = Vec::new();
        for id in [foreign, unknown] {
            let path = format!("/api/v1/members/{id}/{action}");
            answers.push(
                p.post_json(&path, &json!({ "role_id": vet }), admin.credential())
                    .await,
            );
        }
        let (theirs, nobody) = (&answers[0], &answers[1]);
        assert_eq!(
            theirs.status,
            StatusCode::NOT_FOUND,
            "{action}: {}",
            theirs.body
        );
        assert_eq!(theirs.body["code"], "not_found");
        assert_eq!(theirs.problem_shape(), nobody.problem_shape(), "{action}");
    }

    let me = p.me(admin_b.credential()).await.expect(StatusCode::OK);
    assert_eq!(
        me.body["role"]["name"], "Practice admin",
        "B's admin untouched"
    );
}

// ---------------------------------------------------------------------------------
// Never without an admin
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_last_active_admin_can_neither_demote_nor_deactivate_themself() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let own = uuid_of(&p.member(&admin, ADMIN_A).await["id"]);
    let vet = p.role_uuid(&admin, "Veterinarian").await;

    let refused = p
        .change_role(&admin, own, vet)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    assert_eq!(refused.error_fields(), vec!["member"]);
    p.deactivate(&admin, own)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");

    let me = p.me(admin.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Practice admin");
    assert!(p.audit(p.world.a.id, "role_change").await.is_empty());
    assert!(p.audit(p.world.a.id, "deactivate").await.is_empty());
}

#[tokio::test]
async fn once_a_second_admin_exists_the_first_may_step_down() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let own = uuid_of(&p.member(&admin, ADMIN_A).await["id"]);
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let second = p
        .join_member(&admin, "deputy@riverside.example", "Receptionist")
        .await;

    p.change_role(&admin, second.membership_id, admin_role)
        .await
        .expect(StatusCode::OK);
    p.change_role(&admin, own, vet).await.expect(StatusCode::OK);
    let me = p.me(admin.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["role"]["name"], "Veterinarian");

    // Now the deputy is the last admin, with the same protection.
    p.change_role(&second.session, second.membership_id, vet)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    p.deactivate(&second.session, second.membership_id)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_deactivated_admin_does_not_count_as_the_practices_admin() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let own = uuid_of(&p.member(&admin, ADMIN_A).await["id"]);
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let second = p
        .join_member(&admin, "deputy@riverside.example", "Receptionist")
        .await;
    p.change_role(&admin, second.membership_id, admin_role)
        .await
        .expect(StatusCode::OK);
    p.deactivate(&admin, second.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);

    p.change_role(&admin, own, vet)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
    p.deactivate(&admin, own)
        .await
        .expect_problem(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn two_admins_stepping_down_at_the_same_moment_leave_one_admin_and_a_clean_refusal() {
    let p = TestApp::new().await;
    let first = p.admin_a().await;
    let first_membership = uuid_of(&p.member(&first, ADMIN_A).await["id"]);
    let admin_role = p.role_uuid(&first, "Practice admin").await;
    let vet = p.role_uuid(&first, "Veterinarian").await;
    let second = p
        .join_member(&first, "deputy@riverside.example", "Receptionist")
        .await;
    p.change_role(&first, second.membership_id, admin_role)
        .await
        .expect(StatusCode::OK);

    // Make "at the same moment" deterministic: hold the first admin's membership row
    // from another connection, so the first step-down queues behind it; then the
    // second step-down starts, gets as far as it can and queues too; then let go.
    let mut holder = p.superuser().await;
    let mut held = holder.begin().await.unwrap();
    sqlx::query("select id from memberships where id = $1 for update")
        .bind(first_membership)
        .fetch_one(&mut *held)
        .await
        .unwrap();
    let mut watcher = p.superuser().await;
    let step_down = |session: &CookieUser, membership: Uuid| {
        let request = json_request(
            Method::POST,
            &format!("/api/v1/members/{membership}/role"),
            Some(&json!({ "role_id": vet })),
            &session.credential(),
            None,
        );
        tokio::spawn(dispatch(p.router.clone(), request))
    };
    let by_first = step_down(&first, first_membership);
    wait_for_lock_waiters(&mut watcher, 1).await;
    let by_second = step_down(&second.session, second.membership_id);
    wait_for_lock_waiters(&mut watcher, 2).await;
    held.commit().await.unwrap();
    let (a, b) = (by_first.await.unwrap(), by_second.await.unwrap());

    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "one steps down, the other is told why: {} / {}",
        a.body,
        b.body
    );
    // Whoever stepped down can no longer list members: count as superuser.
    let admins: i64 = sqlx::query_scalar(
        "select count(*) from memberships m
           join roles r on r.practice_id = m.practice_id and r.id = m.role_id
          where m.practice_id = $1 and r.builtin_key = 'practice_admin' and m.status = 'active'",
    )
    .bind(p.world.a.id.as_uuid())
    .fetch_one(&mut watcher)
    .await
    .unwrap();
    assert_eq!(admins, 1);
}

/// Waits (by polling the server, no sleeping) until `count` connections of this
/// database are waiting for a lock.
async fn wait_for_lock_waiters(watcher: &mut PgConnection, count: i64) {
    let mut waiting = 0_i64;
    for _ in 0..10_000 {
        waiting = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *watcher)
        .await
        .unwrap();
        if waiting >= count {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(waiting, count, "requests waiting for a lock");
}

// ---------------------------------------------------------------------------------
// Deactivation revokes everything
// ---------------------------------------------------------------------------------

/// A second admin (invited as a receptionist, then promoted) holding all three
/// credentials: a session cookie, an access token and an API key.
struct Armed {
    member: Member,
    jwt: TokenUser,
    key: ApiKeyUser,
}

async fn second_admin_with_every_credential(p: &TestApp, admin: &CookieUser) -> Armed {
    let member = p
        .join_member(admin, "deputy@riverside.example", "Receptionist")
        .await;
    let admin_role = p.role_uuid(admin, "Practice admin").await;
    p.change_role(admin, member.membership_id, admin_role)
        .await
        .expect(StatusCode::OK);
    let session = p.login(&member.email, MEMBER_PASSWORD).await;
    let jwt = p.token_user(&session).await;
    // Signing in was fresh re-authentication, so the key can be created at once.
    let key = ApiKeyUser {
        secret: p
            .create_key(&session, "lab sync", &["clients.read"])
            .await
            .expect(StatusCode::CREATED)
            .body["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    for cred in [session.credential(), (&jwt).into(), (&key).into()] {
        p.me(cred).await.expect(StatusCode::OK);
    }
    Armed {
        member: Member { session, ..member },
        jwt,
        key,
    }
}

#[tokio::test]
async fn deactivating_a_member_refuses_their_cookie_token_and_api_key_on_the_next_request() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let armed = second_admin_with_every_credential(&p, &admin).await;

    p.deactivate(&admin, armed.member.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);

    let session = &armed.member.session;
    for (what, cred) in [
        ("cookie", session.credential()),
        ("access token", Credential::from(&armed.jwt)),
        ("API key", Credential::from(&armed.key)),
    ] {
        let answer = p.me(cred).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{what}: {}",
            answer.body
        );
    }
    // Nor can the session mint a fresh token, or the person sign in again.
    p.post("/api/v1/auth/token", session.credential())
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    p.login_answer(&armed.member.email, MEMBER_PASSWORD, None)
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(
        p.member(&admin, &armed.member.email).await["status"],
        "deactivated"
    );
    // The deactivating admin is unaffected.
    p.me(admin.credential()).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn a_reactivated_member_signs_in_afresh_but_old_tokens_and_keys_stay_dead() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let armed = second_admin_with_every_credential(&p, &admin).await;
    p.deactivate(&admin, armed.member.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);
    p.reactivate(&admin, armed.member.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);

    for cred in [
        armed.member.session.credential(),
        Credential::from(&armed.jwt),
        Credential::from(&armed.key),
    ] {
        p.me(cred)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    let fresh = p.login(&armed.member.email, MEMBER_PASSWORD).await;
    let me = p.me(fresh.credential()).await.expect(StatusCode::OK);
    assert_eq!(
        me.body["role"]["name"], "Practice admin",
        "the role was kept"
    );
    let jwt = p.access_token(&fresh).await;
    p.me(bearer(&jwt)).await.expect(StatusCode::OK);
    let keys = p.keys(&fresh).await;
    let key = keys
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "lab sync")
        .expect("the old key is listed");
    assert_eq!(key["name"], "lab sync");
    assert!(!key["revoked_at"].is_null(), "the key stays revoked: {key}");
}

#[tokio::test]
async fn deactivation_and_reactivation_are_audited() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let armed = second_admin_with_every_credential(&p, &admin).await;
    p.deactivate(&admin, armed.member.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);
    p.reactivate(&admin, armed.member.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);

    let deactivations = p.audit(p.world.a.id, "deactivate").await;
    assert_eq!(deactivations.len(), 1, "{deactivations:?}");
    let (actor, _, entity, changes) = &deactivations[0];
    assert_eq!(*actor, Some(admin.user_id()));
    assert_eq!(*entity, Some(armed.member.membership_id));
    assert_eq!(changes["user_id"], json!(armed.member.user_id));
    assert_eq!(changes["status"], json!(["active", "deactivated"]));
    // Two sign-ins (as receptionist, then as admin), one key.
    assert_eq!(changes["sessions_revoked"], 2);
    assert_eq!(changes["api_keys_revoked"], 1);

    let reactivations = p.audit(p.world.a.id, "reactivate").await;
    assert_eq!(reactivations.len(), 1);
    assert_eq!(reactivations[0].0, Some(admin.user_id()));
    assert_eq!(
        reactivations[0].3["status"],
        json!(["deactivated", "active"])
    );
}

#[tokio::test]
async fn deactivation_in_one_practice_leaves_the_persons_other_practice_untouched() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    // Practice B's admin also works at A, as a veterinarian.
    p.invite(&admin, ADMIN_B, vet)
        .await
        .expect(StatusCode::CREATED);
    p.accept_invitation(&p.invitation_token(ADMIN_B), TEST_PASSWORD, None)
        .await
        .expect(StatusCode::OK);
    let login_in =
        |practice: PracticeId| p.login_answer(ADMIN_B, TEST_PASSWORD, Some(practice.as_uuid()));
    let at_b = CookieUser::from_answer(&login_in(p.world.b.id).await.expect(StatusCode::OK));
    let at_a = CookieUser::from_answer(&login_in(p.world.a.id).await.expect(StatusCode::OK));
    let membership = uuid_of(&p.member(&admin, ADMIN_B).await["id"]);

    p.deactivate(&admin, membership)
        .await
        .expect(StatusCode::NO_CONTENT);

    p.me(at_a.credential())
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    let me = p.me(at_b.credential()).await.expect(StatusCode::OK);
    assert_eq!(me.body["practice"]["id"], json!(p.world.b.id.as_uuid()));
    assert_eq!(me.body["role"]["name"], "Practice admin");
    let signed_in = p
        .login_answer(ADMIN_B, TEST_PASSWORD, None)
        .await
        .expect(StatusCode::OK);
    let practices: Vec<Uuid> = signed_in.body["practices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| uuid_of(&o["id"]))
        .collect();
    assert_eq!(practices, vec![p.world.b.id.as_uuid()], "only B is left");
    // B's API key (made with the practice) was not revoked by A.
    let mut conn = p.superuser().await;
    let live: i64 = sqlx::query_scalar(
        "select count(*) from api_keys where practice_id = $1 and revoked_at is null",
    )
    .bind(p.world.b.id.as_uuid())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn a_demotion_takes_effect_on_the_next_request_whatever_the_credential() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let deputy = p
        .join_member(&admin, "deputy@riverside.example", "Receptionist")
        .await;
    let admin_role = p.role_uuid(&admin, "Practice admin").await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;
    p.change_role(&admin, deputy.membership_id, admin_role)
        .await
        .expect(StatusCode::OK);
    let session = p.login(&deputy.email, MEMBER_PASSWORD).await;
    let jwt = p.access_token(&session).await;
    let key = p
        .create_key(&session, "staff sync", &["staff.manage", "clients.read"])
        .await
        .expect(StatusCode::CREATED)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for cred in [session.credential(), bearer(&jwt), bearer(&key)] {
        p.get("/api/v1/members", cred).await.expect(StatusCode::OK);
    }

    p.change_role(&admin, deputy.membership_id, receptionist)
        .await
        .expect(StatusCode::OK);

    for (what, cred) in [
        ("cookie", session.credential()),
        ("access token", bearer(&jwt)),
    ] {
        let me = p.me(&cred).await.expect(StatusCode::OK);
        assert_eq!(me.body["role"]["name"], "Receptionist", "{what}");
        assert_eq!(
            strings(&me.body["permissions"]),
            permission_names(BuiltinRole::Receptionist),
            "{what}"
        );
        p.get("/api/v1/members", cred)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    // A key never holds more than its creator's current role allows.
    let me = p.me(bearer(&key)).await.expect(StatusCode::OK);
    assert_eq!(me.body["permissions"], json!(["clients.read"]));
    p.get("/api/v1/members", bearer(&key))
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}

// ---------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn creating_an_api_key_needs_the_password_re_entered_within_ten_minutes() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let before = p.keys(&admin).await.body.as_array().unwrap().len();

    p.advance_keeping_alive(&admin, 11).await;
    p.create_key(&admin, "lab sync", &["clients.read"])
        .await
        .expect_problem(StatusCode::FORBIDDEN, "reauth_required");
    assert_eq!(p.keys(&admin).await.body.as_array().unwrap().len(), before);

    let admin =
        CookieUser::from_answer(&p.reauth(&admin, TEST_PASSWORD).await.expect(StatusCode::OK));
    p.create_key(&admin, "lab sync", &["clients.read"])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        p.keys(&admin).await.body.as_array().unwrap().len(),
        before + 1
    );
    let created = p.audit(p.world.a.id, "api_key_create").await;
    let ours: Vec<_> = created
        .iter()
        .filter(|(_, _, _, changes)| changes["name"] == "lab sync")
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].0, Some(admin.user_id()));
}

#[tokio::test]
async fn an_api_key_secret_is_shown_once_and_stored_only_as_its_hash() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let created = p
        .create_key(&admin, "lab sync", &["clients.read"])
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let body = secret.strip_prefix("pdk_").expect("pdk_ prefix");
    assert_eq!(body.len(), 43, "32 random bytes, base64url: {secret}");
    assert!(
        body.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{secret}"
    );
    assert_eq!(created.body["display_prefix"], secret[..12]);
    let id = created.uuid("id");

    let listed = p.keys(&admin).await.body;
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| uuid_of(&k["id"]) == id)
        .expect("the key is listed");
    assert_eq!(ours["name"], "lab sync");
    assert_eq!(ours["scopes"], json!(["clients.read"]));
    assert!(ours.get("secret").is_none(), "{ours}");
    assert!(!listed.to_string().contains(body), "never shown again");

    let mut conn = p.superuser().await;
    let stored: Vec<u8> = sqlx::query_scalar("select key_hash from api_keys where id = $1")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(p.is_sha256_of(&stored, &secret).await);
    assert_eq!(p.tables_containing(body).await, Vec::<String>::new());

    let me = p.me(bearer(&secret)).await.expect(StatusCode::OK);
    assert_eq!(me.body["authenticated_by"], "api_key");
    assert_eq!(me.body["user"]["id"], json!(admin.user_id()));
}

#[tokio::test]
async fn an_api_key_acts_only_within_its_scopes() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let secret = p
        .create_key(&admin, "lab sync", &["clients.read"])
        .await
        .expect(StatusCode::CREATED)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let me = p.me(bearer(&secret)).await.expect(StatusCode::OK);
    assert_eq!(me.body["permissions"], json!(["clients.read"]));
    for path in ["/api/v1/members", "/api/v1/roles", "/api/v1/api-keys"] {
        p.get(path, bearer(&secret))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
}

#[tokio::test]
async fn an_api_key_cannot_carry_a_scope_its_creator_lacks() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let integrations = p
        .custom_role(p.world.a.id, "Integrations manager", &["settings.manage"])
        .await;
    let manager = p
        .join_member_with_role(&admin, "integrations@riverside.example", integrations)
        .await;
    let before = p.keys(&admin).await.body.as_array().unwrap().len();

    for scopes in [
        &["records.read"][..],
        &["settings.manage", "records.read"][..],
    ] {
        p.create_key(&manager.session, "sneaky", scopes)
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    assert_eq!(p.keys(&admin).await.body.as_array().unwrap().len(), before);

    // Within their own permissions, the same person may create a key.
    p.create_key(&manager.session, "settings sync", &["settings.manage"])
        .await
        .expect(StatusCode::CREATED);
}

#[tokio::test]
async fn an_unknown_or_missing_scope_is_a_validation_error_on_scopes() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    for scopes in [
        &["records.delete"][..],
        &["clients.read", "root"][..],
        &[][..],
    ] {
        let refused = p
            .create_key(&admin, "lab sync", scopes)
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            refused.error_fields().iter().all(|f| f == "scopes")
                && !refused.error_fields().is_empty(),
            "{scopes:?}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn a_revoked_api_key_is_refused() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let created = p
        .create_key(&admin, "lab sync", &["clients.read"])
        .await
        .expect(StatusCode::CREATED);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.uuid("id");
    p.me(bearer(&secret)).await.expect(StatusCode::OK);

    let path = format!("/api/v1/api-keys/{id}/revoke");
    p.post(&path, admin.credential())
        .await
        .expect(StatusCode::NO_CONTENT);
    p.me(bearer(&secret))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    let listed = p.keys(&admin).await.body;
    let ours = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| uuid_of(&k["id"]) == id)
        .unwrap();
    assert!(!ours["revoked_at"].is_null());
    p.post(&path, admin.credential())
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let revocations = p.audit(p.world.a.id, "api_key_revoke").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0].2, Some(id));
}

#[tokio::test]
async fn another_practices_api_key_cannot_be_revoked_and_answers_like_an_unknown_one() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let mut conn = p.superuser().await;
    let foreign: Uuid = sqlx::query_scalar("select id from api_keys where practice_id = $1")
        .bind(p.world.b.id.as_uuid())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let theirs = p
        .post(
            &format!("/api/v1/api-keys/{foreign}/revoke"),
            admin.credential(),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = p
        .post(
            &format!("/api/v1/api-keys/{}/revoke", Uuid::now_v7()),
            admin.credential(),
        )
        .await;
    assert_eq!(theirs.problem_shape(), unknown.problem_shape());
    let revoked: Option<DateTime<Utc>> =
        sqlx::query_scalar("select revoked_at from api_keys where id = $1")
            .bind(foreign)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(revoked, None);
}

#[tokio::test]
async fn an_api_key_stops_working_when_it_expires() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let created = p
        .post_json(
            "/api/v1/api-keys",
            &json!({ "name": "one day", "scopes": ["clients.read"], "expires_in_days": 1 }),
            admin.credential(),
        )
        .await
        .expect(StatusCode::CREATED);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let expires: DateTime<Utc> = created.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, p.now() + Duration::days(1));

    p.clock.advance(Duration::days(1) - Duration::seconds(1));
    p.me(bearer(&secret)).await.expect(StatusCode::OK);
    p.clock.advance(Duration::seconds(2));
    p.me(bearer(&secret))
        .await
        .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn an_api_key_can_never_re_authenticate_so_it_cannot_create_keys_or_change_roles() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let secret = p
        .create_key(&admin, "automation", &["settings.manage", "staff.manage"])
        .await
        .expect(StatusCode::CREATED)
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    p.post_json(
        "/api/v1/api-keys",
        &json!({ "name": "child", "scopes": ["clients.read"], "expires_in_days": 30 }),
        bearer(&secret),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "reauth_required");
    p.post_json(
        &format!("/api/v1/members/{}/role", desk.membership_id),
        &json!({ "role_id": vet }),
        bearer(&secret),
    )
    .await
    .expect_problem(StatusCode::FORBIDDEN, "reauth_required");
    p.post_json(
        "/api/v1/auth/reauth",
        &json!({ "password": TEST_PASSWORD }),
        bearer(&secret),
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        p.member(&admin, &desk.email).await["role_name"],
        "Receptionist"
    );
}

// ---------------------------------------------------------------------------------
// Invitations outliving their sender's rights (issue 12, finding 5)
// ---------------------------------------------------------------------------------

/// A staff manager (Practice admin) who joined practice A and sent an invitation of
/// their own: `(the manager, the invited address, the link's token, its id)`.
async fn manager_with_pending_invitation(
    p: &TestApp,
    admin: &CookieUser,
) -> (Member, String, Uuid) {
    let manager = p
        .join_member(admin, "departing@riverside.example", "Practice admin")
        .await;
    let own_role = p.role_uuid(admin, "Practice admin").await;
    let invited = p
        .invite(&manager.session, "personal@elsewhere.example", own_role)
        .await
        .expect(StatusCode::CREATED);
    (
        manager,
        p.invitation_token("personal@elsewhere.example"),
        invited.uuid("id"),
    )
}

#[tokio::test]
async fn a_deactivated_managers_pending_invitation_can_no_longer_be_accepted() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let (manager, token, invitation) = manager_with_pending_invitation(&p, &admin).await;
    // An invitation of the admin's stays open: only the leaver's are revoked.
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    p.invite(&admin, "staying@riverside.example", vet)
        .await
        .expect(StatusCode::CREATED);

    p.deactivate(&admin, manager.membership_id)
        .await
        .expect(StatusCode::NO_CONTENT);
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Back Door"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    p.accept_invitation(
        &p.invitation_token("staying@riverside.example"),
        MEMBER_PASSWORD,
        Some("Stella Staying"),
    )
    .await
    .expect(StatusCode::OK);

    // Audited in the deactivation itself: the count, and one revocation per invitation.
    let deactivations = p.audit(p.world.a.id, "deactivate").await;
    assert_eq!(deactivations.len(), 1, "{deactivations:?}");
    assert_eq!(deactivations[0].3["invitations_revoked"], 1);
    let revocations = p.audit(p.world.a.id, "invitation_revoke").await;
    assert_eq!(revocations.len(), 1, "{revocations:?}");
    assert_eq!(revocations[0].0, Some(admin.user_id()));
    assert_eq!(revocations[0].2, Some(invitation));
}

#[tokio::test]
async fn demoting_a_manager_below_staff_manage_revokes_the_invitations_they_sent() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let (manager, token, invitation) = manager_with_pending_invitation(&p, &admin).await;
    let receptionist = p.role_uuid(&admin, "Receptionist").await;
    p.change_role(&admin, manager.membership_id, receptionist)
        .await
        .expect(StatusCode::OK);
    p.accept_invitation(&token, MEMBER_PASSWORD, Some("Back Door"))
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let revocations = p.audit(p.world.a.id, "invitation_revoke").await;
    assert_eq!(revocations.len(), 1, "{revocations:?}");
    assert_eq!(revocations[0].2, Some(invitation));
    let changes = p.audit(p.world.a.id, "role_change").await;
    assert_eq!(changes.last().unwrap().3["invitations_revoked"], 1);
}

#[tokio::test]
async fn invitations_are_listed_with_sender_role_expiry_and_status_a_page_at_a_time() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let sent = p
        .invite(&admin, "vet@riverside.example", vet)
        .await
        .expect(StatusCode::CREATED);
    let gone = p
        .invite(&admin, "gone@riverside.example", vet)
        .await
        .expect(StatusCode::CREATED);
    p.post(
        &format!("/api/v1/invitations/{}/revoke", gone.uuid("id")),
        admin.credential(),
    )
    .await
    .expect(StatusCode::NO_CONTENT);

    let listed = p
        .get("/api/v1/invitations", admin.credential())
        .await
        .expect(StatusCode::OK);
    let items = listed.body["items"].as_array().unwrap().clone();
    // The world's fixture invitation, and the two sent here, newest first.
    assert_eq!(items.len(), 3, "{}", listed.body);
    assert!(listed.body["next_cursor"].is_null());
    assert_eq!(items[0]["id"], gone.body["id"]);
    assert_eq!(items[0]["status"], "revoked");
    let open = &items[1];
    assert_eq!(open["id"], sent.body["id"]);
    assert_eq!(open["email"], "vet@riverside.example");
    assert_eq!(open["role_id"], json!(vet));
    assert_eq!(open["role_name"], "Veterinarian");
    assert_eq!(open["sent_by"], json!(admin.user_id()));
    assert_eq!(open["sent_by_name"], "Admin");
    // Stored to the microsecond.
    let expires = sent.body["expires_at"].as_str().unwrap();
    assert!(
        open["expires_at"]
            .as_str()
            .unwrap()
            .starts_with(&expires[..26]),
        "{open}"
    );
    assert_eq!(open["status"], "open");
    assert!(open.get("token").is_none() && open.get("token_hash").is_none());

    // One at a time, with a cursor, the same three in the same order.
    let mut walked = Vec::new();
    let mut path = "/api/v1/invitations?limit=1".to_owned();
    loop {
        let page = p
            .get(&path, admin.credential())
            .await
            .expect(StatusCode::OK);
        walked.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/invitations?limit=1&cursor={cursor}"),
            None => break,
        }
        assert!(walked.len() <= 3, "the walk ends");
    }
    assert_eq!(walked, items);

    // An expired link is listed as expired.
    p.clock.advance(Duration::days(8));
    // The session has ended meanwhile too.
    let admin = p.admin_a().await;
    let later = p
        .get("/api/v1/invitations", admin.credential())
        .await
        .expect(StatusCode::OK);
    assert_eq!(later.body["items"][1]["status"], "expired");

    // Bad parameters are named; receptionists may not look; B sees only its own.
    for (query, field) in [
        ("limit=0", "limit"),
        ("sort=email", "sort"),
        ("cursor=x", "cursor"),
    ] {
        let bad = p
            .get(&format!("/api/v1/invitations?{query}"), admin.credential())
            .await
            .expect_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(bad.error_fields(), [field], "{query}");
    }
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    p.get("/api/v1/invitations", desk.session.credential())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let admin_b = p.admin_b().await;
    let theirs = p
        .get("/api/v1/invitations", admin_b.credential())
        .await
        .expect(StatusCode::OK);
    let theirs = theirs.body["items"].as_array().unwrap().clone();
    assert_eq!(
        theirs.len(),
        1,
        "B's own fixture invitation only: {theirs:?}"
    );
    assert!(theirs.iter().all(|i| i["email"] != "vet@riverside.example"));
}

#[tokio::test]
async fn revoking_by_post_is_audited_and_another_practices_invitation_answers_404() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let invited = p
        .invite(&admin, "vet@riverside.example", vet)
        .await
        .expect(StatusCode::CREATED);
    let id = invited.uuid("id");
    let path = format!("/api/v1/invitations/{id}/revoke");
    let desk = p
        .join_member(&admin, "desk@riverside.example", "Receptionist")
        .await;
    p.post(&path, desk.session.credential())
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    p.post(&path, admin.with_csrf(None))
        .await
        .expect(StatusCode::FORBIDDEN);
    p.post(&path, admin.credential())
        .await
        .expect(StatusCode::NO_CONTENT);
    p.accept_invitation(
        &p.invitation_token("vet@riverside.example"),
        MEMBER_PASSWORD,
        Some("Victor Vet"),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let revocations = p.audit(p.world.a.id, "invitation_revoke").await;
    assert_eq!(revocations.len(), 1);
    assert_eq!(
        (revocations[0].0, revocations[0].2),
        (Some(admin.user_id()), Some(id))
    );

    let mut conn = p.superuser().await;
    let foreign: Uuid = sqlx::query_scalar("select id from invitations where practice_id = $1")
        .bind(p.world.b.id.as_uuid())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let theirs = p
        .post(
            &format!("/api/v1/invitations/{foreign}/revoke"),
            admin.credential(),
        )
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    let unknown = p
        .post(
            &format!("/api/v1/invitations/{}/revoke", Uuid::now_v7()),
            admin.credential(),
        )
        .await;
    assert_eq!(theirs.problem_shape(), unknown.problem_shape());
    let revoked: Option<DateTime<Utc>> =
        sqlx::query_scalar("select revoked_at from invitations where id = $1")
            .bind(foreign)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(revoked, None, "practice B's invitation is untouched");
}

/// A staff page form post with the session cookie: status and body.
async fn post_page_form(
    p: &TestApp,
    path: &str,
    session: &CookieUser,
    form: &str,
) -> (StatusCode, HeaderMap, String) {
    let answer = p
        .post_form_body(path, form.to_owned(), session.without_csrf())
        .await;
    (answer.status, answer.headers, answer.text)
}

#[tokio::test]
async fn the_staff_page_lists_invitations_and_revokes_one_only_with_the_csrf_token() {
    let p = TestApp::new().await;
    let admin = p.admin_a().await;
    let vet = p.role_uuid(&admin, "Veterinarian").await;
    let invited = p
        .invite(&admin, "vet@riverside.example", vet)
        .await
        .expect(StatusCode::CREATED);
    let id = invited.uuid("id");
    let page = p.page("/staff", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text;
    let row = html
        .split("<tr data-invitation=\"")
        .find(|row| row.starts_with(&id.to_string()))
        .unwrap_or_else(|| panic!("invitation {id} is not listed: {html}"));
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("vet@riverside.example"), "{row}");
    assert!(row.contains("Veterinarian"), "the role: {row}");
    assert!(row.contains("Admin"), "the sender: {row}");
    let expiry = invited.body["expires_at"].as_str().unwrap();
    assert!(row.contains(&expiry[..10]), "the expiry day: {row}");
    assert!(
        row.contains(&format!("action=\"/staff/invitations/{id}/revoke\"")),
        "{row}"
    );
    assert!(row.contains(&format!("value=\"{}\"", admin.csrf)), "{row}");

    let path = format!("/staff/invitations/{id}/revoke");
    let (status, _, _) = post_page_form(&p, &path, &admin, "csrf_token=forged").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let still_open: Option<DateTime<Utc>> =
        sqlx::query_scalar("select revoked_at from invitations where id = $1")
            .bind(id)
            .fetch_one(&mut p.superuser().await)
            .await
            .unwrap();
    assert_eq!(still_open, None, "a forged form changes nothing");

    let (status, headers, _) =
        post_page_form(&p, &path, &admin, &format!("csrf_token={}", admin.csrf)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        headers.get(header::LOCATION).unwrap(),
        "/staff?notice=invitation-revoked"
    );
    p.accept_invitation(
        &p.invitation_token("vet@riverside.example"),
        MEMBER_PASSWORD,
        Some("Victor Vet"),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(p.audit(p.world.a.id, "invitation_revoke").await.len(), 1);
}
