//! The OTLP exporter's HTTP client: Ferry's own pooled client (HTTPS with the system's CA
//! store), driven on the runtime the server runs on.
//!
//! The SDK's batch processor exports from a thread of its own, blocking on the export's
//! future; a hyper client needs a Tokio reactor, which that thread has not. So the post is
//! spawned onto the server's runtime and the export's future only waits for its answer on a
//! channel. This spares a second HTTP stack (reqwest and its own runtime thread) in the
//! binary.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

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
