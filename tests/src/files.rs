//! What the file tests share (local folders and remote servers alike): an API that writes
//! each POST through a file endpoint, a sequence that sends each CSV record to a backend
//! (the file inbound endpoints' flow), and a folder's file names.

use std::path::Path;

use serde_json::Value;

use crate::{Ferry, client};

/// An API at `/files` calling the endpoint `ENDPOINT` (an inline endpoint, indented to sit
/// under `endpoint:`) with each POST, the file name from the payload's `reply` (MI's
/// `transport.vfs.ReplyFileName`) or from the endpoint's own expression; it answers 200
/// with the message, or 503 with the fault's `code` and `message`.
pub const FILE_API: &str = "apiVersion: ferry.dev/v1alpha1
kind: IntegrationAPI
metadata:
  name: files
spec:
  context: /files
  resources:
    - methods: [POST]
      inSequence:
        - property: {name: transport.vfs.ReplyFileName, expression: '${payload.reply}'}
        - call:
            endpoint:
ENDPOINT
        - respond: {}
      faultSequence:
        - property: {name: HTTP_SC, scope: axis2, value: '503'}
        - payloadFactory:
            mediaType: json
            format: '{\"code\": \"${props.synapse.ERROR_CODE}\", \"message\": \"${props.synapse.ERROR_MESSAGE}\"}'
        - respond: {}
";

/// [`FILE_API`] calling `endpoint`.
pub fn file_api(endpoint: &str) -> String {
    FILE_API.replace("ENDPOINT", endpoint)
}

/// POSTs `body` to [`FILE_API`]: the status and the JSON answer.
pub async fn post_file(ferry: &Ferry, body: Value) -> (u16, Value) {
    let resp = client()
        .post(ferry.url("/files"))
        .json(&body)
        .send()
        .await
        .expect("Ferry answers");
    (
        resp.status().as_u16(),
        resp.json().await.expect("a JSON answer"),
    )
}

/// A sequence `record-to-api` POSTing each record to `/records` of the backend on `port`;
/// a record whose `sku` is `BAD` fails (the rest of its file is not sent). Followed by a
/// document separator, for the inbound endpoint that feeds it.
pub fn record_to_api(port: u16) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: Sequence
metadata:
  name: record-to-api
spec:
  mediators:
    - filter:
        expression: ${{payload.sku == 'BAD'}}
        then:
          - throwError: {{type: BAD_RECORD, errorMessage: bad record}}
    - call:
        endpoint:
          http: {{uriTemplate: 'http://127.0.0.1:{port}/records', method: post}}
---
"
    )
}

/// The names in `dir`, sorted; none when it does not exist.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
