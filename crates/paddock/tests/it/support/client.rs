//! The in-process server a test talks to: the real router (called with `oneshot`, no
//! socket) on a manual clock, with a mail outbox and an SMS outbox of its own, and a
//! way to wait for the work it does after answering. [`TestApp`] is that server over
//! the two-practice world of `world.rs`.

use super::answer::Answer;
use super::pages::form_body;
use super::users::{Anonymous, CookieUser, Credential};
use super::{LOGIN, ME};
use crate::world::{World, test_clock, test_state, two_practices};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use paddock_domain::{Clock, ManualClock};
use paddock_store::Db;
use paddock_web::{AppState, Background, HttpConfig, build_router};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

/// The router of a test, with the clock it reads, its outboxes and its background work.
pub struct Server {
    pub router: Router,
    pub clock: Arc<ManualClock>,
    /// The work the server does after answering (mail), to wait on.
    pub background: Background,
    /// What the server counted.
    pub metrics: paddock_web::metrics::Metrics,
    outbox: tempfile::TempDir,
}

impl Server {
    /// Serves `app` with the default HTTP settings.
    pub fn new(app: Db) -> Server {
        Server::configured(app, |_| {}, &HttpConfig::default())
    }

    /// Serves `app` with `configure` applied to the state and the HTTP settings `http`.
    pub fn configured(app: Db, configure: impl FnOnce(&mut AppState), http: &HttpConfig) -> Server {
        let clock = test_clock();
        let outbox = tempfile::tempdir().unwrap();
        let mut state = test_state(app, clock.clone(), outbox.path().to_owned());
        configure(&mut state);
        Server {
            background: state.background.clone(),
            metrics: state.metrics.clone(),
            router: build_router(state, http),
            clock,
            outbox,
        }
    }

    /// Sends `request` through the router.
    pub async fn send(&self, request: Request<Body>) -> Answer {
        dispatch(self.router.clone(), request).await
    }

    /// `method path` with `credential` and, if given, a JSON body.
    pub async fn request<M>(
        &self,
        method: M,
        path: &str,
        body: Option<Value>,
        credential: impl Into<Credential>,
    ) -> Answer
    where
        M: TryInto<Method, Error: std::fmt::Debug>,
    {
        let method = method.try_into().unwrap();
        self.send(json_request(
            method,
            path,
            body.as_ref(),
            &credential.into(),
            None,
        ))
        .await
    }

    /// Like [`Server::request`], from the client address `source` (as the TCP peer).
    pub async fn request_from(
        &self,
        source: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        credential: impl Into<Credential>,
    ) -> Answer {
        let request = json_request(
            method,
            path,
            body.as_ref(),
            &credential.into(),
            Some(source),
        );
        self.send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, credential: impl Into<Credential>) -> Answer {
        self.request(Method::GET, path, None, credential).await
    }

    /// A POST without a body.
    pub async fn post(&self, path: &str, credential: impl Into<Credential>) -> Answer {
        self.request(Method::POST, path, None, credential).await
    }

    /// A POST of `body` as JSON.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        credential: impl Into<Credential>,
    ) -> Answer {
        self.request(Method::POST, path, Some(body.clone()), credential)
            .await
    }

    /// A POST of an HTML form (`application/x-www-form-urlencoded`, values encoded).
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        credential: impl Into<Credential>,
    ) -> Answer {
        self.post_form_body(path, form_body(fields), credential)
            .await
    }

    /// A POST of an HTML form whose body is given as sent.
    pub async fn post_form_body(
        &self,
        path: &str,
        body: String,
        credential: impl Into<Credential>,
    ) -> Answer {
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in credential.into().headers() {
            request = request.header(*name, value);
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// `GET /api/v1/me`.
    pub async fn me(&self, credential: impl Into<Credential>) -> Answer {
        self.get(ME, credential).await
    }

    /// One sign-in attempt, whatever it answers.
    pub async fn try_login(&self, email: &str, password: &str) -> Answer {
        self.post_json(
            LOGIN,
            &json!({"email": email, "password": password}),
            Anonymous,
        )
        .await
    }

    /// Signs in with `body`, which must answer 200.
    pub async fn login_with(&self, body: &Value) -> CookieUser {
        CookieUser::from_answer(&self.post_json(LOGIN, body, Anonymous).await)
    }

    /// Signs `email` in with `password` (must succeed).
    pub async fn login(&self, email: &str, password: &str) -> CookieUser {
        self.login_with(&json!({"email": email, "password": password}))
            .await
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

    /// The mail outbox directory (SMS go to its `sms` folder).
    pub fn outbox(&self) -> &Path {
        self.outbox.path()
    }

    /// The clock's time.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

/// A [`Server`] over a fresh database with practices A (Riverside) and B (Northside).
pub struct TestApp {
    pub world: World,
    pub server: Server,
}

impl std::ops::Deref for TestApp {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl TestApp {
    /// Two practices, served with the default settings.
    pub async fn new() -> TestApp {
        TestApp::with(|_| {}).await
    }

    /// Two practices, served with `configure` applied to the state.
    pub async fn with(configure: impl FnOnce(&mut AppState)) -> TestApp {
        let world = two_practices().await;
        let server = Server::configured(world.app.clone(), configure, &HttpConfig::default());
        TestApp { world, server }
    }

    /// Two practices, served with `http` (body limit, timeout, trusted proxies).
    pub async fn with_http(http: &HttpConfig) -> TestApp {
        let world = two_practices().await;
        let server = Server::configured(world.app.clone(), |_| {}, http);
        TestApp { world, server }
    }

    /// A transaction in practice A as its admin, for a test's own reads.
    async fn practice_a_tx(&self) -> paddock_store::TenantTx {
        self.world
            .app
            .begin(
                &self.world.a.principal,
                &paddock_store::RequestMeta::system("t"),
            )
            .await
            .unwrap()
    }

    /// The address practice A's newest `action` event recorded.
    pub async fn newest_ip(&self, action: &str) -> Option<String> {
        let mut tx = self.practice_a_tx().await;
        let ip = sqlx::query_scalar(
            "select host(ip) from audit_events where action = $1 order by id desc limit 1",
        )
        .bind(action)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        ip
    }

    /// Practice A's application events in order (row changes left out).
    pub async fn audit_actions(&self) -> Vec<String> {
        let mut tx = self.practice_a_tx().await;
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
}

/// A request with `credential`, an optional JSON body and an optional TCP peer.
pub fn json_request(
    method: Method,
    path: &str,
    body: Option<&Value>,
    credential: &Credential,
    source: Option<&str>,
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(source) = source {
        let peer: std::net::SocketAddr = format!("{source}:40000").parse().unwrap();
        request = request.extension(axum::extract::ConnectInfo(peer));
    }
    for (name, value) in credential.headers() {
        request = request.header(*name, value);
    }
    match body {
        Some(body) => request
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap()
}

/// Sends `request` through `router` (owned, so it can run in a spawned task).
pub async fn dispatch(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
        bytes: bytes.to_vec(),
    }
}
