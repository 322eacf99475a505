//! Assembles the router with its layers, and serves it with graceful shutdown.

use crate::context::REQUEST_ID;
use crate::forwarded::{self, TrustedProxies};
use crate::metrics::Metrics;
use crate::middleware;
use crate::rate_limit::{self, RateLimitConfig, RateLimits};
use crate::{AppState, appointments, audit, clinical, health, identity, staff};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderValue;
use axum::http::{HeaderName, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// Limits applied to every request.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Longest a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// The gateways whose `Forwarded`/`X-Forwarded-For` name the client (none: the
    /// TCP peer is the client).
    pub trusted_proxies: TrustedProxies,
    /// Answers go out over TLS (the binary's own or a gateway's): every answer tells
    /// browsers to use HTTPS only, for a year (HSTS).
    pub https: bool,
    /// The origins (`https://portal.example`) whose pages may call the API from a
    /// browser, with credentials. None by default: a browser then lets no other
    /// site's script read an answer, or send a preflighted request.
    pub cors_origins: Vec<HeaderValue>,
    /// Requests allowed per client address and per credential.
    pub rate_limits: RateLimitConfig,
    /// Requests answered at once; one more is a 503 with `Retry-After`.
    pub max_in_flight: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
            https: false,
            cors_origins: Vec::new(),
            rate_limits: RateLimitConfig::default(),
            // Well above what the database pool serves at once: a burst waits for a
            // connection, a flood is shed.
            max_in_flight: 256,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    // Named here too: the shared refusals (`crate::responses`) refer to it by name.
    components(schemas(crate::error::Problem)),
    info(title = "Paddock API", description = "Multi-tenant veterinary practice platform."),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Sign-in, sessions, access tokens"),
        (name = "staff", description = "Members, roles, invitations, API keys"),
        (name = "audit", description = "The practice's audit trail and its hash chain"),
        (name = "clients", description = "Owners: contact details, preferences, soft delete"),
        (name = "patients", description = "Animals, their owners, search by name, chip or owner"),
        (name = "records", description = "Medical records: encounters that lock, addenda, vitals, problems, allergies, prescriptions, vaccinations (reads are audited)"),
        (name = "appointments", description = "The appointment book; double bookings are refused by the database")
    )
)]
struct ApiDoc;

/// The OpenAPI document, built from the same declarations as the router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

fn api_router() -> OpenApiRouter<AppState> {
    let mut doc = ApiDoc::openapi();
    // utoipa fills an empty licence from Cargo metadata; the workspace declares none.
    doc.info.license = None;
    OpenApiRouter::with_openapi(doc)
        .merge(health::router())
        .merge(identity::api())
        .merge(staff::api())
        .merge(audit::api())
        .merge(clinical::api())
        .merge(appointments::api())
}

/// The whole application with its layers.
pub fn build_router(state: AppState, config: &HttpConfig) -> Router {
    let (router, api) = api_router().split_for_parts();
    let api = std::sync::Arc::new(api);
    let router = router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .merge(crate::api_docs::routes())
        // The pages (not part of the JSON API or its OpenAPI document).
        .merge(crate::layout::pages())
        .merge(crate::dashboard::pages())
        .merge(identity::pages())
        .merge(staff::pages())
        .merge(audit::pages())
        .merge(clinical::pages())
        .merge(appointments::pages())
        .fallback(crate::layout::unknown_address);
    let metrics = state.metrics.clone();
    with_layers(router.with_state(state), config, metrics)
}

/// The layers every answer passes through, around `router`: request ids, tracing,
/// limits, panics caught, problem+json (an HTML page for browsers), no caching of
/// authenticated answers, security headers.
fn with_layers(router: Router, config: &HttpConfig, metrics: Metrics) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(
            middleware::set_aside_client_request_id,
        ))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                // The path only (query strings may carry tokens), with mailed tokens redacted.
                let client_request_id = request
                    .extensions()
                    .get::<middleware::ClientRequestId>()
                    .map(|id| id.0.as_str());
                tracing::info_span!("http", method = %request.method(),
                path = %middleware::loggable_path(request.uri().path()),
                request_id = %middleware::request_id(request), client_request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        .into_inner();
    let mut router = router
        .layer(axum::middleware::from_fn_with_state(
            (
                Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
                metrics.clone(),
            ),
            middleware::shed_load,
        ))
        // Inside the client-address layer: limits count the client behind a gateway.
        .layer(axum::middleware::from_fn_with_state(
            RateLimits::new(config.rate_limits.clone(), metrics.clone()),
            rate_limit::limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            config.trusted_proxies.clone(),
            forwarded::client_ip,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        // Inside the problem pass, so a panic's cause is logged with the request id.
        .layer(CatchPanicLayer::custom(middleware::panic_answer))
        .layer(axum::middleware::from_fn(middleware::finish_problem))
        // Outside the problem pass: it turns finished problems into pages for browsers.
        .layer(axum::middleware::from_fn(
            middleware::error_pages_for_browsers,
        ))
        .layer(axum::middleware::from_fn(
            middleware::no_store_when_authenticated,
        ))
        // Outermost of the per-route layers: it sees the final status of every answer,
        // and the route template it matched.
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::count,
        ));
    for (name, value) in middleware::security_headers() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    if !config.cors_origins.is_empty() {
        router = router.layer(cors(&config.cors_origins));
    }
    if config.https {
        router = router.layer(SetResponseHeaderLayer::overriding(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static(HSTS),
        ));
    }
    router.layer(layers)
}

