//! The operator at scale — a benchmark, not a test. Against the real API server `KUBECONFIG`
//! names, it starts the operator executable it is given, applies `--groups` runtime groups
//! of `--per-group` artifacts each (1,000 in 50 by default) at once, and measures how long
//! until every artifact carries an honest `Accepted` condition, how long the first and the
//! last group took, and the operator's peak RSS. It prints a Markdown section for
//! docs/benchmarks.md. `make bench-operator` runs it; without `KUBECONFIG` it says why it
//! does nothing and exits 0.
//!
//! A group is 10 Sequences, 5 Endpoints and 5 IntegrationAPIs (each API calls one Sequence
//! and one Endpoint); a tenth of the groups are "slow" — their APIs refer to a Sequence
//! that does not exist, so each of their artifacts is checked again after the refusal —
//! to show that such groups do not hold up the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const MANAGER: &str = "ferry-scale-bench";

struct Options {
    operator: PathBuf,
    groups: usize,
    per_group: usize,
    timeout: Duration,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        operator: PathBuf::from("target/release/ferry-operator"),
        groups: 50,
        per_group: 20,
        timeout: Duration::from_secs(120),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--operator" => o.operator = PathBuf::from(value()?),
            "--groups" => o.groups = value()?.parse().map_err(|e| format!("--groups: {e}"))?,
            "--per-group" => {
                o.per_group = value()?.parse().map_err(|e| format!("--per-group: {e}"))?;
            }
            "--timeout" => {
                let s: u64 = value()?.parse().map_err(|e| format!("--timeout: {e}"))?;
                o.timeout = Duration::from_secs(s);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.per_group < 4 || !o.per_group.is_multiple_of(4) {
        return Err(
            "--per-group must be a multiple of 4 (Sequences : Endpoints : APIs = 2:1:1)".into(),
        );
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if std::env::var_os("KUBECONFIG").is_none() {
        println!("skipped: set KUBECONFIG to a real API server to measure the operator at scale");
        return std::process::ExitCode::SUCCESS;
    }
    match run().await {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scale bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<String, String> {
    let o = options()?;
    let client = Client::try_default()
        .await
        .map_err(|e| format!("KUBECONFIG: {e}"))?;
    install_crds(&client).await?;
    let namespace = format!("ferry-scale-{}", std::process::id());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
    )
    .map_err(|e| e.to_string())?;
    namespaces
        .patch(&namespace, &PatchParams::apply(MANAGER), &Patch::Apply(&ns))
        .await
        .map_err(|e| format!("namespace: {e}"))?;

    let mut operator = tokio::process::Command::new(&o.operator)
        .args(["--namespace", &namespace, "--listen", "127.0.0.1:0"])
        .env(
            "FERRY_LOG",
            std::env::var("FERRY_SCALE_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", o.operator.display()))?;
    let pid = operator.id().ok_or("the operator exited at once")?;
    let result = measure(&client, &namespace, &o, pid).await;
    let _ = operator.kill().await;
    let _ = namespaces
        .delete(&namespace, &DeleteParams::default())
        .await;
    result
}

async fn measure(
    client: &Client,
    namespace: &str,
    o: &Options,
    pid: u32,
) -> Result<String, String> {
    let artifacts = artifacts(o);
    let total = artifacts.len();
    let slow_groups = o.groups / 10;
    let seen: Seen = Arc::default();
    let watches = watch_judged(client, namespace, &seen);
    let load_at_start = load_average();
    let server_at_start = server_metrics(client).await;
    let cpu_at_start = cpu_seconds(pid);
    let started = Instant::now();
    let applied: Vec<Result<(), String>> = stream::iter(artifacts)
        .map(|(kind, doc)| apply(client, namespace, kind, doc))
        .buffer_unordered(64)
        .collect()
        .await;
    applied.into_iter().collect::<Result<Vec<()>, String>>()?;
    let applied_in = started.elapsed();

    // Done per group: the time its last artifact got its Accepted condition (true for a
    // healthy group, false for the artifacts a slow group refuses).
    let mut group_done: BTreeMap<String, Duration> = BTreeMap::new();
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(rss_kib(pid));
        let judged = judged_by_group(&seen);
        let mut all = 0;
        for (group, (count, judged)) in &judged {
            all += judged;
            if *judged == *count && *count == o.per_group {
                group_done.entry(group.clone()).or_insert(started.elapsed());
            }
        }
        if all == total {
            break;
        }
        if started.elapsed() > o.timeout {
            return Err(format!(
                "after {:?} only {all} of {total} artifacts carry an Accepted condition",
                o.timeout
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_in = started.elapsed();
    watches.iter().for_each(JoinHandle::abort);
    let peak_rss = peak_rss.max(hwm_kib(pid));
    let cpu = cpu_seconds(pid) - cpu_at_start;
    let server = server_metrics(client).await.since(&server_at_start);
    let healthy: Vec<Duration> = group_done
        .iter()
        .filter(|(g, _)| !is_slow(g, slow_groups))
        .map(|(_, d)| *d)
        .collect();
    let slow: Vec<Duration> = group_done
        .iter()
        .filter(|(g, _)| is_slow(g, slow_groups))
        .map(|(_, d)| *d)
        .collect();
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let version = client
        .apiserver_version()
        .await
        .map(|v| format!("{}.{} (`{}`)", v.major, v.minor, v.git_version))
        .unwrap_or_else(|_| "?".into());
    let load = load_average();
    Ok(format!(
        "## Operator at scale\n\n\
         {total} artifacts in {} runtime groups (10 Sequences, 5 Endpoints and 5 IntegrationAPIs \
         each; the APIs of {slow_groups} groups refer to a missing Sequence, so their artifacts \
         are refused and checked again) applied at once to a real Kubernetes {version} API \
         server, the operator (release build) watching their namespace. *Judged*: every \
         artifact carries an `Accepted` condition for its generation. Targets: all within \
         10 s, operator RSS < 64 MiB. The API server, etcd and the operator share the \
         machine's cores with everything else running on it: machine load average (1 min) \
         {load_at_start} at the start, {load} at the end. *Operator CPU*: the operator's own \
         CPU time from the first apply until all were judged; *API server CPU* and the \
         operator's writes over the same time, from the API server's own `/metrics` \
         (`process_cpu_seconds_total`, `apiserver_request_total`): *object writes* are the \
         applies and deletes of the ConfigMaps, Deployments, Services, ServiceAccounts, \
         Roles, RoleBindings, HPAs and PDBs the operator owns, *status writes* its status \
         patches of the artifacts.\n\n\
         | artifacts | groups | applied in | first group judged | last healthy group judged | last slow group judged | all judged | operator peak RSS | operator CPU | API server CPU | object writes per group | status writes |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n\
         | {total} | {} ({slow_groups} slow) | {:.2} s | {:.2} s | {:.2} s | {:.2} s | **{:.2} s** | **{:.1} MiB** | {cpu:.2} s | {} | {} | {} |",
        o.groups,
        o.groups,
        applied_in.as_secs_f64(),
        group_done
            .values()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        max(&healthy).as_secs_f64(),
        max(&slow).as_secs_f64(),
        all_in.as_secs_f64(),
        peak_rss as f64 / 1024.0,
        server.cpu.map_or("?".to_string(), |c| format!("{c:.2} s")),
        server.object_writes.map_or("?".to_string(), |w| format!(
            "{:.1}",
            w as f64 / o.groups as f64
        )),
        server
            .status_writes
            .map_or("?".to_string(), |w| w.to_string()),
    ))
}

/// What the API server says of itself: its CPU time and the operator's writes so far.
/// `None` where its `/metrics` could not be read (a user without that permission).
#[derive(Default)]
struct ServerMetrics {
    cpu: Option<f64>,
    object_writes: Option<u64>,
    status_writes: Option<u64>,
}

impl ServerMetrics {
    fn since(&self, start: &ServerMetrics) -> ServerMetrics {
        let diff = |a: Option<u64>, b: Option<u64>| Some(a?.saturating_sub(b?));
        ServerMetrics {
            cpu: self.cpu.zip(start.cpu).map(|(a, b)| a - b),
            object_writes: diff(self.object_writes, start.object_writes),
            status_writes: diff(self.status_writes, start.status_writes),
        }
    }
}

/// The kinds the operator owns, as `apiserver_request_total` names their resources.
const OWNED: &[&str] = &[
    "configmaps",
    "deployments",
    "services",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
];

/// Reads the API server's `/metrics`. The request counters are the whole server's: run
/// nothing else against it meanwhile. Of the owned kinds, only the operator applies
/// (`APPLY`) or deletes them; the controller manager's writes are `POST`/`PUT`.
async fn server_metrics(client: &Client) -> ServerMetrics {
    let Ok(request) = http::Request::get("/metrics").body(Vec::new()) else {
        return ServerMetrics::default();
    };
    let Ok(text) = client.request_text(request).await else {
        return ServerMetrics::default();
    };
    let mut m = ServerMetrics {
        object_writes: Some(0),
        status_writes: Some(0),
        ..ServerMetrics::default()
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("process_cpu_seconds_total ") {
            m.cpu = v.trim().parse().ok();
            continue;
        }
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"'))
                .unwrap_or_default()
        };
        let count = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        let (verb, resource, sub) = (label("verb"), label("resource"), label("subresource"));
        if OWNED.contains(&resource) && sub.is_empty() && matches!(verb, "APPLY" | "DELETE") {
            m.object_writes = m.object_writes.map(|w| w + count);
        }
        let ours = [
            "sequences",
            "endpoints",
            "integrationapis",
            "integrationruntimes",
        ];
        if ours.contains(&resource) && sub == "status" && verb == "PATCH" {
            m.status_writes = m.status_writes.map(|w| w + count);
        }
    }
    m
}

fn is_slow(group: &str, slow_groups: usize) -> bool {
    group
        .strip_prefix('g')
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n < slow_groups)
}

/// Every artifact, as (kind, document): groups `g0`.. named by `spec.runtime`.
fn artifacts(o: &Options) -> Vec<(&'static str, Value)> {
    let slow_groups = o.groups / 10;
    let quarter = o.per_group / 4;
    let mut out = Vec::with_capacity(o.groups * o.per_group);
    for g in 0..o.groups {
        let group = format!("g{g}");
        let meta = |name: String| json!({"name": name, "labels": {"ferry.dev/scale-bench": "1"}});
        for s in 0..2 * quarter {
            out.push((
                "Sequence",
                json!({"metadata": meta(format!("{group}-s{s}")), "spec": {"runtime": group,
                    "mediators": [{"log": {"message": format!("sequence {s} of {group}")}}]}}),
            ));
        }
        for e in 0..quarter {
            out.push((
                "Endpoint",
                json!({"metadata": meta(format!("{group}-e{e}")), "spec": {"runtime": group,
                    "http": {"uriTemplate": format!("http://127.0.0.1:9/{group}/{e}")}}}),
            ));
        }
        for a in 0..quarter {
            // A slow group's APIs call a Sequence that does not exist: refused, re-checked.
            let sequence = if g < slow_groups {
                format!("{group}-missing")
            } else {
                format!("{group}-s{a}")
            };
            out.push((
                "IntegrationAPI",
                json!({"metadata": meta(format!("{group}-api{a}")), "spec": {"runtime": group,
                    "context": format!("/{group}/a{a}"),
                    "resources": [{"methods": ["POST"], "uriTemplate": "/",
                        "inSequence": [{"sequence": {"key": sequence}},
                            {"call": {"endpoint": {"key": format!("{group}-e{a}")}}},
                            {"respond": {}}]}]}}),
            ));
        }
    }
    out
}

fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ferry.dev", "v1alpha1", kind),
        &ferry_api::resources::plural(kind),
    )
}

async fn apply(client: &Client, namespace: &str, kind: &str, mut doc: Value) -> Result<(), String> {
    let ar = resource(kind);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("apiVersion".into(), json!("ferry.dev/v1alpha1"));
        obj.insert("kind".into(), json!(kind));
    }
    let obj: DynamicObject = serde_json::from_value(doc).map_err(|e| e.to_string())?;
    let name = obj.name_any();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&obj),
    )
    .await
    .map(|_| ())
    .map_err(|e| format!("{kind}/{name}: {e}"))
}

