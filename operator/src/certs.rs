//! The webhook's serving certificate. The API server calls the webhook over HTTPS and
//! trusts it through the `caBundle` of the MutatingWebhookConfiguration, so the operator
//! either makes both itself — a CA and a serving certificate it signs, kept in a Secret so
//! every replica serves the same one, the CA put into `caBundle`, the serving certificate
//! renewed well before it expires — or, with cert-manager, serves the certificate mounted
//! from cert-manager's Secret (cert-manager's cainjector fills `caBundle` then).
//!
//! The decisions ([`renewal`], [`renew`], the Secret's contents) are pure functions of the
//! stored material and the time; [`Manager`] carries them out against the API server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The CA lives ten years; it is replaced when less than one is left.
const CA_LIFETIME: i64 = 10 * 365 * DAY;
const CA_RENEW_BEFORE: i64 = 365 * DAY;
/// The serving certificate lives one year; it is renewed when a third is left, so a
/// renewal that fails has months of retries before anything expires.
const SERVING_LIFETIME: i64 = 365 * DAY;
const SERVING_RENEW_BEFORE: i64 = SERVING_LIFETIME / 3;
/// Certificates are valid from a little before they are made: clocks differ.
const BACKDATE: i64 = 3600;
const DAY: i64 = 24 * 3600;

/// Annotation of the Secret: when the serving certificate expires (RFC 3339).
pub const NOT_AFTER_ANNOTATION: &str = "ferry.dev/not-after";
/// Annotation of the Secret: when the CA expires (RFC 3339).
pub const CA_NOT_AFTER_ANNOTATION: &str = "ferry.dev/ca-not-after";
/// Annotation of the Secret: the names the serving certificate is for (comma-separated).
pub const NAMES_ANNOTATION: &str = "ferry.dev/dns-names";

/// How often the Secret, the mounted files and `caBundle` are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);

/// Why certificates could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused (a name that is neither a DNS name nor an IP address, ...).
    #[error("making a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The PEM text holds no certificate or key.
    #[error("reading the certificate: {0}")]
    Pem(String),
    /// rustls refused the certificate and key.
    #[error("using the certificate: {0}")]
    Tls(#[from] rustls::Error),
}

/// The CA and serving certificate, as stored in the Secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// PEM: the current CA first, then the one it replaced while that is still valid, so
    /// the API server trusts the old serving certificate until every replica reloaded.
    pub ca_bundle: String,
    /// PEM: the current CA's key.
    pub ca_key: String,
    /// PEM: the serving certificate.
    pub cert: String,
    /// PEM: its key.
    pub key: String,
    /// Unix seconds: when the serving certificate expires.
    pub not_after: i64,
    /// Unix seconds: when the CA expires.
    pub ca_not_after: i64,
    /// The names the serving certificate is for.
    pub names: Vec<String>,
}

/// What must be made anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Nothing: the material serves.
    Keep,
    /// A new serving certificate from the same CA (no change to `caBundle`).
    Serving,
    /// A new CA and serving certificate.
    All,
}

/// What the stored material (if any) needs at `now` (unix seconds) to serve `names`.
pub fn renewal(material: Option<&Material>, names: &[String], now: i64) -> Renewal {
    let Some(m) = material else {
        return Renewal::All;
    };
    if m.ca_not_after - now < CA_RENEW_BEFORE {
        Renewal::All
    } else if m.not_after - now < SERVING_RENEW_BEFORE || m.names != names {
        Renewal::Serving
    } else {
        Renewal::Keep
    }
}

/// The CA's parameters: the same every time, so a serving certificate signed later by the
/// stored key names the issuer the stored CA certificate has.
fn ca_params(not_before: i64, not_after: i64) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "ferry-operator webhook CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = at(not_before)?;
    params.not_after = at(not_after)?;
    Ok(params)
}

fn at(unix: i64) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| CertError::Pem(format!("time {unix}: {e}")))
}

