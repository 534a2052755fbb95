//! The message stores' part of the management API on the admin port (MI's
//! `/management/message-stores`), which makes a store used as a dead-letter channel
//! (`failMessagesStore`) something an operator can work with:
//!
//! - `GET /management/message-stores` — each store's name and size;
//! - `GET .../{name}` — one store; `GET .../{name}/messages?limit=N` — the first `N` (10,
//!   at most 100) messages, whole (headers, properties, body), in store order;
//! - `POST .../{name}/replay?to=STORE&limit=N` — moves the first `N` (all when absent)
//!   messages into `STORE` (usually the store they failed from), each acknowledged only
//!   after `STORE` took it;
//! - `DELETE .../{name}/messages?limit=N` — removes the first `N` (all when absent).
//!
//! Each works through the store's own leases, as a processor does: a message that a
//! processor holds at that moment is not seen, listing hands the messages back untouched,
//! and a replay or purge interrupted half-way loses nothing (what was not acknowledged
//! stays). A store whose processor keeps taking messages is better deactivated first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::{Lease, MessageStore};
use crate::admin::server::ManagementApi;
use crate::cause::Chain;
use crate::compiled::Compiled;
use crate::transports::http::body::{self, Body};

const PREFIX: &str = "/management/message-stores";
/// Messages listed when no `limit` is given, and the most one listing returns.
const DEFAULT_LIST: usize = 10;
const MAX_LIST: usize = 100;

/// The management API over the stores of the installed configuration.
pub struct StoresApi {
    current: Arc<ArcSwap<Compiled>>,
}

impl StoresApi {
    /// The API over the stores of whatever configuration `current` holds.
    pub fn new(current: Arc<ArcSwap<Compiled>>) -> Self {
        Self { current }
    }

    async fn answer(&self, method: &Method, path: &str, query: &str) -> (StatusCode, Value) {
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return (StatusCode::NOT_FOUND, json!({"error": "not found"}));
        };
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let params = query_params(query);
        let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
            None => None,
            Some(Ok(n)) if n > 0 => Some(n),
            Some(_) => return bad_request("limit must be a positive number"),
        };
        let compiled = self.current.load_full();
        let store = |name: &str| compiled.stores.get(name).cloned();
        match (method, parts.as_slice()) {
            (&Method::GET, []) => {
                let mut names: Vec<&String> = compiled.stores.keys().collect();
                names.sort();
                let mut list = Vec::with_capacity(names.len());
                for name in names {
                    list.push(summary(name, &compiled.stores[name]).await);
                }
                (StatusCode::OK, json!({"count": list.len(), "list": list}))
            }
            (&Method::GET, [name]) => match store(name) {
                Some(s) => (StatusCode::OK, summary(name, &s).await),
                None => not_found(name),
            },
            (&Method::GET, [name, "messages"]) => match store(name) {
                Some(s) => list(&*s, limit.unwrap_or(DEFAULT_LIST).min(MAX_LIST)).await,
                None => not_found(name),
            },
            (&Method::POST, [name, "replay"]) => {
                let Some(from) = store(name) else {
                    return not_found(name);
                };
                let Some(to_name) = params.get("to") else {
                    return bad_request("replay needs ?to=STORE: the store the messages go to");
                };
                let Some(to) = store(to_name) else {
                    return not_found(to_name);
                };
                if to_name == name {
                    return bad_request("a store cannot replay into itself");
                }
                drain(&*from, limit, Some(&*to)).await
            }
            (&Method::DELETE, [name, "messages"]) => match store(name) {
                Some(s) => drain(&*s, limit, None).await,
                None => not_found(name),
            },
            _ => (
                StatusCode::NOT_FOUND,
                json!({"error": "use GET /management/message-stores[/NAME[/messages]], POST /management/message-stores/NAME/replay?to=STORE or DELETE /management/message-stores/NAME/messages"}),
            ),
        }
    }
}

async fn summary(name: &str, store: &Arc<dyn MessageStore>) -> Value {
    match store.count().await {
        Ok(n) => json!({"name": name, "size": n}),
        Err(e) => json!({"name": name, "size": null, "error": e.to_string()}),
    }
}

/// The first `limit` messages, handed back untouched.
async fn list(store: &dyn MessageStore, limit: usize) -> (StatusCode, Value) {
    let mut leases: Vec<Lease> = Vec::with_capacity(limit);
    let mut failure = None;
    while leases.len() < limit {
        match store.next().await {
            Ok(Some(lease)) => leases.push(lease),
            Ok(None) => break,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let messages: Vec<Value> = leases.iter().map(describe).collect();
    for lease in &leases {
        if let Err(e) = store.release(lease).await {
            tracing::warn!(store = store.name(), id = %lease.message.id, error = %Chain(&e), "cannot hand a listed message back; it returns when this process restarts");
        }
    }
    match failure {
        Some(e) if messages.is_empty() => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": e.to_string()}),
        ),
        _ => (
            StatusCode::OK,
            json!({"count": messages.len(), "messages": messages}),
        ),
    }
}

fn describe(lease: &Lease) -> Value {
    let mut v =
        serde_json::to_value(&lease.message).unwrap_or_else(|e| json!({"error": e.to_string()}));
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "previousDeliveries".into(),
            json!(lease.previous_deliveries),
        );
        if let Ok(text) = std::str::from_utf8(&lease.message.body) {
            obj.insert("bodyText".into(), Value::String(text.to_string()));
        }
    }
    v
}

/// Takes up to `limit` messages (all when `None`) out of `from`: into `to` when given
/// (replay), else nowhere (purge). Each is acknowledged only once it is where it goes.
async fn drain(
    from: &dyn MessageStore,
    limit: Option<usize>,
    to: Option<&dyn MessageStore>,
) -> (StatusCode, Value) {
    let what = if to.is_some() { "replayed" } else { "purged" };
    let mut done = 0usize;
    while limit.is_none_or(|l| done < l) {
        let lease = match from.next().await {
            Ok(Some(lease)) => lease,
            Ok(None) => break,
            Err(e) => return partial(what, done, &e.to_string()),
        };
        if let Some(to) = to
            && let Err(e) = to.store(lease.message.clone()).await
        {
            let _ = from.release(&lease).await;
            return partial(what, done, &format!("{} refused a message: {e}", to.name()));
        }
        if let Err(e) = from.ack(&lease).await {
            // Replayed but still here: it would go twice, which the caller must hear.
            return partial(
                what,
                done + 1,
                &format!(
                    "message {} was {what} but stays in {}: {e}",
                    lease.message.id,
                    from.name()
                ),
            );
        }
        done += 1;
    }
    (StatusCode::OK, json!({ what: done }))
}

fn partial(what: &str, done: usize, error: &str) -> (StatusCode, Value) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ what: done, "error": error }),
    )
}

fn query_params(query: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn not_found(name: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"error": format!("no message store \"{name}\"")}),
    )
}

fn bad_request(message: &str) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, json!({ "error": message }))
}

impl ManagementApi for StoresApi {
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(async move {
            let query = req.uri().query().unwrap_or_default().to_string();
            let (status, value) = self.answer(req.method(), req.uri().path(), &query).await;
            let mut response = Response::new(body::full(value.to_string()));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        })
    }
}
