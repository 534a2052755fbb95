//! A development certificate for the HTTPS listener (`ferry run --tls-self-signed`), the
//! counterpart of the default keystore Micro Integrator ships so that its 8253 listener
//! answers out of the box.
//!
//! The pair lives in the data directory and is kept across restarts while it has more than
//! a day left, so a client told to trust it once (`curl --cacert .ferry-data/tls/self-signed.crt`)
//! keeps trusting it. It names only the loopback host: it is for a developer's machine,
//! never a cluster (there the certificate comes from a Secret).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};

/// The names the certificate is for.
const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// How long a new certificate is valid.
const LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// A certificate with less than this left is made anew at start.
const RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// Valid from a little before it is made: clocks differ.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The certificate and key files, made when missing, unreadable or close to expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// PEM certificate; also what clients trust.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8), readable by its owner only.
    pub key: PathBuf,
    /// Whether this call made them (false: the stored pair was still good).
    pub made: bool,
}

/// The pair under `dir` (`self-signed.crt`, `self-signed.key`), made anew when needed.
pub fn ensure(dir: &Path, now: SystemTime) -> Result<SelfSigned, String> {
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if still_good(&cert, &key, now) {
        return Ok(SelfSigned {
            cert,
            key,
            made: false,
        });
    }
    let (cert_pem, key_pem) = generate(now)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_atomically(&key, key_pem.as_bytes(), true)?;
    write_atomically(&cert, cert_pem.as_bytes(), false)?;
    Ok(SelfSigned {
        cert,
        key,
        made: true,
    })
}

/// A stored pair serves when both parse and the certificate is valid for another day.
fn still_good(cert: &Path, key: &Path, now: SystemTime) -> bool {
    let (Ok(cert_pem), Ok(key_pem)) = (std::fs::read(cert), std::fs::read(key)) else {
        return false;
    };
    if super::private_key(&key_pem, "key").is_err() {
        return false;
    }
    let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(&cert_pem) else {
        return false;
    };
    let Ok(parsed) = pem.parse_x509() else {
        return false;
    };
    let not_after = parsed.validity().not_after.timestamp();
    let renew_at = unix(now).saturating_add(RENEW_BEFORE.as_secs() as i64);
    not_after > renew_at
}

fn generate(now: SystemTime) -> Result<(String, String), String> {
    let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
    let mut params =
        CertificateParams::new(names).map_err(|e| format!("certificate names: {e}"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "Ferry development certificate");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let start = unix(now) - BACKDATE.as_secs() as i64;
    let end = unix(now) + LIFETIME.as_secs() as i64;
    params.not_before = time::OffsetDateTime::from_unix_timestamp(start)
        .map_err(|e| format!("certificate validity: {e}"))?;
    params.not_after = time::OffsetDateTime::from_unix_timestamp(end)
        .map_err(|e| format!("certificate validity: {e}"))?;
    let key = KeyPair::generate().map_err(|e| format!("making a key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("making a certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Writes beside the target and renames, so a reader (the listener's reload) never sees a
/// half-written file; `private` makes it readable by its owner only.
fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_pair_the_listener_loads_and_keeps_it_across_restarts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = SystemTime::now();
        let first = ensure(dir.path(), now).expect("made");
        assert!(first.made);
        let settings = super::super::server::ServerTlsSettings {
            cert: first.cert.clone(),
            key: first.key.clone(),
            client_ca: None,
            client_auth: ferry_api::resources::ClientAuth::None,
            min_version: ferry_api::resources::TlsVersion::Tls12,
        };
        super::super::server::ServerTls::load(settings).expect("the listener loads it");
        let again = ensure(dir.path(), now).expect("kept");
        assert!(
            !again.made,
            "a valid pair is reused, so clients keep trusting it"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key)
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
        }
    }

    #[test]
    fn a_pair_close_to_expiry_or_broken_is_made_anew() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = SystemTime::now();
        ensure(dir.path(), now).expect("made");
        let later = now + LIFETIME - Duration::from_secs(3600);
        assert!(ensure(dir.path(), later).expect("renewed").made);
        std::fs::write(dir.path().join("self-signed.key"), "not a key").expect("write");
        assert!(ensure(dir.path(), later).expect("replaced").made);
    }
}
