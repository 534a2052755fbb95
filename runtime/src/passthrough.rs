//! Streaming passthrough. A resource whose whole flow is "call one endpoint with the
//! request as it came, answer with the reply" never looks at either body, so neither is
//! buffered: the request body streams to the backend as it arrives and the answer streams
//! back to the client. Memory per request stays at the connection buffers whatever the
//! body size, and nothing is copied.
//!
//! Which resources qualify is decided once, at load time, from the compiled flow: the
//! in-sequence is exactly `call` (body in, body out, no content-type override) then
//! `respond`; the endpoint is a single leaf that sends once and derives nothing from the
//! payload ([`Endpoint::streams`]); and no fault sequence could ask for the payload after a
//! failure. Everything else takes the buffered path, unchanged.

use std::sync::Arc;

use crate::endpoints::Endpoint;
use crate::mediators::Mediator;
use crate::sequence::Sequence;

/// The streamed plan of a resource.
pub struct Passthrough {
    endpoint: Arc<Endpoint>,
}

/// Marks the calls of a resource's in-sequence after which nothing but the answer to the
/// client happens (a `respond`, or the end of the flow, possibly through the end of a
/// `switch` case or `filter` branch): their answer's body is not read into memory but
/// streams to the client as it arrives. The request body may still be read (a switch on a
/// payload field does). Only for resources without a fault or out-sequence: a body that
/// breaks off mid-stream cannot be handed to a fault sequence once the head has gone out.
pub fn stream_final_answers(mediators: &mut [Mediator]) {
    mark_final(mediators, true);
}

/// `final_`: whether the answer goes out when these mediators are done.
fn mark_final(mediators: &mut [Mediator], mut final_: bool) {
    for mediator in mediators.iter_mut().rev() {
        match mediator {
            Mediator::Respond(_) => final_ = true,
            Mediator::Call(call) => {
                if final_ {
                    call.stream_answer();
                }
                final_ = false;
            }
            Mediator::Switch(switch) => {
                for branch in switch.branches_mut() {
                    mark_final(branch, final_);
                }
                final_ = false;
            }
            Mediator::Filter(filter) => {
                for branch in filter.branches_mut() {
                    mark_final(branch, final_);
                }
                final_ = false;
            }
            // Anything else may read or replace the payload, or answers by itself. Listed
            // one by one, so a new mediator (one holding branches, say) must be decided here.
            Mediator::Log(_)
            | Mediator::Property(_)
            | Mediator::Group(_)
            | Mediator::Variable(_)
            | Mediator::Header(_)
            | Mediator::PayloadFactory(_)
            | Mediator::Enrich(_)
            | Mediator::Send(_)
            | Mediator::Drop(_)
            | Mediator::Loopback(_)
            | Mediator::Sequence(_)
            | Mediator::Store(_)
            | Mediator::ThrowError(_)
            | Mediator::Makefault(_)
            | Mediator::Validate(_)
            | Mediator::CallTemplate(_)
            | Mediator::Cache(_)
            | Mediator::JsonTransform(_)
            | Mediator::Xslt(_)
            | Mediator::Script(_)
            | Mediator::Throttle(_)
            | Mediator::Db(_)
            | Mediator::DataCall(_) => final_ = false,
            // Copies are answered from messages that are no longer the request: nothing
            // inside a split streams.
            Mediator::Clone(_)
            | Mediator::Iterate(_)
            | Mediator::Aggregate(_)
            | Mediator::Foreach(_)
            | Mediator::ScatterGather(_) => final_ = false,
        }
    }
}

impl Passthrough {
    /// The plan of a resource with this in-sequence, or `None` when it must buffer.
    /// `fault_handled`: a resource or API fault sequence exists.
    pub fn plan(in_sequence: &Sequence, fault_handled: bool) -> Option<Passthrough> {
        if fault_handled {
            return None;
        }
        let [Mediator::Call(call), Mediator::Respond(_)] = in_sequence.mediators.as_slice() else {
            return None;
        };
        let endpoint = call.forwards_as_is()?;
        endpoint.streams().then(|| Passthrough {
            endpoint: Arc::clone(endpoint),
        })
    }

