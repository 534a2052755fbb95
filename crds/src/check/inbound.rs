//! InboundEndpoint checks: the sequences it names exist, exactly the settings block of its
//! protocol is set, and those settings can work (a broker host, counts of at least one, a
//! file name pattern that compiles, directories for the `move` actions). Connecting to the
//! broker and reading the password from the environment are the runtime's.

use http::{HeaderMap, HeaderName, HeaderValue};
use regex::Regex;

use super::cx::Cx;
use crate::resources::inbound_endpoint::{
    FileAction, FileContent, FileInbound, InboundEndpointSpec, InboundProtocol, MqttInbound,
    MqttVersion, RabbitMqInbound,
};

/// A checked InboundEndpoint.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Its protocol.
    pub protocol: InboundProtocol,
    /// The Sequence messages go into (exists).
    pub sequence: String,
    /// The Sequence run when `sequence` fails (exists).
    pub on_error: Option<String>,
    /// Deployed but not started.
    pub suspend: bool,
    /// One message at a time.
    pub sequential: bool,
    /// The protocol's settings.
    pub settings: Settings,
}

/// The checked settings of an inbound endpoint's protocol.
#[derive(Debug, Clone)]
pub enum Settings {
    /// A RabbitMQ consumer.
    Rabbitmq(Box<RabbitMqInbound>),
    /// A directory poller.
    File(Box<File>),
    /// An MQTT subscriber.
    Mqtt(Box<Mqtt>),
}

/// A checked MQTT inbound endpoint.
#[derive(Debug, Clone)]
pub struct Mqtt {
    /// The settings as written.
    pub spec: MqttInbound,
    /// The environment variable holding the password.
    pub password_env: Option<String>,
    /// TLS, when asked.
    pub tls: Option<super::tls::ClientTls>,
    /// Whether the subscription is shared (runs on every replica).
    pub shared: bool,
}

/// A checked file inbound endpoint.
#[derive(Debug, Clone)]
pub struct File {
    /// The settings as written.
    pub spec: FileInbound,
    /// The file name pattern, anchored to the whole name.
    pub pattern: Option<Regex>,
    /// The transport headers of every message, Content-Type included.
    pub headers: HeaderMap,
    /// The directory polled (a remote URI's path when `directory` is one).
    pub directory: String,
    /// The remote server, `None` for a local directory.
    pub server: Option<super::file_server::Server>,
}

/// Checks an InboundEndpoint.
pub fn check(cx: &mut Cx<'_>, spec: &InboundEndpointSpec) -> Option<Inbound> {
    let before = cx.error_count();
    let sequence = cx.sequence_ref("spec.sequence", &spec.sequence);
    let on_error = match &spec.on_error {
        Some(name) => cx.sequence_ref("spec.onError", name).map(Some),
        None => Some(None),
    };
    let blocks = [
        (
            "rabbitmq",
            InboundProtocol::Rabbitmq,
            spec.rabbitmq.is_some(),
        ),
        ("file", InboundProtocol::File, spec.file.is_some()),
        ("mqtt", InboundProtocol::Mqtt, spec.mqtt.is_some()),
    ];
    for (block, protocol, set) in blocks {
        if set && protocol != spec.protocol {
            cx.error(
                &format!("spec.{block}"),
                format!(
                    "only the block of the endpoint's protocol may be set (protocol is {})",
                    spec.protocol.as_str()
                ),
            );
        }
    }
    let settings = match spec.protocol {
        InboundProtocol::Rabbitmq => match &spec.rabbitmq {
            Some(r) => {
                rabbitmq(cx, r);
                Some(Settings::Rabbitmq(Box::new(r.clone())))
            }
            None => {
                cx.error(
                    "spec.rabbitmq",
                    "a rabbitmq inbound endpoint needs its settings block (at least host and queue)",
                );
                None
            }
        },
        InboundProtocol::File => match &spec.file {
            Some(f) => file(cx, f, spec.sequential).map(|f| Settings::File(Box::new(f))),
            None => {
                cx.error(
                    "spec.file",
                    "a file inbound endpoint needs its settings block (at least directory)",
                );
                None
            }
        },
        InboundProtocol::Mqtt => match &spec.mqtt {
            Some(m) => mqtt(cx, m).map(|m| Settings::Mqtt(Box::new(m))),
            None => {
                cx.error(
                    "spec.mqtt",
                    "an mqtt inbound endpoint needs its settings block (at least host and topics)",
                );
                None
            }
        },
    };
    if cx.error_count() > before {
        return None;
    }
    Some(Inbound {
        protocol: spec.protocol,
        sequence: sequence?,
        on_error: on_error?,
        suspend: spec.suspend,
        sequential: spec.sequential,
        settings: settings?,
    })
}