/// Per group: how many artifacts exist and how many carry an Accepted condition for their
/// current generation.
/// What the watches have seen: (kind, name) → (group, judged).
type Seen = Arc<Mutex<BTreeMap<(String, String), (String, bool)>>>;

/// Watches the benchmark's artifacts of every kind into `seen`. Watching, not polling: a
/// list of all 1,000 objects every 100 ms cost the API server more CPU than the
/// operator's own writes and slowed what it measured.
fn watch_judged(client: &Client, namespace: &str, seen: &Seen) -> Vec<JoinHandle<()>> {
    ["Sequence", "Endpoint", "IntegrationAPI"]
        .into_iter()
        .map(|kind| {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource(kind));
            let seen = seen.clone();
            tokio::spawn(async move {
                let config = watcher::Config::default().labels("ferry.dev/scale-bench=1");
                let mut objects = std::pin::pin!(watcher(api, config).applied_objects());
                while let Some(event) = objects.next().await {
                    let Ok(obj) = event else { continue };
                    let group = obj.data["spec"]["runtime"]
                        .as_str()
                        .unwrap_or("default")
                        .to_string();
                    let generation = obj.metadata.generation;
                    let judged =
                        obj.data["status"]["conditions"]
                            .as_array()
                            .is_some_and(|conditions| {
                                conditions.iter().any(|c| {
                                    c["type"] == "Accepted"
                                        && (generation.is_none()
                                            || c["observedGeneration"].as_i64() == generation)
                                })
                            });
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert((kind.to_string(), obj.name_any()), (group, judged));
                    }
                }
            })
        })
        .collect()
}

