//! `ferry run PATH...`: binds the HTTP and admin listeners, compiles the configuration,
//! serves it, reloads it on change, and shuts down gracefully on SIGTERM or Ctrl-C. With
//! `--lease-name` (the operator sets `FERRY_LEASE_NAME`), the replicas of a group elect one
//! runner of their scheduled tasks and message processors through a Kubernetes Lease.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin::metrics::Metrics;
use crate::admin::server::{AdminState, Mounts};
use crate::compile::CompileEnv;
use crate::compiled::Compiled;
use crate::dispatch::{Dispatcher, RequestTimeouts};
use crate::endpoints::client::EndpointClient;
use crate::inbound::management::InboundsApi;
use crate::inbound::runner::Inbounds;
use crate::leadership::{
    DEFAULT_LEASE_DURATION_SECS, DEFAULT_LEASE_GRACE_SECS, Election, LeadershipError, LeaseSettings,
};
use crate::processors::management::ProcessorsApi;
use crate::processors::runner::Processors;
use crate::reload::Runners;
use crate::stores::factory::StoreRegistry;
use crate::stores::management::StoresApi;
use crate::tasks::runner::Tasks;
use crate::tls::server::{ServerTls, ServerTlsSettings};
use crate::transports::http::server::{self, ServerOptions};
use ferry_api::resources::{ClientAuth, TlsVersion};

