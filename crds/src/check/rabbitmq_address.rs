//! RabbitMQ endpoints as Micro Integrator writes them: an address endpoint whose URI is
//! `rabbitmq:/NAME?rabbitmq.server.host.name=...&rabbitmq.queue.name=...`. The URI is
//! parsed here, once, into typed settings: every parameter is known (an unknown one is an
//! error, not silently ignored), numbers and booleans parse, and no password is written in
//! the configuration (MI's `$SYSTEM:VAR` names the environment variable that holds it).

use std::time::Duration;

use percent_encoding::percent_decode_str;

use super::tls::{ClientTls, is_server_name};
use crate::resources::{ExchangeType, TlsVersion};

/// The `rabbitmq:` address scheme.
pub const SCHEME: &str = "rabbitmq:";

/// RabbitMQ's direct reply-to pseudo-queue: replies come back on the requesting channel.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Whether an address URI is a RabbitMQ one.
pub fn is_rabbitmq(uri: &str) -> bool {
    uri.get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
}

/// A checked RabbitMQ endpoint: where and how a message is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RabbitMqTarget {
    /// `rabbitmq.server.host.name`.
    pub host: String,
    /// `rabbitmq.server.port`; default 5672.
    pub port: u16,
    /// `rabbitmq.server.virtual.host`; default `/`.
    pub virtual_host: String,
    /// `rabbitmq.server.user.name`; default `guest`.
    pub username: Option<String>,
    /// The environment variable holding the password (`rabbitmq.server.password=$SYSTEM:VAR`).
    pub password_env: Option<String>,
    /// `rabbitmq.exchange.name`; default the default exchange (empty).
    pub exchange: String,
    /// `rabbitmq.exchange.type`; default `direct`.
    pub exchange_type: ExchangeType,
    /// `rabbitmq.exchange.durable`; default true.
    pub exchange_durable: bool,
    /// `rabbitmq.exchange.autodeclare`: declare the exchange; default false.
    pub declare_exchange: bool,
    /// `rabbitmq.queue.name`.
    pub queue: Option<String>,
    /// `rabbitmq.queue.durable`; default true.
    pub queue_durable: bool,
    /// `rabbitmq.queue.autodeclare`: declare the queue (and bind it to the exchange);
    /// default false.
    pub declare_queue: bool,
    /// `rabbitmq.queue.routing.key`; default the queue's name.
    pub routing_key: String,
    /// `rabbitmq.publisher.confirms.enabled`: wait for the broker's confirm; default true.
    pub confirms: bool,
    /// `rabbitmq.queue.delivery.mode`: 2 persistent (default), 1 transient.
    pub delivery_mode: u8,
    /// `rabbitmq.message.content.type`: the Content-Type published, instead of the
    /// message's.
    pub content_type: Option<String>,
    /// `rabbitmq.replyto.name`: wait for a reply (request-reply); only RabbitMQ's direct
    /// reply-to is supported.
    pub request_reply: bool,
    /// `rabbitmq.connection.ssl.enabled`: connect with TLS (`amqps`), verified against the
    /// system roots plus `rabbitmq.connection.ssl.ca.env`, with a client certificate from
    /// `.cert.env`/`.key.env`, `.server.name` and `.version` (the oldest accepted).
    pub tls: Option<ClientTls>,
    /// How long a publish (its confirm) and a reply may take.
    pub timeout: Duration,
}