fn rabbitmq(cx: &mut Cx<'_>, r: &RabbitMqInbound) {
    if let Some(tls) = &r.tls {
        super::tls::client(cx, "spec.rabbitmq.tls", tls);
    }
    if r.host.trim().is_empty() {
        cx.error("spec.rabbitmq.host", "host is required");
    }
    if r.queue.trim().is_empty() {
        cx.error("spec.rabbitmq.queue", "queue is required");
    }
    if r.prefetch == 0 {
        cx.error("spec.rabbitmq.prefetch", "must be at least 1");
    }
    if r.consumers == 0 {
        cx.error("spec.rabbitmq.consumers", "must be at least 1");
    }
    if let Some(ct) = &r.content_type
        && HeaderValue::from_str(ct).is_err()
    {
        cx.error("spec.rabbitmq.contentType", "not a valid content type");
    }
    if let Some(x) = &r.exchange
        && x.name.trim().is_empty()
    {
        cx.error(
            "spec.rabbitmq.exchange.name",
            "the default exchange cannot be declared or bound; leave exchange out to consume a queue directly",
        );
    }
    let retry = &r.connection_retry;
    if retry.initial_delay == 0 || retry.max_delay < retry.initial_delay {
        cx.error(
            "spec.rabbitmq.connectionRetry",
            "initialDelay must be at least 1 and maxDelay at least initialDelay",
        );
    }
    match (&r.username, &r.password_from) {
        (_, Some(from)) if from.env_var().is_none() => {
            cx.error("spec.rabbitmq.passwordFrom", "set env or secretKeyRef")
        }
        (Some(_), None) => cx.error(
            "spec.rabbitmq.passwordFrom",
            "passwordFrom is required with username",
        ),
        _ => {}
    }
}

fn mqtt(cx: &mut Cx<'_>, m: &MqttInbound) -> Option<Mqtt> {
    let before = cx.error_count();
    if m.host.trim().is_empty() {
        cx.error("spec.mqtt.host", "host is required");
    }
    if m.topics.is_empty() {
        cx.error("spec.mqtt.topics", "at least one topic filter is required");
    }
    let shared = m.is_shared();
    for (i, topic) in m.topics.iter().enumerate() {
        let at = format!("spec.mqtt.topics[{i}]");
        let filter = match topic.strip_prefix("$share/") {
            Some(rest) => {
                if !shared {
                    cx.error(
                        &at,
                        "either every filter is a shared subscription ($share/GROUP/...) or none is",
                    );
                }
                match rest.split_once('/') {
                    Some((group, filter)) if !group.is_empty() && !group.contains(['+', '#']) => {
                        filter
                    }
                    _ => {
                        cx.error(
                            &at,
                            "a shared subscription is written $share/GROUP/FILTER, GROUP without / + #",
                        );
                        continue;
                    }
                }
            }
            None => {
                if shared {
                    cx.error(
                        &at,
                        "either every filter is a shared subscription ($share/GROUP/...) or none is",
                    );
                }
                topic.as_str()
            }
        };
        if let Err(e) = super::mqtt_address::topic_filter(filter) {
            cx.error(&at, e);
        }
    }
    if shared && m.version != MqttVersion::V5 {
        cx.error(
            "spec.mqtt.version",
            "shared subscriptions ($share/...) are an MQTT 5 feature: set version \"5\"",
        );
    }
    if m.qos > 2 {
        cx.error("spec.mqtt.qos", "must be 0, 1 or 2");
    }
    if m.session_expiry_interval.is_some() && m.version != MqttVersion::V5 {
        cx.error(
            "spec.mqtt.sessionExpiryInterval",
            "the session expiry interval is an MQTT 5 setting (version \"5\")",
        );
    }
    if m.keep_alive == 0 {
        cx.error("spec.mqtt.keepAlive", "must be at least 1 second");
    }
    if m.concurrency == 0 {
        cx.error("spec.mqtt.concurrency", "must be at least 1");
    }
    if m.client_id.as_deref().is_some_and(|c| c.trim().is_empty()) {
        cx.error(
            "spec.mqtt.clientId",
            "must not be empty (leave it out for ferry-<name>)",
        );
    }
    if let Some(ct) = &m.content_type
        && HeaderValue::from_str(ct).is_err()
    {
        cx.error("spec.mqtt.contentType", "not a valid content type");
    }
    let retry = &m.connection_retry;
    if retry.initial_delay == 0 || retry.max_delay < retry.initial_delay {
        cx.error(
            "spec.mqtt.connectionRetry",
            "initialDelay must be at least 1 and maxDelay at least initialDelay",
        );
    }
    let password_env = match (&m.username, &m.password_from) {
        (_, Some(from)) if from.env_var().is_none() => {
            cx.error("spec.mqtt.passwordFrom", "set env or secretKeyRef");
            None
        }
        (None, Some(_)) => {
            cx.error(
                "spec.mqtt.passwordFrom",
                "a password goes with a username: set username",
            );
            None
        }
        (_, from) => from.as_ref().and_then(|f| f.env_var()),
    };
    let tls = match &m.tls {
        Some(t) => {
            if t.server_name.is_some() {
                cx.error(
                    "spec.mqtt.tls.serverName",
                    "the MQTT client verifies the certificate against host; serverName is not supported",
                );
            }
            super::tls::client(cx, "spec.mqtt.tls", t)
        }
        None => None,
    };
    (cx.error_count() == before).then(|| Mqtt {
        spec: m.clone(),
        password_env,
        tls,
        shared,
    })
}

