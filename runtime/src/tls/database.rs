//! TLS to PostgreSQL and MySQL/MariaDB (data sources, the PostgreSQL store): the `tls` block
//! or the URL's own mode turned into sqlx's connection options.
//!
//! sqlx makes its TLS connection itself and takes no rustls configuration from outside, so
//! this is the one place TLS does not go through [`super::client::TlsProfile`]; it is built
//! (feature `tls-rustls-ring-native-roots`) to trust the same things: ring, the operating
//! system's CAs plus the CA file given. Verification is always on: a mode that encrypts
//! without verifying was refused by the checker ([`ferry_api::check::data::url_tls`]), and a
//! URL naming no mode connects in plain text rather than the drivers' unverified `prefer`.

use ferry_api::check::data::{UrlTls, url_tls};
use ferry_api::resources::{DataSourceTls, DatabaseType, TlsMode};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// What a connection does about TLS.
enum Plan {
    Plain,
    /// As the URL says (a verifying mode with its own CA parameter).
    AsUrl,
    Verify {
        host_name: bool,
        ca_file: Option<String>,
    },
}

fn plan(type_: DatabaseType, url: &str, tls: Option<&DataSourceTls>) -> Result<Plan, String> {
    let Some(tls) = tls else {
        return Ok(match url_tls(type_, url)? {
            UrlTls::Unset | UrlTls::Disabled => Plan::Plain,
            UrlTls::Verified => Plan::AsUrl,
        });
    };
    let host_name = match tls.mode {
        TlsMode::Disable => return Ok(Plan::Plain),
        TlsMode::Require => {
            return Err(
                "tls.mode require does not verify the server's certificate; use verifyFull".into(),
            );
        }
        TlsMode::VerifyCa => false,
        TlsMode::VerifyFull => true,
    };
    if let Some(file) = &tls.ca_file {
        // Read now, so a missing file fails the load rather than every connection.
        std::fs::metadata(file).map_err(|e| format!("tls.caFile {file}: {e}"))?;
    }
    Ok(Plan::Verify {
        host_name,
        ca_file: tls.ca_file.clone(),
    })
}

/// `options` (parsed from `url`) with the TLS `tls` or the URL asks for.
pub fn postgres(
    options: PgConnectOptions,
    url: &str,
    tls: Option<&DataSourceTls>,
) -> Result<PgConnectOptions, String> {
    Ok(match plan(DatabaseType::Postgres, url, tls)? {
        Plan::Plain => options.ssl_mode(PgSslMode::Disable),
        Plan::AsUrl => options,
        Plan::Verify { host_name, ca_file } => {
            let options = options.ssl_mode(if host_name {
                PgSslMode::VerifyFull
            } else {
                PgSslMode::VerifyCa
            });
            match ca_file {
                Some(file) => options.ssl_root_cert(file),
                None => options,
            }
        }
    })
}

/// `options` (parsed from `url`) with the TLS `tls` or the URL asks for.
pub fn mysql(
    options: MySqlConnectOptions,
    url: &str,
    tls: Option<&DataSourceTls>,
) -> Result<MySqlConnectOptions, String> {
    Ok(match plan(DatabaseType::Mysql, url, tls)? {
        Plan::Plain => options.ssl_mode(MySqlSslMode::Disabled),
        Plan::AsUrl => options,
        Plan::Verify { host_name, ca_file } => {
            let options = options.ssl_mode(if host_name {
                MySqlSslMode::VerifyIdentity
            } else {
                MySqlSslMode::VerifyCa
            });
            match ca_file {
                Some(file) => options.ssl_ca(file),
                None => options,
            }
        }
    })
}
