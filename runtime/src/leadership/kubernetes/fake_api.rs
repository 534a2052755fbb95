//! A fake API server that keeps Leases in memory, behind a real `kube::Client`: enough of
//! `coordination.k8s.io/v1` (get, create, strategic-merge and apply patches) for
//! kube-lease-manager, with server-side apply's conflict when another identity holds the
//! Lease, and a switch that makes every call fail as an unreachable API server would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde_json::{Map, Value, json};

/// The fake's shared state; clone it to watch or break the server.
#[derive(Clone, Default)]
pub struct FakeApi {
    leases: Arc<Mutex<HashMap<String, Map<String, Value>>>>,
    down: Arc<AtomicBool>,
}

const PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

impl FakeApi {
    /// A client whose every request this fake answers.
    pub fn client(&self) -> Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req: Request<Body>| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.answer(req).await) }
        });
        Client::new(service, "default")
    }

    /// Every call fails (503) while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The holder of Lease `name`, if any.
    pub fn holder(&self, name: &str) -> Option<String> {
        let leases = self.leases.lock().unwrap();
        leases
            .iter()
            .find(|(k, _)| k.ends_with(&format!("/{name}")))
            .and_then(|(_, spec)| spec.get("holderIdentity"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        if self.down.load(Ordering::SeqCst) {
            return status(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable");
        }
        let (parts, body) = req.into_parts();
        let body: Bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return status(StatusCode::BAD_REQUEST, "BadRequest"),
        };
        let Some(rest) = parts.uri.path().strip_prefix(PREFIX) else {
            return status(StatusCode::NOT_FOUND, "NotFound");
        };
        // rest: "{ns}/leases" or "{ns}/leases/{name}"
        let segments: Vec<&str> = rest.split('/').collect();
        let apply = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/apply-patch"));
        let mut leases = self.leases.lock().unwrap();
        match (&parts.method, segments.as_slice()) {
            (&Method::POST, [ns, "leases"]) => {
                let lease: Value = serde_json::from_slice(&body).unwrap_or_default();
                let name = lease["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{ns}/{name}");
                if leases.contains_key(&key) {
                    return status(StatusCode::CONFLICT, "AlreadyExists");
                }
                leases.insert(key.clone(), Map::new());
                ok(StatusCode::CREATED, ns, name, &leases[&key])
            }
            (&Method::GET, [ns, "leases", name]) => match leases.get(&format!("{ns}/{name}")) {
                Some(spec) => ok(StatusCode::OK, ns, name, spec),
                None => status(StatusCode::NOT_FOUND, "NotFound"),
            },
            (&Method::PATCH, [ns, "leases", name]) => {
                let Some(spec) = leases.get_mut(&format!("{ns}/{name}")) else {
                    return status(StatusCode::NOT_FOUND, "NotFound");
                };
                let patch: Value = serde_json::from_slice(&body).unwrap_or_default();
                let Some(changes) = patch["spec"].as_object() else {
                    return ok(StatusCode::OK, ns, name, spec);
                };
                // Server-side apply without force: another manager owns holderIdentity.
                if apply
                    && let (Some(held), Some(wanted)) =
                        (spec.get("holderIdentity"), changes.get("holderIdentity"))
                    && held != wanted
                {
                    return status(StatusCode::CONFLICT, "Conflict");
                }
                for (k, v) in changes {
                    if v.is_null() {
                        spec.remove(k);
                    } else {
                        spec.insert(k.clone(), v.clone());
                    }
                }
                ok(StatusCode::OK, ns, name, spec)
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        }
    }
}

fn ok(code: StatusCode, ns: &str, name: &str, spec: &Map<String, Value>) -> Response<Body> {
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
        "spec": spec,
    });
    respond(code, &lease)
}

fn status(code: StatusCode, reason: &str) -> Response<Body> {
    let status = json!({
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "message": reason,
        "reason": reason,
        "code": code.as_u16(),
    });
    respond(code, &status)
}

fn respond(code: StatusCode, value: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(value.to_string().into_bytes()));
    *response.status_mut() = code;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
