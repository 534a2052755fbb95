//! MQTT endpoints as Micro Integrator's MQTT transport writes them: an address endpoint
//! whose URI is `mqtt:/NAME?mqtt.server.host.name=...&mqtt.topic.name=...`. The URI is
//! parsed here, once, into typed settings: every parameter is known (an unknown one is an
//! error), numbers and flags parse, topics are valid MQTT topic names, and no password is
//! written in the configuration (`$SYSTEM:VAR` names the environment variable holding it).
//! Also the topic filter and topic name rules the MQTT inbound endpoint checks with.

use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::resources::MqttVersion;

/// The `mqtt:` address scheme.
pub const SCHEME: &str = "mqtt:";

/// Whether an address URI is an MQTT one.
pub fn is_mqtt(uri: &str) -> bool {
    uri.get(..SCHEME.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
}

/// A checked MQTT endpoint: where and how a message is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTarget {
    /// `mqtt.server.host.name`.
    pub host: String,
    /// `mqtt.server.port`; default 1883, 8883 with TLS.
    pub port: u16,
    /// `mqtt.version`: `3.1.1` (default) or `5`.
    pub version: MqttVersion,
    /// `mqtt.client.id`; default a name unique to the process and endpoint.
    pub client_id: Option<String>,
    /// `mqtt.topic.name`: the topic published to.
    pub topic: String,
    /// `mqtt.qos` (MI: `mqtt.subscription.qos`): 0, 1 (default) or 2.
    pub qos: u8,
    /// `mqtt.retain`: the broker keeps the message as the topic's retained one.
    pub retain: bool,
    /// `mqtt.message.content.type` (MQTT 5): the content type sent instead of the
    /// message's.
    pub content_type: Option<String>,
    /// MQTT 5: send the message's Content-Type as the publish's content type (default
    /// true).
    pub send_content_type: bool,
    /// `mqtt.subscription.username` / `mqtt.username`.
    pub username: Option<String>,
    /// The environment variable holding the password (`mqtt.subscription.password=$SYSTEM:VAR`).
    pub password_env: Option<String>,
    /// `mqtt.ssl.enable`: connect with TLS (system CAs; `mqtt.ssl.ca.env` adds a CA from an
    /// environment variable).
    pub tls: bool,
    /// `mqtt.ssl.ca.env`: the environment variable holding extra CA certificates (PEM).
    pub ca_env: Option<String>,
    /// How long a publish (its acknowledgement) may take.
    pub timeout: Duration,
}

/// Parses an `mqtt:` address; `Err` lists every problem (each a sentence).
pub fn parse(uri: &str, timeout: Duration) -> Result<MqttTarget, Vec<String>> {
    let rest = &uri[SCHEME.len().min(uri.len())..];
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let mut problems = Vec::new();
    let mut t = MqttTarget {
        host: String::new(),
        port: 0,
        version: MqttVersion::V311,
        client_id: None,
        topic: String::new(),
        qos: 1,
        retain: false,
        content_type: None,
        send_content_type: true,
        username: None,
        password_env: None,
        tls: false,
        ca_env: None,
        timeout,
    };
    let mut port = None;
    let mut qos_seen = None::<&str>;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(raw).decode_utf8_lossy().into_owned();
        let mut flag = |target: &mut bool| match value.to_ascii_lowercase().as_str() {
            "true" => *target = true,
            "false" => *target = false,
            _ => problems.push(format!("{key} must be true or false, not {value:?}")),
        };
        match key {
            "mqtt.server.host.name" => t.host = value,
            "mqtt.server.port" => match value.parse::<u16>() {
                Ok(p) if p > 0 => port = Some(p),
                _ => problems.push(format!("{key} must be a port number, not {value:?}")),
            },
            "mqtt.version" => match value.as_str() {
                "3.1.1" | "3" | "4" => t.version = MqttVersion::V311,
                "5" => t.version = MqttVersion::V5,
                _ => problems.push(format!("{key} must be 3.1.1 or 5, not {value:?}")),
            },
            "mqtt.client.id" => {
                if value.is_empty() {
                    problems.push(format!("{key} must not be empty"));
                }
                t.client_id = Some(value);
            }
            "mqtt.topic.name" => t.topic = value,
            "mqtt.qos" | "mqtt.subscription.qos" => {
                if let Some(other) = qos_seen {
                    problems.push(format!("{key} and {other} both set the QoS; keep one"));
                }
                qos_seen = Some(if key == "mqtt.qos" {
                    "mqtt.qos"
                } else {
                    "mqtt.subscription.qos"
                });
                match value.as_str() {
                    "0" => t.qos = 0,
                    "1" => t.qos = 1,
                    "2" => t.qos = 2,
                    _ => problems.push(format!("{key} must be 0, 1 or 2, not {value:?}")),
                }
            }
            "mqtt.retain" => flag(&mut t.retain),
            "mqtt.message.content.type" => {
                if http::HeaderValue::from_str(&value).is_err() {
                    problems.push(format!("{key}: {value:?} is not a valid content type"));
                }
                t.content_type = Some(value);
            }
            "mqtt.content.type.enabled" => flag(&mut t.send_content_type),
            "mqtt.subscription.username" | "mqtt.username" => t.username = Some(value),
            "mqtt.subscription.password" | "mqtt.password" => {
                match value.strip_prefix("$SYSTEM:") {
                    Some(var) if !var.is_empty() => t.password_env = Some(var.to_string()),
                    _ => problems.push(format!(
                        "{key}: write the name of the environment variable holding the password, as $SYSTEM:VAR; a password is never written in the configuration"
                    )),
                }
            }
            "mqtt.ssl.enable" => flag(&mut t.tls),
            "mqtt.ssl.ca.env" => {
                if value.is_empty() {
                    problems.push(format!("{key} names an environment variable"));
                }
                t.ca_env = Some(value);
            }
            "mqtt.blocking.sender" => {
                if !value.eq_ignore_ascii_case("true") {
                    problems.push(format!(
                        "{key}: Ferry always waits for the broker's acknowledgement (QoS 1 and 2); only true is accepted"
                    ));
                }
            }
            _ => problems.push(format!(
                "unknown parameter {key:?}; known: mqtt.server.host.name, mqtt.server.port, mqtt.version, mqtt.client.id, mqtt.topic.name, mqtt.qos (or mqtt.subscription.qos), mqtt.retain, mqtt.message.content.type, mqtt.content.type.enabled, mqtt.subscription.username, mqtt.subscription.password, mqtt.ssl.enable, mqtt.ssl.ca.env, mqtt.blocking.sender"
            )),
        }
    }
    if t.host.trim().is_empty() {
        problems.push("mqtt.server.host.name is required".into());
    }
    if t.topic.is_empty() {
        problems.push("mqtt.topic.name is required".into());
    } else if let Err(e) = topic_name(&t.topic) {
        problems.push(format!("mqtt.topic.name: {e}"));
    }
    if t.content_type.is_some() && t.version != MqttVersion::V5 {
        problems.push(
            "mqtt.message.content.type: MQTT 3.1.1 carries no content type; set mqtt.version=5"
                .into(),
        );
    }
    if t.password_env.is_some() && t.username.is_none() {
        problems.push("a password goes with a user name: set mqtt.subscription.username".into());
    }
    if t.ca_env.is_some() && !t.tls {
        problems.push("mqtt.ssl.ca.env goes with mqtt.ssl.enable=true".into());
    }
    t.port = port.unwrap_or(if t.tls { 8883 } else { 1883 });
    if problems.is_empty() {
        Ok(t)
    } else {
        Err(problems)
    }
}

