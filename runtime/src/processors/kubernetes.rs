//! Processor reports into Kubernetes (feature `kubernetes`): each report is a merge patch
//! of the MessageProcessor's status — `state`, `backlog`, and for a change `stateReason`,
//! `stateMessage`, `headMessageId` — and a change is also an Event on the MessageProcessor
//! (Warning when it stops, Normal when it comes back). The operator writes the conditions
//! of the same status; a merge patch touches only the fields it names, so neither writer
//! undoes the other.
//!
//! Reports are written by a task of their own, in order, from a bounded queue: a processor
//! never waits for the API server, and when the queue is full (the API server away for
//! long) the newest reports are dropped — a later one carries the current state again.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::report::{ProcessorReport, Reporter};
use crate::repeated::Repeated;

/// Reports waiting to be written.
const QUEUE: usize = 256;

/// A reporter writing into `namespace` as `pod` (the Event's reporting instance).
pub fn reporter(client: Client, namespace: String, pod: Option<String>) -> Reporter {
    let (tx, mut rx) = mpsc::channel::<ProcessorReport>(QUEUE);
    tokio::spawn(async move {
        let failures = Repeated::every(std::time::Duration::from_secs(60));
        let writer = Writer {
            client,
            namespace,
            pod,
        };
        while let Some(report) = rx.recv().await {
            if let Err(e) = writer.write(&report).await
                && let Some(left_out) = failures.admit()
            {
                tracing::warn!(processor = %report.processor, error = %e, also_failed_since_last_line = left_out, "cannot report the processor's state to Kubernetes (the admin port has it)");
            }
        }
    });
    Arc::new(move |report| {
        let _ = tx.try_send(report);
    })
}

struct Writer {
    client: Client,
    namespace: String,
    pod: Option<String>,
}

impl Writer {
    async fn write(&self, r: &ProcessorReport) -> Result<(), kube::Error> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(ferry_api::GROUP, ferry_api::VERSION, "MessageProcessor"),
            "messageprocessors",
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        api.patch_status(
            &r.processor,
            &PatchParams::default(),
            &Patch::Merge(&status_patch(r)),
        )
        .await?;
        if let Some(event) = event(r, &self.namespace, self.pod.as_deref()) {
            let events: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
            let event: Event = serde_json::from_value(event).map_err(kube::Error::SerdeError)?;
            events.create(&PostParams::default(), &event).await?;
        }
        Ok(())
    }
}

/// The status fields a report sets.
pub(crate) fn status_patch(r: &ProcessorReport) -> Value {
    let mut status = json!({
        "state": if r.active { "Active" } else { "Inactive" },
        "backlog": r.backlog.max(0),
    });
    if let Some((reason, message)) = &r.change {
        status["stateReason"] = json!(reason);
        status["stateMessage"] = json!(message);
        // null removes an old one when the processor comes back.
        status["headMessageId"] = json!(r.head_message_id);
    }
    json!({ "status": status })
}

