//! MI inbound endpoints (`<inboundEndpoint>`) to Ferry's InboundEndpoint: the `rabbitmq`,
//! `mqtt` and `file` protocols with their parameters (Ferry's fields name MI's parameters,
//! see docs/inbound.md). Every parameter Ferry does not take gets a located line.

use serde_json::{Value, json};

use super::cx::{Cx, Obj, segment};
use super::dom::Element;
use super::names::Family;
use super::vfs;

/// Converts an `<inboundEndpoint>` to an InboundEndpoint spec, or `None` (reported).
pub fn inbound(cx: &mut Cx<'_>, el: &Element) -> Option<Value> {
    cx.check_attrs(
        el,
        &[
            "name",
            "protocol",
            "class",
            "sequence",
            "onError",
            "suspend",
            "sequential",
            "statistics",
            "trace",
        ],
    );
    cx.check_children(el, &["parameters"]);
    let protocol = match (el.attr("protocol"), el.attr("class")) {
        (Some(p), _) => p.to_ascii_lowercase(),
        (None, Some(class)) => {
            let lower = class.to_ascii_lowercase();
            if lower.contains("rabbitmq") {
                "rabbitmq".into()
            } else if lower.contains("mqtt") {
                "mqtt".into()
            } else {
                cx.not_imported(el, format!("inbound endpoint class {class} is custom Java and cannot run in Ferry; Ferry's InboundEndpoint takes rabbitmq, mqtt and file (docs/inbound.md)"));
                return None;
            }
        }
        (None, None) => {
            cx.not_imported(
                el,
                "an inbound endpoint without protocol or class; left out",
            );
            return None;
        }
    };
    let protocol = match protocol.as_str() {
        "rabbitmq" | "mqtt" | "file" => protocol,
        "vfs" => "file".to_string(),
        other => {
            cx.not_imported(el, format!("inbound protocol {other} is not available in Ferry (rabbitmq, mqtt and file are); HTTP is served by an IntegrationAPI or a ProxyService (docs/inbound.md)"));
            return None;
        }
    };
    let Some(sequence) = el.attr("sequence") else {
        cx.not_imported(el, "an inbound endpoint without sequence; left out");
        return None;
    };
    let mut spec = Obj::new()
        .s("protocol", Some(protocol.as_str()))
        .s("sequence", Some(cx.reference(Family::Sequence, sequence)))
        .s(
            "onError",
            el.attr("onError")
                .map(|s| cx.reference(Family::Sequence, s)),
        );
    if cx.bool_attr(el, "suspend") == Some(true) {
        spec = spec.v("suspend", Some(json!(true)));
    }
    let mut sequential = cx.bool_attr(el, "sequential");
    let params: Vec<(usize, &Element)> = el
        .child("parameters")
        .map(|p| {
            p.children
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name == "parameter")
                .collect()
        })
        .unwrap_or_default();
    let parameters = el.child("parameters");
    let mut block = Block::default();
    for (i, p) in params {
        let name = p.attr("name").unwrap_or_default();
        let value = p
            .attr("value")
            .map_or_else(|| p.text_trimmed().to_string(), str::to_string);
        let seg = match parameters {
            Some(ps) => format!("parameters/{}[@name='{name}']", segment(ps, i)),
            None => format!("parameter[@name='{name}']"),
        };
        cx.within(seg, |cx| {
            let taken = match name {
                "sequential" => {
                    sequential = Some(value == "true");
                    true
                }
                "coordination" => {
                    if value == "false" && protocol != "rabbitmq" {
                        cx.adjusted(p, "coordination=false: Ferry runs this poller on one replica of its group (through the group's Lease) all the same, so no message is taken twice");
                    }
                    true
                }
                _ => match protocol.as_str() {
                    "rabbitmq" => rabbitmq(cx, &mut block, name, p, &value),
                    "mqtt" => mqtt(cx, &mut block, name, p, &value),
                    _ => file(cx, &mut block, name, p, &value),
                },
            };
            if !taken {
                cx.not_imported(
                    p,
                    format!("parameter {name} has no Ferry counterpart; left out"),
                );
            }
        });
    }
    if let Some(s) = sequential {
        spec = spec.v("sequential", Some(json!(s)));
    }
    let block = finish(cx, el, &protocol, block)?;
    Some(spec.v(&protocol, Some(block)).build())
}