/// Parses a `rabbitmq:` address; `Err` lists every problem (each a sentence).
pub fn parse(uri: &str, timeout: Duration) -> Result<RabbitMqTarget, Vec<String>> {
    let rest = &uri[SCHEME.len().min(uri.len())..];
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let mut problems = Vec::new();
    let mut t = RabbitMqTarget {
        host: String::new(),
        port: 5672,
        virtual_host: "/".into(),
        username: None,
        password_env: None,
        exchange: String::new(),
        exchange_type: ExchangeType::Direct,
        exchange_durable: true,
        declare_exchange: false,
        queue: None,
        queue_durable: true,
        declare_queue: false,
        routing_key: String::new(),
        confirms: true,
        delivery_mode: 2,
        content_type: None,
        request_reply: false,
        tls: None,
        timeout,
    };
    let mut routing_key = None;
    let mut port = None;
    let mut ssl = false;
    let mut tls = ClientTls {
        ca_env: None,
        identity_env: None,
        server_name: None,
        min_version: TlsVersion::Tls12,
    };
    let (mut cert_env, mut key_env) = (None, None);
    let env_var = |key: &str, value: &str, problems: &mut Vec<String>| {
        if value.is_empty() {
            problems.push(format!("{key} names an environment variable"));
        }
        Some(value.to_string())
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(raw).decode_utf8_lossy().into_owned();
        let mut flag = |target: &mut bool| match value.to_ascii_lowercase().as_str() {
            "true" => *target = true,
            "false" => *target = false,
            _ => problems.push(format!("{key} must be true or false, not {value:?}")),
        };
        match key {
            "rabbitmq.server.host.name" => t.host = value,
            "rabbitmq.server.port" => match value.parse() {
                Ok(p) => port = Some(p),
                Err(_) => problems.push(format!("{key} must be a port number, not {value:?}")),
            },
            "rabbitmq.server.virtual.host" => t.virtual_host = value,
            "rabbitmq.server.user.name" => t.username = Some(value),
            "rabbitmq.server.password" => match value.strip_prefix("$SYSTEM:") {
                Some(var) if !var.is_empty() => t.password_env = Some(var.to_string()),
                _ => problems.push(format!(
                    "{key}: write the name of the environment variable holding the password, as $SYSTEM:VAR; a password is never written in the configuration"
                )),
            },
            "rabbitmq.exchange.name" => t.exchange = value,
            "rabbitmq.exchange.type" => match value.to_ascii_lowercase().as_str() {
                "direct" => t.exchange_type = ExchangeType::Direct,
                "fanout" => t.exchange_type = ExchangeType::Fanout,
                "topic" => t.exchange_type = ExchangeType::Topic,
                "headers" => t.exchange_type = ExchangeType::Headers,
                _ => problems.push(format!(
                    "{key} must be direct, fanout, topic or headers, not {value:?}"
                )),
            },
            "rabbitmq.exchange.durable" => flag(&mut t.exchange_durable),
            "rabbitmq.exchange.autodeclare" => flag(&mut t.declare_exchange),
            "rabbitmq.queue.name" => t.queue = Some(value),
            "rabbitmq.queue.durable" => flag(&mut t.queue_durable),
            "rabbitmq.queue.autodeclare" => flag(&mut t.declare_queue),
            "rabbitmq.queue.routing.key" => routing_key = Some(value),
            "rabbitmq.publisher.confirms.enabled" => flag(&mut t.confirms),
            "rabbitmq.queue.delivery.mode" => match value.as_str() {
                "1" => t.delivery_mode = 1,
                "2" => t.delivery_mode = 2,
                _ => problems.push(format!(
                    "{key} must be 1 (transient) or 2 (persistent), not {value:?}"
                )),
            },
            "rabbitmq.message.content.type" => {
                if http::HeaderValue::from_str(&value).is_err() {
                    problems.push(format!("{key}: {value:?} is not a valid content type"));
                }
                t.content_type = Some(value);
            }
            "rabbitmq.replyto.name" => {
                if value == DIRECT_REPLY_TO {
                    t.request_reply = true;
                } else {
                    problems.push(format!(
                        "{key}: a named reply queue is not supported (replies meant for one replica would be taken by another); use {DIRECT_REPLY_TO}, RabbitMQ's direct reply-to"
                    ));
                }
            }
            "rabbitmq.connection.ssl.enabled" => flag(&mut ssl),
            "rabbitmq.connection.ssl.version" => match value.as_str() {
                "TLSv1.2" | "TLS" | "SSL" => tls.min_version = TlsVersion::Tls12,
                "TLSv1.3" => tls.min_version = TlsVersion::Tls13,
                _ => problems.push(format!(
                    "{key} must be TLSv1.2 or TLSv1.3 (the oldest version accepted), not {value:?}"
                )),
            },
            "rabbitmq.connection.ssl.ca.env" => tls.ca_env = env_var(key, &value, &mut problems),
            "rabbitmq.connection.ssl.cert.env" => cert_env = env_var(key, &value, &mut problems),
            "rabbitmq.connection.ssl.key.env" => key_env = env_var(key, &value, &mut problems),
            "rabbitmq.connection.ssl.server.name" => {
                if !is_server_name(&value) {
                    problems.push(format!(
                        "{key}: {value:?} is neither a DNS name nor an IP address"
                    ));
                }
                tls.server_name = Some(value);
            }
            k if k.starts_with("rabbitmq.connection.ssl.keystore.")
                || k.starts_with("rabbitmq.connection.ssl.truststore.") =>
            {
                problems.push(format!(
                    "{key}: Ferry reads no Java key stores; give the broker's CA as PEM in an environment variable (rabbitmq.connection.ssl.ca.env) and a client certificate and key likewise (.cert.env, .key.env)"
                ))
            }
            other => problems.push(format!(
                "unknown parameter {other:?} (Ferry reads rabbitmq.server.host.name, .port, .virtual.host, .user.name, .password, rabbitmq.connection.ssl.enabled, .version, .ca.env, .cert.env, .key.env, .server.name, rabbitmq.exchange.name, .type, .durable, .autodeclare, rabbitmq.queue.name, .durable, .autodeclare, .routing.key, .delivery.mode, rabbitmq.publisher.confirms.enabled, rabbitmq.message.content.type and rabbitmq.replyto.name)"
            )),
        }
    }
    if t.host.trim().is_empty() {
        problems.push("rabbitmq.server.host.name is required".into());
    }
    match (cert_env, key_env) {
        (Some(cert), Some(key)) => tls.identity_env = Some((cert, key)),
        (None, None) => {}
        (Some(_), None) => problems.push(
            "rabbitmq.connection.ssl.cert.env needs its key: rabbitmq.connection.ssl.key.env"
                .into(),
        ),
        (None, Some(_)) => problems.push(
            "rabbitmq.connection.ssl.key.env needs its certificate: rabbitmq.connection.ssl.cert.env"
                .into(),
        ),
    }
    let tuned = tls.ca_env.is_some()
        || tls.identity_env.is_some()
        || tls.server_name.is_some()
        || tls.min_version != TlsVersion::Tls12;
    if ssl {
        t.tls = Some(tls);
    } else if tuned {
        problems.push(
            "the rabbitmq.connection.ssl.* settings go with rabbitmq.connection.ssl.enabled=true"
                .into(),
        );
    }
    t.port = port.unwrap_or(if ssl { 5671 } else { 5672 });
    if t.username.is_some() && t.password_env.is_none() {
        problems
            .push("rabbitmq.server.user.name needs rabbitmq.server.password=$SYSTEM:VAR".into());
    }
    t.routing_key = match (routing_key, &t.queue) {
        (Some(k), _) => k,
        (None, Some(q)) => q.clone(),
        (None, None) => String::new(),
    };
    if t.exchange.is_empty() && t.routing_key.is_empty() {
        problems.push(
            "set rabbitmq.queue.name (or rabbitmq.exchange.name and rabbitmq.queue.routing.key): the default exchange routes by queue name".into(),
        );
    }
    if t.declare_exchange && t.exchange.is_empty() {
        problems.push("rabbitmq.exchange.autodeclare needs rabbitmq.exchange.name".into());
    }
    if t.declare_queue && t.queue.is_none() {
        problems.push("rabbitmq.queue.autodeclare needs rabbitmq.queue.name".into());
    }
    if problems.is_empty() {
        Ok(t)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn an_mi_address_parses_into_typed_settings() {
        let t = parse(
            "rabbitmq:/orders?rabbitmq.server.host.name=127.0.0.1&rabbitmq.server.port=5673\
             &rabbitmq.queue.name=orders&rabbitmq.queue.autodeclare=true\
             &rabbitmq.server.user.name=app&rabbitmq.server.password=$SYSTEM:RABBIT_PW\
             &rabbitmq.message.content.type=application%2Fjson",
            T,
        )
        .unwrap();
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 5673);
        assert_eq!(t.routing_key, "orders");
        assert!(t.declare_queue && t.confirms && !t.request_reply);
        assert_eq!(t.password_env.as_deref(), Some("RABBIT_PW"));
        assert_eq!(t.content_type.as_deref(), Some("application/json"));
        assert!(is_rabbitmq("RabbitMQ:/x"));
    }

    #[test]
    fn unknown_parameters_literal_passwords_and_named_reply_queues_are_refused() {
        let problems = parse(
            "rabbitmq:/x?rabbitmq.server.host.name=h&rabbitmq.queue.name=q\
             &rabbitmq.server.password=secret&rabbitmq.replyto.name=replies&rabbitmq.colour=red",
            T,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("$SYSTEM:VAR"));
        assert!(problems[1].contains("amq.rabbitmq.reply-to"));
        assert!(problems[2].contains("unknown parameter \"rabbitmq.colour\""));
        let nowhere = parse("rabbitmq:/x?rabbitmq.server.host.name=h", T).unwrap_err();
        assert!(nowhere[0].contains("rabbitmq.queue.name"), "{nowhere:?}");
    }

    #[test]
    fn ssl_parameters_turn_tls_on_with_the_port_5671_and_pem_from_the_environment() {
        let t = parse(
            "rabbitmq:/x?rabbitmq.server.host.name=127.0.0.1&rabbitmq.queue.name=q\
             &rabbitmq.connection.ssl.enabled=true&rabbitmq.connection.ssl.ca.env=BROKER_CA\
             &rabbitmq.connection.ssl.cert.env=C&rabbitmq.connection.ssl.key.env=K\
             &rabbitmq.connection.ssl.server.name=rabbit.local&rabbitmq.connection.ssl.version=TLSv1.3",
            T,
        )
        .unwrap();
        assert_eq!(t.port, 5671);
        let tls = t.tls.unwrap();
        assert_eq!(tls.ca_env.as_deref(), Some("BROKER_CA"));
        assert_eq!(tls.identity_env, Some(("C".into(), "K".into())));
        assert_eq!(tls.server_name.as_deref(), Some("rabbit.local"));
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        let plain = parse(
            "rabbitmq:/x?rabbitmq.server.host.name=h&rabbitmq.queue.name=q",
            T,
        );
        assert_eq!(plain.map(|t| (t.port, t.tls)), Ok((5672, None)));
    }

    #[test]
    fn key_stores_half_an_identity_and_ssl_settings_without_ssl_are_refused() {
        let problems = parse(
            "rabbitmq:/x?rabbitmq.server.host.name=h&rabbitmq.queue.name=q\
             &rabbitmq.connection.ssl.truststore.location=/t.jks&rabbitmq.connection.ssl.cert.env=C\
             &rabbitmq.connection.ssl.ca.env=CA",
            T,
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("no Java key stores"), "{problems:?}");
        assert!(problems[1].contains("key.env"), "{problems:?}");
        assert!(problems[2].contains("ssl.enabled=true"), "{problems:?}");
    }
}