    /// The endpoint the request goes to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Whether this request can stream: its length is declared and within the limit, so an
    /// oversized body is still refused with 413 before anything is sent; or it is an
    /// HTTP/1 request with neither a length nor chunks, which has no body (a GET: its answer
    /// still streams back). A chunked request, or an HTTP/2 one of unknown length, takes the
    /// buffered path, which counts as it reads.
    pub fn fits(version: http::Version, headers: &http::HeaderMap, max_body_bytes: usize) -> bool {
        if headers.contains_key(http::header::TRANSFER_ENCODING) {
            return false;
        }
        match headers.get(http::header::CONTENT_LENGTH) {
            Some(length) => length
                .to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|len| len <= max_body_bytes as u64),
            None => version <= http::Version::HTTP_11,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::admin::metrics::Metrics;
    use crate::compile::{self, Compiled};

    const ENDPOINTS: &str = r#"
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: plain}
spec:
  http: {uriTemplate: "http://127.0.0.1:9/x/{uri.var.id}"}
  headers: [{name: x-a, value: b}]
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: configured}
spec:
  http: {uriTemplate: "http://127.0.0.1:${config.port}/x?q=${params.queryParams.q}"}
  headers: [{name: x-b, expression: "${headers.accept}"}]
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: retrying}
spec:
  http: {uriTemplate: "http://127.0.0.1:9/x"}
  retry: {count: 2}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: computed}
spec:
  http: {uriTemplate: "http://127.0.0.1:9/x/${payload.id}"}
---
apiVersion: ferry.dev/v1alpha1
kind: Endpoint
metadata: {name: group}
spec:
  failover: {endpoints: [{key: plain}, {key: retrying}]}