/// Checks a topic name a message is published to: not empty, no wildcards, no NUL, at
/// most 65535 bytes.
pub fn topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("a topic name must not be empty".into());
    }
    if topic.len() > 65_535 {
        return Err("a topic name is at most 65535 bytes".into());
    }
    if topic.contains(['+', '#']) {
        return Err(format!(
            "{topic:?}: a topic published to has no wildcards (+ #)"
        ));
    }
    if topic.contains('\0') {
        return Err("a topic name must not contain NUL".into());
    }
    Ok(())
}

/// Checks a topic filter subscribed to: not empty, `+` and `#` each a whole level, `#`
/// only last, no NUL.
pub fn topic_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("a topic filter must not be empty".into());
    }
    if filter.len() > 65_535 {
        return Err("a topic filter is at most 65535 bytes".into());
    }
    if filter.contains('\0') {
        return Err("a topic filter must not contain NUL".into());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "{filter:?}: # must be a whole level and the last one (sensors/#)"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!(
                "{filter:?}: + must be a whole level (sensors/+/temperature)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn an_mi_style_address_parses_into_typed_settings() {
        let t = parse(
            "mqtt:/out?mqtt.server.host.name=127.0.0.1&mqtt.server.port=1884&mqtt.topic.name=a%2Fb&mqtt.subscription.qos=2&mqtt.retain=true&mqtt.version=5&mqtt.message.content.type=application/json&mqtt.subscription.username=u&mqtt.subscription.password=$SYSTEM:PW",
            T,
        )
        .expect("valid");
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 1884);
        assert_eq!(t.topic, "a/b");
        assert_eq!(t.qos, 2);
        assert!(t.retain);
        assert_eq!(t.version, MqttVersion::V5);
        assert_eq!(t.content_type.as_deref(), Some("application/json"));
        assert_eq!(t.password_env.as_deref(), Some("PW"));
    }

    #[test]
    fn the_port_defaults_by_tls() {
        let plain = parse("mqtt:/x?mqtt.server.host.name=h&mqtt.topic.name=t", T).expect("ok");
        assert_eq!((plain.port, plain.qos, plain.tls), (1883, 1, false));
        let tls = parse(
            "mqtt:/x?mqtt.server.host.name=h&mqtt.topic.name=t&mqtt.ssl.enable=true",
            T,
        )
        .expect("ok");
        assert_eq!(tls.port, 8883);
    }

    #[test]
    fn every_problem_of_an_address_is_reported() {
        let problems = parse(
            "mqtt:/x?mqtt.topic.name=a/%23&mqtt.qos=3&mqtt.bogus=1&mqtt.subscription.password=secret&mqtt.message.content.type=text/plain",
            T,
        )
        .expect_err("invalid");
        let all = problems.join("\n");
        for needle in [
            "mqtt.server.host.name is required",
            "no wildcards",
            "must be 0, 1 or 2",
            "unknown parameter \"mqtt.bogus\"",
            "$SYSTEM:VAR",
            "MQTT 3.1.1 carries no content type",
        ] {
            assert!(all.contains(needle), "{needle} missing in {all}");
        }
    }

    #[test]
    fn topic_filters_follow_the_wildcard_rules() {
        for ok in ["a/b", "a/+/c", "#", "a/#", "+", "/a"] {
            assert!(topic_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/#/b", "a/b#", "a+/b", "a/\0"] {
            assert!(topic_filter(bad).is_err(), "{bad:?}");
        }
    }
}
