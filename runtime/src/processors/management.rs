//! The processors' part of the management API on the admin port (MI's
//! `/management/message-processors`): `GET /management/message-processors` lists each
//! running processor's state, `GET .../{name}` shows one, and
//! `POST .../{name}/activate|deactivate` switches it (as MI's `{"status": "active"}`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::runner::Processors;
use crate::admin::server::ManagementApi;
use crate::transports::http::body::{self, Body};

/// The management API over the running processors.
pub struct ProcessorsApi {
    processors: Arc<Processors>,
}

impl ProcessorsApi {
    /// The API over `processors`.
    pub fn new(processors: Arc<Processors>) -> Self {
        Self { processors }
    }

    fn answer(&self, method: &Method, path: &str) -> (StatusCode, Value) {
        let Some(rest) = path.strip_prefix("/management/message-processors") else {
            return (StatusCode::NOT_FOUND, json!({"error": "not found"}));
        };
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match (method, parts.as_slice()) {
            (&Method::GET, []) => {
                let list: Vec<Value> = self
                    .processors
                    .states()
                    .iter()
                    .map(|s| s.to_json())
                    .collect();
                (StatusCode::OK, json!({"count": list.len(), "list": list}))
            }
            (&Method::GET, [name]) => match self.processors.state(name) {
                Some(s) => (StatusCode::OK, s.to_json()),
                None => not_found(name),
            },
            (&Method::POST, [name, action @ ("activate" | "deactivate")]) => {
                match self.processors.state(name) {
                    Some(s) => {
                        s.set_active(*action == "activate");
                        (StatusCode::OK, s.to_json())
                    }
                    None => not_found(name),
                }
            }
            _ => (
                StatusCode::NOT_FOUND,
                json!({"error": "use GET /management/message-processors[/NAME] or POST /management/message-processors/NAME/activate|deactivate"}),
            ),
        }
    }
}

fn not_found(name: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"error": format!("no message processor \"{name}\" is running")}),
    )
}

impl ManagementApi for ProcessorsApi {
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        let (status, value) = self.answer(req.method(), req.uri().path());
        Box::pin(async move {
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
