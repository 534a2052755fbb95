use std::os::unix::fs::symlink;

use super::*;

/// Where cargo runs unit tests: the package folder, so `src/cli` exists relative to it.
fn cwd() -> PathBuf {
    std::env::current_dir().unwrap()
}

/// `target` spelled relative to the current directory with `..` steps: a relative,
/// multi-component root without changing the process's directory under parallel tests.
fn relative_to_cwd(target: &Path) -> PathBuf {
    let ups: PathBuf = cwd().components().skip(1).map(|_| "..").collect();
    ups.join(target.strip_prefix("/").unwrap())
}

/// Starts a watcher of `paths` and lets its setup settle.
async fn watching(paths: &[PathBuf]) -> (FileWatch, mpsc::Receiver<()>) {
    let (tx, mut rx) = mpsc::channel(1);
    let watch = FileWatch::start(paths, tx).expect("the platform's watcher starts");
    settle(&mut rx).await;
    (watch, rx)
}

/// Whether the watcher reports a change within two seconds.
async fn reported(rx: &mut mpsc::Receiver<()>) -> bool {
    tokio::time::timeout(Duration::from_secs(2), rx.recv())
        .await
        .is_ok_and(|r| r.is_some())
}

/// Drops what was reported so far, once the burst is over.
async fn settle(rx: &mut mpsc::Receiver<()>) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    while rx.try_recv().is_ok() {}
}

/// Lays out `dir` the way the kubelet mounts a ConfigMap: the files in a timestamped folder,
/// `..data` linking to it, and each file a link through `..data`.
fn configmap(dir: &Path, stamp: &str, file: &str, content: &str) {
    std::fs::create_dir_all(dir.join(stamp)).unwrap();
    std::fs::write(dir.join(stamp).join(file), content).unwrap();
    symlink(stamp, dir.join("..data")).unwrap();
    symlink(Path::new("..data").join(file), dir.join(file)).unwrap();
}

/// Updates it the way the kubelet does: a new timestamped folder, a `..data_tmp` link to it
/// renamed over `..data`, then the old folder removed.
fn configmap_update(dir: &Path, old: &str, new: &str, file: &str, content: &str) {
    std::fs::create_dir_all(dir.join(new)).unwrap();
    std::fs::write(dir.join(new).join(file), content).unwrap();
    symlink(new, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(dir.join(old)).unwrap();
}

#[test]
fn relative_roots_are_made_absolute_as_notify_spells_event_paths() {
    let event = cwd().join("src/cli/new.yaml");
    for given in ["src/cli", "./src/cli", "src/./cli/"] {
        let root = Root::new(Path::new(given));
        assert_eq!(root.path, cwd().join("src/cli"), "{given}");
        assert!(root.dir, "{given}");
        assert!(
            root.covers(&event),
            "{given} must cover {}",
            event.display()
        );
    }
    let absolute = Root::new(&cwd().join("src/cli"));
    assert!(absolute.covers(&event));
}

#[test]
fn a_folder_root_covers_yaml_files_under_it_and_nothing_beside_it() {
    let root = Root::new(Path::new("src/cli"));
    assert!(root.covers(&cwd().join("src/cli/deep/er/api.yml")));
    assert!(root.covers(&cwd().join("src/cli/..data")));
    assert!(!root.covers(&cwd().join("src/cli/notes.txt")));
    assert!(!root.covers(&cwd().join("src/other.yaml")));
    assert_eq!(
        root.watches(),
        vec![(root.path.clone(), RecursiveMode::Recursive)]
    );
}

#[test]
fn a_file_root_covers_itself_and_a_configmap_swap_beside_it_only() {
    let root = Root::new(Path::new("./src/cli/run.rs"));
    assert!(!root.dir);
    assert!(root.covers(&cwd().join("src/cli/run.rs")));
    assert!(root.covers(&cwd().join("src/cli/..data")));
    assert!(!root.covers(&cwd().join("src/cli/other.yaml")));
    assert_eq!(
        root.watches(),
        vec![(cwd().join("src/cli"), RecursiveMode::NonRecursive)]
    );
}

#[tokio::test]
async fn a_change_under_a_relative_root_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    std::fs::write(conf.join("api.yaml"), "one").unwrap();
    let relative = relative_to_cwd(&conf);
    assert!(relative.is_relative() && relative.is_dir());
    let dotted = Path::new(".").join(&relative);
    for given in [relative, dotted] {
        let (_watch, mut rx) = watching(std::slice::from_ref(&given)).await;
        std::fs::write(conf.join("api.yaml"), "two").unwrap();
        assert!(reported(&mut rx).await, "{}", given.display());
    }
}

