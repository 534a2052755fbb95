//! The artifacts' part of the management API on the admin port, modelled on Micro
//! Integrator's (`/management/apis`, `/management/proxy-services`, `/management/sequences`,
//! `/management/endpoints`, `/management/tasks`, `/management/local-entries`,
//! `/management/templates`, `/management/data-services`, `/management/logging`), beside the
//! stores', processors' and inbound endpoints' own parts:
//!
//! - `GET PREFIX` lists (`{"count": N, "list": [...]}`), `GET PREFIX/NAME` describes one: the
//!   summary, its run-time state where it has one, and the resource as loaded;
//! - `POST /management/endpoints/NAME/activate|deactivate` (MI's endpoint `active` /
//!   `inactive`): a deactivated endpoint fails every call as a suspended one, at once;
//! - `POST /management/tasks/NAME/trigger` runs a scheduled task once now, on this replica;
//! - `GET /management/logging` shows the log filter, `PUT` or `PATCH` with
//!   `{"loggerName": "ferry::log", "loggingLevel": "debug"}` (MI's body) or
//!   `{"filter": "info,ferry::log=debug"}` changes it at run time.
//!
//! Writes pass the admin server's token check first ([`super::server`]). Everything reads
//! the configuration installed at the moment of the request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ferry_api::resources::Resource;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::compiled::Compiled;
use crate::tasks::runner::Tasks;
use crate::tasks::{Injection, Schedule};
use crate::transports::http::body::{self, Body};

/// The kinds served here: path prefix, the kind listed, what a list item shows.
const KINDS: [(&str, &str); 8] = [
    ("/management/apis", "IntegrationAPI"),
    ("/management/proxy-services", "ProxyService"),
    ("/management/sequences", "Sequence"),
    ("/management/endpoints", "Endpoint"),
    ("/management/tasks", "ScheduledTask"),
    ("/management/local-entries", "LocalEntry"),
    ("/management/templates", "Template"),
    ("/management/data-services", "DataService"),
];

/// Where the logging part is mounted.
pub const LOGGING: &str = "/management/logging";

/// The prefixes this API answers, for mounting.
pub fn prefixes() -> impl Iterator<Item = &'static str> {
    KINDS
        .iter()
        .map(|(p, _)| *p)
        .chain(std::iter::once(LOGGING))
}

/// The management API over the installed artifacts.
pub struct ArtifactsApi {
    current: Arc<ArcSwap<Compiled>>,
    tasks: Arc<Tasks>,
}

impl ArtifactsApi {
    /// The API over whatever configuration `current` holds; tasks are triggered through
    /// `tasks`.
    pub fn new(current: Arc<ArcSwap<Compiled>>, tasks: Arc<Tasks>) -> Self {
        Self { current, tasks }
    }

    async fn answer(&self, req: Request<Body>) -> (StatusCode, Value) {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        if let Some(rest) = path.strip_prefix(LOGGING) {
            return logging(&method, rest, req).await;
        }
        let Some((prefix, kind)) = KINDS.iter().find(|(p, _)| {
            path.strip_prefix(p)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        }) else {
            return not_found(format!("nothing at {path}"));
        };
        let rest = &path[prefix.len()..];
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let compiled = self.current.load_full();
        match (&method, parts.as_slice()) {
            (&Method::GET, []) => {
                let list: Vec<Value> = compiled
                    .catalog
                    .iter()
                    .filter(|r| r.kind() == *kind)
                    .map(|r| summary(&compiled, r))
                    .collect();
                (StatusCode::OK, json!({"count": list.len(), "list": list}))
            }
            (&Method::GET, [name]) => match find(&compiled, kind, name) {
                Some(resource) => {
                    let mut out = summary(&compiled, resource);
                    out["resource"] = serde_json::to_value(resource).unwrap_or(Value::Null);
                    (StatusCode::OK, out)
                }
                None => not_found(format!("no {kind} \"{name}\" is installed")),
            },
            (&Method::POST, [name, action @ ("activate" | "deactivate")])
                if *kind == "Endpoint" =>
            {
                match compiled.endpoints.get(*name) {
                    Some(endpoint) => {
                        endpoint.set_active(*action == "activate");
                        tracing::info!(endpoint = %name, action, "endpoint changed through the management API");
                        (StatusCode::OK, endpoint.state_json())
                    }
                    None => not_found(format!("no Endpoint \"{name}\" is installed")),
                }
            }
            (&Method::POST, [name, "trigger"]) if *kind == "ScheduledTask" => {
                if self.tasks.trigger(compiled.clone(), name) {
                    (
                        StatusCode::ACCEPTED,
                        json!({"name": name, "triggered": true}),
                    )
                } else {
                    not_found(format!("no ScheduledTask \"{name}\" is installed"))
                }
            }
            _ => {
                let writes = match *kind {
                    "Endpoint" => format!(" or POST {prefix}/NAME/activate|deactivate"),
                    "ScheduledTask" => format!(" or POST {prefix}/NAME/trigger"),
                    _ => String::new(),
                };
                (
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("use GET {prefix}[/NAME]{writes}")}),
                )
            }
        }
    }
}

