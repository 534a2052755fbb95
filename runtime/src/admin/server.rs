//! The admin listener's routes: `GET /livez`, `GET /readyz`, `GET /metrics`, and everything
//! under `/management/` handed to a [`ManagementApi`] when one is installed.
//!
//! `ferry run` creates one [`AdminState`], marks it ready once the first configuration
//! compiled and the API listener is serving, and marks it shutting down before draining, so
//! Kubernetes stops routing to a pod before its connections close.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tokio::net::TcpListener;

use super::metrics::{CONTENT_TYPE, Metrics};
use crate::transports::http::body::{self, Body};
use crate::transports::http::server::{self, Handler, Peer, ServerOptions, Shutdown};

/// The management API, mounted under `/management/` on the admin port.
///
/// Object-safe (boxed future) so the runtime can install any implementation at startup.
pub trait ManagementApi: Send + Sync + 'static {
    /// Answers a request whose path starts with `/management/` (or is `/management`).
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>>;
}

/// Several management APIs under one `/management/`, each at its own path prefix (the
/// processors at `/management/message-processors`, the stores at
/// `/management/message-stores`).
pub struct Mounts(pub Vec<(&'static str, Arc<dyn ManagementApi>)>);

impl ManagementApi for Mounts {
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        let path = req.uri().path();
        let mounted = self.0.iter().find(|(prefix, _)| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        match mounted {
            Some((_, api)) => api.handle(req),
            None => {
                let prefixes: Vec<&str> = self.0.iter().map(|(p, _)| *p).collect();
                let body = serde_json::json!({"error": format!("nothing at {path}; the management API serves {}", prefixes.join(", "))});
                Box::pin(async move {
                    let mut response = Response::new(body::full(body.to_string()));
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    response
                })
            }
        }
    }
}

/// What the admin port reports on, shared with the rest of the runtime.
pub struct AdminState {
    /// True while the runtime serves a compiled configuration and is not shutting down.
    /// Prefer [`AdminState::set_ready`] and [`AdminState::set_shutting_down`], which also
    /// keep the reason `/readyz` gives.
    pub ready: AtomicBool,
    shutting_down: AtomicBool,
    /// A data source with `readinessCheck` cannot reach its database.
    data_down: AtomicBool,
    /// The registry `/metrics` exposes.
    pub metrics: Arc<Metrics>,
    management: Option<Arc<dyn ManagementApi>>,
    /// Where the bearer token management writes need comes from; `None`: read-only.
    write_token: Option<TokenSource>,
}

/// Where the management token comes from.
#[derive(Clone)]
enum TokenSource {
    /// A file (a mounted Secret), read on each write.
    File(std::path::PathBuf),
    /// The value itself (`FERRY_MANAGEMENT_TOKEN` from a Secret), fixed at start.
    Value(String),
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("ready", &self.ready)
            .field("shutting_down", &self.shutting_down)
            .field("management", &self.management.is_some())
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// A state that is not ready yet, exposing `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            ready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            data_down: AtomicBool::new(false),
            metrics,
            management: None,
            write_token: None,
        }
    }

    /// Allows management writes (activate, deactivate, trigger, log levels, replays) to
    /// requests with `Authorization: Bearer <the token in file>`. The file is read on each
    /// write, so a rotated Secret applies without a restart.
    pub fn with_write_token(mut self, file: std::path::PathBuf) -> Self {
        self.write_token = Some(TokenSource::File(file));
        self
    }

    /// Allows management writes to requests with `Authorization: Bearer <token>`; an empty
    /// token leaves the API read-only.
    pub fn with_write_token_value(mut self, token: &str) -> Self {
        let token = token.trim();
        if !token.is_empty() {
            self.write_token = Some(TokenSource::Value(token.to_string()));
        }
        self
    }

    /// The refusal of `req`, a management write, or `None` when it may go ahead: 403 when
    /// writes are off or the token is wrong, 401 when none is given.
    fn refuse_write(&self, req: &Request<Body>) -> Option<Response<Body>> {
        let file = match &self.write_token {
            None => {
                return Some(json_error(
                    StatusCode::FORBIDDEN,
                    "the management API is read-only: start ferry with --management-token-file (or FERRY_MANAGEMENT_TOKEN) to allow changes",
                ));
            }
            Some(TokenSource::Value(token)) => return check_bearer(req, token),
            Some(TokenSource::File(file)) => file,
        };
        let expected = match std::fs::read_to_string(file) {
            Ok(token) if !token.trim().is_empty() => token.trim().to_string(),
            Ok(_) | Err(_) => {
                tracing::warn!(file = %file.display(), "cannot read the management token file (or it is empty); refusing management writes");
                return Some(json_error(
                    StatusCode::FORBIDDEN,
                    "management writes are refused: the token file cannot be read",
                ));
            }
        };
        check_bearer(req, &expected)
    }

    /// Installs the management API under `/management/`.
    pub fn with_management(mut self, api: Arc<dyn ManagementApi>) -> Self {
        self.management = Some(api);
        self
    }

    /// Marks the runtime ready: a configuration is compiled and the API listener serves.
    pub fn set_ready(&self) {
        if !self.shutting_down.load(Ordering::SeqCst) {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// Marks the runtime as draining; readiness fails from now on.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.ready.store(false, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.data_down.load(Ordering::SeqCst)
    }

    /// Records whether a data source that gates readiness (`readinessCheck`) is down.
    pub fn set_data_down(&self, down: bool) {
        self.data_down.store(down, Ordering::SeqCst);
    }

    /// Why the runtime is not ready, or `None` when it is.
    fn not_ready_reason(&self) -> Option<&'static str> {
        if self.is_ready() {
            None
        } else if self.shutting_down.load(Ordering::SeqCst) {
            Some("shutting down: finishing in-flight requests")
        } else if self.data_down.load(Ordering::SeqCst) {
            Some("a data source with readinessCheck cannot reach its database")
        } else {
            Some("starting: no configuration is serving yet")
        }
    }
}

