use super::*;
use crate::config::OperatorConfig;
use crate::testing::group;

const GOOD: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: backend}
spec:
  http: {uriTemplate: "http://127.0.0.1:9000/api", method: get}
---
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: api}
spec:
  context: /api
  resources:
    - methods: [GET]
      uriTemplate: /x
      inSequence:
        - call: {endpoint: {key: backend}}
        - respond: {}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: lonely}
spec:
  mediators:
    - log: {message: hi}
"#;

fn defaults() -> IntegrationRuntimeSpec {
    OperatorConfig::default().defaults
}

#[test]
fn a_valid_group_is_accepted_whole_with_the_default_runtime() {
    let g = group(GOOD, "default");
    let a = admit(&g, &defaults());
    assert!(a.rejected.is_empty(), "{:?}", a.rejected);
    assert_eq!(a.accepted.len(), 3);
    assert_eq!(a.spec.as_ref().unwrap(), &defaults());
}

#[test]
fn a_broken_artifact_is_refused_with_its_field_path_and_the_rest_stays() {
    let yaml = format!(
        "{GOOD}---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: broken}}\nspec:\n  mediators:\n    - lgo: {{message: typo}}\n"
    );
    let g = group(&yaml, "default");
    let a = admit(&g, &defaults());
    let message = a.rejected.get("Sequence/broken").expect("refused");
    assert!(message.starts_with("spec.mediators[0]"), "{message}");
    assert_eq!(a.accepted.len(), 3, "the others are untouched");
    let broken = g.artifacts.iter().find(|x| x.name == "broken").unwrap();
    assert_eq!(a.rejection(broken), Some(message.as_str()));
}

#[test]
fn a_local_entry_from_a_file_is_refused_in_a_cluster_and_so_is_what_reads_it() {
    let yaml = format!(
        "{GOOD}---\napiVersion: ferry.dev/v1alpha1\nkind: LocalEntry\nmetadata: {{name: fmt}}\nspec:\n  file: {{path: fmt.txt}}\n---\napiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {{name: reader}}\nspec:\n  mediators:\n    - payloadFactory: {{mediaType: text, formatKey: fmt}}\n"
    );
    let g = group(&yaml, "default");
    let a = admit(&g, &defaults());
    let entry = a.rejected.get("LocalEntry/fmt").expect("refused");
    assert!(
        entry.starts_with("spec.file: a file source is read by"),
        "{entry}"
    );
    let reader = a.rejected.get("Sequence/reader").expect("refused");
    assert!(
        reader.contains("local entry \"fmt\" is not defined"),
        "{reader}"
    );
    assert_eq!(a.accepted.len(), 3, "the others are untouched");
}

#[test]
fn refusing_an_artifact_refuses_what_refers_to_it() {
    let yaml = GOOD.replace("method: get", "method: fly");
    let g = group(&yaml, "default");
    let a = admit(&g, &defaults());
    assert!(
        a.rejected.contains_key("Endpoint/backend"),
        "{:?}",
        a.rejected
    );
    let api = a
        .rejected
        .get("IntegrationAPI/api")
        .expect("the API that calls it goes too");
    assert!(api.contains("backend"), "{api}");
    assert!(api.contains("it exists but was not accepted"), "{api}");
    let ids: Vec<String> = a.accepted.iter().map(|x| x.id()).collect();
    assert_eq!(ids, ["Sequence/lonely"]);
}

#[test]
fn the_runtime_fills_image_and_resources_from_the_defaults() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: default}\nspec:\n  replicas: 3\n";
    let g = group(yaml, "default");
    let mut d = defaults();
    d.image = Some("registry.local/ferry:9".into());
    let a = admit(&g, &d);
    let spec = a.spec.unwrap();
    assert_eq!(spec.replicas, 3);
    assert_eq!(spec.image.as_deref(), Some("registry.local/ferry:9"));
}

