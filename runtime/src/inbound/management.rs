//! The inbound endpoints' part of the management API on the admin port (MI's
//! `/management/inbound-endpoints`): `GET /management/inbound-endpoints` lists each
//! installed endpoint's state and counts, `GET .../{name}` shows one.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};

use super::runner::Inbounds;
use crate::admin::server::ManagementApi;
use crate::transports::http::body::{self, Body};

/// Where the API is mounted.
pub const PREFIX: &str = "/management/inbound-endpoints";

/// The management API over the installed inbound endpoints.
pub struct InboundsApi {
    inbounds: Arc<Inbounds>,
}

impl InboundsApi {
    /// The API over `inbounds`.
    pub fn new(inbounds: Arc<Inbounds>) -> Self {
        Self { inbounds }
    }

    fn answer(&self, method: &Method, path: &str) -> (StatusCode, Value) {
        let Some(rest) = path.strip_prefix(PREFIX) else {
            return (StatusCode::NOT_FOUND, json!({"error": "not found"}));
        };
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match (method, parts.as_slice()) {
            (&Method::GET, []) => {
                let list: Vec<Value> = self.inbounds.states().iter().map(|s| s.to_json()).collect();
                (StatusCode::OK, json!({"count": list.len(), "list": list}))
            }
            (&Method::GET, [name]) => match self.inbounds.state(name) {
                Some(s) => (StatusCode::OK, s.to_json()),
                None => (
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("no inbound endpoint \"{name}\" is installed")}),
                ),
            },
            _ => (
                StatusCode::NOT_FOUND,
                json!({"error": format!("use GET {PREFIX}[/NAME]")}),
            ),
        }
    }
}

impl ManagementApi for InboundsApi {
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