/// Cross-origin calls from exactly `origins` (never a wildcard): credentials allowed,
/// the API's methods and the headers it reads (a bearer token, JSON, the CSRF token).
fn cors(origins: &[HeaderValue]) -> CorsLayer {
    use axum::http::{Method, header};
    let allowed: Arc<[HeaderValue]> = origins.into();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        // Only with the allowed origin's grant, not on every answer.
        .allow_credentials(AllowCredentials::predicate(move |origin, _| {
            allowed.contains(origin)
        }))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-csrf-token"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Strict-Transport-Security over TLS: two years, subdomains included.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests before closing their connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` (over TLS with `tls`, else plain HTTP) until
/// `shutdown` resolves, then drains in-flight requests. Each connection is handled in
/// its own task: a TLS handshake never holds up the accept loop, a client that does
/// not finish its handshake or its headers in 10 s is dropped, and ALPN chooses
/// HTTP/2 or HTTP/1.1. The peer's address reaches handlers as `ConnectInfo`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, tls, ConnectionLimits::default(), shutdown).await
}

/// How many connections one client address may hold open at once.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Open connections per address; one more is closed as soon as it is accepted.
    pub per_address: usize,
    /// Addresses without a cap: the gateways every client arrives through.
    pub exempt: TrustedProxies,
}

impl Default for ConnectionLimits {
    /// 128 per address: a practice's whole front desk behind one NAT, each browser
    /// with its handful of connections, fits; one client holding thousands open
    /// (slowloris with patience) does not.
    fn default() -> Self {
        Self {
            per_address: 128,
            exempt: TrustedProxies::default(),
        }
    }
}

/// The open connections of each capped address.
#[derive(Clone, Default)]
struct OpenConnections(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

/// One counted connection; uncounted when dropped (however its task ends).
struct Counted {
    open: OpenConnections,
    address: std::net::IpAddr,
}

impl OpenConnections {
    /// Counts a connection from `address`, or `None` if it already holds `cap`.
    fn admit(&self, address: std::net::IpAddr, cap: usize) -> Option<Counted> {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Counted {
            open: self.clone(),
            address,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self
            .open
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// [`serve`] with `limits` on the connections each client address may hold open (the
/// gateways named in `limits.exempt` excepted).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let open = OpenConnections::default();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let http = Arc::new(http);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: wait a moment instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let address = peer.ip().to_canonical();
        let counted = if limits.exempt.trusts(address) {
            None
        } else {
            match open.admit(address, limits.per_address) {
                Some(counted) => Some(counted),
                None => {
                    tracing::debug!(%peer, "closing a connection over the per-address cap");
                    drop(stream);
                    continue;
                }
            }
        };
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let acceptor = acceptor.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _counted = counted;
            let served = match acceptor {
                Some(acceptor) => {
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    else {
                        tracing::debug!(%peer, "TLS handshake failed or timed out");
                        return;
                    };
                    let connection = http
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
                None => {
                    let connection = http
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain period; closing them");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_the_request_id_only() {
        let router = axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                let secret = "patient Rex, owner's phone 07700 900123";
                if !secret.is_empty() {
                    panic!("unexpected state: {secret}");
                }
                "unreachable"
            }),
        );
        let router = super::with_layers(
            router,
            &super::HttpConfig::default(),
            crate::metrics::Metrics::new(),
        );
        let response = router
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], "internal_error");
        assert_eq!(body["request_id"], request_id.as_str());
        assert!(!text.contains("Rex") && !text.contains("panick"), "{text}");
    }

    /// Every API change shows up in review as a change of this snapshot
    /// (`cargo insta review`, or INSTA_UPDATE=always, to accept one).
    #[test]
    fn openapi_document_matches_the_reviewed_snapshot() {
        insta::assert_json_snapshot!("openapi", super::openapi());
    }

    /// `GET /` on `stream`: the answer's first bytes, or `None` if the server closed it.
    async fn ask(stream: &mut tokio::net::TcpStream) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: paddock.test\r\n\r\n")
            .await
            .ok()?;
        let mut buf = [0u8; 512];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("the server answers or closes within 5 s");
        match read {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        }
    }

    #[tokio::test]
    async fn a_client_over_its_connection_cap_is_closed_at_once_and_gateways_are_exempt() {
        use super::{ConnectionLimits, TrustedProxies};
        use tokio::net::{TcpListener, TcpStream};
        let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let gateway = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        for (exempt, capped) in [(TrustedProxies::default(), true), (gateway, false)] {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let limits = ConnectionLimits {
                per_address: 2,
                exempt,
            };
            let server = tokio::spawn(super::serve_with(
                listener,
                router.clone(),
                None,
                limits,
                std::future::pending(),
            ));
            // Two connections, each answered once and kept alive.
            let mut first = TcpStream::connect(address).await.unwrap();
            let mut second = TcpStream::connect(address).await.unwrap();
            for stream in [&mut first, &mut second] {
                let answer = ask(stream).await.expect("within the cap");
                assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            }
            let mut third = TcpStream::connect(address).await.unwrap();
            let answered = ask(&mut third).await;
            assert_eq!(answered.is_none(), capped, "{answered:?}");
            if capped {
                // Closing one makes room again (once the server has seen it close).
                drop(first);
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                loop {
                    let mut again = TcpStream::connect(address).await.unwrap();
                    if ask(&mut again).await.is_some() {
                        break;
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no room after a close"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            server.abort();
        }
    }
}
