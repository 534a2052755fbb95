use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::testing::tls_connector;

const NOW: i64 = 1_800_000_000;

fn names() -> Vec<String> {
    vec![
        "ferry-operator-webhook.ferry.svc".to_string(),
        "127.0.0.1".to_string(),
    ]
}

/// A TLS handshake between a server holding `m`'s certificate and a client trusting only
/// `ca_bundle`, for `name`: the chain the API server would check.
async fn handshake(m: &Material, ca_bundle: &str, name: &str) -> Result<(), String> {
    let config = server_config(m.cert.as_bytes(), m.key.as_bytes()).map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (client, server) = tokio::io::duplex(16 * 1024);
    let server = tokio::spawn(async move {
        let mut tls = acceptor.accept(server).await.map_err(|e| e.to_string())?;
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())
    });
    let connector = tls_connector(ca_bundle);
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut tls = connector
        .connect(server_name, client)
        .await
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
    server.await.unwrap()?;
    assert_eq!(got, b"ok");
    Ok(())
}

#[test]
fn nothing_stored_makes_everything_and_fresh_material_is_kept() {
    assert_eq!(renewal(None, &names(), NOW), Renewal::All);
    let m = renew(None, Renewal::All, &names(), NOW).unwrap();
    assert_eq!(m.not_after, NOW + SERVING_LIFETIME);
    assert_eq!(m.ca_not_after, NOW + CA_LIFETIME);
    assert_eq!(renewal(Some(&m), &names(), NOW), Renewal::Keep);
    assert_eq!(renewal(Some(&m), &names(), NOW + 200 * DAY), Renewal::Keep);
}

#[test]
fn the_serving_certificate_is_renewed_when_a_third_of_its_life_is_left() {
    let m = renew(None, Renewal::All, &names(), NOW).unwrap();
    let later = m.not_after - SERVING_RENEW_BEFORE + 1;
    assert_eq!(renewal(Some(&m), &names(), later), Renewal::Serving);
    let renewed = renew(Some(&m), Renewal::Serving, &names(), later).unwrap();
    assert_eq!(renewed.ca_bundle, m.ca_bundle, "caBundle unchanged");
    assert_eq!(renewed.ca_key, m.ca_key);
    assert_ne!(renewed.cert, m.cert);
    assert_eq!(renewed.not_after, later + SERVING_LIFETIME);
    assert_eq!(renewal(Some(&renewed), &names(), later), Renewal::Keep);
}

#[test]
fn other_names_renew_the_serving_certificate_and_an_old_ca_renews_everything() {
    let m = renew(None, Renewal::All, &names(), NOW).unwrap();
    let mut more = names();
    more.push("ferry-operator-webhook".into());
    assert_eq!(renewal(Some(&m), &more, NOW), Renewal::Serving);
    let ca_late = m.ca_not_after - CA_RENEW_BEFORE + 1;
    assert_eq!(renewal(Some(&m), &names(), ca_late), Renewal::All);
    let renewed = renew(Some(&m), Renewal::All, &names(), ca_late).unwrap();
    assert_ne!(renewed.ca_key, m.ca_key);
    assert!(
        renewed.ca_bundle.ends_with(m.ca_bundle.trim_end()),
        "the old CA stays trusted until it expires"
    );
    assert_eq!(renewed.ca_bundle.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(
        renewed.not_after <= renewed.ca_not_after,
        "never past its CA"
    );
}

#[tokio::test]
async fn made_and_renewed_certificates_verify_against_the_ca_bundle() {
    let m = renew(None, Renewal::All, &names(), now()).unwrap();
    handshake(&m, &m.ca_bundle, "ferry-operator-webhook.ferry.svc")
        .await
        .unwrap();
    handshake(&m, &m.ca_bundle, "127.0.0.1").await.unwrap();
    assert!(
        handshake(&m, &m.ca_bundle, "elsewhere.example")
            .await
            .is_err(),
        "a name the certificate is not for"
    );
    // Signed later by the stored CA key: the CA certificate in caBundle still verifies it.
    let renewed = renew(Some(&m), Renewal::Serving, &names(), now()).unwrap();
    handshake(&renewed, &m.ca_bundle, "ferry-operator-webhook.ferry.svc")
        .await
        .unwrap();
    // A new CA: the bundle trusts both the new serving certificate and the old one.
    let rotated = renew(Some(&m), Renewal::All, &names(), now()).unwrap();
    handshake(&rotated, &rotated.ca_bundle, "127.0.0.1")
        .await
        .unwrap();
    handshake(&m, &rotated.ca_bundle, "127.0.0.1")
        .await
        .unwrap();
    let stranger = renew(None, Renewal::All, &names(), now()).unwrap();
    assert!(
        handshake(&stranger, &m.ca_bundle, "127.0.0.1")
            .await
            .is_err()
    );
}

fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

#[test]
fn the_secret_round_trips() {
    let m = renew(None, Renewal::All, &names(), NOW).unwrap();
    let secret = m.to_secret("tls", "ferry");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(Material::from_secret(&secret), Some(m));
    let mut broken = secret;
    broken.data.as_mut().unwrap().remove("ca.key");
    assert_eq!(Material::from_secret(&broken), None, "made anew");
}

#[test]
fn the_ca_bundle_is_set_on_every_webhook_once() {
    let mut configuration: MutatingWebhookConfiguration = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ferry-operator"},
        "webhooks": [
            {"name": "a.ferry.dev", "clientConfig": {"service": {"name": "s", "namespace": "n"}},
             "admissionReviewVersions": ["v1"], "sideEffects": "None"},
            {"name": "b.ferry.dev", "clientConfig": {"caBundle": "b2xk", "service": {"name": "s", "namespace": "n"}},
             "admissionReviewVersions": ["v1"], "sideEffects": "None"},
        ],
    }))
    .unwrap();
    assert!(set_ca_bundle(&mut configuration, "PEM"));
    for webhook in configuration.webhooks.as_ref().unwrap() {
        assert_eq!(webhook.client_config.ca_bundle.as_ref().unwrap().0, b"PEM");
    }
    assert!(!set_ca_bundle(&mut configuration, "PEM"), "nothing to do");
}