/// The protocol block being built, with what needs a look at the end.
#[derive(Default)]
struct Block {
    obj: Obj,
    /// The password as the source wrote it (a `$SYSTEM:` variable or clear text).
    password: Option<String>,
    queue_declare: Option<bool>,
    queue: Obj,
    exchange: Obj,
    routing_key: Option<String>,
    topic: Option<String>,
    server_uri: Option<String>,
    /// Moves after processing or failure to a remote folder: (field, URI, parameter).
    remote_moves: Vec<(&'static str, String, Element)>,
    /// Remote-only VFS parameters (`SFTPIdentities`, `Passive`, `SFTPUserDirIsRoot`).
    server_params: Vec<(String, String, Element)>,
}

impl Block {
    fn set(&mut self, key: &str, v: Value) {
        self.obj = std::mem::take(&mut self.obj).v(key, Some(v));
    }
}

fn number(cx: &mut Cx<'_>, p: &Element, name: &str, value: &str) -> Option<Value> {
    cx.number(p, name, value).map(|n| json!(n))
}

fn rabbitmq(cx: &mut Cx<'_>, b: &mut Block, name: &str, p: &Element, value: &str) -> bool {
    let (key, v) = match name {
        "rabbitmq.server.host.name" => ("host", json!(value)),
        "rabbitmq.server.port" => match number(cx, p, name, value) {
            Some(n) => ("port", n),
            None => return true,
        },
        "rabbitmq.server.virtual.host" => ("virtualHost", json!(value)),
        "rabbitmq.server.user.name" => ("username", json!(value)),
        "rabbitmq.server.password" => {
            b.password = Some(value.to_string());
            return true;
        }
        "rabbitmq.connection.ssl.enabled" => {
            if value == "true" {
                ("tls", json!({}))
            } else {
                return true;
            }
        }
        "rabbitmq.queue.name" => ("queue", json!(value)),
        "rabbitmq.queue.autodeclare" => {
            b.queue_declare = Some(value == "true");
            return true;
        }
        "rabbitmq.queue.durable" => {
            b.queue = std::mem::take(&mut b.queue).v("durable", Some(json!(value == "true")));
            return true;
        }
        "rabbitmq.queue.auto.delete" => {
            b.queue = std::mem::take(&mut b.queue).v("autoDelete", Some(json!(value == "true")));
            return true;
        }
        "rabbitmq.exchange.name" => {
            b.exchange = std::mem::take(&mut b.exchange).s("name", Some(value));
            return true;
        }
        "rabbitmq.exchange.type" => {
            let t = value.to_ascii_lowercase();
            if !matches!(t.as_str(), "direct" | "fanout" | "topic" | "headers") {
                cx.not_imported(p, format!("exchange type {value} is not an AMQP exchange type (direct, fanout, topic, headers); left out"));
                return true;
            }
            b.exchange = std::mem::take(&mut b.exchange).s("type", Some(t));
            return true;
        }
        "rabbitmq.exchange.durable" => {
            b.exchange = std::mem::take(&mut b.exchange).v("durable", Some(json!(value == "true")));
            return true;
        }
        "rabbitmq.queue.routing.key" => {
            b.routing_key = Some(value.to_string());
            return true;
        }
        "rabbitmq.channel.consumer.qos" => match number(cx, p, name, value) {
            Some(n) => ("prefetch", n),
            None => return true,
        },
        "rabbitmq.concurrent.consumer.count" => match number(cx, p, name, value) {
            Some(n) => ("consumers", n),
            None => return true,
        },
        "rabbitmq.message.requeue.delay" => match number(cx, p, name, value) {
            Some(n) => ("requeueDelay", n),
            None => return true,
        },
        "rabbitmq.message.content.type" => ("contentType", json!(value)),
        "rabbitmq.connection.retry.interval" => match number(cx, p, name, value) {
            Some(n) => ("connectionRetry", json!({ "initialDelay": n })),
            None => return true,
        },
        "rabbitmq.connection.retry.count" => {
            cx.adjusted(p, "Ferry reconnects without limit, the delay doubling up to connectionRetry.maxDelay; the retry count is left out");
            return true;
        }
        _ => return false,
    };
    b.set(key, v);
    true
}

fn mqtt(cx: &mut Cx<'_>, b: &mut Block, name: &str, p: &Element, value: &str) -> bool {
    let (key, v) = match name {
        "mqtt.server.host.name" => ("host", json!(value)),
        "mqtt.server.port" => match number(cx, p, name, value) {
            Some(n) => ("port", n),
            None => return true,
        },
        "mqtt.topic.name" => {
            b.topic = Some(value.to_string());
            return true;
        }
        "mqtt.subscription.qos" => match value.parse::<u8>() {
            Ok(q) if q <= 2 => ("qos", json!(q)),
            _ => {
                cx.not_imported(p, format!("QoS {value:?} is not 0, 1 or 2; left out"));
                return true;
            }
        },
        "mqtt.session.clean" => ("cleanSession", json!(value == "true")),
        "mqtt.client.id" => ("clientId", json!(value)),
        "mqtt.subscription.username" => ("username", json!(value)),
        "mqtt.subscription.password" => {
            b.password = Some(value.to_string());
            return true;
        }
        "mqtt.ssl.enable" => {
            if value == "true" {
                ("tls", json!({}))
            } else {
                return true;
            }
        }
        "content.type" => ("contentType", json!(value)),
        "mqtt.reconnection.interval" => match number(cx, p, name, value) {
            Some(n) => ("connectionRetry", json!({ "initialDelay": n })),
            None => return true,
        },
        // MI's client-side plumbing, which Ferry has no use for.
        "mqtt.connection.factory" | "mqtt.temporary.store.directory" | "mqtt.blocking.sender" => {
            cx.adjusted(
                p,
                format!("parameter {name} does not apply to Ferry; left out"),
            );
            return true;
        }
        _ => return false,
    };
    b.set(key, v);
    true
}

fn file(cx: &mut Cx<'_>, b: &mut Block, name: &str, p: &Element, value: &str) -> bool {
    let (key, v) = match name {
        "transport.vfs.FileURI" => {
            b.server_uri = Some(value.to_string());
            return true;
        }
        "transport.vfs.FileNamePattern" => ("fileNamePattern", json!(value)),
        "interval" | "transport.PollInterval" => match number(cx, p, name, value) {
            Some(n) => ("interval", n),
            None => return true,
        },
        "transport.vfs.FileSortAttribute" => match value.to_ascii_lowercase().as_str() {
            "name" => ("sortBy", json!("name")),
            "size" => ("sortBy", json!("size")),
            "lastmodifiedtimestamp" | "lastmodified" => ("sortBy", json!("lastModified")),
            _ => {
                cx.not_imported(p, format!("sort attribute {value:?} is not name, size or lastModifiedTimestamp; left out"));
                return true;
            }
        },
        "transport.vfs.FileSortAscending" => ("sortDescending", json!(value == "false")),
        "transport.vfs.ContentType" => {
            let mime = value.split(';').next().unwrap_or_default().trim();
            let content = match mime {
                "application/json" => "json",
                "application/xml" | "text/xml" => "xml",
                "text/plain" => "text",
                _ => "binary",
            };
            b.set("content", json!(content));
            ("contentType", json!(value))
        }
        "transport.vfs.ActionAfterProcess" => match action(cx, p, value) {
            Some(a) => ("actionAfterProcess", a),
            None => return true,
        },
        "transport.vfs.ActionAfterFailure" => match action(cx, p, value) {
            Some(a) => ("actionAfterFailure", a),
            None => return true,
        },
        "transport.vfs.MoveAfterProcess" | "transport.vfs.MoveAfterFailure" => {
            let field = if name.ends_with("Process") {
                "moveAfterProcess"
            } else {
                "moveAfterFailure"
            };
            if vfs::is_remote(value) {
                b.remote_moves.push((field, value.to_string(), p.clone()));
                return true;
            }
            match local_path(cx, p, value) {
                Some(d) => (field, json!(d)),
                None => return true,
            }
        }
        "transport.vfs.SFTPIdentities"
        | "transport.vfs.Passive"
        | "transport.vfs.SFTPUserDirIsRoot" => {
            b.server_params
                .push((name.to_string(), value.to_string(), p.clone()));
            return true;
        }
        "transport.vfs.FileProcessCount" => match number(cx, p, name, value) {
            Some(n) => ("maxFilesPerPoll", n),
            None => return true,
        },
        "transport.vfs.Locking" | "transport.vfs.DistributedLock" => {
            cx.adjusted(p, format!("parameter {name}: Ferry polls on one replica (through the group's Lease) and takes a file only once it stopped changing (stableFor), so no lock is needed; left out"));
            return true;
        }
        "transport.vfs.Streaming" | "transport.vfs.Append" => {
            cx.adjusted(
                p,
                format!("parameter {name} does not apply to a reading endpoint; left out"),
            );
            return true;
        }
        _ => return false,
    };
    b.set(key, v);
    true
}

fn action(cx: &mut Cx<'_>, p: &Element, value: &str) -> Option<Value> {
    match value.to_ascii_uppercase().as_str() {
        "DELETE" => Some(json!("delete")),
        "MOVE" => Some(json!("move")),
        _ => {
            cx.not_imported(
                p,
                format!("action {value:?} is not MOVE or DELETE; left out"),
            );
            None
        }
    }
}

/// A local directory from a VFS URI (`file:///in`, `file:/in`, `/in`); a remote one is
/// reported.
fn local_path(cx: &mut Cx<'_>, p: &Element, uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("vfs:").unwrap_or(uri);
    if let Some(path) = rest.strip_prefix("file://") {
        return Some(path.to_string());
    }
    if let Some(path) = rest.strip_prefix("file:") {
        return Some(path.to_string());
    }
    if rest.contains("://") {
        let scheme = rest.split("://").next().unwrap_or_default();
        cx.not_imported(p, format!("{scheme}:// locations are not available in Ferry (local folders and sftp, ftp, ftps servers are); left out"));
        return None;
    }
    Some(rest.to_string())
}

/// Checks the required settings and completes the block: the password, the queue's
/// declaration and exchange, the topics, the directory.
fn finish(cx: &mut Cx<'_>, el: &Element, protocol: &str, mut b: Block) -> Option<Value> {
    let missing = |cx: &mut Cx<'_>, what: &str| {
        cx.not_imported(
            el,
            format!("a {protocol} inbound endpoint without {what}; left out"),
        );
    };
    if let Some(value) = b.password.take() {
        let from = cx.secret_from(el, &value, "PASSWORD", &format!("{protocol} password"));
        b.set("passwordFrom", from);
    }
    let mut obj = b.obj.build();
    let map = obj.as_object_mut()?;
    match protocol {
        "rabbitmq" => {
            if !map.contains_key("host") {
                missing(cx, "rabbitmq.server.host.name");
                return None;
            }
            if !map.contains_key("queue") {
                missing(cx, "rabbitmq.queue.name");
                return None;
            }
            let queue = b.queue.build();
            let declare = match b.queue_declare {
                Some(d) => d,
                None if queue != json!({}) => true,
                None => {
                    cx.adjusted(el, "MI declares the queue when it is missing (rabbitmq.queue.autodeclare defaults to true); Ferry consumes an existing queue unless declareQueue is set: add declareQueue if nothing else declares it");
                    false
                }
            };
            if declare {
                map.insert("declareQueue".into(), queue);
            }
            let mut exchange = b.exchange.build();
            if let Some(ex) = exchange.as_object_mut() {
                if ex.contains_key("name") {
                    if let Some(k) = b.routing_key {
                        ex.insert("routingKey".into(), json!(k));
                    }
                    map.insert("exchange".into(), exchange);
                } else if !ex.is_empty() || b.routing_key.is_some() {
                    cx.adjusted(el, "exchange settings without rabbitmq.exchange.name: the queue is consumed from the default exchange; they are left out");
                }
            }
        }
        "mqtt" => {
            if !map.contains_key("host") {
                missing(cx, "mqtt.server.host.name");
                return None;
            }
            let Some(topic) = b.topic else {
                missing(cx, "mqtt.topic.name");
                return None;
            };
            let topics: Vec<Value> = topic
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| json!(t))
                .collect();
            map.insert("topics".into(), Value::Array(topics));
        }
        _ => {
            let Some(uri) = b.server_uri else {
                missing(cx, "transport.vfs.FileURI");
                return None;
            };
            let mut server = None;
            let directory = if vfs::is_remote(&uri) {
                let name = cx.artifact.clone();
                let remote = vfs::remote(cx, el, &uri, &b.server_params, &name)?;
                for (field, move_uri, p) in &b.remote_moves {
                    if let Some(path) = vfs::path_on(cx, p, move_uri, &remote) {
                        map.insert((*field).into(), json!(path));
                    }
                }
                server = Some(remote.server.clone());
                remote.path
            } else {
                for (_, move_uri, p) in &b.remote_moves {
                    cx.not_imported(p, format!("a move to a remote folder ({}) from a local one is not available in Ferry; left out", move_uri.split('@').next_back().unwrap_or_default()));
                }
                for (key, _, p) in &b.server_params {
                    cx.adjusted(p, format!("{key} applies to remote folders only; left out"));
                }
                local_path(cx, el, &uri)?
            };
            // MI deletes a failed file unless told otherwise; Ferry's default is to move it.
            if !map.contains_key("actionAfterFailure") {
                map.insert("actionAfterFailure".into(), json!("delete"));
            }
            let mut ordered = serde_json::Map::new();
            ordered.insert("directory".into(), json!(directory));
            if let Some(server) = server {
                ordered.insert("server".into(), server);
            }
            ordered.append(map);
            *map = ordered;
        }
    }
    Some(obj)
}

