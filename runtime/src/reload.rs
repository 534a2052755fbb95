//! Loading and reloading: compile the configuration from disk, and when the files change (or
//! on SIGHUP) compile the new one beside the running one and swap it in atomically.
//!
//! Requests in flight keep the `Arc<Compiled>` they started with, so they finish on the old
//! configuration. The processors and tasks are then installed by diff ([`Runners`]): only
//! those whose definition changed restart. A configuration that fails to load or validate
//! is reported and never installed: the running one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ferry_api::bundle;
use ferry_api::diagnostic::{self, Diagnostic};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::admin::metrics::Metrics;
use crate::compile::{self, CompileEnv, Compiled};
use crate::inbound::runner::Inbounds;
use crate::processors::runner::Processors;
use crate::tasks::runner::Tasks;

/// What runs beside the request path: message processors and scheduled tasks. A new
/// configuration restarts only those whose definition changed (see [`crate::supervisor`]).
#[derive(Clone)]
pub struct Runners {
    /// The message processors.
    pub processors: Arc<Processors>,
    /// The scheduled tasks.
    pub tasks: Arc<Tasks>,
    /// The inbound endpoints.
    pub inbound: Arc<Inbounds>,
}

impl Runners {
    /// Installs the processors and tasks of `compiled`: unchanged ones keep running,
    /// changed and removed ones stop, changed and new ones start.
    pub async fn install(&self, compiled: Arc<Compiled>) {
        self.processors.install(compiled.clone()).await;
        self.tasks.install(compiled.clone()).await;
        self.inbound.install(compiled).await;
    }

    /// Stops them all.
    pub async fn stop(&self) {
        self.inbound.stop().await;
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
    let compiled = compile::compile(&bundle, env).map_err(|mut d| {
        diagnostic::sort(&mut d);
        d
    })?;
    for warning in diagnostics.iter().chain(&compiled.warnings) {
        tracing::warn!("{warning}");
    }
    Ok(compiled)
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
///
/// The file watch and the SIGHUP handler are set up when this is called, not when the
/// future is first polled: a caller that reports ready after calling it never misses a
/// change made just after, and a SIGHUP then reloads instead of ending the process.
pub fn watch(
    paths: Vec<PathBuf>,
    watch_files: bool,
    env: CompileEnv,
    current: Arc<ArcSwap<Compiled>>,
    metrics: Arc<Metrics>,
    runners: Runners,
    stop: impl Future<Output = ()>,
) -> impl Future<Output = ()> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut files = if watch_files {
        FileWatch::start(&paths, tx)
    } else {
        None
    };
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP");
            None
        }
    };
    async move {
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
            if let Some(files) = files.as_mut() {
                files.follow_swapped_links();
            }
            let (paths, env, installed, metrics) =
                (paths.clone(), env.clone(), current.clone(), metrics.clone());
            // Compiling is CPU work; keep it off the threads serving requests.
            let swapped =
                tokio::task::spawn_blocking(move || reload(&paths, &env, &installed, &metrics))
                    .await;
            if matches!(swapped, Ok(true)) {
                // Changed and removed processors finish their in-flight deliveries before
                // the new ones start: never two readers on one store.
                runners.install(current.load_full()).await;
            }
        }
        drop(files);
    }
}

// === impl FileWatch ===

/// The file watcher of the configuration paths: sends on its channel when one of them
/// changes. Dropping it stops watching.
struct FileWatch {
    watcher: RecommendedWatcher,
    roots: Vec<Root>,
}

