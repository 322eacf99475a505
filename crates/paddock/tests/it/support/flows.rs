//! The flows many tests walk through before the part they check: joining a practice by
//! invitation, failing to sign in `n` times, getting an access token.

use super::answer::{Answer, assert_problem};
use super::client::{Server, TestApp};
use super::users::{Anonymous, CookieUser, TokenUser};
use super::{SECOND_FACTOR, SWITCH, TEST_PASSWORD, TOKEN, WRONG_PASSWORD};
use axum::http::StatusCode;
use paddock_domain::PracticeId;
use serde_json::json;

impl Server {
    /// Accepts the invitation `token` as a new person with `password` (and a display
    /// name, if given), whatever it answers.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Answer {
        let mut body = json!({ "token": token, "password": password });
        if let Some(name) = display_name {
            body["display_name"] = json!(name);
        }
        self.post_json("/api/v1/invitations/accept", &body, Anonymous)
            .await
    }

    /// Invites `email` with `role_id` as `admin` (must answer 201).
    pub async fn invite(
        &self,
        admin: &CookieUser,
        email: &str,
        role_id: impl serde::Serialize,
    ) -> Answer {
        self.post_json(
            "/api/v1/invitations",
            &json!({"email": email, "role_id": json!(role_id)}),
            admin,
        )
        .await
    }

    /// Invites `email` with `role_id`, accepts as `display_name` with `password` and
    /// signs in: the new person's session.
    pub async fn join_with_password(
        &self,
        admin: &CookieUser,
        email: &str,
        role_id: impl serde::Serialize,
        password: &str,
        display_name: &str,
    ) -> CookieUser {
        self.invite(admin, email, role_id)
            .await
            .expect(StatusCode::CREATED);
        let token = self.invitation_token(email);
        self.accept_invitation(&token, password, Some(display_name))
            .await
            .expect(StatusCode::OK);
        self.login(email, password).await
    }

    /// Invites `email` with `role_id` and accepts; returns the new person's session.
    pub async fn join_with_role(
        &self,
        admin: &CookieUser,
        email: &str,
        role_id: &str,
    ) -> CookieUser {
        let password = "marsh-harrier-31-glides-low";
        self.join_with_password(admin, email, role_id, password, "Lead")
            .await
    }

    /// The id of the role named `name` (as listed by `GET /api/v1/roles`).
    pub async fn role_id(&self, admin: &CookieUser, name: &str) -> String {
        let roles = self.get("/api/v1/roles", admin).await.body;
        roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no role named {name}: {roles}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Invites `email` with the built-in role named `role` (as listed by
    /// `GET /api/v1/roles`), accepts, and signs in.
    pub async fn join_as(&self, admin: &CookieUser, email: &str, role: &str) -> CookieUser {
        let role_id = self.role_id(admin, role).await;
        self.join_with_role(admin, email, &role_id).await
    }

    /// `n` failed sign-ins of `email`, each answered 401 `invalid_credentials`.
    pub async fn fail_sign_in(&self, email: &str, n: usize) {
        for i in 1..=n {
            let answer = self.try_login(email, WRONG_PASSWORD).await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "failure {i} of {n} for {email}: {}",
                answer.body
            );
            assert_problem(&answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
        }
    }

    /// Exchanges the session for an access token (must succeed).
    pub async fn access_token(&self, session: &CookieUser) -> String {
        let answer = self.post(TOKEN, session).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_owned()
    }

    /// Switches `session` to `practice` (must answer 200): the new session.
    pub async fn switch(&self, session: &CookieUser, practice: PracticeId) -> CookieUser {
        let answer = self
            .post_json(SWITCH, &json!({"practice_id": practice.as_uuid()}), session)
            .await;
        CookieUser::from_answer(&answer)
    }

    /// The session's access token as a caller of its own.
    pub async fn token_user(&self, session: &CookieUser) -> TokenUser {
        TokenUser {
            jwt: self.access_token(session).await,
        }
    }
}

/// The second factor's own steps.
impl Server {
    /// Signs in with the right password: the session must owe its second factor.
    pub async fn pending_login(&self, email: &str) -> CookieUser {
        let session = self.login(email, TEST_PASSWORD).await;
        assert!(
            session.second_factor_required(),
            "expected a pending session: {}",
            session.body
        );
        session
    }

    /// Signs in with the right password: the session must be complete at once.
    pub async fn full_login(&self, email: &str) -> CookieUser {
        let session = self.login(email, TEST_PASSWORD).await;
        assert!(
            !session.second_factor_required(),
            "expected a complete session: {}",
            session.body
        );
        session
    }

    /// One attempt at `/auth/second-factor`.
    pub async fn verify(&self, session: &CookieUser, method: &str, code: &str) -> Answer {
        self.post_json(
            SECOND_FACTOR,
            &json!({"method": method, "code": code}),
            session,
        )
        .await
    }
}

impl TestApp {
    /// The status of `GET /api/v1/me` for `session`.
    pub async fn me_status(&self, session: &CookieUser) -> StatusCode {
        self.me(session).await.status
    }
}