#[test]
fn a_runtime_the_operator_cannot_render_is_refused_with_every_reason() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {name: default}\nspec:\n  mode: sidecar\n  adminPort: 8290\n  autoscaling: {minReplicas: 3, maxReplicas: 2}\n  podDisruptionBudget: {}\n";
    let g = group(yaml, "default");
    let a = admit(&g, &defaults());
    let why = a.spec.clone().unwrap_err();
    for part in [
        "spec.adminPort",
        "spec.autoscaling.maxReplicas",
        "spec.podDisruptionBudget",
    ] {
        assert!(why.contains(part), "{part} in {why}");
    }
    let runtime = g.runtime.as_ref().unwrap();
    assert_eq!(a.rejection(runtime), Some(why.as_str()));
}

#[test]
fn a_group_name_that_cannot_name_a_service_refuses_its_artifacts() {
    let yaml = "apiVersion: ferry.dev/v1alpha1\nkind: Sequence\nmetadata: {name: s}\nspec:\n  runtime: a.b\n  mediators: []\n";
    let g = group(yaml, "a.b");
    let a = admit(&g, &defaults());
    assert!(a.rejected["Sequence/s"].contains("cannot name a Service"));
    assert!(a.accepted.is_empty());
}

/// Three artifacts the operator used to accept while the runtime refused them (so the
/// group's pods refused their whole bundle behind `Accepted=True`).
const REFUSED_BY_THE_RUNTIME: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: blank-property}
spec:
  mediators:
    - property: {name: "", value: "1"}
---
apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata: {name: blank-variable}
spec:
  mediators:
    - variable: {name: "", value: "1"}
---
apiVersion: ferry.dev/v1alpha1
kind: ScheduledTask
metadata: {name: no-trigger}
spec:
  trigger: {}
  inject: {sequence: lonely}
"#;

#[test]
fn what_the_runtime_would_refuse_is_refused_with_its_located_message() {
    let g = group(&format!("{GOOD}---{REFUSED_BY_THE_RUNTIME}"), "default");
    let a = admit(&g, &defaults());
    assert_eq!(
        a.rejected
            .get("Sequence/blank-property")
            .map(String::as_str),
        Some("spec.mediators[0].property.name: name must not be empty")
    );
    assert_eq!(
        a.rejected
            .get("Sequence/blank-variable")
            .map(String::as_str),
        Some("spec.mediators[0].variable.name: name must not be empty")
    );
    assert_eq!(
        a.rejected
            .get("ScheduledTask/no-trigger")
            .map(String::as_str),
        Some("spec.trigger: set exactly one of interval, cron and once")
    );
    assert_eq!(a.accepted.len(), 3, "the valid artifacts stay");
}

