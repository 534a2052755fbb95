use std::path::Path;
use std::sync::Arc;

use ferry_api::resources::{ClientAuth, TlsVersion};
use rcgen::{CertificateParams, KeyPair};

use super::{ServerTls, ServerTlsSettings};

/// A self-signed certificate for `name`: (certificate PEM, key PEM).
fn self_signed(name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn settings(dir: &Path) -> ServerTlsSettings {
    ServerTlsSettings {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        client_ca: None,
        client_auth: ClientAuth::None,
        min_version: TlsVersion::Tls12,
    }
}

fn write(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("tls.crt"), cert).unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
}

#[test]
fn a_changed_certificate_is_swapped_in_and_an_unchanged_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &self_signed("one.test"));
    let tls = ServerTls::load(settings(dir.path())).unwrap();
    let first = tls.config();
    assert_eq!(tls.reload(), Ok(false));
    assert!(Arc::ptr_eq(&first, &tls.config()));

    write(dir.path(), &self_signed("two.test"));
    assert_eq!(tls.reload(), Ok(true));
    assert!(!Arc::ptr_eq(&first, &tls.config()));
    assert_eq!(
        tls.config().alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn a_key_that_does_not_fit_keeps_the_current_certificate() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &self_signed("one.test"));
    let tls = ServerTls::load(settings(dir.path())).unwrap();
    let first = tls.config();
    let (cert, _) = self_signed("two.test");
    let (_, other_key) = self_signed("three.test");
    write(dir.path(), &(cert, other_key));
    let err = tls.reload().unwrap_err();
    assert!(err.contains("does not fit"), "{err}");
    assert!(Arc::ptr_eq(&first, &tls.config()));
}

#[test]
fn files_that_are_not_certificates_fail_the_load_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("tls.key"), "nor a key").unwrap();
    let err = ServerTls::load(settings(dir.path())).unwrap_err();
    assert!(err.contains("tls.crt"), "{err}");
}

#[test]
fn client_verification_without_a_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &self_signed("one.test"));
    let err = ServerTls::load(ServerTlsSettings {
        client_auth: ClientAuth::Required,
        ..settings(dir.path())
    })
    .unwrap_err();
    assert!(err.contains("--tls-client-ca"), "{err}");
}
