//! The mutating admission webhook: the API server sends each new pod of the namespaces the
//! MutatingWebhookConfiguration selects as an AdmissionReview over HTTPS; the answer admits
//! it, with a JSON Patch adding the runtime as a native sidecar when a sidecar
//! IntegrationRuntime of its namespace selects it ([`crate::sidecar`] decides).
//!
//! Every replica serves it (not only the leader): its plans come from the watch caches
//! each replica keeps. Until those are filled the webhook answers 503, which the API
//! server handles by the configuration's `failurePolicy` (`Ignore`: the pod is created
//! without a sidecar; `Fail`: its creation fails and its controller retries).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube::api::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use tokio::net::TcpListener;

use crate::certs::Serving;
use crate::config::OperatorConfig;
use crate::controller::Caches;
use crate::group::GroupKey;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::sidecar::{self, Decision, Plan};

/// The path the MutatingWebhookConfiguration names.
pub const PATH: &str = "/mutate-pods";
/// AdmissionReviews are the pod plus some metadata; a pod is far below this.
const MAX_REVIEW_BYTES: usize = 4 * 1024 * 1024;
/// A TLS handshake that takes longer is dropped (the API server's own timeout is shorter).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The sidecar plans of a namespace.
pub trait Plans: Send + Sync {
    /// Plans of the namespace's sidecar groups, by group name; `None` while unknown (the
    /// caches are not filled yet).
    fn plans(&self, namespace: &str) -> Option<Vec<Plan>>;
}

/// Plans from the operator's watch caches, once every kind is listed. A group's plan is
/// made (admission, bundle hash) once per version of its objects, not per pod.
pub struct FromCaches {
    /// Filled by the controller when it starts.
    pub caches: Arc<std::sync::OnceLock<Caches>>,
    /// Ready once every watched kind is listed.
    pub health: Arc<Health>,
    /// The operator's runtime defaults.
    pub config: Arc<OperatorConfig>,
    made: Mutex<HashMap<GroupKey, Made>>,
}

/// The last plan of a group, with the documents it was made from.
type Made = (Vec<serde_json::Value>, Option<Plan>);

impl FromCaches {
    /// Plans from these caches.
    pub fn new(
        caches: Arc<std::sync::OnceLock<Caches>>,
        health: Arc<Health>,
        config: Arc<OperatorConfig>,
    ) -> Self {
        Self {
            caches,
            health,
            config,
            made: Mutex::default(),
        }
    }
}

impl Plans for FromCaches {
    fn plans(&self, namespace: &str) -> Option<Vec<Plan>> {
        if !self.health.is_ready() {
            return None;
        }
        let groups = self.caches.get()?.sidecar_groups(namespace);
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.retain(|key, _| key.namespace != namespace || groups.iter().any(|g| g.key == *key));
        let mut plans = Vec::new();
        for group in groups {
            let documents: Vec<serde_json::Value> =
                group.all().map(|a| a.document.clone()).collect();
            let plan = match made.get(&group.key) {
                Some((before, plan)) if *before == documents => plan.clone(),
                _ => {
                    let plan = sidecar::plan(&group, &self.config.defaults);
                    made.insert(group.key.clone(), (documents, plan.clone()));
                    plan
                }
            };
            plans.extend(plan);
        }
        Some(plans)
    }
}

/// The answer to one AdmissionReview.
#[derive(Debug)]
pub struct Reply {
    /// 200, or the error the failure policy handles.
    pub status: StatusCode,
    /// The AdmissionReview (JSON), or the error's text.
    pub body: Vec<u8>,
    /// The metrics label: `injected`, `unchanged`, `unavailable`, `invalid` or `error`.
    pub result: &'static str,
}

