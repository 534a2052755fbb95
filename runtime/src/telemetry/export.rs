//! Running the OTLP exporters on the server's runtime.
//!
//! The SDK's batch processor exports from a thread of its own, blocking on the export's
//! future; hyper and tonic need a Tokio reactor, which that thread has not. So the work is
//! spawned onto the server's runtime and the export's future only waits for its answer on a
//! channel: over HTTP, Ferry's own pooled client posts ([`RuntimeClient`], sparing a second
//! HTTP stack, reqwest and its runtime thread); over gRPC, tonic's exporter runs there
//! whole ([`OnRuntime`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::endpoints::client::EndpointClient;

/// Largest collector answer read (an OTLP partial-success message is small).
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How long one export post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts spans through an [`EndpointClient`] on a given runtime.
#[derive(Clone)]
pub(super) struct RuntimeClient {
    client: EndpointClient,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeClient").finish_non_exhaustive()
    }
}

impl RuntimeClient {
    /// A client on the runtime of the calling task.
    pub(super) fn current() -> Self {
        Self {
            client: EndpointClient::default(),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl HttpClient for RuntimeClient {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            let answer = client
                .send_buffered(request, Some(POST_TIMEOUT), MAX_ANSWER_BYTES)
                .await;
            let _ = tx.send(answer);
        });
        Box::pin(async move {
            match rx.await {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(e)) => Err(Box::new(e) as HttpError),
                Err(_) => Err("the runtime stopped before the spans were posted".into()),
            }
        })
    }
}

/// An exporter whose exports run on a given runtime (tonic's gRPC client needs one).
#[derive(Debug)]
pub(super) struct OnRuntime<E> {
    exporter: std::sync::Arc<E>,
    runtime: tokio::runtime::Handle,
}

impl<E> OnRuntime<E> {
    /// `exporter` on the runtime of the calling task.
    pub(super) fn current(exporter: E) -> Self {
        Self {
            exporter: std::sync::Arc::new(exporter),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let exporter = self.exporter.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(exporter.export(batch).await);
        });
        async move {
            rx.await.unwrap_or_else(|_| {
                Err(OTelSdkError::InternalFailure(
                    "the runtime stopped before the spans were exported".into(),
                ))
            })
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.exporter.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.exporter.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        // Called once while the provider is built, before any export shares the exporter.
        if let Some(exporter) = std::sync::Arc::get_mut(&mut self.exporter) {
            exporter.set_resource(resource);
        }
    }
}
