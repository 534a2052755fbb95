//! `ferry-operator`: the Kubernetes operator binary. A binary of its own (not a `ferry`
//! subcommand) so the runtime image carries no Kubernetes client and the operator image no
//! integration engine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use ferry_operator::config::OperatorConfig;
use ferry_operator::controller::{self, Settings};
use ferry_operator::health::{self, Health};
use ferry_operator::metrics::Metrics;
use ferry_operator::reconcile::Context;
use ferry_operator::render::MANAGER;
use ferry_operator::{certs, webhook};
use kube::runtime::events::{Recorder, Reporter};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

/// Reconciles ferry.dev resources into per-group ConfigMaps, Deployments, Services, HPAs
/// and PDBs, and reports their status.
#[derive(Debug, Parser)]
#[command(name = "ferry-operator", version)]
struct Args {
    /// The operator's configuration file (runtime defaults). Absent: built-in defaults.
    #[arg(long, env = "FERRY_OPERATOR_CONFIG")]
    config: Option<PathBuf>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "FERRY_OPERATOR_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Address of /livez, /readyz and /metrics.
    #[arg(long, env = "FERRY_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Take a Lease before writing, so only one of several replicas reconciles.
    #[arg(long, env = "FERRY_OPERATOR_LEADER_ELECTION")]
    leader_election: bool,
    /// The Lease's name.
    #[arg(
        long,
        env = "FERRY_OPERATOR_LEASE_NAME",
        default_value = "ferry-operator"
    )]
    lease_name: String,
    /// The Lease's namespace (default: the pod's, from POD_NAMESPACE).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Address of the sidecar injection webhook (HTTPS). Absent: no webhook.
    #[arg(long, env = "FERRY_OPERATOR_WEBHOOK_LISTEN")]
    webhook_listen: Option<SocketAddr>,
    /// Serve `tls.crt` and `tls.key` from this directory (cert-manager's Secret, mounted)
    /// instead of making a certificate.
    #[arg(long, env = "FERRY_OPERATOR_WEBHOOK_CERT_DIR")]
    webhook_cert_dir: Option<PathBuf>,
    /// The Secret (in the operator's namespace) the made certificate is kept in.
    #[arg(
        long,
        env = "FERRY_OPERATOR_WEBHOOK_SECRET",
        default_value = "ferry-operator-webhook-tls"
    )]
    webhook_secret: String,
    /// The MutatingWebhookConfiguration whose caBundle the operator keeps current.
    #[arg(
        long,
        env = "FERRY_OPERATOR_WEBHOOK_CONFIGURATION",
        default_value = "ferry-operator"
    )]
    webhook_configuration: String,
    /// Names (DNS names or IP addresses) the made certificate is for: the webhook
    /// Service's names, comma-separated.
    #[arg(long, env = "FERRY_OPERATOR_WEBHOOK_DNS_NAMES", value_delimiter = ',')]
    webhook_dns_names: Vec<String>,
    /// `json` (structured, for log collectors) or `text`.
    #[arg(long, env = "FERRY_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the objects the operator would apply for the ferry.dev resources in files and
    /// folders, without a cluster; refused resources are reported on stderr (exit 1).
    Render {
        /// Files or folders of YAML resources.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The namespace of resources that name none.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Command::Render { paths, namespace }) = &args.command {
        return render(args.config.as_deref(), paths, namespace);
    }
    logging(args.log_format);
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "ferry-operator stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

fn render(
    config: Option<&std::path::Path>,
    paths: &[PathBuf],
    namespace: &str,
) -> std::process::ExitCode {
    let config = match config.map(OperatorConfig::load).transpose() {
        Ok(config) => config.unwrap_or_default(),
        Err(e) => {
            eprintln!("{e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let out = ferry_operator::offline::render_files(paths, namespace, &config);
    print!("{}", out.yaml);
    for problem in &out.problems {
        eprintln!("{problem}");
    }
    if out.problems.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

fn logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => OperatorConfig::load(path)?,
        None => OperatorConfig::default(),
    };
    let client = kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("no Kubernetes API to talk to (in-cluster or KUBECONFIG): {e}")
    })?;
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    tokio::spawn(health::serve(listener, health.clone(), metrics.clone()));

    let config = Arc::new(config);
    let caches = Arc::new(std::sync::OnceLock::new());
    if let Some(address) = args.webhook_listen {
        let source = match &args.webhook_cert_dir {
            Some(dir) => certs::Source::Files(dir.clone()),
            None => {
                let namespace = args.lease_namespace.clone().ok_or_else(|| {
                    anyhow::anyhow!("the webhook's certificate Secret needs POD_NAMESPACE (or --lease-namespace)")
                })?;
                if args.webhook_dns_names.is_empty() {
                    anyhow::bail!(
                        "--webhook-dns-names: the names the webhook is called by are needed for its certificate"
                    );
                }
                certs::Source::Operator {
                    secret: args.webhook_secret.clone(),
                    namespace,
                    configuration: args.webhook_configuration.clone(),
                    names: args.webhook_dns_names.clone(),
                }
            }
        };
        let serving = Arc::new(certs::Serving::default());
        health.watch_webhook(serving.clone());
        let manager = certs::Manager {
            client: client.clone(),
            source,
            serving: serving.clone(),
        };
        tokio::spawn(manager.run());
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let plans = Arc::new(webhook::FromCaches::new(
            caches.clone(),
            health.clone(),
            config.clone(),
        ));
        tokio::spawn(webhook::serve(listener, serving, plans, metrics.clone()));
        tracing::info!(listen = %address, "sidecar injection webhook serving");
    }

    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("ferry-operator-{}", std::process::id()));
    // Without leader election this process always leads; the sender lives as long as run().
    let mut _standalone = None;
    let leader = if args.leader_election {
        let namespace = args.lease_namespace.clone().ok_or_else(|| {
            anyhow::anyhow!("--leader-election needs --lease-namespace or POD_NAMESPACE")
        })?;
        let manager = LeaseManagerBuilder::new(client.clone(), &args.lease_name)
            .with_namespace(namespace)
            .with_identity(identity.clone())
            .with_duration(15)
            .with_grace(5)
            .build()
            .await
            .map_err(|e| anyhow::anyhow!("cannot use Lease {}: {e}", args.lease_name))?;
        // The manager keeps its last state while the API server is unreachable; for the
        // operator that is harmless, because everything it does goes through that same API
        // server (the runtime's Lease, whose tasks act outside it, steps down instead).
        let (leader, _task) = manager.watch().await;
        leader
    } else {
        let (tx, rx) = watch::channel(true);
        _standalone = Some(tx);
        rx
    };
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: MANAGER.into(),
            instance: Some(identity),
        },
    );
    let ctx = Context {
        client,
        config,
        recorder: Some(recorder),
        applied: Default::default(),
    };
    tracing::info!(
        namespace = args.namespace.as_deref().unwrap_or("(all)"),
        listen = %args.listen,
        leader_election = args.leader_election,
        "ferry-operator starting"
    );
    let settings = Settings {
        namespace: args.namespace,
        caches,
    };
    tokio::select! {
        () = controller::run(ctx, settings, metrics, health, leader) => Ok(()),
        () = shutdown() => {
            tracing::info!("stopping on signal");
            Ok(())
        }
    }
}

async fn shutdown() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
