//! Test fixtures: groups from inline YAML, as the watch would deliver them.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::{Value, json};

use crate::group::{Artifact, Group, GroupKey, collect};

/// Objects from multi-document YAML, placed in namespace `ns` with a uid and generation 1
/// unless the document sets them.
pub fn objects(yaml: &str) -> Vec<DynamicObject> {
    let docs = ferry_api::bundle::yaml::parse_documents(yaml).expect("test YAML parses");
    objects_of(docs.into_iter().map(|doc| doc.value))
}

/// Objects from resource documents, as [`objects`] places them.
pub fn objects_of(docs: impl IntoIterator<Item = Value>) -> Vec<DynamicObject> {
    docs.into_iter()
        .map(|mut value| {
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or("x")
                .to_string();
            let kind = value["kind"].as_str().unwrap_or("X").to_string();
            let meta = value["metadata"].as_object_mut().expect("metadata");
            meta.entry("namespace").or_insert(json!("ns"));
            meta.entry("uid")
                .or_insert(json!(format!("uid-{kind}-{name}")));
            meta.entry("generation").or_insert(json!(1));
            serde_json::from_value(value).expect("a Kubernetes object")
        })
        .collect()
}

/// All groups of the objects in the YAML.
pub fn groups(yaml: &str) -> BTreeMap<GroupKey, Group> {
    collect(objects(yaml).iter().filter_map(Artifact::from_object))
}

/// The one group `ns/<name>` of the objects in the YAML.
pub fn group(yaml: &str, name: &str) -> Group {
    groups(yaml)
        .remove(&GroupKey::new("ns", name))
        .unwrap_or_else(|| Group::empty(GroupKey::new("ns", name)))
}

/// The condition of type `kind` in a status (panics when absent: a failed test).
pub fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} condition in {status}"))
}

/// A value's YAML text, for golden files.
pub fn to_yaml(value: &impl serde::Serialize) -> String {
    let mut out = String::new();
    ferry_api::yaml_writer::document(
        &mut out,
        &serde_json::to_value(value).unwrap_or(Value::Null),
    );
    out
}

/// Compares `actual` with the golden file `operator/tests/golden/<name>.yaml`; with
/// `UPDATE_GOLDEN=1` in the environment, rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("golden file written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs from the rendering (rerun with UPDATE_GOLDEN=1 to accept):\n{actual}",
        path.display()
    );
}

pub mod fake_api;

/// A TLS client that trusts only the certificates of `ca_pem`, as the API server trusts a
/// webhook's `caBundle`.
pub fn tls_connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("a CA certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