#[cfg(test)]
mod tests {
    use crate::import::{Options, SourceFile, Status, import_sources};

    fn import(xml: &str) -> (String, Vec<(Status, String, String)>) {
        // The sequences the endpoints inject into, so the self-check finds them.
        let mut sources: Vec<SourceFile> = ["s", "Handle_Order", "Order_Fault"]
            .iter()
            .map(|s| SourceFile {
                name: format!("sequences/{s}.xml"),
                text: format!(
                    r#"<sequence name="{s}" xmlns="http://ws.apache.org/ns/synapse"><drop/></sequence>"#
                ),
            })
            .collect();
        sources.push(SourceFile {
            name: "inbound-endpoints/in.xml".into(),
            text: xml.to_string(),
        });
        let out = import_sources(&sources, &Options::default());
        let yaml = out
            .outputs
            .iter()
            .filter(|o| o.path.starts_with("inbound-endpoints/"))
            .map(|o| o.yaml.clone())
            .collect::<String>();
        let lines = out
            .report
            .entries
            .iter()
            .filter(|e| e.file.starts_with("inbound-endpoints/"))
            .map(|e| (e.status, e.path.clone(), e.message.clone()))
            .collect();
        (yaml, lines)
    }

    #[test]
    fn rabbitmq_parameters_become_the_rabbitmq_block() {
        let (yaml, report) = import(
            r#"<inboundEndpoint name="OrdersIn" protocol="rabbitmq" sequence="Handle_Order" onError="Order_Fault" suspend="false" xmlns="http://ws.apache.org/ns/synapse">
  <parameters>
    <parameter name="sequential">false</parameter>
    <parameter name="coordination">true</parameter>
    <parameter name="rabbitmq.server.host.name">localhost</parameter>
    <parameter name="rabbitmq.server.port">5672</parameter>
    <parameter name="rabbitmq.server.user.name">guest</parameter>
    <parameter name="rabbitmq.server.password">guest</parameter>
    <parameter name="rabbitmq.queue.name">orders</parameter>
    <parameter name="rabbitmq.queue.durable">true</parameter>
    <parameter name="rabbitmq.exchange.name">shop</parameter>
    <parameter name="rabbitmq.exchange.type">topic</parameter>
    <parameter name="rabbitmq.queue.routing.key">orders.*</parameter>
    <parameter name="rabbitmq.channel.consumer.qos">20</parameter>
    <parameter name="rabbitmq.concurrent.consumer.count">2</parameter>
    <parameter name="rabbitmq.message.requeue.delay">500</parameter>
    <parameter name="rabbitmq.queue.exclusive">false</parameter>
  </parameters>
</inboundEndpoint>"#,
        );
        for want in [
            "kind: InboundEndpoint",
            "name: orders-in",
            "protocol: rabbitmq",
            "sequence: handle-order",
            "onError: order-fault",
            "sequential: false",
            "host: localhost",
            "port: 5672",
            "queue: orders",
            "prefetch: 20",
            "consumers: 2",
            "requeueDelay: 500",
            "env: ORDERS_IN_PASSWORD",
            "name: shop",
            "type: topic",
            "routingKey: orders.*",
            "durable: true",
        ] {
            assert!(yaml.contains(want), "{want} missing in\n{yaml}");
        }
        assert!(!yaml.contains("suspend"), "{yaml}");
        let not_imported: Vec<_> = report
            .iter()
            .filter(|(s, _, _)| *s == Status::NotImported)
            .collect();
        assert_eq!(not_imported.len(), 1, "{report:?}");
        assert!(
            not_imported[0].1.contains("rabbitmq.queue.exclusive")
                && not_imported[0].2.contains("no Ferry counterpart"),
            "{report:?}"
        );
    }

