//! A mocked Kubernetes API server on a tower-test channel: it records every request and
//! answers like the API server would — server-side apply echoes the object (a Deployment
//! with a status), deletes answer 404 for what does not exist, lists serve seeded objects,
//! watches stay open (or fail once with 410 Gone, to force a relist), discovery of an API
//! group version serves what was seeded and 404 otherwise.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The query string.
    pub query: String,
    /// The body, parsed (null when empty).
    pub body: Value,
}

impl Seen {
    /// `METHOD /path`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The fake server's state; tests seed and inspect it.
#[derive(Default)]
pub struct State {
    /// Applied objects by path.
    pub objects: HashMap<String, Value>,
    /// Every request, in order.
    pub seen: Vec<Seen>,
    /// (method, path suffix, status code) answered instead of the normal response.
    pub failures: Vec<(String, String, u16)>,
    /// `readyReplicas` of every applied Deployment.
    pub ready_replicas: i32,
    /// Items served by lists, by resource plural (`sequences`).
    pub lists: HashMap<String, Vec<Value>>,
    /// API group versions served beyond the built-in ones (`keda.sh/v1alpha1`), with their
    /// plurals: discovery (`GET /apis/<group>/<version>`) answers 404 for the others.
    pub discovery: HashMap<String, Vec<String>>,
    /// Plurals whose next watch fails with 410 Gone.
    pub gone_once: BTreeSet<String>,
    /// Watches held open.
    parked: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

/// The shared state.
pub type Fake = Arc<Mutex<State>>;

/// A client talking to a new fake server.
pub fn client() -> (Client, Fake) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let state: Fake = Arc::default();
    let server = state.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or_default().to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let mut state = server.lock().unwrap();
            let Some((code, text)) = answer(&mut state, seen) else {
                state.parked.push(send);
                continue;
            };
            let response = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(text.into_bytes()))
                .unwrap();
            send.send_response(response);
        }
    });
    (Client::new(service, "default"), state)
}

/// A `Status` failure body.
pub fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code})
}

/// Whether a path names one object (`.../namespaces/ns/secrets/x`, `.../things/x`) rather
/// than a collection.
fn names_one(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let rest = match parts.first() {
        Some(&"api") => parts.get(2..),
        Some(&"apis") => parts.get(3..),
        _ => None,
    }
    .unwrap_or_default();
    match rest {
        ["namespaces", _, _, _, ..] => true,
        ["namespaces", ..] => false,
        [_, _, ..] => true,
        _ => false,
    }
}

/// The answer to one request; `None` keeps it open (a watch).
fn answer(state: &mut State, seen: Seen) -> Option<(u16, String)> {
    state.seen.push(seen.clone());
    let failure = state
        .failures
        .iter()
        .find(|(m, p, _)| *m == seen.method && seen.path.ends_with(p.as_str()))
        .map(|f| f.2);
    if let Some(code) = failure {
        let reason = if code == 409 {
            "Conflict"
        } else {
            "InternalError"
        };
        return Some((code, status(code, reason).to_string()));
    }
    if seen.method == "GET"
        && let Some(group_version) = seen.path.strip_prefix("/apis/")
        && group_version.matches('/').count() == 1
    {
        let Some(plurals) = state.discovery.get(group_version) else {
            // As kube-apiserver answers a group version it does not serve: Go's plain-text
            // "404 page not found", no Status object (found on a real 1.36 API server).
            return Some((404, "404 page not found\n".to_string()));
        };
        let resources: Vec<Value> = plurals
            .iter()
            .map(|p| {
                json!({"name": p, "singularName": "", "namespaced": true, "kind": "",
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]})
            })
            .collect();
        let list = json!({"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": group_version, "resources": resources});
        return Some((200, list.to_string()));
    }
    let plural = seen.path.rsplit('/').next().unwrap_or_default().to_string();
    let (code, body) = match seen.method.as_str() {
        "GET" if seen.query.contains("watch=true") => {
            if !state.gone_once.remove(&plural) {
                return None;
            }
            let event = json!({"type": "ERROR", "object": status(410, "Expired")});
            return Some((200, format!("{event}\n")));
        }
        "GET" if names_one(&seen.path) => match state.objects.get(&seen.path) {
            Some(object) => (200, object.clone()),
            None => (404, status(404, "NotFound")),
        },
        "GET" => {
            let items = state.lists.get(&plural).cloned().unwrap_or_default();
            (
                200,
                json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        "PATCH" if seen.path.ends_with("/status") => {
            let name = seen.path.rsplit('/').nth(1).unwrap_or_default().to_string();
            let kind = seen.path.rsplit('/').nth(2).unwrap_or_default().to_string();
            (
                200,
                json!({"apiVersion": "ferry.dev/v1alpha1", "kind": kind,
                "metadata": {"name": name, "namespace": "ns"}, "status": seen.body["status"]}),
            )
        }
        "PATCH" => {
            let mut object = seen.body.clone();
            object["metadata"]["generation"] = json!(1);
            if object["kind"] == "Deployment" {
                let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
                object["status"] = json!({"observedGeneration": 1, "replicas": replicas,
                    "updatedReplicas": replicas, "readyReplicas": state.ready_replicas,
                    "availableReplicas": state.ready_replicas});
            }
            state.objects.insert(seen.path.clone(), object.clone());
            (200, object)
        }
        "POST" => {
            if let Some(name) = seen.body["metadata"]["name"].as_str() {
                let path = format!("{}/{name}", seen.path);
                state.objects.insert(path, seen.body.clone());
            }
            (201, seen.body.clone())
        }
        "PUT" => {
            state.objects.insert(seen.path.clone(), seen.body.clone());
            (200, seen.body.clone())
        }
        "DELETE" => match state.objects.remove(&seen.path) {
            Some(object) => (200, object),
            None => (404, status(404, "NotFound")),
        },
        _ => (405, status(405, "MethodNotAllowed")),
    };
    Some((code, body.to_string()))
}