impl FileWatch {
    /// Watches `paths`; `None` (logged) when the platform's watcher cannot start, which
    /// leaves SIGHUP as the way to reload.
    fn start(paths: &[PathBuf], tx: mpsc::Sender<()>) -> Option<FileWatch> {
        let roots: Vec<Root> = paths.iter().map(|p| Root::new(p)).collect();
        let watched = roots.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let relevant = match &event {
                // A queue overflow lost events: reload to be sure.
                Ok(e) if e.need_rescan() => true,
                Ok(e) => {
                    matches!(
                        e.kind,
                        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                    ) && e.paths.iter().any(|p| watched.iter().any(|r| r.covers(p)))
                }
                Err(_) => true,
            };
            if relevant {
                // A full channel means a reload is already pending; that one will see this change.
                let _ = tx.try_send(());
            }
        });
        let mut watch = match watcher {
            Ok(watcher) => FileWatch { watcher, roots },
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the configuration files; reload with SIGHUP");
                return None;
            }
        };
        for root in &watch.roots {
            for (target, mode) in root.watches() {
                if let Err(e) = watch.watcher.watch(&target, mode) {
                    tracing::warn!(path = %target.display(), error = %e, "cannot watch");
                }
            }
        }
        tracing::info!(
            paths = ?watch.roots.iter().map(|r| r.path.display().to_string()).collect::<Vec<_>>(),
            "reloading when these change (and on SIGHUP)"
        );
        Some(watch)
    }

    /// Moves the watch of a folder given through a symlink that now points elsewhere
    /// (`current -> release-2`) to the new folder: inotify watches the folder the link
    /// named when the watch began, so edits in the new one would otherwise go unseen.
    fn follow_swapped_links(&mut self) {
        for root in &mut self.roots {
            let Some(old) = root.link_target.clone() else {
                continue;
            };
            let new = std::fs::canonicalize(&root.path).ok();
            if new.as_ref() == Some(&old) {
                continue;
            }
            // The old folder may be gone with its watch already: nothing to undo then.
            let _ = self.watcher.unwatch(&root.path);
            if let Err(e) = self.watcher.watch(&root.path, RecursiveMode::Recursive) {
                tracing::warn!(path = %root.path.display(), error = %e, "cannot watch");
            }
            root.link_target = new.or(Some(old));
        }
    }
}

// === impl Root ===

/// A configuration path as the file watcher sees it.
///
/// notify spells an event's path as the watched path joined with the changed name, made
/// absolute against the current directory. So a root is made absolute once, at start, and
/// that one spelling is both watched and compared with event paths: a relative root
/// (`config/samples`, `./config`) never prefixes an absolute event path, which is how
/// `make run` used to ignore every change. Symlinks are kept, not resolved: a ConfigMap
/// volume's files are links through `..data`, and a folder given through a link
/// (`current -> release-2`) must keep meaning "whatever the link points to".
#[derive(Debug, Clone, PartialEq, Eq)]
struct Root {
    /// Absolute, `.` components dropped, `..` and symlinks kept (`std::path::absolute`).
    path: PathBuf,
    /// A folder (watched recursively) rather than a file (its folder is watched).
    dir: bool,
    /// For a folder given through a symlink: the folder it pointed to when last watched.
    link_target: Option<PathBuf>,
}

impl Root {
    fn new(path: &Path) -> Root {
        // Fails only for an empty path or a vanished current directory; the path as given
        // then still works when absolute.
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let dir = path.is_dir();
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let link_target = (dir && is_link)
            .then(|| std::fs::canonicalize(&path).ok())
            .flatten();
        Root {
            path,
            dir,
            link_target,
        }
    }

    /// What to watch for this root.
    fn watches(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let parent = self.path.parent().map(Path::to_path_buf);
        let mut watches = Vec::new();
        if self.dir {
            watches.push((self.path.clone(), RecursiveMode::Recursive));
            // A folder link is replaced in its parent: watch there to see it swapped.
            if self.link_target.is_some() {
                watches.extend(parent.map(|p| (p, RecursiveMode::NonRecursive)));
            }
        } else {
            // A file is watched through its folder: editors and ConfigMap volumes replace
            // files by renaming, which ends a watch on the file itself.
            watches.extend(parent.map(|p| (p, RecursiveMode::NonRecursive)));
        }
        watches
    }

    /// Whether a change at `path` (absolute, as notify reports it) concerns this root.
    fn covers(&self, path: &Path) -> bool {
        // Kubernetes ConfigMap volumes swap a `..data` symlink; treat that as a change too.
        let configmap_swap = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("..data"));
        if self.dir {
            let yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            // `path == root`: a folder link replaced in the parent.
            path == self.path
                || (path.starts_with(&self.path) && (yaml || configmap_swap || path.is_dir()))
        } else {
            path == self.path || (configmap_swap && path.parent() == self.path.parent())
        }
    }
}

#[cfg(test)]
mod tests;
