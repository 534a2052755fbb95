//! Cross-origin resource sharing for an API with a `cors` policy: preflight `OPTIONS`
//! requests answered here, before routing to a resource, and the `Access-Control-*`
//! headers added to the answers of actual requests from allowed origins.
//!
//! A request from an origin the policy does not allow is still served (CORS is the
//! browser's to enforce), only without the headers that would let the page read the
//! answer; a preflight from such an origin, or asking for a method or header the policy
//! does not allow, is answered 403 so the browser never sends the actual request.

use ferry_api::check::tls::CheckedCors;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::body::{self, Body};
use super::error::error_response;

/// Headers a browser may send without asking (the CORS-safelisted request headers).
const SAFELISTED: [&str; 4] = [
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

/// An API's CORS policy with its constant header values prepared.
#[derive(Debug, Clone)]
pub struct Cors {
    policy: CheckedCors,
    expose: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
}

impl Cors {
    /// Prepares `policy`.
    pub fn new(policy: CheckedCors) -> Self {
        let join = |names: &[http::HeaderName]| {
            let text = names
                .iter()
                .map(http::HeaderName::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            HeaderValue::from_str(&text).ok()
        };
        let expose = (!policy.expose.is_empty())
            .then(|| join(&policy.expose))
            .flatten();
        let max_age = policy.max_age.map(HeaderValue::from);
        Self {
            policy,
            expose,
            max_age,
        }
    }

    /// Whether `req` is a preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, when allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.policy.origins {
            // `*` cannot go with credentials (the checker refused that pairing).
            None => Some(HeaderValue::from_static("*")),
            Some(list) => {
                let origin_text = origin.to_str().ok()?;
                list.iter()
                    .any(|o| o.eq_ignore_ascii_case(origin_text))
                    .then(|| origin.clone())
            }
        }
    }

    /// Answers a preflight. `routable(method)` says whether the API serves `method` on the
    /// requested path, which decides when the policy names no methods.
    pub fn preflight(
        &self,
        headers: &HeaderMap,
        routable: impl Fn(&Method) -> bool,
    ) -> Response<Body> {
        let forbidden = |why: &str| error_response(StatusCode::FORBIDDEN, why);
        let Some(origin) = headers.get(header::ORIGIN) else {
            return forbidden("a CORS preflight needs an Origin header");
        };
        let Some(allow_origin) = self.allow_origin(origin) else {
            return forbidden("CORS: the origin is not allowed");
        };
        let requested = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| Method::from_bytes(v.as_bytes()).ok());
        let Some(requested) = requested else {
            return forbidden("CORS: Access-Control-Request-Method is not a method");
        };
        let method_ok = if self.policy.methods.is_empty() {
            routable(&requested)
        } else {
            self.policy.methods.contains(&requested)
        };
        if !method_ok {
            return forbidden(&format!("CORS: the method {requested} is not allowed"));
        }
        let asked: Vec<String> = headers
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        for h in &asked {
            let allowed = SAFELISTED.contains(&h.as_str())
                || self.policy.headers.iter().any(|a| a.as_str() == h.as_str());
            if !allowed {
                return forbidden(&format!("CORS: the request header {h} is not allowed"));
            }
        }
        let mut resp = Response::new(body::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let out = resp.headers_mut();
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        let methods = if self.policy.methods.is_empty() {
            requested.to_string()
        } else {
            self.policy
                .methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Ok(v) = HeaderValue::from_str(&methods) {
            out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        if !asked.is_empty()
            && let Ok(v) = HeaderValue::from_str(&asked.join(", "))
        {
            out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if self.policy.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(age) = &self.max_age {
            out.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        out.insert(header::VARY, HeaderValue::from_static("Origin"));
        resp
    }

    /// Adds the headers an actual request from `origin` gets (none for an origin the
    /// policy does not allow).
    pub fn decorate(&self, origin: Option<&HeaderValue>, resp: &mut Response<Body>) {
        let Some(origin) = origin else { return };
        let out = resp.headers_mut();
        // Answers differ by origin: a shared cache must not hand one origin's to another.
        out.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(allow) = self.allow_origin(origin) else {
            return;
        };
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.policy.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let Some(expose) = &self.expose {
            out.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
        }
    }
}

#[cfg(test)]
mod tests;