/// Makes what `what` says, keeping the rest of `material`.
pub fn renew(
    material: Option<&Material>,
    what: Renewal,
    names: &[String],
    now: i64,
) -> Result<Material, CertError> {
    let (ca_bundle, ca_key, ca_not_after) = match (what, material) {
        (Renewal::Keep, Some(m)) => return Ok(m.clone()),
        (Renewal::Serving, Some(m)) => (m.ca_bundle.clone(), m.ca_key.clone(), m.ca_not_after),
        _ => {
            let key = KeyPair::generate()?;
            let not_after = now + CA_LIFETIME;
            let cert = ca_params(now - BACKDATE, not_after)?.self_signed(&key)?;
            let mut bundle = cert.pem();
            // The CA being replaced stays trusted until it expires.
            if let Some(old) = material.filter(|m| m.ca_not_after > now) {
                bundle.push_str(first_pem(&old.ca_bundle));
            }
            (bundle, key.serialize_pem(), not_after)
        }
    };
    let ca_key_pair = KeyPair::from_pem(&ca_key)?;
    let issuer = Issuer::new(ca_params(now - BACKDATE, ca_not_after)?, &ca_key_pair);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    // Never past the CA that signs it.
    let not_after = (now + SERVING_LIFETIME).min(ca_not_after);
    params.not_before = at(now - BACKDATE)?;
    params.not_after = at(not_after)?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Material {
        ca_bundle,
        ca_key,
        cert: cert.pem(),
        key: key.serialize_pem(),
        not_after,
        ca_not_after,
        names: names.to_vec(),
    })
}

/// The first PEM block of a bundle.
fn first_pem(bundle: &str) -> &str {
    const END: &str = "-----END CERTIFICATE-----";
    match bundle.find(END) {
        Some(i) => &bundle[..i + END.len()],
        None => bundle,
    }
}

