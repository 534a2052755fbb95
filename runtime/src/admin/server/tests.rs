use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::*;
use crate::transports::http::body::read_body_limited;

/// The peer the handler is told about; the admin handler does not look at it.
const PEER: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

fn state() -> Arc<AdminState> {
    Arc::new(AdminState::new(Arc::new(Metrics::new())))
}

async fn call(state: &Arc<AdminState>, method: Method, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(body::empty())
        .unwrap();
    let response = AdminHandler::new(Arc::clone(state))
        .handle(req, Peer::plain(PEER))
        .await;
    let status = response.status();
    let bytes = read_body_limited(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Answers with the method and path it saw.
struct EchoManagement;

impl ManagementApi for EchoManagement {
    fn handle(
        &self,
        req: Request<Body>,
    ) -> Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> {
        Box::pin(async move {
            Response::new(body::full(format!("{} {}", req.method(), req.uri().path())))
        })
    }
}

#[tokio::test]
async fn livez_answers_ok_whatever_the_readiness() {
    let state = state();
    assert_eq!(
        call(&state, Method::GET, "/livez").await,
        (StatusCode::OK, "ok".into())
    );
    state.set_shutting_down();
    assert_eq!(call(&state, Method::GET, "/livez").await.0, StatusCode::OK);
}

#[tokio::test]
async fn readyz_follows_startup_readiness_and_shutdown_and_says_why() {
    let state = state();
    let (status, reason) = call(&state, Method::GET, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reason.starts_with("starting"), "{reason}");

    state.set_ready();
    assert_eq!(
        call(&state, Method::GET, "/readyz").await,
        (StatusCode::OK, "ready".into())
    );

    state.set_shutting_down();
    let (status, reason) = call(&state, Method::GET, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reason.starts_with("shutting down"), "{reason}");

    // A late "ready" (e.g. a reload finishing during the drain) cannot revive the pod.
    state.set_ready();
    assert_eq!(
        call(&state, Method::GET, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn metrics_are_exposed_in_openmetrics_text_with_its_content_type() {
    let state = state();
    let (api, resource) = (Arc::from("shop"), Arc::from("/items"));
    state.metrics.record_request(
        &api,
        &resource,
        &Method::POST,
        201,
        Duration::from_millis(1),
    );
    let req = Request::get("/metrics").body(body::empty()).unwrap();
    let response = AdminHandler::new(Arc::clone(&state))
        .handle(req, Peer::plain(PEER))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
    let text = read_body_limited(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(text.to_vec()).unwrap();
    assert!(text.contains(
        "ferry_http_requests_total{api=\"shop\",resource=\"/items\",method=\"POST\",status=\"201\"} 1"
    ));
}

#[tokio::test]
async fn unknown_paths_are_404_and_probes_refuse_other_methods() {
    let state = state();
    assert_eq!(
        call(&state, Method::GET, "/healthz").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&state, Method::POST, "/readyz").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(call(&state, Method::HEAD, "/livez").await.0, StatusCode::OK);
}

#[tokio::test]
async fn management_requests_go_to_the_installed_api_or_404_without_one() {
    let bare = state();
    assert_eq!(
        call(&bare, Method::GET, "/management/apis").await.0,
        StatusCode::NOT_FOUND
    );

    let metrics = Arc::new(Metrics::new());
    let with_api = Arc::new(AdminState::new(metrics).with_management(Arc::new(EchoManagement)));
    assert_eq!(
        call(&with_api, Method::GET, "/management/message-processors").await,
        (StatusCode::OK, "GET /management/message-processors".into())
    );
    assert_eq!(
        call(&with_api, Method::GET, "/managementx").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_admin_port_serves_probes_over_a_real_socket_until_shutdown() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = state();
    state.set_ready();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, Arc::clone(&state), async move {
        let _ = stopped.await;
    }));

    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let req = Request::get(format!("http://{addr}/readyz"))
        .body(body::empty())
        .unwrap();
    assert_eq!(client.request(req).await.unwrap().status(), StatusCode::OK);

    stop.send(()).unwrap();
    assert_eq!(task.await.unwrap(), Shutdown::Drained);
}

async fn call_with(
    state: &Arc<AdminState>,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let req = req.body(body::empty()).unwrap();
    AdminHandler::new(Arc::clone(state))
        .handle(req, Peer::plain(PEER))
        .await
        .status()
}

#[tokio::test]
async fn management_writes_are_refused_without_a_configured_token_and_the_right_bearer() {
    let path = "/management/endpoints/a/deactivate";
    let read_only = Arc::new(
        AdminState::new(Arc::new(Metrics::new())).with_management(Arc::new(EchoManagement)),
    );
    assert_eq!(
        call_with(&read_only, Method::POST, path, Some("Bearer s3cret")).await,
        StatusCode::FORBIDDEN,
        "no token file: read-only"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").unwrap();
    let writable = Arc::new(
        AdminState::new(Arc::new(Metrics::new()))
            .with_management(Arc::new(EchoManagement))
            .with_write_token(file.clone()),
    );
    assert_eq!(
        call_with(&writable, Method::POST, path, None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call_with(&writable, Method::POST, path, Some("Bearer wrong")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call_with(&writable, Method::POST, path, Some("Bearer s3cret")).await,
        StatusCode::OK
    );
    assert_eq!(
        call_with(&writable, Method::GET, path, None).await,
        StatusCode::OK,
        "reading needs no token"
    );
    // A rotated Secret applies at once.
    std::fs::write(&file, "rotated").unwrap();
    assert_eq!(
        call_with(&writable, Method::POST, path, Some("Bearer s3cret")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call_with(&writable, Method::POST, path, Some("Bearer rotated")).await,
        StatusCode::OK
    );

    // The token itself (FERRY_MANAGEMENT_TOKEN); an empty one leaves the API read-only.
    let by_value = Arc::new(
        AdminState::new(Arc::new(Metrics::new()))
            .with_management(Arc::new(EchoManagement))
            .with_write_token_value(" v4lue\n"),
    );
    assert_eq!(
        call_with(&by_value, Method::POST, path, Some("Bearer v4lue")).await,
        StatusCode::OK
    );
    assert_eq!(
        call_with(&by_value, Method::POST, path, Some("Bearer other")).await,
        StatusCode::FORBIDDEN
    );
    let empty = Arc::new(
        AdminState::new(Arc::new(Metrics::new()))
            .with_management(Arc::new(EchoManagement))
            .with_write_token_value(""),
    );
    assert_eq!(
        call_with(&empty, Method::POST, path, Some("Bearer ")).await,
        StatusCode::FORBIDDEN
    );
}