/// Answers one AdmissionReview body.
pub fn review(body: &[u8], plans: &dyn Plans) -> Reply {
    let reply = |status, body, result| Reply {
        status,
        body,
        result,
    };
    let encode = |review: AdmissionReview<DynamicObject>| {
        let mut value = serde_json::to_value(&review).unwrap_or_default();
        // kube-rs writes the patch (Go's `[]byte`) as an array of numbers; base64 text is
        // the form every API server version documents.
        if let Some(patch) = value["response"].get_mut("patch")
            && let Some(numbers) = patch.as_array()
        {
            let bytes: Vec<u8> = numbers
                .iter()
                .filter_map(|n| n.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            *patch =
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        serde_json::to_vec(&value).unwrap_or_default()
    };
    let parsed: Result<AdmissionReview<DynamicObject>, _> = serde_json::from_slice(body);
    let request: AdmissionRequest<DynamicObject> =
        match parsed.map_err(|e| e.to_string()).and_then(|r| {
            r.try_into()
                .map_err(|e: kube::core::admission::ConvertAdmissionReviewError| e.to_string())
        }) {
            Ok(request) => request,
            Err(e) => {
                let response = AdmissionResponse::invalid(format!("not an AdmissionReview: {e}"));
                return reply(
                    StatusCode::BAD_REQUEST,
                    encode(response.into_review()),
                    "invalid",
                );
            }
        };
    let response = AdmissionResponse::from(&request);
    let pod = match (&request.operation, &request.object) {
        (Operation::Create, Some(pod)) if request.kind.kind == "Pod" => pod,
        // Only pod creations are sent by the chart's configuration; anything else passes.
        _ => return reply(StatusCode::OK, encode(response.into_review()), "unchanged"),
    };
    let namespace = request.namespace.clone().unwrap_or_default();
    let Some(plans) = plans.plans(&namespace) else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            b"the operator has not listed the IntegrationRuntimes yet\n".to_vec(),
            "unavailable",
        );
    };
    let pod = serde_json::to_value(pod).unwrap_or_default();
    let name = pod["metadata"]["name"]
        .as_str()
        .or_else(|| pod["metadata"]["generateName"].as_str())
        .unwrap_or_default()
        .to_string();
    match sidecar::decide(&pod, &plans) {
        Decision::Leave(why) => {
            tracing::debug!(namespace, pod = name, why, "pod admitted unchanged");
            reply(StatusCode::OK, encode(response.into_review()), "unchanged")
        }
        Decision::Inject {
            key,
            patch,
            warnings,
        } => {
            let with_patch = serde_json::from_value(patch)
                .map_err(|e| e.to_string())
                .and_then(|patch| {
                    response
                        .clone()
                        .with_patch(patch)
                        .map_err(|e| e.to_string())
                });
            match with_patch {
                Ok(mut response) => {
                    tracing::info!(namespace, pod = name, group = %key.name, "sidecar injected");
                    if !warnings.is_empty() {
                        response.warnings = Some(warnings);
                    }
                    reply(StatusCode::OK, encode(response.into_review()), "injected")
                }
                Err(e) => {
                    tracing::error!(namespace, pod = name, error = %e, "sidecar patch not serializable");
                    reply(StatusCode::INTERNAL_SERVER_ERROR, e.into_bytes(), "error")
                }
            }
        }
    }
}

async fn respond(
    request: Request<Incoming>,
    plans: Arc<dyn Plans>,
    metrics: Arc<Metrics>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Vec<u8>, json: bool| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        let content_type = if json {
            "application/json"
        } else {
            "text/plain"
        };
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        response
    };
    if request.uri().path() != PATH {
        return reply(StatusCode::NOT_FOUND, b"not found\n".to_vec(), false);
    }
    if request.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            b"POST only\n".to_vec(),
            false,
        );
    }
    let body = match Limited::new(request.into_body(), MAX_REVIEW_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{e}\n").into_bytes(),
                false,
            );
        }
    };
    let answer = review(&body, plans.as_ref());
    metrics.admission(answer.result);
    let json = answer.status == StatusCode::OK || answer.status == StatusCode::BAD_REQUEST;
    reply(answer.status, answer.body, json)
}

/// Serves the webhook over TLS until the process ends. Each connection takes the
/// certificate served at that moment, so a renewed one is used without a restart.
pub async fn serve(
    listener: TcpListener,
    serving: Arc<Serving>,
    plans: Arc<dyn Plans>,
    metrics: Arc<Metrics>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a webhook connection failed");
                continue;
            }
        };
        let Some(config) = serving.current() else {
            tracing::warn!(%peer, "webhook connection refused: no certificate loaded yet");
            continue;
        };
        let (plans, metrics) = (plans.clone(), metrics.clone());
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "webhook TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = service_fn(move |request: Request<Incoming>| {
                let (plans, metrics) = (plans.clone(), metrics.clone());
                async move { Ok::<_, Infallible>(respond(request, plans, metrics).await) }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests;