fn rfc3339(unix: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(unix)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn unix(text: &str) -> Option<i64> {
    text.parse::<k8s_openapi::jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

impl Material {
    /// Reads the Secret; `None` when any part is missing or unreadable (then everything is
    /// made anew).
    pub fn from_secret(secret: &Secret) -> Option<Self> {
        let data = secret.data.as_ref()?;
        let text = |key: &str| {
            data.get(key)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
        };
        let annotations = secret.metadata.annotations.as_ref()?;
        Some(Self {
            ca_bundle: text("ca.crt")?,
            ca_key: text("ca.key")?,
            cert: text("tls.crt")?,
            key: text("tls.key")?,
            not_after: unix(annotations.get(NOT_AFTER_ANNOTATION)?)?,
            ca_not_after: unix(annotations.get(CA_NOT_AFTER_ANNOTATION)?)?,
            names: annotations
                .get(NAMES_ANNOTATION)?
                .split(',')
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    /// The Secret holding it (`kubernetes.io/tls`, plus the CA and its key).
    pub fn to_secret(&self, name: &str, namespace: &str) -> Secret {
        let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([(
                    crate::render::MANAGED_BY_LABEL.to_string(),
                    crate::render::MANAGER.to_string(),
                )])),
                annotations: Some(BTreeMap::from([
                    (NOT_AFTER_ANNOTATION.to_string(), rfc3339(self.not_after)),
                    (
                        CA_NOT_AFTER_ANNOTATION.to_string(),
                        rfc3339(self.ca_not_after),
                    ),
                    (NAMES_ANNOTATION.to_string(), self.names.join(",")),
                ])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_string()),
            data: Some(BTreeMap::from([
                ("ca.crt".to_string(), bytes(&self.ca_bundle)),
                ("ca.key".to_string(), bytes(&self.ca_key)),
                ("tls.crt".to_string(), bytes(&self.cert)),
                ("tls.key".to_string(), bytes(&self.key)),
            ])),
            ..Secret::default()
        }
    }
}

/// A TLS server configuration from PEM certificate chain and key.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ServerConfig, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertError::Pem("no certificate in the PEM text".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| CertError::Pem(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The serving configuration the webhook takes for each new connection; empty until a
/// certificate is loaded (connections are refused until then).
#[derive(Default)]
pub struct Serving {
    config: ArcSwapOption<rustls::ServerConfig>,
    loaded: std::sync::Mutex<Vec<u8>>,
}

impl Serving {
    /// The configuration now.
    pub fn current(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.config.load_full()
    }

    /// Serves this certificate and key from now on; `Ok(false)` when they are the ones
    /// already served.
    pub fn load(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<bool, CertError> {
        let mut fingerprint = cert_pem.to_vec();
        fingerprint.extend_from_slice(key_pem);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == fingerprint {
            return Ok(false);
        }
        let config = server_config(cert_pem, key_pem)?;
        self.config.store(Some(Arc::new(config)));
        *loaded = fingerprint;
        Ok(true)
    }
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Made by the operator, kept in a Secret, its CA put into a webhook configuration.
    Operator {
        /// The Secret's name.
        secret: String,
        /// The operator's namespace (the Secret's).
        namespace: String,
        /// The MutatingWebhookConfiguration whose `caBundle` to keep current.
        configuration: String,
        /// Names (DNS names or IP addresses) the certificate is for.
        names: Vec<String>,
    },
    /// `tls.crt` and `tls.key` in a mounted directory (cert-manager's Secret).
    Files(PathBuf),
}

/// Keeps the serving certificate current.
pub struct Manager {
    /// The API client.
    pub client: Client,
    /// Where the certificate comes from.
    pub source: Source,
    /// What the webhook serves.
    pub serving: Arc<Serving>,
}

impl Manager {
    /// Checks now and every [`CHECK_EVERY`], forever. Failures are logged and retried.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tick.tick().await;
            if let Err(e) = self.check().await {
                tracing::warn!(error = %e, "webhook certificate check failed; retrying");
            }
        }
    }

    /// One check: make or renew the certificate when due, serve the current one, and keep
    /// `caBundle` equal to its CA.
    pub async fn check(&self) -> anyhow::Result<()> {
        match &self.source {
            Source::Files(dir) => {
                let cert = tokio::fs::read(dir.join("tls.crt")).await?;
                let key = tokio::fs::read(dir.join("tls.key")).await?;
                if self.serving.load(&cert, &key)? {
                    tracing::info!(dir = %dir.display(), "serving the mounted webhook certificate");
                }
                Ok(())
            }
            Source::Operator {
                secret,
                namespace,
                configuration,
                names,
            } => {
                let material = self.ensure_secret(secret, namespace, names).await?;
                if self
                    .serving
                    .load(material.cert.as_bytes(), material.key.as_bytes())?
                {
                    tracing::info!(
                        not_after = rfc3339(material.not_after),
                        "serving the webhook certificate from Secret {namespace}/{secret}"
                    );
                }
                patch_ca_bundle(&self.client, configuration, &material.ca_bundle).await
            }
        }
    }

    /// The Secret's material, made or renewed first when due. Replicas racing to write it
    /// are told apart by the API server (create: 409; replace: resourceVersion), and the
    /// loser takes what the winner wrote.
    async fn ensure_secret(
        &self,
        name: &str,
        namespace: &str,
        names: &[String],
    ) -> anyhow::Result<Material> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        for _ in 0..3 {
            let existing = api.get_opt(name).await?;
            let material = existing.as_ref().and_then(Material::from_secret);
            let now = k8s_openapi::jiff::Timestamp::now().as_second();
            let what = renewal(material.as_ref(), names, now);
            if what == Renewal::Keep
                && let Some(material) = material
            {
                return Ok(material);
            }
            let fresh = renew(material.as_ref(), what, names, now)?;
            let mut secret = fresh.to_secret(name, namespace);
            let written = match &existing {
                None => api.create(&PostParams::default(), &secret).await,
                Some(old) => {
                    secret.metadata.resource_version = old.metadata.resource_version.clone();
                    api.replace(name, &PostParams::default(), &secret).await
                }
            };
            match written {
                Ok(_) => {
                    tracing::info!(
                        ?what,
                        "webhook certificate written to Secret {namespace}/{name}"
                    );
                    return Ok(fresh);
                }
                Err(kube::Error::Api(status)) if status.is_conflict() || status.code == 409 => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("Secret {namespace}/{name} kept changing while it was written")
    }
}

/// Sets every webhook's `caBundle` of the configuration to `ca` (PEM); false when all
/// already had it.
pub fn set_ca_bundle(configuration: &mut MutatingWebhookConfiguration, ca: &str) -> bool {
    let wanted = ByteString(ca.as_bytes().to_vec());
    let mut changed = false;
    for webhook in configuration.webhooks.iter_mut().flatten() {
        if webhook.client_config.ca_bundle.as_ref() != Some(&wanted) {
            webhook.client_config.ca_bundle = Some(wanted.clone());
            changed = true;
        }
    }
    changed
}

/// Keeps the configuration's `caBundle` current. A replace carries the resourceVersion it
/// read, so it never undoes a change made meanwhile (a conflict is retried next check).
async fn patch_ca_bundle(client: &Client, name: &str, ca: &str) -> anyhow::Result<()> {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let Some(mut configuration) = api.get_opt(name).await? else {
        tracing::warn!(
            configuration = name,
            "the MutatingWebhookConfiguration does not exist (yet); its caBundle is set once it does"
        );
        return Ok(());
    };
    if set_ca_bundle(&mut configuration, ca) {
        api.replace(name, &PostParams::default(), &configuration)
            .await?;
        tracing::info!(configuration = name, "caBundle set to the webhook CA");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