#[tokio::test]
async fn mounted_files_are_served_and_reloaded_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let m = renew(None, Renewal::All, &names(), now()).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &m.cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), &m.key).unwrap();
    let (client, _fake) = crate::testing::fake_api::client();
    let serving = Arc::new(Serving::default());
    let manager = Manager {
        client,
        source: Source::Files(dir.path().to_path_buf()),
        serving: serving.clone(),
    };
    manager.check().await.unwrap();
    let first = serving.current().unwrap();
    manager.check().await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &serving.current().unwrap()),
        "unchanged"
    );
    let renewed = renew(Some(&m), Renewal::Serving, &names(), now()).unwrap();
    std::fs::write(dir.path().join("tls.crt"), &renewed.cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), &renewed.key).unwrap();
    manager.check().await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &serving.current().unwrap()),
        "reloaded"
    );
}

#[tokio::test]
async fn the_operator_makes_the_secret_and_sets_the_ca_bundle() {
    let (client, fake) = crate::testing::fake_api::client();
    let path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/ferry-operator";
    fake.lock().unwrap().objects.insert(
        path.to_string(),
        serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "ferry-operator", "resourceVersion": "7"},
            "webhooks": [{"name": "sidecar.ferry.dev", "clientConfig": {"service": {"name": "s", "namespace": "ferry"}},
                "admissionReviewVersions": ["v1"], "sideEffects": "None"}]}),
    );
    let serving = Arc::new(Serving::default());
    let manager = Manager {
        client,
        source: Source::Operator {
            secret: "ferry-operator-webhook-tls".into(),
            namespace: "ferry".into(),
            configuration: "ferry-operator".into(),
            names: names(),
        },
        serving: serving.clone(),
    };
    manager.check().await.unwrap();
    assert!(serving.current().is_some());
    let state = fake.lock().unwrap();
    let lines: Vec<String> = state.seen.iter().map(|s| s.line()).collect();
    assert_eq!(
        lines,
        [
            "GET /api/v1/namespaces/ferry/secrets/ferry-operator-webhook-tls",
            "POST /api/v1/namespaces/ferry/secrets",
            &format!("GET {path}"),
            &format!("PUT {path}"),
        ]
    );
    let secret = &state.seen[1].body;
    let ca = &secret["data"]["ca.crt"];
    let put = &state.seen[3].body;
    assert_eq!(&put["webhooks"][0]["clientConfig"]["caBundle"], ca);
    assert_eq!(put["metadata"]["resourceVersion"], "7");
}

#[tokio::test]
async fn a_stored_certificate_near_its_end_is_renewed_in_place() {
    let (client, fake) = crate::testing::fake_api::client();
    let path = "/api/v1/namespaces/ferry/secrets/ferry-operator-webhook-tls";
    let old = renew(None, Renewal::All, &names(), now() - 300 * DAY).unwrap();
    let mut stored =
        serde_json::to_value(old.to_secret("ferry-operator-webhook-tls", "ferry")).unwrap();
    stored["metadata"]["resourceVersion"] = serde_json::json!("3");
    fake.lock()
        .unwrap()
        .objects
        .insert(path.to_string(), stored);
    let serving = Arc::new(Serving::default());
    let manager = Manager {
        client,
        source: Source::Operator {
            secret: "ferry-operator-webhook-tls".into(),
            namespace: "ferry".into(),
            configuration: "ferry-operator".into(),
            names: names(),
        },
        serving: serving.clone(),
    };
    manager.check().await.unwrap();
    let state = fake.lock().unwrap();
    let lines: Vec<String> = state.seen.iter().map(|s| s.line()).collect();
    assert_eq!(lines[..2], [format!("GET {path}"), format!("PUT {path}")]);
    let put = &state.seen[1].body;
    assert_eq!(
        put["metadata"]["resourceVersion"], "3",
        "replaces what it read"
    );
    let renewed = Material::from_secret(&serde_json::from_value(put.clone()).unwrap()).unwrap();
    assert_eq!(renewed.ca_bundle, old.ca_bundle, "same CA");
    assert!(renewed.not_after > old.not_after);
    drop(state);
    // The configuration does not exist: nothing to patch, no error (checked again later).
    assert!(serving.current().is_some());
}
