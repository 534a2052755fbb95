//! TLS for black-box tests: a test CA that issues server and client certificates at test
//! time (rcgen), an HTTPS backend on 127.0.0.1 that can demand client certificates, and an
//! HTTPS client (rustls, HTTP/1.1 or HTTP/2 by ALPN) to call Ferry's HTTPS listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

/// A certificate authority made for one test.
pub struct TestCa {
    /// The CA certificate, PEM (what a peer trusts).
    pub cert: String,
    params: CertificateParams,
    key: KeyPair,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A server's certificate.
    Server,
    /// A client's certificate.
    Client,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate").pem();
        TestCa { cert, params, key }
    }

    /// A certificate for `names` (DNS names or IP addresses), valid from an hour ago for a
    /// day.
    pub fn issue(&self, common_name: &str, names: &[&str], usage: Usage) -> Pem {
        let now = time::OffsetDateTime::now_utc();
        self.issue_valid(
            common_name,
            names,
            usage,
            now - time::Duration::hours(1),
            now + time::Duration::days(1),
        )
    }

    /// A certificate that expired yesterday.
    pub fn issue_expired(&self, names: &[&str]) -> Pem {
        let now = time::OffsetDateTime::now_utc();
        self.issue_valid(
            "expired",
            names,
            Usage::Server,
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        )
    }

    fn issue_valid(
        &self,
        common_name: &str,
        names: &[&str],
        usage: Usage,
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Pem {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("names");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.not_before = not_before;
        params.not_after = not_after;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("certificate");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A self-signed server certificate for `names`.
pub fn self_signed(names: &[&str]) -> Pem {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("names");
    Pem {
        cert: params.self_signed(&key).expect("certificate").pem(),
        key: key.serialize_pem(),
    }
}

fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates")
}

fn key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).expect("key")
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem) {
        roots.add(c).expect("root");
    }
    roots
}

/// An HTTPS backend on 127.0.0.1: answers every request 200 with `tls backend` and the
/// header `x-client-cert: yes|no` (whether the client presented a certificate).
pub struct TlsBackend {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsBackend {
    /// Serves with `identity`; with `client_ca`, demands a client certificate it signed.
    pub fn start(identity: &Pem, client_ca: Option<&str>) -> TlsBackend {
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions();
        let builder = builder.expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => builder.with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)),
                    provider(),
                )
                .build()
                .expect("verifier"),
            ),
        };
        let mut config = builder
            .with_single_cert(certs(&identity.cert), key(&identity.key))
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let (stream, _) = tokio::select! {
                        _ = &mut stop_rx => return,
                        accepted = listener.accept() => match accepted {
                            Ok(a) => a,
                            Err(_) => continue,
                        },
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let has_cert = tls.get_ref().1.peer_certificates().is_some();
                        let service = service_fn(move |_req: Request<Incoming>| async move {
                            Ok::<_, std::convert::Infallible>(
                                Response::builder()
                                    .header("content-type", "text/plain")
                                    .header("x-client-cert", if has_cert { "yes" } else { "no" })
                                    .body(Full::new(Bytes::from_static(b"tls backend")))
                                    .expect("response"),
                            )
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                }
            });
        });
        TlsBackend {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How a test client calls Ferry's HTTPS listener.
#[derive(Debug, Clone)]
pub struct HttpsClient {
    /// The CA that signed Ferry's certificate.
    pub ca: String,
    /// The name to verify (and send as SNI).
    pub server_name: String,
    /// A client certificate to present.
    pub identity: Option<Pem>,
    /// ALPN protocols offered (`h2`, `http/1.1`).
    pub alpn: Vec<&'static str>,
}

/// An answer read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: http::Version,
    /// The headers.
    pub headers: http::HeaderMap,
    /// The body, as text.
    pub body: String,
    /// The leaf certificate the server presented (DER), to tell a reload.
    pub server_cert: Vec<u8>,
}

impl HttpsClient {
    /// Trusting `ca` for `server_name`, offering HTTP/1.1.
    pub fn new(ca: &str, server_name: &str) -> HttpsClient {
        HttpsClient {
            ca: ca.to_string(),
            server_name: server_name.to_string(),
            identity: None,
            alpn: vec!["http/1.1"],
        }
    }

    /// Sends `req` (path and headers; the host is `addr`) over a new TLS connection.
    pub async fn send(
        &self,
        addr: SocketAddr,
        req: Request<Full<Bytes>>,
    ) -> Result<Answer, String> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots(&self.ca));
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(certs(&id.cert), key(&id.key))
                .map_err(|e| e.to_string())?,
        };
        config.alpn_protocols = self.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(self.server_name.clone()).map_err(|e| e.to_string())?;
        let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
            .await
            .map_err(|_| "handshake timed out".to_string())?
            .map_err(|e| format!("handshake failed: {e}"))?;
        let (_, session) = tls.get_ref();
        let server_cert = session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        let h2 = session.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let response = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let (mut parts, body) = req.into_parts();
            parts.uri = format!("https://{}{}", self.server_name, parts.uri)
                .parse()
                .map_err(|e: http::uri::InvalidUri| e.to_string())?;
            sender
                .send_request(Request::from_parts(parts, body))
                .await
                .map_err(|e| e.to_string())?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut req = req;
            req.headers_mut().insert(
                http::header::HOST,
                http::HeaderValue::from_str(&self.server_name).map_err(|e| e.to_string())?,
            );
            sender.send_request(req).await.map_err(|e| e.to_string())?
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            version: parts.version,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            server_cert,
        })
    }

    /// A GET of `path`.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> Result<Answer, String> {
        let req = Request::get(path)
            .body(Full::new(Bytes::new()))
            .map_err(|e| e.to_string())?;
        self.send(addr, req).await
    }
}

/// The DER of the first certificate in `pem`.
pub fn der(pem: &str) -> Vec<u8> {
    certs(pem)
        .first()
        .map(|c| c.as_ref().to_vec())
        .unwrap_or_default()
}
