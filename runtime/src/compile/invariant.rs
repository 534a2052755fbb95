//! The checker's promise, tested: over every bundled sample, every behaviour-test file, the
//! benchmark APIs and every one-field broken variant of each (`ferry_api::check::corpus`),
//! what the checker accepts, the runtime builds, and what it refuses, the runtime refuses.
//! Every mediator and kind of the registry takes part: those the samples lack are added.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use ferry_api::bundle::Bundle;
use ferry_api::check::corpus;
use ferry_api::check::{self, ConfigKeys};
use ferry_api::mediator::{MEDIATORS, Mediator as Spec, Support};
use ferry_api::resources::Resource;

use super::{CompileEnv, compile};
use crate::admin::metrics::Metrics;
use crate::endpoints::client::EndpointClient;
use crate::stores::factory::StoreRegistry;

fn env(config: &HashMap<String, String>) -> CompileEnv {
    CompileEnv {
        config: Arc::new(config.clone()),
        client: EndpointClient::default(),
        metrics: Arc::new(Metrics::new()),
        stores: StoreRegistry::check_only(),
    }
}

/// Whether the checker accepts `bundle`, and whether the runtime then builds it; a
/// disagreement is returned as a failure text.
fn agree(what: &str, bundle: &Bundle, env: &CompileEnv) -> Result<bool, String> {
    let checked = check::check(bundle, &ConfigKeys::with(env.config.keys().cloned()));
    let built = compile(bundle, env);
    match (checked.has_errors(), built) {
        (false, Ok(_)) => Ok(true),
        (true, Err(_)) => Ok(false),
        // Credentials (a key or users file, a secret's variable) are the machine's: the
        // checker cannot see them, the runtime reads them when it builds.
        (false, Err(d)) if d.iter().all(|d| machine_dependent(&d.message)) => Ok(true),
        (false, Err(d)) => Err(format!(
            "{what}: the checker accepts it but the runtime refuses it: {d:?}"
        )),
        (true, Ok(_)) => Err(format!(
            "{what}: the checker refuses it but the runtime built it: {:?}",
            checked.diagnostics
        )),
    }
}

fn machine_dependent(message: &str) -> bool {
    message.starts_with("cannot read ") || message.contains("environment variable")
}

fn mediator_names(list: &[Spec], out: &mut BTreeSet<&'static str>) {
    for m in list {
        out.insert(m.name());
        for (_, nested) in m.children() {
            mediator_names(nested, out);
        }
    }
}

#[test]
fn what_the_checker_accepts_the_runtime_builds_over_every_sample_and_broken_variant() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bases = corpus::bases(&root);
    let config = corpus::config(&bases);
    bases.push((
        "every kind and mediator".into(),
        corpus::every_kind_and_mediator(),
    ));
    let env = env(&config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Stores that prepare lazy pools need a runtime to exist, not to run.
    let _guard = runtime.enter();

    let (mut accepted, mut refused, mut failures) = (0usize, 0usize, Vec::new());
    let mut kinds = BTreeSet::new();
    let mut mediators = BTreeSet::new();
    for (name, docs) in &bases {
        let Some(base) = corpus::bundle(docs) else {
            panic!("{name} does not load");
        };
        for l in &base.resources {
            kinds.insert(l.resource.kind());
            match &l.resource {
                Resource::IntegrationApi(api) => {
                    mediator_names(&api.spec.fault_sequence, &mut mediators);
                    for r in &api.spec.resources {
                        mediator_names(&r.in_sequence, &mut mediators);
                        mediator_names(&r.out_sequence, &mut mediators);
                        mediator_names(&r.fault_sequence, &mut mediators);
                    }
                }
                Resource::Sequence(s) => mediator_names(&s.spec.mediators, &mut mediators),
                _ => {}
            }
        }
        match agree(name, &base, &env) {
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
        for (what, variant) in corpus::variants(docs) {
            match agree(&format!("{name}: {what}"), &variant, &env) {
                Ok(true) => accepted += 1,
                Ok(false) => refused += 1,
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (name, _) in MEDIATORS {
        assert!(
            mediators.contains(name),
            "the corpus has no {name} mediator"
        );
    }
    for kind in ferry_api::resources::KINDS {
        assert!(kinds.contains(kind), "the corpus has no {kind}");
    }
    assert!(
        accepted > 100 && refused > 1000,
        "{accepted} accepted, {refused} refused"
    );
    let running = MEDIATORS
        .iter()
        .filter(|(_, s)| *s == Support::Runs)
        .count();
    assert!(running > 10);
}
