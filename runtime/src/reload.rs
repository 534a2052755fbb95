//! Loading and reloading: compile the configuration from disk, and when the files change (or
//! on SIGHUP) compile the new one beside the running one and swap it in atomically.
//!
//! Requests in flight keep the `Arc<Compiled>` they started with, so they finish on the old
//! configuration. A configuration that fails to load or validate is reported and never
//! installed: the running one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_api::bundle;
use ferry_api::diagnostic::{self, Diagnostic};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::admin::metrics::Metrics;
use crate::compile::{self, CompileEnv, Compiled};
use crate::processors::runner::Processors;
use crate::tasks::runner::Tasks;

/// What runs beside the request path: message processors and scheduled tasks. A new
/// configuration restarts them (the old ones finish what they are doing first).
#[derive(Clone)]
pub struct Runners {
    /// The message processors.
    pub processors: Arc<Processors>,
    /// The scheduled tasks.
    pub tasks: Arc<Tasks>,
}

impl Runners {
    /// Stops the running processors and tasks and starts those of `compiled`.
    pub async fn install(&self, compiled: Arc<Compiled>) {
        self.processors.install(compiled.clone()).await;
        self.tasks.install(compiled).await;
    }

    /// Stops them all.
    pub async fn stop(&self) {
        self.tasks.stop().await;
        self.processors.stop().await;
    }
}

/// Loads, validates and compiles the resources under `paths`. Any error — a file that is not
/// YAML included — fails the whole load: a broken file must not silently drop its APIs.
pub fn load(paths: &[PathBuf], env: &CompileEnv) -> Result<Compiled, Vec<Diagnostic>> {
    let (bundle, mut diagnostics) = bundle::load_paths(paths);
    if diagnostics.iter().any(Diagnostic::is_error) {
        diagnostic::sort(&mut diagnostics);
        return Err(diagnostics);
    }
    for warning in &diagnostics {
        tracing::warn!("{warning}");
    }
    compile::compile(&bundle, env).map_err(|mut d| {
        diagnostic::sort(&mut d);
        d
    })
}

/// Compiles anew and swaps the result in; on failure logs why and keeps the running one.
/// Returns whether the new configuration was installed.
pub fn reload(
    paths: &[PathBuf],
    env: &CompileEnv,
    current: &ArcSwap<Compiled>,
    metrics: &Metrics,
) -> bool {
    match load(paths, env) {
        Ok(compiled) => {
            let count = compiled.resource_count;
            current.store(Arc::new(compiled));
            metrics.record_reload(true);
            tracing::info!(resources = count, "configuration reloaded");
            true
        }
        Err(diagnostics) => {
            for d in diagnostics.iter().filter(|d| d.is_error()) {
                tracing::error!("{d}");
            }
            metrics.record_reload(false);
            tracing::error!(
                errors = diagnostics.iter().filter(|d| d.is_error()).count(),
                "the changed configuration is invalid; still serving the previous one"
            );
            false
        }
    }
}

/// Reloads on SIGHUP, and with `watch_files` on every change to `paths`, until `stop`
/// resolves. Bursts of file events (an editor saving, `kubectl` updating a ConfigMap volume)
/// become one reload.
pub async fn watch(
    paths: Vec<PathBuf>,
    watch_files: bool,
    env: CompileEnv,
    current: Arc<ArcSwap<Compiled>>,
    metrics: Arc<Metrics>,
    runners: Runners,
    stop: impl Future<Output = ()>,
) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let watched: Vec<PathBuf> = paths.clone();
    let watcher = watch_files.then(|| {
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                Ok(e) => {
                    matches!(
                        e.kind,
                        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                    ) && e.paths.iter().any(|p| is_watched(p, &watched))
                }
                Err(_) => true,
            };
            if relevant {
                // A full channel means a reload is already pending; that one will see this change.
                let _ = tx.try_send(());
            }
        })
    });
    let mut watcher = match watcher {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "cannot watch the configuration files; reload with SIGHUP");
            None
        }
    };
    if let Some(w) = watcher.as_mut() {
        for path in &paths {
            // Watch a file's folder: editors and ConfigMap volumes replace files by renaming.
            let (target, mode) = if path.is_dir() {
                (path.clone(), RecursiveMode::Recursive)
            } else {
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                (parent.to_path_buf(), RecursiveMode::NonRecursive)
            };
            if let Err(e) = w.watch(&target, mode) {
                tracing::warn!(path = %target.display(), error = %e, "cannot watch");
            }
        }
    }
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            Some(()) = rx.recv() => {
                // Let the burst settle, then take whatever else arrived.
                tokio::time::sleep(Duration::from_millis(250)).await;
                while rx.try_recv().is_ok() {}
            }
            Some(()) = async {
                match hangup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                tracing::info!("SIGHUP: reloading the configuration");
            }
        }
        let (paths, env, installed, metrics) =
            (paths.clone(), env.clone(), current.clone(), metrics.clone());
        // Compiling is CPU work; keep it off the threads serving requests.
        let swapped =
            tokio::task::spawn_blocking(move || reload(&paths, &env, &installed, &metrics)).await;
        if matches!(swapped, Ok(true)) {
            // The old processors finish their in-flight deliveries before the new ones
            // start: never two readers on one store.
            runners.install(current.load_full()).await;
        }
    }
    drop(watcher);
}

fn is_watched(path: &Path, roots: &[PathBuf]) -> bool {
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    // Kubernetes ConfigMap volumes swap a `..data` symlink; treat that as a change too.
    let configmap_swap = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("..data"));
    (yaml || configmap_swap || path.is_dir())
        && roots.iter().any(|root| {
            path.starts_with(root) || root.parent().is_some_and(|p| path.starts_with(p))
        })
}