"#;

    fn compiled(resources: &str, api_fault: &str) -> Compiled {
        let yaml = format!(
            "{ENDPOINTS}---\napiVersion: ferry.dev/v1alpha1\nkind: IntegrationAPI\nmetadata: {{name: a}}\nspec:\n  context: /a\n{api_fault}  resources:\n{resources}"
        );
        let config = HashMap::from([("port".to_string(), "9".to_string())]);
        compile::compile_test_yaml_with(&yaml, Arc::new(Metrics::new()), config)
    }

    fn streams(resource: &str) -> bool {
        compiled(resource, "").apis[0].resources[0]
            .passthrough
            .is_some()
    }

    #[test]
    fn call_then_respond_to_a_plain_endpoint_streams() {
        assert!(streams(
            "    - uriTemplate: /{id}\n      inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n"
        ));
    }

    #[test]
    fn anything_that_could_read_the_body_keeps_it_buffered() {
        for resource in [
            // a mediator before the call
            "    - inSequence: [{log: {level: simple}}, {call: {endpoint: {key: plain}}}, {respond: {}}]\n",
            // the answer goes on through more mediators
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {log: {level: full}}, {respond: {}}]\n",
            // a call that sends something else, or keeps the answer aside
            "    - inSequence: [{call: {endpoint: {key: plain}, source: {type: inline, inline: {a: 1}}}}, {respond: {}}]\n",
            "    - inSequence: [{call: {endpoint: {key: plain}, target: {type: variable, name: v}}}, {respond: {}}]\n",
            // endpoints that need the body again or compute from it
            "    - inSequence: [{call: {endpoint: {key: retrying}}}, {respond: {}}]\n",
            "    - inSequence: [{call: {endpoint: {key: computed}}}, {respond: {}}]\n",
            "    - inSequence: [{call: {endpoint: {key: group}}}, {respond: {}}]\n",
            // a fault sequence could read the payload after a failure
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n      faultSequence: [{respond: {}}]\n",
        ] {
            assert!(!streams(resource), "{resource}");
        }
        let api_fault = "  faultSequence: [{respond: {}}]\n";
        let c = compiled(
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n",
            api_fault,
        );
        assert!(
            c.apis[0].resources[0].passthrough.is_none(),
            "the API's fault sequence counts too"
        );
    }

    /// For each call of the resource's in-sequence (depth first, in order), whether its
    /// answer streams.
    fn streamed_answers(resource: &str, api_fault: &str) -> Vec<bool> {
        fn walk(mediators: &[Mediator], out: &mut Vec<bool>) {
            for mediator in mediators {
                match mediator {
                    Mediator::Call(call) => out.push(call.streams_answer()),
                    Mediator::Switch(s) => s.branches().for_each(|b| walk(b, out)),
                    Mediator::Filter(f) => f.branches().for_each(|b| walk(b, out)),
                    _ => {}
                }
            }
        }
        let c = compiled(resource, api_fault);
        let mut out = Vec::new();
        walk(&c.apis[0].resources[0].in_sequence.mediators, &mut out);
        out
    }

    #[test]
    fn a_call_whose_answer_goes_straight_to_the_client_streams_it() {
        // In each branch of a switch, then respond (the JSON routing shape).
        let switch = "    - inSequence:\n        - switch:\n            source: ${payload.kind}\n            cases: [{regex: a, sequence: [{call: {endpoint: {key: plain}}}]}]\n            default: [{call: {endpoint: {key: plain}}}]\n        - respond: {}\n";
        assert_eq!(streamed_answers(switch, ""), [true, true]);
        // The end of the flow answers too; filter branches count as switch cases do.
        let filter = "    - inSequence:\n        - filter:\n            source: ${headers.x}\n            regex: a\n            then: [{call: {endpoint: {key: plain}}}]\n            else: [{call: {endpoint: {key: plain}}}, {log: {level: full}}]\n";
        assert_eq!(streamed_answers(filter, ""), [true, false]);
        // Only the last of two calls: the first one's answer is the second one's request.
        let two = "    - inSequence: [{call: {endpoint: {key: plain}}}, {call: {endpoint: {key: plain}}}, {respond: {}}]\n";
        assert_eq!(streamed_answers(two, ""), [false, true]);
    }

    #[test]
    fn an_answer_anything_could_read_is_read_into_the_message() {
        for resource in [
            // a mediator after the call (inside or after the switch)
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {log: {level: simple}}, {respond: {}}]\n",
            "    - inSequence:\n        - switch:\n            source: ${payload.kind}\n            cases: [{regex: a, sequence: [{call: {endpoint: {key: plain}}}]}]\n        - property: {name: p, value: v}\n        - respond: {}\n",
            // the answer is kept aside, or something else is sent
            "    - inSequence: [{call: {endpoint: {key: plain}, target: {type: variable, name: v}}}, {respond: {}}]\n",
            // a fault sequence or an out-sequence could still read it
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n      faultSequence: [{respond: {}}]\n",
            "    - inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n      outSequence: [{respond: {}}]\n",
        ] {
            assert!(
                streamed_answers(resource, "").iter().all(|s| !s),
                "{resource}"
            );
        }
        let api_fault = "  faultSequence: [{respond: {}}]\n";
        let resource = "    - inSequence: [{call: {endpoint: {key: plain}}}, {respond: {}}]\n";
        assert_eq!(streamed_answers(resource, api_fault), [false]);
    }

    #[test]
    fn only_a_declared_length_within_the_limit_or_no_body_streams() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            h
        };
        let h1 = http::Version::HTTP_11;
        assert!(Passthrough::fits(
            h1,
            &headers(&[("content-length", "100")]),
            100
        ));
        assert!(!Passthrough::fits(
            h1,
            &headers(&[("content-length", "101")]),
            100
        ));
        assert!(!Passthrough::fits(
            h1,
            &headers(&[("content-length", "x")]),
            100
        ));
        assert!(
            Passthrough::fits(h1, &headers(&[]), 100),
            "HTTP/1 without a length: no body"
        );
        assert!(
            !Passthrough::fits(http::Version::HTTP_2, &headers(&[]), 100),
            "HTTP/2 without a length: a body of unknown size"
        );
        assert!(!Passthrough::fits(
            h1,
            &headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]),
            100
        ));
    }
}