impl crate::admin::server::ManagementApi for ArtifactsApi {
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(async move {
            let (status, value) = self.answer(req).await;
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

fn not_found(message: String) -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, json!({ "error": message }))
}

/// The resource of `kind` named `name` (or with that Synapse name).
fn find<'a>(compiled: &'a Compiled, kind: &str, name: &str) -> Option<&'a Resource> {
    compiled
        .catalog
        .iter()
        .find(|r| r.kind() == kind && (r.name() == name || r.synapse_name() == Some(name)))
}

/// What a list shows of one artifact: its name, the fields that identify it, and its
/// run-time state.
fn summary(compiled: &Compiled, resource: &Resource) -> Value {
    let spec = serde_json::to_value(resource)
        .ok()
        .and_then(|mut v| v.get_mut("spec").map(Value::take))
        .unwrap_or(Value::Null);
    let name = resource.name();
    let mut out = json!({ "name": name });
    if let Some(synapse) = resource.synapse_name() {
        out["synapseName"] = json!(synapse);
    }
    match resource {
        Resource::IntegrationApi(_) => {
            out["context"] = spec["context"].clone();
            if !spec["version"].is_null() {
                out["version"] = spec["version"].clone();
            }
            let resources: Vec<Value> = spec["resources"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|r| {
                            json!({
                                "methods": r["methods"],
                                "path": if r["uriTemplate"].is_null() { r["urlMapping"].clone() } else { r["uriTemplate"].clone() },
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            out["resources"] = Value::Array(resources);
        }
        Resource::ProxyService(_) => {
            out["transports"] = spec["transports"].clone();
        }
        Resource::Sequence(_) => {
            out["mediators"] = json!(spec["mediators"].as_array().map_or(0, Vec::len));
        }
        Resource::Endpoint(_) => {
            let shown = resource.display_name();
            if let Some(endpoint) = compiled
                .endpoints
                .get(name)
                .or_else(|| compiled.endpoints.get(shown))
            {
                let state = endpoint.state_json();
                if let Value::Object(fields) = state {
                    for (k, v) in fields {
                        if k != "name" {
                            out[k] = v;
                        }
                    }
                }
            }
        }
        Resource::ScheduledTask(_) => {
            let shown = resource.display_name();
            if let Some(task) = compiled
                .tasks
                .iter()
                .find(|t| &*t.name == name || &*t.name == shown)
            {
                out["schedule"] = json!(match &task.schedule {
                    Schedule::Interval {
                        every,
                        count: Some(n),
                    } => format!("every {} ms, {n} times", every.as_millis()),
                    Schedule::Interval { every, count: None } =>
                        format!("every {} ms", every.as_millis()),
                    Schedule::Cron(cron) => format!("cron {}", cron.source()),
                    Schedule::Once => "once".to_string(),
                });
                out["target"] = match &task.inject {
                    Injection::Sequence(id) => json!({
                        "sequence": compiled.sequence(*id).name.as_deref().unwrap_or("?")
                    }),
                    Injection::Api { method, path } => {
                        json!({"api": format!("{method} {path}")})
                    }
                };
            }
        }
        _ => {}
    }
    out
}

/// `/management/logging`: the filter, and changing it.
async fn logging(method: &Method, rest: &str, req: Request<Body>) -> (StatusCode, Value) {
    use crate::telemetry::log_level::{self, LogLevelError};
    if !rest.is_empty() && rest != "/" {
        return not_found(format!("use GET, PUT or PATCH {LOGGING}"));
    }
    match *method {
        Method::GET => match log_level::current() {
            Some(filter) => (StatusCode::OK, json!({ "filter": filter })),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": LogLevelError::Unavailable.to_string()}),
            ),
        },
        Method::PUT | Method::PATCH => {
            let bytes = match body::read_body_limited(req.into_body(), 64 * 1024).await {
                Ok(b) => b,
                Err(e) => {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({"error": format!("cannot read the body: {e}")}),
                    );
                }
            };
            let Ok(wanted) = serde_json::from_slice::<Value>(&bytes) else {
                return (
                    StatusCode::BAD_REQUEST,
                    json!({"error": "send JSON: {\"loggerName\": \"ferry::log\", \"loggingLevel\": \"debug\"} or {\"filter\": \"...\"}"}),
                );
            };
            let result = match (
                wanted["filter"].as_str(),
                wanted["loggerName"].as_str(),
                wanted["loggingLevel"].as_str(),
            ) {
                (Some(filter), _, _) => log_level::set(filter).map(|()| filter.to_string()),
                (None, Some(logger), Some(level)) => log_level::set_logger(logger, level),
                (None, None, Some(level)) => log_level::set_logger("root", level),
                _ => {
                    return (
                        StatusCode::BAD_REQUEST,
                        json!({"error": "give loggerName and loggingLevel, or filter"}),
                    );
                }
            };
            match result {
                Ok(filter) => {
                    tracing::info!(filter = %filter, "log filter changed through the management API");
                    (StatusCode::OK, json!({ "filter": filter }))
                }
                Err(e @ LogLevelError::Invalid { .. }) => {
                    (StatusCode::BAD_REQUEST, json!({"error": e.to_string()}))
                }
                Err(e) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": e.to_string()}),
                ),
            }
        }
        _ => not_found(format!("use GET, PUT or PATCH {LOGGING}")),
    }
}