/// Arguments of `ferry run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Files or folders of YAML resources.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0", env = "FERRY_HOST")]
    pub host: String,
    /// Port of the HTTP listener serving the APIs (0 picks a free one).
    #[arg(long, default_value_t = 8290, env = "FERRY_HTTP_PORT")]
    pub http_port: u16,
    /// Port of the HTTPS listener serving the same APIs and proxies (MI's 8253; 0 picks a
    /// free one). It listens only when --tls-cert and --tls-key, or --tls-self-signed, are
    /// given.
    #[arg(long, default_value_t = 8253, env = "FERRY_HTTPS_PORT")]
    pub https_port: u16,
    /// The HTTPS listener's certificate chain (PEM, leaf first). Read again every
    /// --tls-reload-interval seconds: a renewed certificate needs no restart.
    #[arg(long, env = "FERRY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "FERRY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Without --tls-cert: serve HTTPS with a self-signed certificate for localhost, made
    /// in `<data dir>/tls/` and kept there while valid (what clients trust:
    /// `self-signed.crt`). For development only, as MI's default keystore is.
    #[arg(long, env = "FERRY_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// CA certificates (PEM) client certificates are verified against (mutual TLS).
    #[arg(long, env = "FERRY_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Client certificates: `none`, `optional` (verified when presented) or `required`.
    #[arg(long, env = "FERRY_TLS_CLIENT_AUTH", value_enum, default_value_t = ClientAuthArg::None)]
    pub tls_client_auth: ClientAuthArg,
    /// The oldest TLS version the HTTPS listener accepts: 1.2 or 1.3.
    #[arg(long, env = "FERRY_TLS_MIN_VERSION", default_value = "1.2", value_parser = ["1.2", "1.3"])]
    pub tls_min_version: String,
    /// Seconds between checks of the certificate files for a change.
    #[arg(long, default_value_t = 10, env = "FERRY_TLS_RELOAD_INTERVAL",
        value_parser = clap::value_parser!(u64).range(1..))]
    pub tls_reload_interval: u64,
    /// Largest request head (request line and headers) in bytes; larger ones get 431.
    #[arg(long, default_value_t = 65536, env = "FERRY_MAX_HEADER_BYTES",
        value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_header_bytes: u32,
    /// Port of the admin listener: /livez, /readyz, /metrics (0 picks a free one).
    #[arg(long, default_value_t = 9201, env = "FERRY_ADMIN_PORT")]
    pub admin_port: u16,
    /// Configuration properties read by `${config.KEY}`, as KEY=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = 10 * 1024 * 1024, env = "FERRY_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// Seconds a client may take to send a request head (and, on a new connection, its
    /// first bytes); slower ones are disconnected. 0: no limit.
    #[arg(long, default_value_t = 30, env = "FERRY_REQUEST_HEADER_TIMEOUT")]
    pub request_header_timeout: u64,
    /// Seconds a request body may take to arrive in full, from the request head; slower
    /// ones get 408. 0: no limit of its own (the request timeout still bounds it).
    #[arg(long, default_value_t = 60, env = "FERRY_REQUEST_BODY_TIMEOUT")]
    pub request_body_timeout: u64,
    /// Seconds from the request head until the answer's head is ready; longer requests get
    /// 504 (408 if the body is still arriving) and their flow is abandoned. 0: no limit.
    #[arg(long, default_value_t = 300, env = "FERRY_REQUEST_TIMEOUT")]
    pub request_timeout: u64,
    /// Requests served at once; one more is answered 503 with `Retry-After: 1` instead of
    /// waiting in an unbounded queue. 0: no limit.
    #[arg(long, default_value_t = 1000, env = "FERRY_MAX_CONCURRENT_REQUESTS")]
    pub max_concurrent_requests: usize,
    /// Seconds in-flight requests may take to finish after SIGTERM.
    #[arg(long, default_value_t = 30, env = "FERRY_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: u64,
    /// The HTTPS listener's own request limits, where they differ from the HTTP listener's
    /// (the flags above): a public TLS listener often takes less than an internal one.
    #[command(flatten)]
    pub https_limits: HttpsLimitArgs,
    /// Do not reload when the files change (SIGHUP still reloads).
    #[arg(long)]
    pub no_watch: bool,
    /// Where durable state lives: SQLite message stores default to `<data dir>/stores/<name>.db`
    /// (a volume in Kubernetes).
    #[arg(long, default_value = ".ferry-data", env = "FERRY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Write the bound addresses as JSON (`{"http": "...", "admin": "..."}`, and `"https"`
    /// when it listens) to this file once
    /// serving: how scripts and tests find ports chosen with 0.
    #[arg(long)]
    pub ports_file: Option<PathBuf>,
    /// Run scheduled tasks and message processors only while holding this Kubernetes Lease,
    /// so one replica of the group runs them (needs a build with `--features kubernetes`).
    #[arg(long, env = "FERRY_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Namespace of the Lease; falls back to `POD_NAMESPACE`, then the client's default.
    #[arg(long, env = "FERRY_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Lease; falls back to the host name.
    #[arg(long, env = "POD_NAME")]
    pub lease_identity: Option<String>,
    /// Seconds the Lease lasts without renewal: how long a vanished leader blocks the others.
    #[arg(long, default_value_t = DEFAULT_LEASE_DURATION_SECS, env = "FERRY_LEASE_DURATION")]
    pub lease_duration: u32,
    /// Seconds before expiry the leader renews the Lease (less than the duration).
    #[arg(long, default_value_t = DEFAULT_LEASE_GRACE_SECS, env = "FERRY_LEASE_GRACE")]
    pub lease_grace: u32,
    /// Export trace spans over OTLP to this collector (`http://otel-collector:4318`, over
    /// HTTP also a full URL ending in `/v1/traces`; `http://otel-collector:4317` over gRPC).
    /// Tracing is off without it.
    #[arg(long, env = "FERRY_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// How spans go to the collector: `http/protobuf` or `grpc`.
    #[arg(
        long,
        value_enum,
        default_value = "http/protobuf",
        env = "FERRY_OTLP_PROTOCOL"
    )]
    pub otlp_protocol: crate::telemetry::Protocol,
    /// The share of new traces recorded (0 to 1); a request that arrives with a sampled or
    /// unsampled `traceparent` keeps its caller's decision.
    #[arg(long, default_value_t = 1.0, env = "FERRY_TRACE_SAMPLING_RATIO")]
    pub trace_sampling_ratio: f64,
    /// `service.name` of the exported spans.
    #[arg(long, default_value = "ferry", env = "OTEL_SERVICE_NAME")]
    pub service_name: String,
    /// A file holding the bearer token that management API writes need (activate,
    /// deactivate, trigger, log levels, replays): a mounted Secret. Without it the
    /// management API is read-only (unless FERRY_MANAGEMENT_TOKEN holds the token itself).
    #[arg(long, env = "FERRY_MANAGEMENT_TOKEN_FILE")]
    pub management_token_file: Option<PathBuf>,
    /// The header carrying each request's correlation id (MI's `activityid`): read from the
    /// request or made, sent to backends, stored with messages, returned in the answer and
    /// logged as `correlation_id`. Empty: no correlation ids.
    #[arg(long, default_value = crate::telemetry::correlation::DEFAULT_HEADER, env = "FERRY_CORRELATION_HEADER")]
    pub correlation_header: String,
    /// Threads that run requests, processors and tasks; by default one per CPU the process
    /// may use (its affinity and cgroup CPU limit). With one, everything runs on the main
    /// thread.
    #[arg(long, env = "FERRY_WORKERS", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
}

