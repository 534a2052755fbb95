use ferry_api::check::tls::CheckedCors;
use http::header::{self, HeaderValue};
use http::{HeaderName, Method, Request, StatusCode};

use super::Cors;
use crate::transports::http::body;

fn policy() -> Cors {
    Cors::new(CheckedCors {
        origins: Some(vec!["https://app.example".into()]),
        methods: Vec::new(),
        headers: vec![HeaderName::from_static("x-trace")],
        expose: vec![HeaderName::from_static("x-order")],
        credentials: true,
        max_age: Some(600),
    })
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> Request<()> {
    let mut req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/shop/orders")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method);
    if let Some(h) = headers {
        req = req.header(header::ACCESS_CONTROL_REQUEST_HEADERS, h);
    }
    req.body(()).unwrap()
}

#[test]
fn a_preflight_from_an_allowed_origin_gets_the_allowed_method_headers_and_max_age() {
    let req = preflight("https://app.example", "POST", Some("X-Trace, content-type"));
    assert!(Cors::is_preflight(req.method(), req.headers()));
    let resp = policy().preflight(req.headers(), |m| m == Method::POST);
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let h = resp.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], "POST");
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_HEADERS],
        "x-trace, content-type"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
}

#[test]
fn a_preflight_is_refused_for_another_origin_an_unserved_method_or_an_unlisted_header() {
    let cors = policy();
    for (req, why) in [
        (preflight("https://evil.example", "POST", None), "origin"),
        (preflight("https://app.example", "DELETE", None), "DELETE"),
        (
            preflight("https://app.example", "POST", Some("x-secret")),
            "x-secret",
        ),
    ] {
        let resp = cors.preflight(req.headers(), |m| m == Method::POST);
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{why}");
    }
}

#[test]
fn an_actual_request_from_an_allowed_origin_gets_the_headers_and_another_origin_none() {
    let cors = policy();
    let mut resp = http::Response::new(body::empty());
    cors.decorate(
        Some(&HeaderValue::from_static("https://app.example")),
        &mut resp,
    );
    assert_eq!(
        resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    assert_eq!(
        resp.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS],
        "x-order"
    );
    assert_eq!(resp.headers()[header::VARY], "Origin");

    let mut resp = http::Response::new(body::empty());
    cors.decorate(
        Some(&HeaderValue::from_static("https://evil.example")),
        &mut resp,
    );
    assert!(
        !resp
            .headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );
}

#[test]
fn any_origin_is_answered_with_a_star() {
    let cors = Cors::new(CheckedCors {
        origins: None,
        methods: vec![Method::GET],
        headers: Vec::new(),
        expose: Vec::new(),
        credentials: false,
        max_age: None,
    });
    let req = preflight("https://anyone.example", "GET", None);
    let resp = cors.preflight(req.headers(), |_| false);
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert_eq!(resp.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], "GET");
}