fn file(cx: &mut Cx<'_>, f: &FileInbound, sequential: bool) -> Option<File> {
    let before = cx.error_count();
    if f.directory.trim().is_empty() {
        cx.error("spec.file.directory", "directory is required");
    }
    if f.interval == 0 {
        cx.error("spec.file.interval", "must be at least 1 millisecond");
    }
    let (server, directory) = if super::file_server::is_remote(&f.directory) {
        match super::file_server::parse(&f.directory) {
            Ok(mut u) => {
                let mut problems = Vec::new();
                for pair in u.query.split('&').filter(|p| !p.is_empty()) {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    if !super::file_server::parameter(&mut u.server, key, value, &mut problems) {
                        problems.push(format!(
                            "unknown parameter {key:?} in the directory's URI (the other transport.vfs.* settings are fields of spec.file)"
                        ));
                    }
                }
                if f.server.is_some() {
                    problems.push(
                        "the directory is a URI naming its server: remove server, or write the directory as a path".into(),
                    );
                }
                for p in problems {
                    cx.error("spec.file.directory", p);
                }
                (Some(u.server), u.path)
            }
            Err(problems) => {
                for p in problems {
                    cx.error("spec.file.directory", p);
                }
                (None, f.directory.clone())
            }
        }
    } else {
        let server = f
            .server
            .as_ref()
            .and_then(|s| super::file_server::typed(cx, "spec.file.server", s));
        (server, f.directory.clone())
    };
    if f.stable_for == 0 && f.part_suffix.is_empty() {
        cx.error(
            "spec.file.stableFor",
            "with stableFor 0 set a partSuffix, or a file still being written could be taken",
        );
    }
    if !sequential {
        cx.error(
            "spec.sequential",
            "a file endpoint processes its files one at a time; concurrent file processing is not supported",
        );
    }
    if f.max_files_per_poll == Some(0) {
        cx.error("spec.file.maxFilesPerPoll", "must be at least 1");
    }
    let pattern = match &f.file_name_pattern {
        Some(p) => match Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(e) => {
                cx.error(
                    "spec.file.fileNamePattern",
                    format!("not a regular expression: {e}"),
                );
                None
            }
        },
        None => None,
    };
    for (action, dir, field, what) in [
        (
            f.action_after_process,
            &f.move_after_process,
            "moveAfterProcess",
            "actionAfterProcess",
        ),
        (
            f.action_after_failure,
            &f.move_after_failure,
            "moveAfterFailure",
            "actionAfterFailure",
        ),
    ] {
        match (action, dir) {
            (FileAction::Move, None) => cx.error(
                &format!("spec.file.{field}"),
                format!("{what} move needs the directory {field}"),
            ),
            (FileAction::Delete, Some(_)) => cx.error(
                &format!("spec.file.{field}"),
                format!("{field} goes with {what}: move"),
            ),
            (FileAction::Move, Some(d)) if same_dir(d, &directory) => cx.error(
                &format!("spec.file.{field}"),
                "must not be the polled directory (its files would be taken again)",
            ),
            _ => {}
        }
    }
    let mut headers = HeaderMap::new();
    for (k, v) in &f.headers {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(n), Ok(v)) => {
                headers.insert(n, v);
            }
            _ => cx.error(&format!("spec.file.headers.{k}"), "not a valid HTTP header"),
        }
    }
    let content_type = f.content_type.clone().unwrap_or_else(|| {
        match f.content {
            FileContent::Json | FileContent::Csv => "application/json",
            FileContent::Xml => "application/xml",
            FileContent::Text | FileContent::Lines => "text/plain",
            FileContent::Binary => "application/octet-stream",
        }
        .to_string()
    });
    match HeaderValue::from_str(&content_type) {
        Ok(ct) => {
            headers.insert(http::header::CONTENT_TYPE, ct);
        }
        Err(_) => cx.error("spec.file.contentType", "not a valid content type"),
    }
    (cx.error_count() == before).then(|| File {
        spec: f.clone(),
        pattern,
        headers,
        directory,
        server,
    })
}

/// Whether two directory paths as written name the same directory (trailing `/` and `./`
/// aside); symbolic links are not followed, so this catches mistakes, not tricks.
fn same_dir(a: &str, b: &str) -> bool {
    let clean = |s: &str| {
        let s = s.trim_end_matches('/');
        s.strip_prefix("./").unwrap_or(s).to_string()
    };
    clean(a) == clean(b)
}

#[cfg(test)]
mod tests;