/// Request limits of the HTTPS listener; each unset one is the HTTP listener's.
#[derive(Debug, Clone, Default, Args)]
pub struct HttpsLimitArgs {
    /// --max-body-bytes for the HTTPS listener.
    #[arg(long, env = "FERRY_HTTPS_MAX_BODY_BYTES")]
    pub https_max_body_bytes: Option<usize>,
    /// --max-header-bytes for the HTTPS listener.
    #[arg(long, env = "FERRY_HTTPS_MAX_HEADER_BYTES",
        value_parser = clap::value_parser!(u32).range(8192..))]
    pub https_max_header_bytes: Option<u32>,
    /// --request-header-timeout for the HTTPS listener (it bounds the handshake too).
    #[arg(long, env = "FERRY_HTTPS_REQUEST_HEADER_TIMEOUT")]
    pub https_request_header_timeout: Option<u64>,
    /// --request-body-timeout for the HTTPS listener.
    #[arg(long, env = "FERRY_HTTPS_REQUEST_BODY_TIMEOUT")]
    pub https_request_body_timeout: Option<u64>,
    /// --request-timeout for the HTTPS listener.
    #[arg(long, env = "FERRY_HTTPS_REQUEST_TIMEOUT")]
    pub https_request_timeout: Option<u64>,
    /// --max-concurrent-requests for the HTTPS listener (each listener counts its own).
    #[arg(long, env = "FERRY_HTTPS_MAX_CONCURRENT_REQUESTS")]
    pub https_max_concurrent_requests: Option<usize>,
}

/// One listener's limits, from the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListenerLimits {
    max_body_bytes: usize,
    max_header_bytes: u32,
    request_header_timeout: u64,
    request_body_timeout: u64,
    request_timeout: u64,
    max_concurrent_requests: usize,
}

impl ListenerLimits {
    fn http(args: &RunArgs) -> Self {
        Self {
            max_body_bytes: args.max_body_bytes,
            max_header_bytes: args.max_header_bytes,
            request_header_timeout: args.request_header_timeout,
            request_body_timeout: args.request_body_timeout,
            request_timeout: args.request_timeout,
            max_concurrent_requests: args.max_concurrent_requests,
        }
    }

    fn https(args: &RunArgs) -> Self {
        let http = Self::http(args);
        let o = &args.https_limits;
        Self {
            max_body_bytes: o.https_max_body_bytes.unwrap_or(http.max_body_bytes),
            max_header_bytes: o.https_max_header_bytes.unwrap_or(http.max_header_bytes),
            request_header_timeout: o
                .https_request_header_timeout
                .unwrap_or(http.request_header_timeout),
            request_body_timeout: o
                .https_request_body_timeout
                .unwrap_or(http.request_body_timeout),
            request_timeout: o.https_request_timeout.unwrap_or(http.request_timeout),
            max_concurrent_requests: o
                .https_max_concurrent_requests
                .unwrap_or(http.max_concurrent_requests),
        }
    }

    fn server_options(self, shutdown_timeout: u64) -> ServerOptions {
        ServerOptions {
            max_header_bytes: self.max_header_bytes as usize,
            max_body_bytes: self.max_body_bytes,
            header_read_timeout: seconds(self.request_header_timeout),
            graceful_timeout: Duration::from_secs(shutdown_timeout),
            max_concurrent_requests: (self.max_concurrent_requests > 0)
                .then_some(self.max_concurrent_requests),
            ..ServerOptions::default()
        }
    }

    fn dispatcher(self, current: &Arc<ArcSwap<Compiled>>, metrics: &Arc<Metrics>) -> Dispatcher {
        Dispatcher::new(current.clone(), metrics.clone(), self.max_body_bytes).with_timeouts(
            RequestTimeouts {
                body: seconds(self.request_body_timeout),
                total: seconds(self.request_timeout),
            },
        )
    }
}

/// How the HTTPS listener treats client certificates (`--tls-client-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAuthArg {
    /// Not asked for.
    None,
    /// Verified when presented.
    Optional,
    /// Required: the handshake fails without one.
    Required,
}

