//! Transport security checks: an endpoint's `tls` block (outbound TLS), an API's `cors`
//! policy, and which listeners (`http`, `https`) serve a resource. What the runtime cannot
//! do is refused here, so `ferry validate` says it before anything runs; whether the PEM
//! behind an environment variable parses is the runtime's to say when it loads (the value
//! exists only on the machine that runs it).

use http::{HeaderName, Method};

use super::cx::Cx;
use crate::resources::endpoint::Tls;
use crate::resources::transport_security::{Cors, TlsVersion};

/// A checked endpoint `tls` block: where its PEM comes from and what it demands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The environment variable holding extra CA certificates (PEM), trusted besides the
    /// system roots.
    pub ca_env: Option<String>,
    /// The environment variables holding the client certificate chain and its key (PEM),
    /// for mutual TLS.
    pub identity_env: Option<(String, String)>,
    /// The name sent as SNI and verified; `None`: the URL's host.
    pub server_name: Option<String>,
    /// The oldest version accepted.
    pub min_version: TlsVersion,
}

/// Checks an endpoint's `tls` block at `field` (`spec.tls`).
pub fn client(cx: &mut Cx<'_>, field: &str, tls: &Tls) -> Option<ClientTls> {
    let mut ok = true;
    if tls.insecure_skip_verify {
        cx.error(
            &format!("{field}.insecureSkipVerify"),
            "Ferry never turns certificate verification off; trust the backend's CA with caFrom instead",
        );
        ok = false;
    }
    let mut env = |at: &str, source: Option<&crate::resources::SecretSource>| match source {
        None => Some(None),
        Some(source) => match source.env_var() {
            Some(var) => Some(Some(var)),
            None => {
                cx.error(&format!("{field}.{at}"), "set env or secretKeyRef");
                None
            }
        },
    };
    let ca_env = env("caFrom", tls.ca_from.as_ref());
    let cert_env = env("certFrom", tls.cert_from.as_ref());
    let key_env = env("keyFrom", tls.key_from.as_ref());
    let (Some(_), Some(cert_env), Some(key_env)) = (ca_env, cert_env, key_env) else {
        return None;
    };
    match (cert_env, key_env) {
        (Some(_), Some(_)) | (None, None) => {}
        (Some(_), None) => {
            cx.error(
                &format!("{field}.keyFrom"),
                "a client certificate (certFrom) needs its private key (keyFrom)",
            );
            return None;
        }
        (None, Some(_)) => {
            cx.error(
                &format!("{field}.certFrom"),
                "a private key (keyFrom) needs its client certificate (certFrom)",
            );
            return None;
        }
    }
    if let Some(name) = &tls.server_name
        && !is_server_name(name)
    {
        cx.error(
            &format!("{field}.serverName"),
            format!("{name:?} is neither a DNS name nor an IP address"),
        );
        ok = false;
    }
    ok.then(|| settings(tls))
}

/// The settings of a `tls` block [`client`] accepted: what the runtime builds its rustls
/// configuration from (it resolves what was checked, it does not check again).
pub fn settings(tls: &Tls) -> ClientTls {
    let env = |s: &Option<crate::resources::SecretSource>| s.as_ref().and_then(|s| s.env_var());
    ClientTls {
        ca_env: env(&tls.ca_from),
        identity_env: env(&tls.cert_from).zip(env(&tls.key_from)),
        server_name: tls.server_name.clone(),
        min_version: tls.min_version.unwrap_or(TlsVersion::Tls12),
    }
}

/// Whether `name` can be a TLS server name: an IP address, or a DNS name of labels of
/// letters, digits and `-` (a `*.` wildcard is a certificate's business, not a name's).
pub fn is_server_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A checked CORS policy, ready to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedCors {
    /// `None`: any origin (`*`); else the allowed origins, lower-cased.
    pub origins: Option<Vec<String>>,
    /// The methods a preflight allows; empty: the API's own.
    pub methods: Vec<Method>,
    /// The request headers a preflight allows, lower-cased.
    pub headers: Vec<HeaderName>,
    /// `Access-Control-Expose-Headers`.
    pub expose: Vec<HeaderName>,
    /// `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age`.
    pub max_age: Option<u32>,
}

/// Checks an API's `cors` block at `spec.cors`.
pub fn cors(cx: &mut Cx<'_>, cors: &Cors) -> Option<CheckedCors> {
    let mut ok = true;
    if cors.allow_origins.is_empty() {
        cx.error(
            "spec.cors.allowOrigins",
            "name the origins allowed (https://app.example.com), or * for any",
        );
        ok = false;
    }
    let any = cors.allow_origins.iter().any(|o| o == "*");
    let mut origins = Vec::with_capacity(cors.allow_origins.len());
    for (i, origin) in cors.allow_origins.iter().enumerate() {
        if origin == "*" {
            continue;
        }
        let valid = origin.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+')
                && !rest.is_empty()
                && !rest.contains('/')
        }) || origin == "null";
        if !valid {
            cx.error(
                &format!("spec.cors.allowOrigins[{i}]"),
                format!("{origin:?} is not an origin (scheme://host[:port], no path) nor *"),
            );
            ok = false;
        }
        origins.push(origin.to_ascii_lowercase());
    }
    if any && cors.allow_credentials {
        cx.error(
            "spec.cors.allowCredentials",
            "browsers refuse credentials with the origin *; name the origins",
        );
        ok = false;
    }
    let mut methods = Vec::with_capacity(cors.allow_methods.len());
    for (i, m) in cors.allow_methods.iter().enumerate() {
        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => methods.push(method),
            Err(_) => {
                cx.error(
                    &format!("spec.cors.allowMethods[{i}]"),
                    format!("{m:?} is not an HTTP method"),
                );
                ok = false;
            }
        }
    }
    let mut names = |at: &str, list: &[String]| {
        let mut out = Vec::with_capacity(list.len());
        for (i, h) in list.iter().enumerate() {
            match HeaderName::from_bytes(h.as_bytes()) {
                Ok(name) => out.push(name),
                Err(_) => {
                    cx.error(
                        &format!("spec.cors.{at}[{i}]"),
                        format!("{h:?} is not a header name"),
                    );
                    ok = false;
                }
            }
        }
        out
    };
    let headers = names("allowHeaders", &cors.allow_headers);
    let expose = names("exposeHeaders", &cors.expose_headers);
    ok.then(|| CheckedCors {
        origins: (!any).then_some(origins),
        methods,
        headers,
        expose,
        credentials: cors.allow_credentials,
        max_age: cors.max_age,
    })
}

/// The listeners that serve a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listeners {
    /// Served on the HTTP port.
    pub http: bool,
    /// Served on the HTTPS port.
    pub https: bool,
}

impl Listeners {
    /// Both listeners: what a resource without a `protocol` gets.
    pub const BOTH: Listeners = Listeners {
        http: true,
        https: true,
    };

    /// Whether a request that came over HTTPS (`true`) or plain HTTP is served.
    pub fn serves(self, https: bool) -> bool {
        if https { self.https } else { self.http }
    }
}

#[cfg(test)]
mod tests;