    #[test]
    fn mqtt_and_file_endpoints_map_their_parameters() {
        let (yaml, report) = import(
            r#"<inboundEndpoint name="sensors" protocol="mqtt" sequence="s" suspend="true" xmlns="http://ws.apache.org/ns/synapse">
  <parameters>
    <parameter name="mqtt.server.host.name">localhost</parameter>
    <parameter name="mqtt.server.port">1883</parameter>
    <parameter name="mqtt.topic.name">sensors/+/t</parameter>
    <parameter name="mqtt.subscription.qos">2</parameter>
    <parameter name="mqtt.session.clean">true</parameter>
    <parameter name="mqtt.client.id">c1</parameter>
    <parameter name="content.type">application/json</parameter>
  </parameters>
</inboundEndpoint>"#,
        );
        for want in [
            "protocol: mqtt",
            "suspend: true",
            "- sensors/+/t",
            "qos: 2",
            "cleanSession: true",
            "clientId: c1",
            "contentType: application/json",
        ] {
            assert!(yaml.contains(want), "{want} missing in\n{yaml}");
        }
        assert!(
            report.iter().all(|(s, _, _)| *s != Status::NotImported),
            "{report:?}"
        );

        let (yaml, report) = import(
            r#"<inboundEndpoint name="drop" protocol="file" sequence="s" xmlns="http://ws.apache.org/ns/synapse">
  <parameters>
    <parameter name="interval">2000</parameter>
    <parameter name="transport.vfs.FileURI">file:///data/in</parameter>
    <parameter name="transport.vfs.FileNamePattern">.*\.csv</parameter>
    <parameter name="transport.vfs.ContentType">text/plain</parameter>
    <parameter name="transport.vfs.ActionAfterProcess">MOVE</parameter>
    <parameter name="transport.vfs.MoveAfterProcess">file:///data/done</parameter>
    <parameter name="transport.vfs.FileSortAttribute">lastModifiedTimestamp</parameter>
    <parameter name="transport.vfs.FileSortAscending">false</parameter>
    <parameter name="transport.vfs.FileProcessCount">5</parameter>
    <parameter name="transport.vfs.Locking">enable</parameter>
    <parameter name="transport.vfs.Frobnicate">x</parameter>
  </parameters>
</inboundEndpoint>"#,
        );
        for want in [
            "protocol: file",
            "directory: /data/in",
            "interval: 2000",
            "content: text",
            "actionAfterProcess: move",
            "moveAfterProcess: /data/done",
            "actionAfterFailure: delete",
            "sortBy: lastModified",
            "sortDescending: true",
            "maxFilesPerPoll: 5",
        ] {
            assert!(yaml.contains(want), "{want} missing in\n{yaml}");
        }
        let not_imported: Vec<_> = report
            .iter()
            .filter(|(s, _, _)| *s == Status::NotImported)
            .collect();
        assert_eq!(not_imported.len(), 1, "{report:?}");
        assert!(not_imported[0].1.contains("Frobnicate"), "{report:?}");
    }