/// Per group: (artifacts seen, artifacts judged).
fn judged_by_group(seen: &Seen) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    if let Ok(seen) = seen.lock() {
        for (group, judged) in seen.values() {
            let entry = out.entry(group.clone()).or_default();
            entry.0 += 1;
            entry.1 += usize::from(*judged);
        }
    }
    out
}

async fn install_crds(client: &Client) -> Result<(), String> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds/yaml");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if !path.to_string_lossy().ends_with(".ferry.dev.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let docs = ferry_api::bundle::yaml::parse_documents(&text)
            .map_err(|e| format!("{}: {e:?}", path.display()))?;
        for doc in docs {
            let crd: CustomResourceDefinition =
                serde_json::from_value(doc.value).map_err(|e| e.to_string())?;
            let name = crd.name_any();
            api.patch(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&crd),
            )
            .await
            .map_err(|e| format!("CRD {name}: {e}"))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let established = api
                    .get(&name)
                    .await
                    .ok()
                    .and_then(|c| c.status)
                    .and_then(|s| s.conditions)
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    });
                if established {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("CRD {name} not established within 30 s"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

/// The process's resident set (KiB), from /proc.
/// The machine's 1-minute load average, as /proc/loadavg says it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default()
}

/// The process's CPU time so far (user + system, every thread), from /proc/PID/stat, in
/// seconds. Its ticks are USER_HZ, 100 on Linux whatever the kernel's own HZ.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 after state.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// The process's peak resident set (KiB), from /proc.
fn hwm_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
