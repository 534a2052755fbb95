//! Replays every saved input (`corpus/<target>/*`: seeds and the regression inputs of
//! crashes once found) through its target function on stable, without libFuzzer: `make test`
//! keeps fixed crashes fixed. `crashes/` holds open bugs and is not replayed.

use std::path::Path;

#[test]
fn every_corpus_input_runs_through_its_target_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut replayed = 0;
    for (name, target) in ferry_fuzz::targets::ALL {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut paths: Vec<_> = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        paths.sort();
        assert!(!paths.is_empty(), "{} has no seed inputs", dir.display());
        for path in paths {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Name the input before running it: a panic's message then says which one.
            eprintln!("replaying {}", path.display());
            target(&data);
            replayed += 1;
        }
    }
    println!("replayed {replayed} corpus inputs");
}
