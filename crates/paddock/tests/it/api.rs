//! A small in-process API client for tests: a world of two practices, a router on a
//! manual clock, mail and SMS outboxes, and cookie sessions with their CSRF tokens.

use crate::world::{World, test_clock, test_state, two_practices};

/// The Riverside (practice A) admin.
pub const ADMIN: &str = "admin@riverside.example";
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use paddock_domain::ManualClock;
use paddock_web::{AppState, HttpConfig, build_router};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

pub struct Env {
    pub world: World,
    pub clock: Arc<ManualClock>,
    pub router: Router,
    pub outbox: PathBuf,
    /// The work the server does after answering (reset mail), to wait on.
    pub background: paddock_web::Background,
}

pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub async fn env_with(configure: impl FnOnce(&mut AppState)) -> Env {
    let world = two_practices().await;
    let clock = test_clock();
    let outbox = std::env::temp_dir().join(format!("paddock-pw-{}", uuid::Uuid::new_v4().simple()));
    let mut state = test_state(world.app.clone(), clock.clone(), outbox.clone());
    configure(&mut state);
    let background = state.background.clone();
    let router = build_router(state, &HttpConfig::default());
    Env {
        world,
        clock,
        router,
        outbox,
        background,
    }
}

pub async fn env() -> Env {
    env_with(|_| {}).await
}

impl Env {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        session: Option<&Session>,
    ) -> (StatusCode, Value, Option<String>) {
        self.send_from(None, method, path, body, session).await
    }

    /// Like [`Env::send`], from the client address `source` (as the TCP peer).
    pub async fn send_from(
        &self,
        source: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
        session: Option<&Session>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(source) = source {
            let peer: std::net::SocketAddr = format!("{source}:40000").parse().unwrap();
            request = request.extension(axum::extract::ConnectInfo(peer));
        }
        if let Some(session) = session {
            request = request
                .header(
                    header::COOKIE,
                    format!("__Host-paddock_session={}", session.cookie),
                )
                .header("x-csrf-token", &session.csrf);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            cookie,
        )
    }

    pub async fn login(&self, password: &str) -> Session {
        self.login_as(ADMIN, password).await
    }

    /// Signs `email` in and returns the session.
    pub async fn login_as(&self, email: &str, password: &str) -> Session {
        let (status, body, cookie) = self
            .send(
                "POST",
                "/api/v1/auth/login",
                Some(json!({"email": email, "password": password})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cookie = cookie.unwrap();
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .trim_start_matches("__Host-paddock_session=");
        Session {
            cookie: token.to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Waits (bounded) until the work the server does after answering has finished.
    pub async fn settled(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.background.settled(),
        )
        .await
        .expect("background work did not settle");
    }

    /// The mails in the outbox sent to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<paddock_notify::OutboxMessage> {
        paddock_notify::read_outbox(&self.outbox)
            .unwrap()
            .into_iter()
            .filter(|m| m.to == to)
            .collect()
    }

    pub async fn me_status(&self, session: &Session) -> StatusCode {
        self.send("GET", "/api/v1/me", None, Some(session)).await.0
    }

    /// Waits (bounded) for the reset mail, sent in the background, and returns its token.
    pub async fn reset_token(&self) -> String {
        for _ in 0..500 {
            let mails = paddock_notify::read_outbox(&self.outbox).unwrap();
            if let Some(mail) = mails.iter().find(|m| m.subject.contains("Reset")) {
                let link = mail
                    .body_text
                    .split_whitespace()
                    .find(|w| w.starts_with("https://paddock.test/reset-password/"))
                    .unwrap();
                return link
                    .trim_start_matches("https://paddock.test/reset-password/")
                    .to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no reset mail arrived");
    }

    /// Practice A's application events in order (row changes left out).
    pub async fn audit_actions(&self) -> Vec<String> {
        let mut tx = self
            .world
            .app
            .begin(
                &self.world.a.principal,
                &paddock_store::RequestMeta::system("t"),
            )
            .await
            .unwrap();
        let actions = sqlx::query_scalar(
            "select action from audit_events
              where action not in ('create', 'update', 'delete') order by id",
        )
        .fetch_all(tx.conn())
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        actions
    }

    /// Invites `email` with `role_id` and accepts; returns the new person's session.
    pub async fn join_with_role(&self, admin: &Session, email: &str, role_id: &str) -> Session {
        let (status, body, _) = self
            .send(
                "POST",
                "/api/v1/invitations",
                Some(json!({"email": email, "role_id": role_id})),
                Some(admin),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mails = paddock_notify::read_outbox(&self.outbox).unwrap();
        let mail = mails.iter().rev().find(|m| m.to == email).unwrap();
        let token = mail
            .body_text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("https://paddock.test/invitations/"))
            .unwrap();
        let password = "marsh-harrier-31-glides-low";
        let (status, body, _) = self
            .send(
                "POST",
                "/api/v1/invitations/accept",
                Some(json!({"token": token, "password": password, "display_name": "Lead"})),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.login_as(email, password).await
    }

    /// Invites `email` into practice A with the built-in role named `role` (as listed
    /// by `GET /api/v1/roles`), accepts, and signs in.
    pub async fn join_as(&self, admin: &Session, email: &str, role: &str) -> Session {
        let (_, roles, _) = self.send("GET", "/api/v1/roles", None, Some(admin)).await;
        let role_id = roles
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == role)
            .unwrap_or_else(|| panic!("no role named {role}: {roles}"))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.join_with_role(admin, email, &role_id).await
    }
}
