//! What a verified client certificate says about the client: subject, issuer and subject
//! alternative names, read once per connection and given to every request on it as
//! properties (see `docs/security.md`).

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The axis2-scope property holding the client certificate's subject DN (Apache
/// mod_ssl's `SSL_CLIENT_S_DN`), e.g. `CN=orders-client, O=Example`.
pub const SUBJECT: &str = "SSL_CLIENT_S_DN";
/// The axis2-scope property holding the issuer's DN (`SSL_CLIENT_I_DN`).
pub const ISSUER: &str = "SSL_CLIENT_I_DN";
/// The axis2-scope property holding the subject alternative names, a JSON array of
/// strings such as `"DNS:client.example"`, `"IP:127.0.0.1"`, `"URI:spiffe://..."`,
/// `"email:ops@example.com"`.
pub const SANS: &str = "SSL_CLIENT_SAN";
/// The axis2-scope property saying whether a client certificate was verified: `SUCCESS`
/// or `NONE` (`SSL_CLIENT_VERIFY`), on every request over HTTPS.
pub const VERIFY: &str = "SSL_CLIENT_VERIFY";
/// The axis2-scope property naming the transport a request came in on, `http` or `https`
/// (MI's `TRANSPORT_IN_NAME`).
pub const TRANSPORT_IN_NAME: &str = "TRANSPORT_IN_NAME";

/// The identity in a client certificate the listener verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's distinguished name (RFC 4514 order as the certificate has it).
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// The subject alternative names, each with its type (`DNS:`, `IP:`, `URI:`, `email:`).
    pub sans: Vec<String>,
}

impl ClientIdentity {
    /// Reads the end-entity certificate `der`; `None` when it does not parse (rustls
    /// verified it, so that does not happen with a certificate it accepted).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut sans = Vec::new();
        if let Ok(Some(ext)) = cert.subject_alternative_name() {
            for name in &ext.value.general_names {
                match name {
                    GeneralName::DNSName(n) => sans.push(format!("DNS:{n}")),
                    GeneralName::RFC822Name(n) => sans.push(format!("email:{n}")),
                    GeneralName::URI(n) => sans.push(format!("URI:{n}")),
                    GeneralName::IPAddress(bytes) => {
                        if let Some(ip) = ip_address(bytes) {
                            sans.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            sans,
        })
    }
}

fn ip_address(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// What a request knows of the TLS connection it came on: shared by every request of the
/// connection, as a request extension (only HTTPS requests carry one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConnection {
    /// The client's verified certificate, when it presented one.
    pub client: Option<ClientIdentity>,
}