    #[test]
    fn remote_vfs_folders_become_a_server_block_and_the_password_a_file() {
        let (yaml, report) = import(
            r#"<inboundEndpoint name="Remote_Drop" protocol="file" sequence="s" xmlns="http://ws.apache.org/ns/synapse">
  <parameters>
    <parameter name="transport.vfs.FileURI">vfs:sftp://bob:s%40cret@127.0.0.1:2222/upload/in?transport.vfs.SFTPIdentities=/keys/id</parameter>
    <parameter name="transport.vfs.ActionAfterProcess">MOVE</parameter>
    <parameter name="transport.vfs.MoveAfterProcess">vfs:sftp://bob:s%40cret@127.0.0.1:2222/upload/done</parameter>
    <parameter name="transport.vfs.ActionAfterFailure">MOVE</parameter>
    <parameter name="transport.vfs.MoveAfterFailure">vfs:sftp://bob@elsewhere/failed</parameter>
  </parameters>
</inboundEndpoint>"#,
        );
        for want in [
            "directory: /upload/in",
            "protocol: sftp",
            "host: \"127.0.0.1\"",
            "port: 2222",
            "user: bob",
            "passwordFile: /etc/ferry/secrets/remote-drop/password",
            "privateKeyFile: /keys/id",
            "moveAfterProcess: /upload/done",
        ] {
            assert!(yaml.contains(want), "{want} missing in\n{yaml}");
        }
        assert!(
            !yaml.contains("s%40cret") && !yaml.contains("s@cret"),
            "{yaml}"
        );
        let lines: Vec<(Status, &str)> = report
            .iter()
            .filter(|(s, _, _)| *s != Status::Mapped)
            .map(|(s, _, m)| (*s, m.as_str()))
            .collect();
        assert!(
            lines.iter().any(|(s, m)| *s == Status::Adjusted
                && m.contains("bob:***@127.0.0.1:2222/upload/in")
                && m.contains("passwordFile")),
            "{lines:?}"
        );
        // The failure folder on another server is left out, so the import's self-check
        // finds actionAfterFailure move without its folder: both lines say so.
        assert!(
            lines
                .iter()
                .any(|(s, m)| *s == Status::NotImported && m.contains("elsewhere/failed is not on")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .all(|(_, m)| !m.contains("s%40cret") && !m.contains("s@cret")),
            "{lines:?}"
        );

        let (yaml, report) = import(
            r#"<inboundEndpoint name="Ftp_Drop" protocol="file" sequence="s" xmlns="http://ws.apache.org/ns/synapse">
  <parameters>
    <parameter name="transport.vfs.FileURI">ftps://anon@files.example:990/in</parameter>
    <parameter name="transport.vfs.Passive">true</parameter>
  </parameters>
</inboundEndpoint>"#,
        );
        for want in [
            "protocol: ftps",
            "port: 990",
            "user: anon",
            "directory: /in",
        ] {
            assert!(yaml.contains(want), "{want} missing in\n{yaml}");
        }
        assert!(!yaml.contains("passwordFile"), "{yaml}");
        assert!(
            report.iter().all(|(s, _, _)| *s != Status::NotImported),
            "{report:?}"
        );
    }

    #[test]
    fn remote_locations_and_other_protocols_are_reported() {
        let (yaml, report) = import(
            r#"<inboundEndpoint name="remote" protocol="file" sequence="s" xmlns="http://ws.apache.org/ns/synapse">
  <parameters><parameter name="transport.vfs.FileURI">vfs:sftp://u@host/in</parameter></parameters>
</inboundEndpoint>"#,
        );
        assert!(yaml.is_empty(), "{yaml}");
        assert!(
            report
                .iter()
                .any(|(s, _, m)| *s == Status::NotImported && m.contains("sftp://")),
            "{report:?}"
        );
        let (yaml, report) = import(
            r#"<inboundEndpoint name="k" class="org.wso2.carbon.inbound.kafka.KafkaMessageConsumer" sequence="s" xmlns="http://ws.apache.org/ns/synapse"/>"#,
        );
        assert!(yaml.is_empty(), "{yaml}");
        assert!(
            report
                .iter()
                .any(|(s, _, m)| *s == Status::NotImported && m.contains("custom Java")),
            "{report:?}"
        );
    }
}
