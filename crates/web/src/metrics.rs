//! Prometheus metrics: what the server counts (requests by route template, method and
//! status, their latency, rate-limit refusals, shed requests) and what it reads when
//! scraped (the database pool, the audit sealer's backlog), served by [`router`] on a
//! listener of its own, never on the public port. Labels are route templates
//! (`/api/v1/patients/{id}`), never the path a client sent: no id, token or practice
//! reaches a metric, and a scan of random addresses cannot grow the label set.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paddock_store::Db;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

/// The label of a request that matched no route (never its path).
const UNMATCHED: &str = "unmatched";

/// Labels of a finished request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    method: String,
    route: String,
    status: u16,
}

/// Labels of a request's latency.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Timed {
    method: String,
    route: String,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Refused {
    limit: &'static str,
}

/// The server's metrics, shared by the middleware that counts and the listener that
/// reports them.
#[derive(Clone)]
pub struct Metrics(Arc<Families>);

struct Families {
    registry: Registry,
    requests: Family<Answered, Counter>,
    latency: Family<Timed, Histogram>,
    rate_limited: Family<Refused, Counter>,
    shed: Counter,
    pool_open: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    sealer_pending: Gauge,
    sealer_lag: Gauge<f64, AtomicU64>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Latency buckets: 1 ms to about 8 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 14,
    ))
}

impl Metrics {
    /// Fresh metrics, every one registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("paddock");
        let requests = Family::<Answered, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            requests.clone(),
        );
        let latency = Family::<Timed, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to produce an answer, by route template and method",
            latency.clone(),
        );
        let rate_limited = Family::<Refused, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429 (or 503 when the shared counts are unreachable), by limit",
            rate_limited.clone(),
        );
        let shed = Counter::default();
        registry.register(
            "load_shed",
            "Requests answered 503 because every request slot was taken",
            shed.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let pool_open = gauge(
            &mut registry,
            "db_pool_connections_open",
            "Database connections open (idle or in use)",
        );
        let pool_idle = gauge(
            &mut registry,
            "db_pool_connections_idle",
            "Open database connections waiting for a request",
        );
        let pool_max = gauge(
            &mut registry,
            "db_pool_connections_max",
            "The database pool's ceiling",
        );
        let sealer_pending = gauge(
            &mut registry,
            "audit_unsealed_events",
            "Audit events committed but not yet sealed into their practice's hash chain",
        );
        let sealer_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "audit_sealer_lag_seconds",
            "Age of the oldest audit event not yet sealed (0 when none waits)",
            sealer_lag.clone(),
        );
        Self(Arc::new(Families {
            registry,
            requests,
            latency,
            rate_limited,
            shed,
            pool_open,
            pool_idle,
            pool_max,
            sealer_pending,
            sealer_lag,
        }))
    }

    /// Counts a request refused by `limit` (`per_address`, `secrets_per_address`,
    /// `per_credential`, `shared_unavailable`).
    pub(crate) fn rate_limited(&self, limit: &'static str) {
        self.0.rate_limited.get_or_create(&Refused { limit }).inc();
    }

    /// Counts a request shed for want of a slot.
    pub(crate) fn shed(&self) {
        self.0.shed.inc();
    }

    /// Reads what is measured at scrape time (the pool, the sealer's backlog), then
    /// encodes every metric in the OpenMetrics text format (which Prometheus reads).
    pub async fn render(&self, db: &Db) -> String {
        let pool = db.pool_status();
        self.0.pool_open.set(i64::from(pool.open));
        self.0.pool_idle.set(i64::from(pool.idle));
        self.0.pool_max.set(i64::from(pool.max));
        match db.sealer_backlog().await {
            Ok(backlog) => {
                self.0.sealer_pending.set(backlog.pending);
                let lag = backlog.oldest.map_or(0.0, |oldest| {
                    (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0
                });
                self.0.sealer_lag.set(lag);
            }
            // The last figures stay; the failure is the log's to tell.
            Err(error) => tracing::warn!(%error, "metrics: could not read the sealer's backlog"),
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.0.registry) {
            tracing::error!(%error, "metrics: could not encode");
        }
        text
    }
}

/// Counts every answer by its route template, method and status, and times it.
pub async fn count(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let timed = Timed { method, route };
    metrics
        .0
        .latency
        .get_or_create(&timed)
        .observe(started.elapsed().as_secs_f64());
    let answered = Answered {
        method: timed.method,
        route: timed.route,
        status: response.status().as_u16(),
    };
    metrics.0.requests.get_or_create(&answered).inc();
    response
}

/// The metrics listener's one route, `GET /metrics`; every other address is a 404.
pub fn router(metrics: Metrics, db: Db) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let metrics = metrics.clone();
                let db = db.clone();
                async move {
                    let text = metrics.render(&db).await;
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static(
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                            ),
                        )],
                        text,
                    )
                }
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND.into_response() })
}