/// Serves the admin routes on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AdminState>,
    shutdown: impl Future<Output = ()>,
) -> Shutdown {
    let opts = ServerOptions {
        max_header_bytes: server::READ_BUFFER_MAX,
        // Probes and scrapes carry no bodies; the management API gets a modest allowance.
        max_body_bytes: 1024 * 1024,
        header_read_timeout: Some(Duration::from_secs(10)),
        graceful_timeout: Duration::from_secs(5),
        keep_alive: true,
        // Probes must answer when the HTTP listener is at its limit.
        max_concurrent_requests: None,
    };
    server::serve(listener, Arc::new(AdminHandler { state }), opts, shutdown).await
}

/// Routes admin requests; see the module docs.
#[derive(Debug)]
pub struct AdminHandler {
    state: Arc<AdminState>,
}

impl AdminHandler {
    /// A handler over `state` (for embedding the admin routes in another listener).
    pub fn new(state: Arc<AdminState>) -> Self {
        Self { state }
    }
}

impl Handler for AdminHandler {
    async fn handle(&self, req: Request<Body>, _peer: Peer) -> Response<Body> {
        let path = req.uri().path();
        if path == "/management" || path.starts_with("/management/") {
            let Some(api) = &self.state.management else {
                return text(StatusCode::NOT_FOUND, "no management API is installed");
            };
            // Reading is open (as /metrics is); changing anything needs the token.
            if !matches!(*req.method(), Method::GET | Method::HEAD)
                && let Some(refused) = self.state.refuse_write(&req)
            {
                return refused;
            }
            return api.handle(req).await;
        }
        let probe = matches!(path, "/livez" | "/readyz" | "/metrics");
        if probe && !matches!(*req.method(), Method::GET | Method::HEAD) {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "use GET");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match path {
            "/livez" => text(StatusCode::OK, "ok"),
            "/readyz" => match self.state.not_ready_reason() {
                None => text(StatusCode::OK, "ready"),
                Some(reason) => text(StatusCode::SERVICE_UNAVAILABLE, reason),
            },
            "/metrics" => match self.state.metrics.encode() {
                Ok(exposition) => {
                    let mut response = Response::new(body::full(exposition));
                    response
                        .headers_mut()
                        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
                    response
                }
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encoding the metrics failed",
                ),
            },
            _ => text(StatusCode::NOT_FOUND, "not found"),
        }
    }
}

/// The refusal of `req` unless it carries `Authorization: Bearer <expected>`.
fn check_bearer(req: &Request<Body>, expected: &str) -> Option<Response<Body>> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        None => {
            let mut response = json_error(
                StatusCode::UNAUTHORIZED,
                "management writes need Authorization: Bearer <token>",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ferry-management\""),
            );
            Some(response)
        }
        Some(token) if same(token.as_bytes(), expected.as_bytes()) => None,
        Some(_) => Some(json_error(
            StatusCode::FORBIDDEN,
            "the management token is not valid",
        )),
    }
}

/// Compares two tokens in time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON `{"error": message}` answer.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    let value = serde_json::json!({ "error": message });
    let mut response = Response::new(body::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn text(status: StatusCode, message: &'static str) -> Response<Body> {
    let mut response = Response::new(body::full(message));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests;