#[tokio::test]
async fn a_relative_file_root_reports_its_edits_and_not_its_neighbours() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("api.yaml");
    std::fs::write(&file, "one").unwrap();
    let (_watch, mut rx) = watching(&[relative_to_cwd(&file)]).await;
    std::fs::write(tmp.path().join("other.yaml"), "x").unwrap();
    assert!(
        !reported(&mut rx).await,
        "a neighbour is not the configuration"
    );
    // Editors save by writing a new file and renaming it over the old one.
    std::fs::write(tmp.path().join(".api.yaml.swp"), "two").unwrap();
    std::fs::rename(tmp.path().join(".api.yaml.swp"), &file).unwrap();
    assert!(reported(&mut rx).await);
}

#[tokio::test]
async fn a_configmap_volume_update_is_reported_for_the_folder_and_for_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("config");
    std::fs::create_dir(&volume).unwrap();
    configmap(&volume, "..2026_01_01_a", "api.yaml", "one");
    let (_folder, mut folder_rx) = watching(std::slice::from_ref(&volume)).await;
    let (_file, mut file_rx) = watching(&[volume.join("api.yaml")]).await;

    configmap_update(
        &volume,
        "..2026_01_01_a",
        "..2026_01_01_b",
        "api.yaml",
        "two",
    );
    assert!(reported(&mut folder_rx).await, "the folder watch missed it");
    assert!(reported(&mut file_rx).await, "the file watch missed it");
    settle(&mut folder_rx).await;
    settle(&mut file_rx).await;

    // And again: the first swap must not have lost the watch.
    configmap_update(
        &volume,
        "..2026_01_01_b",
        "..2026_01_01_c",
        "api.yaml",
        "three",
    );
    assert!(
        reported(&mut folder_rx).await,
        "the folder watch missed the 2nd"
    );
    assert!(
        reported(&mut file_rx).await,
        "the file watch missed the 2nd"
    );
}

#[tokio::test]
async fn a_folder_link_pointed_elsewhere_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let releases = tmp.path().join("releases");
    for release in ["one", "two"] {
        std::fs::create_dir_all(releases.join(release)).unwrap();
        std::fs::write(releases.join(release).join("api.yaml"), release).unwrap();
    }
    let current = tmp.path().join("current");
    symlink(releases.join("one"), &current).unwrap();
    let (mut watch, mut rx) = watching(std::slice::from_ref(&current)).await;

    std::fs::write(releases.join("one").join("api.yaml"), "one, edited").unwrap();
    assert!(reported(&mut rx).await, "an edit through the link");

    symlink(releases.join("two"), tmp.path().join("current.tmp")).unwrap();
    std::fs::rename(tmp.path().join("current.tmp"), &current).unwrap();
    assert!(reported(&mut rx).await, "the link swapped");
    // What `watch` does before each reload.
    watch.follow_swapped_links();
    settle(&mut rx).await;

    std::fs::write(releases.join("two").join("api.yaml"), "two, edited").unwrap();
    assert!(reported(&mut rx).await, "an edit in the folder now linked");
    settle(&mut rx).await;
    std::fs::write(releases.join("one").join("api.yaml"), "one, again").unwrap();
    assert!(!reported(&mut rx).await, "the folder no longer linked");
}