/// The operator admits exactly what the checker accepts, over every sample, behaviour file
/// and one-field broken variant of each (the runtime's compile tests hold the runtime to
/// the same checker): an artifact is refused if and only if the checker reports an error
/// about it in its group.
#[test]
fn admission_agrees_with_the_checker_over_every_sample_and_broken_variant() {
    use ferry_api::check::corpus;
    use std::collections::BTreeSet;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut bases = corpus::bases(&root);
    bases.push((
        "every kind and mediator".into(),
        corpus::every_kind_and_mediator(),
    ));
    let (mut compared, mut failures) = (0usize, Vec::new());
    for (name, docs) in &bases {
        let mut cases = vec![(String::new(), docs.clone())];
        cases.extend(corpus::variant_documents(docs));
        for (what, docs) in cases {
            // Only what reaches the operator as objects: the API server refuses documents
            // the CRD schema does not describe, before any admission.
            if corpus::bundle(&docs).is_none() {
                continue;
            }
            let objects = crate::testing::objects_of(docs.iter().map(|(_, v)| v.clone()));
            let groups = crate::group::collect(
                objects
                    .iter()
                    .filter_map(crate::group::Artifact::from_object),
            );
            for group in groups.values() {
                let admission = admit(group, &defaults());
                let bundle = Bundle {
                    resources: group
                        .artifacts
                        .iter()
                        .chain(group.runtime.iter())
                        .filter_map(|a| {
                            Some(Loaded {
                                resource: Resource::from_value(a.kind, a.document.clone()).ok()?,
                                origin: Origin::synthetic(&a.id()),
                            })
                        })
                        .collect(),
                    unreadable: Vec::new(),
                    files: Default::default(),
                };
                let refused_by_checker: BTreeSet<String> = ferry_api::validate::validate(&bundle)
                    .into_iter()
                    .filter(|d| d.is_error())
                    .filter_map(|d| d.resource)
                    .collect();
                let mut refused_by_operator: BTreeSet<String> =
                    admission.rejected.keys().cloned().collect();
                if let (Err(_), Some(runtime)) = (&admission.spec, &group.runtime) {
                    refused_by_operator.insert(runtime.id());
                }
                // A checker error about one artifact can make the operator refuse those that
                // refer to it too (it leaves the first out of the bundle); what the checker
                // refuses, the operator must refuse, and whatever the operator refuses
                // beyond that must be such a follower.
                let unmounted = admission
                    .rejected
                    .values()
                    .filter(|m| m.contains("is not a file the runtime's pod has"))
                    .count();
                let missed: Vec<_> = refused_by_checker
                    .difference(&refused_by_operator)
                    .collect();
                let extra: Vec<_> = refused_by_operator
                    .difference(&refused_by_checker)
                    .filter(|id| {
                        !admission.rejected.get(*id).is_some_and(|m| {
                            m.contains("exists but was not accepted")
                                || m.contains("is not defined")
                                // A cluster's own rule: files come from mounted Secrets.
                                || m.contains("is not a file the runtime's pod has")
                        })
                    })
                    .collect();
                if !missed.is_empty()
                    || !extra.is_empty()
                    || (refused_by_checker.is_empty()
                        && admission.accepted.len() + unmounted != group.artifacts.len())
                {
                    failures.push(format!(
                        "{name} {what}: checker refuses {refused_by_checker:?}, operator {refused_by_operator:?}"
                    ));
                }
                compared += 1;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 1000, "{compared} groups compared");
}

const JWT_API: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata: {name: secured}
spec:
  context: /secured
  authentication:
    jwt: {keyFile: KEY, algorithms: [RS256]}
  resources:
    - methods: [GET]
      uriTemplate: /x
      inSequence:
        - respond: {}
"#;

fn runtime_with_mounts(mounts: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: IntegrationRuntime\nmetadata: {{name: default}}\nspec:\n  secretMounts: {mounts}\n"
    )
}

#[test]
fn a_key_file_must_be_inside_a_secret_the_runtime_mounts() {
    let relative = JWT_API.replace("KEY", "public.pem");
    let g = group(&relative, "default");
    let a = admit(&g, &defaults());
    let message = a.rejected.get("IntegrationAPI/secured").expect("refused");
    assert!(
        message.starts_with(
            "spec.authentication.jwt.keyFile: \"public.pem\" is not a file the runtime's pod has"
        ) && message.contains("it mounts none")
            && message.contains("keyFrom") | message.contains("*From"),
        "{message}"
    );

    let mounted = format!(
        "{}---\n{}",
        runtime_with_mounts("[{secretName: jwt-keys, mountPath: /etc/ferry/secrets/jwt}]"),
        JWT_API.replace("KEY", "/etc/ferry/secrets/jwt/public.pem")
    );
    let g = group(&mounted, "default");
    let a = admit(&g, &defaults());
    assert!(a.rejected.is_empty(), "{:?}", a.rejected);
    assert!(a.spec.is_ok(), "{:?}", a.spec);

    let elsewhere = format!(
        "{}---\n{}",
        runtime_with_mounts("[{secretName: jwt-keys, mountPath: /etc/ferry/secrets/jwt}]"),
        JWT_API.replace("KEY", "/etc/ferry/secrets/jwtx/public.pem")
    );
    let g = group(&elsewhere, "default");
    let message = admit(&g, &defaults())
        .rejected
        .get("IntegrationAPI/secured")
        .cloned()
        .expect("a sibling directory is not inside the mount");
    assert!(
        message.contains("it mounts /etc/ferry/secrets/jwt"),
        "{message}"
    );
}
