//! `ferry ctl`: the command-line client of the management API on the admin port (as MI's
//! `mi` CLI): `get`, `describe`, `activate`, `deactivate`, `trigger` and `log-level`,
//! against a local or port-forwarded admin port (`--admin-url`), printing tables or JSON
//! (`-o json`). Writes send the token of `--token-file` as a bearer token.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::{Args, Subcommand, ValueEnum};
use http::{HeaderValue, Method, Request, header};
use serde_json::Value;

use crate::endpoints::client::EndpointClient;

/// Arguments of `ferry ctl`.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The admin port's URL (`kubectl port-forward deploy/ferry-default 9201` makes a pod's
    /// local).
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:9201",
        env = "FERRY_ADMIN_URL"
    )]
    pub admin_url: String,
    /// A file holding the management token (writes need it); else FERRY_MANAGEMENT_TOKEN.
    #[arg(long, global = true, env = "FERRY_MANAGEMENT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Output: a table for people, JSON for scripts.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// How `ferry ctl` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns (lists) or `key: value` lines (one artifact).
    Table,
    /// The management API's JSON, pretty-printed.
    Json,
}

/// `ferry ctl` subcommands.
#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// List artifacts of a kind: apis, proxy-services, sequences, endpoints, message-stores,
    /// message-processors, tasks, inbound-endpoints, local-entries, templates, data-services.
    Get {
        /// The kind (singular, plural or short: api, ep, processor, store, task, ...).
        kind: String,
    },
    /// Show one artifact: its summary, run-time state and resource.
    Describe {
        /// The kind.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Activate an endpoint or a message processor.
    Activate {
        /// `endpoint` or `processor`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Deactivate an endpoint (calls fail as suspended) or a message processor (it stops
    /// taking messages).
    Deactivate {
        /// `endpoint` or `processor`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Run a scheduled task once now.
    Trigger {
        /// `task`.
        kind: String,
        /// Its name.
        name: String,
    },
    /// Show the log filter, or set a logger's level (`ferry::log debug`; `root` for the
    /// default level).
    LogLevel {
        /// The logger (a target such as `ferry::log`, or `root`).
        logger: Option<String>,
        /// off, error, warn, info, debug or trace.
        level: Option<String>,
    },
}

/// The management API path of a kind as the user wrote it.
fn kind_path(kind: &str) -> anyhow::Result<&'static str> {
    Ok(match kind.to_ascii_lowercase().as_str() {
        "api" | "apis" => "apis",
        "proxy" | "proxies" | "proxy-service" | "proxy-services" => "proxy-services",
        "sequence" | "sequences" | "seq" => "sequences",
        "endpoint" | "endpoints" | "ep" => "endpoints",
        "store" | "stores" | "message-store" | "message-stores" => "message-stores",
        "processor" | "processors" | "message-processor" | "message-processors" => {
            "message-processors"
        }
        "task" | "tasks" => "tasks",
        "inbound" | "inbounds" | "inbound-endpoint" | "inbound-endpoints" => "inbound-endpoints",
        "local-entry" | "local-entries" => "local-entries",
        "template" | "templates" => "templates",
        "data-service" | "data-services" => "data-services",
        other => anyhow::bail!(
            "unknown kind {other:?}: use apis, proxy-services, sequences, endpoints, message-stores, message-processors, tasks, inbound-endpoints, local-entries, templates or data-services"
        ),
    })
}

/// Runs `ferry ctl`.
pub fn main(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let (method, path, body, writes) = request_of(&args.command)?;
    let token = match (&args.token_file, writes) {
        (Some(file), true) => Some(
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the token file {}", file.display()))?
                .trim()
                .to_string(),
        ),
        (None, true) => std::env::var("FERRY_MANAGEMENT_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        (_, false) => None,
    };
    let url = format!("{}{path}", args.admin_url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (status, answer) = runtime.block_on(send(method, &url, body, token))?;
    let value: Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer).into_owned()));
    if !status.is_success() {
        let message = value["error"]
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        let hint = match status.as_u16() {
            401 => " (give --token-file)",
            _ => "",
        };
        eprintln!(
            "ferry ctl: {} {}: {message}{hint}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        );
        return Ok(ExitCode::from(1));
    }
    let text = match args.output {
        Output::Json => format!("{}\n", serde_json::to_string_pretty(&value)?),
        Output::Table => match &args.command {
            CtlCommand::Get { .. } => table(&value),
            _ => key_values(&value, 0),
        },
    };
    super::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Method, path, body and whether it is a write, for a command.
fn request_of(command: &CtlCommand) -> anyhow::Result<(Method, String, Option<Value>, bool)> {
    Ok(match command {
        CtlCommand::Get { kind } => (
            Method::GET,
            format!("/management/{}", kind_path(kind)?),
            None,
            false,
        ),
        CtlCommand::Describe { kind, name } => (
            Method::GET,
            format!("/management/{}/{}", kind_path(kind)?, encode(name)),
            None,
            false,
        ),
        CtlCommand::Activate { kind, name } | CtlCommand::Deactivate { kind, name } => {
            let path = kind_path(kind)?;
            if !matches!(path, "endpoints" | "message-processors") {
                anyhow::bail!("only endpoints and processors are activated or deactivated");
            }
            let action = if matches!(command, CtlCommand::Activate { .. }) {
                "activate"
            } else {
                "deactivate"
            };
            (
                Method::POST,
                format!("/management/{path}/{}/{action}", encode(name)),
                None,
                true,
            )
        }
        CtlCommand::Trigger { kind, name } => {
            if kind_path(kind)? != "tasks" {
                anyhow::bail!("only tasks are triggered");
            }
            (
                Method::POST,
                format!("/management/tasks/{}/trigger", encode(name)),
                None,
                true,
            )
        }
        CtlCommand::LogLevel { logger, level } => match (logger, level) {
            (None, None) => (Method::GET, "/management/logging".into(), None, false),
            (Some(logger), Some(level)) => (
                Method::PATCH,
                "/management/logging".into(),
                Some(serde_json::json!({"loggerName": logger, "loggingLevel": level})),
                true,
            ),
            (Some(level), None) => (
                Method::PATCH,
                "/management/logging".into(),
                Some(serde_json::json!({"loggerName": "root", "loggingLevel": level})),
                true,
            ),
            (None, Some(_)) => anyhow::bail!("give a logger and a level"),
        },
    })
}

fn encode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn send(
    method: Method,
    url: &str,
    body: Option<Value>,
    token: Option<String>,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("--admin-url: {url:?} is not a URL"))?;
    let mut request = Request::new(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    request
        .headers_mut()
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    if request.body().is_empty() {
        // Nothing to describe.
    } else {
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token file holds characters a header cannot carry")?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let response = EndpointClient::default()
        .send_buffered(request, Some(Duration::from_secs(30)), 64 * 1024 * 1024)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the admin port at {url}: {e}"))?;
    Ok((response.status(), response.into_body()))
}

/// A list (`{"list": [...]}`) as aligned columns: NAME first, then every field that is a
/// scalar or a list of scalars, in the order the first items show them.
fn table(value: &Value) -> String {
    let items: Vec<&Value> = match value.get("list").and_then(Value::as_array) {
        Some(list) => list.iter().collect(),
        None => return key_values(value, 0),
    };
    if items.is_empty() {
        return "No resources found.\n".to_string();
    }
    let mut columns: Vec<String> = vec!["name".into()];
    for item in &items {
        if let Some(map) = item.as_object() {
            for (k, v) in map {
                if !columns.contains(k) && cell(v).is_some() {
                    columns.push(k.clone());
                }
            }
        }
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| item.get(c).and_then(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    let header: Vec<String> = columns.iter().map(|c| upper(c)).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain(std::iter::once(header[i].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

/// `failedAttempts` as `FAILED ATTEMPTS`.
fn upper(key: &str) -> String {
    let mut out = String::new();
    for (i, ch) in key.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(ch.to_uppercase());
    }
    out
}

/// A table cell: scalars, and lists of scalars joined by commas; `None` for objects.
fn cell(value: &Value) -> Option<String> {
    match value {
        Value::Null => Some(String::new()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Object(_) | Value::Array(_) => None,
                other => cell(other),
            })
            .collect::<Option<Vec<String>>>()
            .map(|v| v.join(",")),
        Value::Object(_) => None,
    }
}

/// One artifact as indented `key: value` lines.
fn key_values(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{k}:\n{}", key_values(v, indent + 2)));
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        for item in items {
                            let inner = key_values(item, indent + 4);
                            let inner = inner.trim_start();
                            out.push_str(&format!("{pad}  - {inner}"));
                        }
                    }
                    other => {
                        out.push_str(&format!("{pad}{k}: {}\n", cell(other).unwrap_or_default()));
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", cell(other).unwrap_or_default())),
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_list_prints_as_aligned_columns_with_the_name_first() {
        let list = json!({"count": 2, "list": [
            {"state": "active", "name": "stock", "kind": "http", "children": ["a", "b"]},
            {"name": "payments-long-name", "state": "suspended", "kind": "failover", "nested": {"x": 1}},
        ]});
        assert_eq!(
            table(&list),
            "NAME                 STATE       KIND       CHILDREN\n\
             stock                active      http       a,b\n\
             payments-long-name   suspended   failover\n"
        );
        assert_eq!(table(&json!({"list": []})), "No resources found.\n");
    }

    #[test]
    fn kinds_are_known_by_their_short_and_long_names() {
        assert_eq!(kind_path("ep").ok(), Some("endpoints"));
        assert_eq!(kind_path("processor").ok(), Some("message-processors"));
        assert_eq!(kind_path("APIs").ok(), Some("apis"));
        assert!(kind_path("widgets").is_err());
    }

    #[test]
    fn camel_case_keys_become_spaced_headers() {
        assert_eq!(upper("failedAttempts"), "FAILED ATTEMPTS");
        assert_eq!(upper("name"), "NAME");
    }
}
