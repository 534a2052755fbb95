//! The operator's HTTP port: `/livez`, `/readyz` (every watch has listed once and, with the
//! webhook on, its serving certificate is loaded) and `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::certs::Serving;
use crate::metrics::{self, Metrics};

/// What the probes report.
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    webhook: std::sync::OnceLock<Arc<Serving>>,
}

impl Health {
    /// Marks the operator ready: its caches hold every object.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Whether the caches are filled.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Readiness waits for this webhook's certificate too: a replica that cannot answer the
    /// API server over TLS gets no webhook traffic from the Service, and shows as not ready.
    pub fn watch_webhook(&self, serving: Arc<Serving>) {
        let _ = self.webhook.set(serving);
    }

    fn certificate_missing(&self) -> bool {
        self.webhook.get().is_some_and(|s| s.current().is_none())
    }
}

/// Answers one request.
pub fn respond(path: &str, health: &Health, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/livez" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if !health.is_ready() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "waiting for the first list of every watched kind\n".to_string(),
        ),
        "/readyz" if health.certificate_missing() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the webhook has no serving certificate yet (see the log)\n".to_string(),
        ),
        "/readyz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/metrics" => (StatusCode::OK, metrics::CONTENT_TYPE, metrics.encode()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

/// Serves the port until the process ends.
pub async fn serve(listener: TcpListener, health: Arc<Health>, metrics: Arc<Metrics>) {
    loop {
        let (stream, _peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection on the health port failed");
                continue;
            }
        };
        let (health, metrics) = (health.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(request.uri().path(), &health, &metrics);
                async move { Ok::<_, Infallible>(response) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "health connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_waits_for_the_caches_and_liveness_does_not() {
        let (health, metrics) = (Health::default(), Metrics::new());
        assert_eq!(respond("/livez", &health, &metrics).status(), 200);
        assert_eq!(respond("/readyz", &health, &metrics).status(), 503);
        health.set_ready();
        assert_eq!(respond("/readyz", &health, &metrics).status(), 200);
        assert_eq!(respond("/metrics", &health, &metrics).status(), 200);
        assert_eq!(respond("/nope", &health, &metrics).status(), 404);
    }

    #[test]
    fn with_the_webhook_on_readiness_also_waits_for_its_certificate() {
        let (health, metrics) = (Health::default(), Metrics::new());
        health.set_ready();
        let serving = Arc::new(Serving::default());
        health.watch_webhook(serving.clone());
        assert_eq!(respond("/readyz", &health, &metrics).status(), 503);
        assert!(health.is_ready(), "reconciling does not wait for it");
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let m = crate::certs::renew(
            None,
            crate::certs::Renewal::All,
            &["127.0.0.1".to_string()],
            now,
        )
        .unwrap();
        serving.load(m.cert.as_bytes(), m.key.as_bytes()).unwrap();
        assert_eq!(respond("/readyz", &health, &metrics).status(), 200);
    }
}