impl RunArgs {
    /// The HTTPS listener's TLS settings, when it is to listen.
    fn tls_settings(&self) -> Result<Option<ServerTlsSettings>, String> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (cert.clone(), key.clone()),
            _ if self.tls_self_signed => {
                let dir = self.data_dir.join("tls");
                let pair = crate::tls::self_signed::ensure(&dir, std::time::SystemTime::now())
                    .map_err(|e| format!("the self-signed certificate: {e}"))?;
                tracing::warn!(
                    cert = %pair.cert.display(),
                    made = pair.made,
                    "HTTPS uses a self-signed development certificate for localhost; clients trust it with this file"
                );
                (pair.cert, pair.key)
            }
            _ => return Ok(None),
        };
        Ok(Some(ServerTlsSettings {
            cert,
            key,
            client_ca: self.tls_client_ca.clone(),
            client_auth: match self.tls_client_auth {
                ClientAuthArg::None => ClientAuth::None,
                ClientAuthArg::Optional => ClientAuth::Optional,
                ClientAuthArg::Required => ClientAuth::Required,
            },
            min_version: if self.tls_min_version == "1.3" {
                TlsVersion::Tls13
            } else {
                TlsVersion::Tls12
            },
        }))
    }

    /// The Lease to hold, when one is asked for.
    fn lease_settings(&self) -> Result<Option<LeaseSettings>, LeadershipError> {
        let Some(name) = &self.lease_name else {
            return Ok(None);
        };
        let namespace = self
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok());
        LeaseSettings::new(
            name,
            namespace,
            self.lease_identity.clone(),
            self.lease_duration,
            self.lease_grace,
        )
        .map(Some)
    }
}

/// In Kubernetes (a Lease names the group, as the operator runs it): processor states go
/// to the MessageProcessors' status and Events too.
#[cfg(feature = "kubernetes")]
async fn kubernetes_reporter(args: &RunArgs) -> Option<crate::processors::report::Reporter> {
    args.lease_name.as_ref()?;
    let namespace = args
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())?;
    match kube::Client::try_default().await {
        Ok(client) => Some(crate::processors::kubernetes::reporter(
            client,
            namespace,
            args.lease_identity.clone(),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the Kubernetes API: processor states are on the admin port only");
            None
        }
    }
}

/// Runs until shut down.
pub fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let workers = args.workers.map_or_else(available_cpus, usize::from);
    runtime(workers)
        .context("cannot start the async runtime")?
        .block_on(run(args, workers))
}

/// Stack of a worker thread. Sequences and templates may call each other up to
/// `sequence::MAX_DEPTH` (64) levels, each level a few nested futures polled on the stack:
/// Tokio's 2 MiB default overflowed (the process aborted) before a looping configuration
/// reached that limit in a debug build. 8 MiB is what the main thread, which runs the
/// single-worker runtime, has; it is address space, and only the pages a deep flow
/// touches count in RSS.
const WORKER_STACK: usize = 8 * 1024 * 1024;

/// The async runtime for `workers` threads. One worker gets the current-thread scheduler:
/// with a single CPU (`taskset`, a Kubernetes limit of one core) a work-stealing pool has
/// nothing to steal from, and its queues and wake-ups cost instructions on every request.
fn runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_stack_size(WORKER_STACK)
            .enable_all()
            .build()
    }
}

/// CPUs this process may run on, as the standard library counts them (affinity mask and
/// cgroup quota).
fn available_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

async fn run(args: RunArgs, workers: usize) -> anyhow::Result<ExitCode> {
    crate::telemetry::correlation::configure(&args.correlation_header)
        .map_err(|e| anyhow::anyhow!(e))?;
    // A collector that cannot be configured stops the start: traces would be lost silently.
    let telemetry = match &args.otlp_endpoint {
        Some(endpoint) => Some(crate::telemetry::install(&crate::telemetry::Settings {
            endpoint: endpoint.clone(),
            protocol: args.otlp_protocol,
            sampling_ratio: args.trace_sampling_ratio,
            service_name: args.service_name.clone(),
            instance: args.lease_identity.clone(),
        })?),
        None => None,
    };
    let code = serve(args, workers).await;
    if let Some(telemetry) = telemetry {
        telemetry.shutdown().await;
    }
    code
}