/// The Event a change makes; `None` for a refresh.
pub(crate) fn event(r: &ProcessorReport, namespace: &str, pod: Option<&str>) -> Option<Value> {
    let (reason, message) = r.change.as_ref()?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Some(json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": format!("{}.", r.processor), "namespace": namespace},
        "involvedObject": {
            "apiVersion": format!("{}/{}", ferry_api::GROUP, ferry_api::VERSION),
            "kind": "MessageProcessor",
            "name": &*r.processor,
            "namespace": namespace,
        },
        "reason": reason,
        "message": message,
        "type": if r.active { "Normal" } else { "Warning" },
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": "ferry-runtime", "host": pod},
        "reportingComponent": "ferry.dev/runtime",
        "reportingInstance": pod.unwrap_or("ferry-runtime"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(active: bool, change: Option<(&'static str, String)>) -> ProcessorReport {
        ProcessorReport {
            processor: Arc::from("payment-processor"),
            active,
            backlog: 6,
            change,
            head_message_id: (!active).then(|| "urn:uuid:1".to_string()),
        }
    }

    #[test]
    fn a_deactivation_sets_state_reason_and_head_and_makes_a_warning() {
        let r = report(
            false,
            Some(("DeliveryFailed", "message urn:uuid:1 failed".into())),
        );
        assert_eq!(
            status_patch(&r),
            json!({"status": {"state": "Inactive", "backlog": 6, "stateReason": "DeliveryFailed",
                "stateMessage": "message urn:uuid:1 failed", "headMessageId": "urn:uuid:1"}})
        );
        let e = event(&r, "shop", Some("ferry-payments-0")).unwrap();
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["reason"], "DeliveryFailed");
        assert_eq!(e["involvedObject"]["kind"], "MessageProcessor");
        assert_eq!(e["involvedObject"]["name"], "payment-processor");
        assert_eq!(e["reportingInstance"], "ferry-payments-0");
        let parsed: Event = serde_json::from_value(e).unwrap();
        assert_eq!(parsed.reason.as_deref(), Some("DeliveryFailed"));
    }

    #[test]
    fn a_refresh_sets_state_and_backlog_only_and_makes_no_event() {
        let r = report(true, None);
        assert_eq!(
            status_patch(&r),
            json!({"status": {"state": "Active", "backlog": 6}})
        );
        assert!(event(&r, "shop", None).is_none());
        let back = report(
            true,
            Some(("Activated", "activated on the admin port".into())),
        );
        assert_eq!(status_patch(&back)["status"]["headMessageId"], Value::Null);
        assert_eq!(event(&back, "shop", None).unwrap()["type"], "Normal");
    }

    /// Against the real API server `KUBECONFIG` names (skipped otherwise): the
    /// MessageProcessor CRD installed, a processor object created, a deactivation reported
    /// — its status says why, and an Event says it.
    #[tokio::test]
    async fn a_deactivation_reaches_a_real_api_server() {
        use k8s_openapi::api::core::v1::Namespace;
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        if std::env::var_os("KUBECONFIG").is_none() {
            eprintln!("skipped: set KUBECONFIG to report processor states to a cluster");
            return;
        }
        let client = Client::try_default()
            .await
            .expect("KUBECONFIG is set but no client");
        let crd_yaml = include_str!("../../../crds/yaml/messageprocessors.ferry.dev.yaml");
        let crd: CustomResourceDefinition = serde_json::from_value(
            ferry_api::bundle::yaml::parse_documents(crd_yaml).unwrap()[0]
                .value
                .clone(),
        )
        .unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        let apply = PatchParams::apply("ferry-runtime-test").force();
        crds.patch("messageprocessors.ferry.dev", &apply, &Patch::Apply(&crd))
            .await
            .unwrap();
        let namespace = format!("ferry-report-{}", std::process::id());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace}}))
        .unwrap();
        namespaces
            .patch(&namespace, &apply, &Patch::Apply(&ns))
            .await
            .unwrap();
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(ferry_api::GROUP, ferry_api::VERSION, "MessageProcessor"),
            "messageprocessors",
        );
        let processors: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &namespace, &resource);
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "ferry.dev/v1alpha1", "kind": "MessageProcessor",
            "metadata": {"name": "payment-processor"},
            "spec": {"type": "forwarding", "messageStore": "payments", "targetEndpoint": "settle"}}))
        .unwrap();
        // The CRD may need a moment to be served.
        let mut created = false;
        for _ in 0..50 {
            if processors
                .patch("payment-processor", &apply, &Patch::Apply(&obj))
                .await
                .is_ok()
            {
                created = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert!(created, "cannot create the MessageProcessor");

        let report_to = reporter(client.clone(), namespace.clone(), Some("pod-0".into()));
        report_to(report(
            false,
            Some(("DeliveryFailed", "message urn:uuid:1 failed".into())),
        ));
        let mut status = Value::Null;
        for _ in 0..50 {
            status = processors.get("payment-processor").await.unwrap().data["status"].clone();
            if status["state"] == "Inactive" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status["stateReason"], "DeliveryFailed", "{status}");
        assert_eq!(status["headMessageId"], "urn:uuid:1", "{status}");
        assert_eq!(status["backlog"], 6, "{status}");
        let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
        let mut found = false;
        for _ in 0..50 {
            let list = events.list(&Default::default()).await.unwrap();
            if list.items.iter().any(|e| {
                e.reason.as_deref() == Some("DeliveryFailed")
                    && e.involved_object.name.as_deref() == Some("payment-processor")
            }) {
                found = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found, "no DeliveryFailed Event");
        let _ = namespaces.delete(&namespace, &Default::default()).await;
    }
}