async fn serve(args: RunArgs, workers: usize) -> anyhow::Result<ExitCode> {
    // First: a Lease this binary cannot hold must stop the start, before anything binds.
    let election = Election::start(args.lease_settings()?).await?;
    let http = TcpListener::bind((args.host.as_str(), args.http_port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.http_port))?;
    let admin = TcpListener::bind((args.host.as_str(), args.admin_port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.admin_port))?;
    let http_addr = http.local_addr()?;
    let admin_addr = admin.local_addr()?;
    // Certificate files that do not load stop the start, as a bad configuration does.
    let https = match args
        .tls_settings()
        .map_err(|e| anyhow::anyhow!("the HTTPS listener cannot start: {e}"))?
    {
        None => None,
        Some(settings) => {
            let tls = ServerTls::load(settings)
                .map_err(|e| anyhow::anyhow!("the HTTPS listener cannot start: {e}"))?;
            let listener = TcpListener::bind((args.host.as_str(), args.https_port))
                .await
                .with_context(|| format!("cannot listen on {}:{}", args.host, args.https_port))?;
            let addr = listener.local_addr()?;
            Some((listener, tls, addr))
        }
    };
    let https_addr = https.as_ref().map(|(_, _, addr)| *addr);

    let mut config: HashMap<String, String> =
        super::parse_properties(&args.set)?.into_iter().collect();
    config.insert("http.port".into(), http_addr.port().to_string());
    config.insert("admin.port".into(), admin_addr.port().to_string());
    if let Some(addr) = https_addr {
        config.insert("https.port".into(), addr.port().to_string());
    }
    let metrics = Arc::new(Metrics::new());
    let env = CompileEnv {
        config: Arc::new(config),
        client: EndpointClient::new(Default::default()),
        metrics: metrics.clone(),
        stores: StoreRegistry::new(args.data_dir.clone()),
    };

    let compiled = match crate::reload::load(&args.paths, &env) {
        Ok(c) => c,
        Err(diagnostics) => {
            for d in &diagnostics {
                tracing::error!("{d}");
            }
            eprintln!(
                "ferry: the configuration has {} error(s); nothing is served",
                diagnostics.iter().filter(|d| d.is_error()).count()
            );
            election.leave().await;
            return Ok(ExitCode::from(1));
        }
    };
    let resources = compiled.resource_count;
    if election.is_elected() {
        warn_local_stores(&compiled);
    }
    let current = Arc::new(ArcSwap::from_pointee(compiled));
    #[cfg(feature = "kubernetes")]
    let reporter = kubernetes_reporter(&args).await;
    #[cfg(not(feature = "kubernetes"))]
    let reporter = None;
    let processors = Processors::reporting(metrics.clone(), election.leadership(), reporter);
    processors.install(current.load_full()).await;
    let inbounds = Inbounds::new(metrics.clone(), election.leadership());

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };

    let http_limits = ListenerLimits::http(&args);
    let options = http_limits.server_options(args.shutdown_timeout);
    let dispatcher = Arc::new(http_limits.dispatcher(&current, &metrics));
    let tasks = Tasks::new(dispatcher.clone(), election.leadership());
    let artifacts: Arc<dyn crate::admin::server::ManagementApi> = Arc::new(
        crate::admin::management::ArtifactsApi::new(current.clone(), tasks.clone()),
    );
    let mut mounts: Vec<(&'static str, Arc<dyn crate::admin::server::ManagementApi>)> = vec![
        (
            "/management/message-processors",
            Arc::new(ProcessorsApi::new(processors.clone())),
        ),
        (
            "/management/message-stores",
            Arc::new(StoresApi::new(current.clone())),
        ),
        (
            crate::inbound::management::PREFIX,
            Arc::new(InboundsApi::new(inbounds.clone())),
        ),
    ];
    mounts.extend(crate::admin::management::prefixes().map(|p| (p, artifacts.clone())));
    let mut admin_state =
        AdminState::new(metrics.clone()).with_management(Arc::new(Mounts(mounts)));
    if let Some(file) = &args.management_token_file {
        admin_state = admin_state.with_write_token(file.clone());
    } else if let Ok(token) = std::env::var("FERRY_MANAGEMENT_TOKEN") {
        // From a Secret through the environment (an IntegrationRuntime's `env`).
        admin_state = admin_state.with_write_token_value(&token);
    }
    let admin_state = Arc::new(admin_state);
    let admin_task = tokio::spawn(crate::admin::server::serve(
        admin,
        admin_state.clone(),
        stopped(stop_rx.clone()),
    ));
    let runners = Runners {
        processors: processors.clone(),
        tasks,
        inbound: inbounds.clone(),
    };
    runners.tasks.install(current.load_full()).await;
    let https_task = https.map(|(listener, tls, _)| {
        tokio::spawn(Arc::clone(&tls).watch(
            Duration::from_secs(args.tls_reload_interval),
            stopped(stop_rx.clone()),
        ));
        let limits = ListenerLimits::https(&args);
        let dispatcher = if limits == http_limits {
            dispatcher.clone()
        } else {
            Arc::new(limits.dispatcher(&current, &metrics))
        };
        tokio::spawn(server::serve_tls(
            listener,
            dispatcher,
            limits.server_options(args.shutdown_timeout),
            tls,
            stopped(stop_rx.clone()),
        ))
    });
    runners.inbound.install(current.load_full()).await;
    let http_task = tokio::spawn(server::serve(
        http,
        dispatcher,
        options,
        stopped(stop_rx.clone()),
    ));

    let data_health_task = tokio::spawn(crate::data::health::watch(
        current.clone(),
        admin_state.clone(),
        stopped(stop_rx.clone()),
    ));
    // The registry is shared (a cheap clone): reloads open stores in it, shutdown closes them.
    let stores = env.stores.clone();
    let watch_task = tokio::spawn(crate::reload::watch(
        args.paths.clone(),
        !args.no_watch,
        env,
        current,
        metrics,
        runners.clone(),
        stopped(stop_rx.clone()),
    ));

    if let Some(file) = &args.ports_file {
        write_ports(file, http_addr, https_addr, admin_addr)?;
    }
    admin_state.ready.store(true, Ordering::SeqCst);
    tracing::info!(http = %http_addr, https = ?https_addr, admin = %admin_addr, resources, workers, tracing = ?args.otlp_endpoint, "serving");

    wait_for_shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    admin_state.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    if let Ok(outcome) = http_task.await {
        tracing::info!(?outcome, "HTTP listener closed");
    }
    if let Some(Ok(outcome)) = match https_task {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::info!(?outcome, "HTTPS listener closed");
    }
    watch_task.abort();
    data_health_task.abort();
    // After the listener: a message stored by a last request still gets its processor's
    // attention until here; in-flight deliveries finish, leased messages are released.
    // Bounded like the listener: a delivery still waiting on a slow backend past the
    // shutdown timeout is abandoned unacknowledged, so its message is delivered again
    // after the restart (at least once) rather than holding up the exit.
    let grace = Duration::from_secs(args.shutdown_timeout);
    if tokio::time::timeout(grace, runners.stop()).await.is_err() {
        tracing::warn!(
            seconds = args.shutdown_timeout,
            "message processors did not stop in time; their in-flight messages stay in their stores"
        );
    } else {
        tracing::info!("message processors stopped");
    }
    // After the runners: the Lease goes to another replica only once nothing runs here.
    election.leave().await;
    stores.close_all().await;
    let _ = admin_task.await;
    Ok(ExitCode::SUCCESS)
}

/// A timeout flag's value: 0 means none.
fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// With several replicas, a processor on a store in one pod's memory or disk drains only
/// that pod's messages: what the standby replicas store waits until they lead.
fn warn_local_stores(compiled: &crate::compiled::Compiled) {
    for p in compiled.processors.iter().filter(|p| p.store.is_local()) {
        tracing::warn!(
            processor = %p.name,
            store = p.store.name(),
            "the processor reads a memory or sqlite store, local to this replica: messages other replicas store there wait until they lead; use a rabbitmq or postgres store with several replicas"
        );
    }
}

fn write_ports(
    file: &std::path::Path,
    http: SocketAddr,
    https: Option<SocketAddr>,
    admin: SocketAddr,
) -> anyhow::Result<()> {
    let mut ports = serde_json::json!({"http": http.to_string(), "admin": admin.to_string()});
    if let Some(https) = https {
        ports["https"] = serde_json::Value::from(https.to_string());
    }
    let text = ports.to_string();
    // Write then rename, so a reader never sees half a file.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

async fn wait_for_shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            None
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        Some(()) = async {
            match term.as_mut() {
                Some(t) => t.recv().await,
                None => std::future::pending().await,
            }
        } => {}
    }
}
