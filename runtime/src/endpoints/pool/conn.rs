//! One HTTP/1.1 connection to a backend, spoken by the task that makes the call.
//!
//! hyper's client connection is made to run in a task of its own: a request crosses a
//! channel into its dispatcher, the answer's head comes back through a oneshot and its body
//! through another channel, even when one task polls both ends (as the pool does). On a
//! 1 KiB passthrough that machinery was about a third of the instructions Ferry spent per
//! request (callgrind). Here the caller writes the request and parses the answer itself,
//! with `httparse` (the parser hyper uses), and the answer's body is decoded straight from
//! the connection's read buffer into the frames the client's response is written from.
//!
//! What it speaks: HTTP/1.1 (and 1.0 answers) with `Content-Length`, chunked and
//! close-delimited bodies both ways as RFC 9112 frames them; interim (1xx) answers skipped;
//! keep-alive unless either side says `close`; an answer that comes while the request
//! body is still being sent (a backend refusing an upload) is read and returned.

use std::error::Error as StdError;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::AsyncWrite;

use crate::tls::client::BackendStream;
use crate::transports::http::body::{Body, BoxError};
use crate::transports::http::wire::{
    self, COALESCE, Decoder, Framing, HEAD_ROOM, MAX_HEADERS, MAX_READ, READ_CHUNK, Step,
    connection_has, last_coding_is_chunked,
};

/// Header fields an answer's map has room for beyond its own: Ferry's correlation id.
const ANSWER_HEADER_ROOM: usize = 2;

/// A connection and what was read from it but not yet consumed.
pub(crate) struct Conn {
    io: BackendStream,
    buf: BytesMut,
    /// The most an answer's head may take.
    max_head: usize,
    /// The request head being written; kept to be reused by the next request.
    out: Vec<u8>,
    /// Where the answer's header fields are in its head, while it is parsed.
    spans: Vec<Span>,
}

/// A header field's name and value, as offsets into the answer's head.
#[derive(Clone, Copy)]
struct Span {
    name: usize,
    name_len: usize,
    value: usize,
    value_len: usize,
}

/// Why an exchange failed.
#[derive(Debug)]
pub(crate) struct Http1Error {
    kind: Http1ErrorKind,
    message: String,
    source: Option<BoxError>,
}

/// The class of an [`Http1Error`], which the endpoint's fault code follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Http1ErrorKind {
    /// The answer is not valid HTTP/1.1.
    Parse,
    /// The connection ended before the answer was complete.
    Incomplete,
    /// Reading or writing the socket failed (the `io::Error` is the source).
    Io,
    /// The request could not be sent as given (its body failed or broke its length).
    Request,
}

impl Http1Error {
    fn new(kind: Http1ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    fn io(doing: &str, err: io::Error) -> Self {
        Self {
            kind: Http1ErrorKind::Io,
            message: format!("{doing} failed"),
            source: Some(Box::new(err)),
        }
    }

    pub(crate) fn kind(&self) -> Http1ErrorKind {
        self.kind
    }
}

impl fmt::Display for Http1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Http1Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A request that could not go out on this connection, nothing of it written: it can be
/// sent again on another.
pub(crate) struct Unsent {
    pub request: Request<Body>,
    pub error: Http1Error,
}

/// How an exchange failed.
pub(crate) enum Failed {
    Unsent(Box<Unsent>),
    Sent(Http1Error),
}

impl Conn {
    pub(crate) fn new(io: BackendStream, max_head: usize) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_head: max_head.max(READ_CHUNK),
            out: Vec::with_capacity(512),
            spans: Vec::new(),
        }
    }

    /// Whether an idle connection can take a request: it must not have been closed, nor
    /// have sent anything unasked. Reads at most once, without waiting.
    pub(crate) fn is_usable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        matches!(self.poll_fill(&mut cx), Poll::Pending)
    }

    /// Reads what the socket has into `buf`; `Ok(0)` at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.poll_fill_up_to(cx, HEAD_ROOM)
    }

    /// As [`Conn::poll_fill`], with room for `expected` more bytes (at most `MAX_READ`): a
    /// large body comes in a few large reads, and as a few large frames to the client.
    fn poll_fill_up_to(
        &mut self,
        cx: &mut Context<'_>,
        expected: usize,
    ) -> Poll<io::Result<usize>> {
        wire::poll_fill(&mut self.io, &mut self.buf, cx, expected)
    }

    /// Sends `req` and reads the answer's head; the answer's body reads from this
    /// connection, which it hands back once the body has ended (see [`ResponseBody`]).
    pub(crate) async fn exchange(
        mut self,
        req: Request<Body>,
    ) -> Result<Response<ResponseBody>, Failed> {
        let (parts, mut body) = req.into_parts();
        let framing = match self.encode_head(&parts, &body) {
            Ok(framing) => framing,
            Err(error) => return Err(Failed::Sent(error)),
        };
        let head_request = parts.method == Method::HEAD;
        let mut keep_alive = !connection_has(&parts.headers, "close");

        // The first body frame, when it is there already, goes out with the head.
        let mut first = None;
        let mut sent = Sent::new(framing);
        if !sent.finished {
            match poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await {
                Poll::Ready(Some(Ok(frame))) => first = Some(frame),
                Poll::Ready(Some(Err(e))) => return Err(Failed::Sent(body_failed(e))),
                Poll::Ready(None) => {
                    if let Err(e) = sent.finish(&mut self.out) {
                        return Err(Failed::Sent(e));
                    }
                }
                Poll::Pending => {}
            }
        }
        // Kept to be sent again if the connection turns out closed before anything went.
        let mut coalesced = None;
        if let Some(data) = first.as_ref().and_then(|f| f.data_ref())
            && self.out.len() + data.len() <= COALESCE
        {
            let data = data.clone();
            if let Err(e) = sent.add(data.len()) {
                return Err(Failed::Sent(e));
            }
            encode_chunk(&mut self.out, framing, &data);
            first = None;
            coalesced = Some(data);
            if body.is_end_stream()
                && let Err(e) = sent.finish(&mut self.out)
            {
                return Err(Failed::Sent(e));
            }
        }

        let written = write_all(&mut self.io, &self.out).await;
        self.out.clear();
        if let Err((error, 0)) = written {
            let first = first.or_else(|| coalesced.map(Frame::data));
            let body = match first {
                Some(frame) => crate::transports::http::body::boxed(Replay {
                    first: Some(frame),
                    rest: body,
                }),
                None => body,
            };
            return Err(Failed::Unsent(Box::new(Unsent {
                request: Request::from_parts(parts, body),
                error: Http1Error::io("writing the request", error),
            })));
        }
        // Sent: the head and the first frame are not needed again; they go now rather than
        // when the answer has come (their bytes are slices of the client's read buffer).
        drop(parts);
        drop(coalesced);
        let early = match written {
            Ok(()) => self
                .send_body(first, body, &mut sent)
                .await
                .map_err(Failed::Sent)?,
            Err((error, _)) => {
                // A backend that answers and closes before reading the whole request (an
                // upload it refuses) breaks the write; its answer is still worth reading.
                match self.read_head(head_request).await {
                    Ok(head) => Some(head),
                    Err(_) => {
                        return Err(Failed::Sent(Http1Error::io("writing the request", error)));
                    }
                }
            }
        };
        let head = match early {
            Some(head) => {
                // The rest of the request was not sent: the connection cannot be reused.
                keep_alive = false;
                head
            }
            None => self.read_head(head_request).await.map_err(Failed::Sent)?,
        };
        let Head {
            response,
            framing,
            keep_alive: answer_keeps,
        } = head;
        let body = ResponseBody {
            conn: Some(self),
            decoder: decoder(framing),
            keep_alive: keep_alive && answer_keeps,
        };
        Ok(response.map(|()| body))
    }

    /// Writes the request line and header fields into `out`, and the framing header the
    /// body needs when the request carries none.
    fn encode_head(
        &mut self,
        parts: &http::request::Parts,
        body: &Body,
    ) -> Result<Framing, Http1Error> {
        let out = &mut self.out;
        out.clear();
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b' ');
        match parts.uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() => out.extend_from_slice(pq.as_str().as_bytes()),
            _ => out.push(b'/'),
        }
        out.extend_from_slice(if parts.version == Version::HTTP_10 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });

        let framing = request_framing(&parts.method, &parts.headers, body)?;
        // Noted on the way: two more lookups would hash both names again.
        let (mut has_length, mut has_te) = (false, false);
        for (name, value) in &parts.headers {
            has_length |= name == http::header::CONTENT_LENGTH;
            has_te |= name == http::header::TRANSFER_ENCODING;
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match framing {
            Framing::Length(n) if !has_length => {
                out.extend_from_slice(b"content-length: ");
                out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Framing::Chunked if !has_te => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            }
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        Ok(framing)
    }

    /// Sends the rest of the request body. Returns the answer's head when the backend
    /// answers before the body is all sent.
    async fn send_body(
        &mut self,
        mut first: Option<Frame<Bytes>>,
        mut body: Body,
        sent: &mut Sent,
    ) -> Result<Option<Head>, Http1Error> {
        if sent.finished {
            return self.flush().await.map(|()| None);
        }
        loop {
            let frame = match first.take() {
                Some(frame) => Some(frame),
                None => match self.next_frame_or_answer(&mut body).await? {
                    Next::Frame(frame) => frame,
                    Next::Answer(head) => return Ok(Some(head)),
                },
            };
            match frame {
                // Trailers are not forwarded (hop-by-hop for a proxy that answers them).
                Some(frame) => {
                    if let Ok(data) = frame.into_data() {
                        sent.add(data.len())?;
                        if sent.framing == Framing::Chunked {
                            let mut framed = Vec::with_capacity(data.len() + 12);
                            encode_chunk(&mut framed, Framing::Chunked, &data);
                            self.write(&framed).await?;
                        } else {
                            self.write(&data).await?;
                        }
                    }
                }
                None => {
                    let mut tail = Vec::new();
                    sent.finish(&mut tail)?;
                    self.write(&tail).await?;
                    return self.flush().await.map(|()| None);
                }
            }
        }
    }

    /// The next request body frame, or the answer's head if the backend answers while the
    /// body is still awaited.
    async fn next_frame_or_answer(&mut self, body: &mut Body) -> Result<Next, Http1Error> {
        // Whatever was written so far must reach the backend before waiting on the client.
        self.flush().await?;
        poll_fn(|cx| {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Ok(Next::Frame(Some(frame)))),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(body_failed(e))),
                Poll::Ready(None) => return Poll::Ready(Ok(Next::Frame(None))),
                Poll::Pending => {}
            }
            // The backend may answer (and close) before it has read the whole request.
            self.poll_head(cx, false).map(|head| head.map(Next::Answer))
        })
        .await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Http1Error> {
        write_all(&mut self.io, bytes)
            .await
            .map_err(|(e, _)| Http1Error::io("writing the request body", e))
    }

    async fn flush(&mut self) -> Result<(), Http1Error> {
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx))
            .await
            .map_err(|e| Http1Error::io("writing the request", e))
    }

    /// Reads until the answer's (final) head is in.
    async fn read_head(&mut self, head_request: bool) -> Result<Head, Http1Error> {
        poll_fn(|cx| self.poll_head(cx, head_request)).await
    }

    /// Reads until the answer's (final) head is in, at most `max_head` bytes of it.
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        head_request: bool,
    ) -> Poll<Result<Head, Http1Error>> {
        loop {
            if let Some(head) = self.parse_head(head_request)? {
                return Poll::Ready(Ok(head));
            }
            if self.buf.len() >= self.max_head {
                return Poll::Ready(Err(Http1Error::new(
                    Http1ErrorKind::Parse,
                    format!("the answer's head exceeds {} bytes", self.max_head),
                )));
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) if self.buf.is_empty() => {
                    return Poll::Ready(Err(Http1Error::new(
                        Http1ErrorKind::Incomplete,
                        "the backend closed the connection before answering",
                    )));
                }
                Ok(0) => {
                    return Poll::Ready(Err(Http1Error::new(
                        Http1ErrorKind::Incomplete,
                        "the backend closed the connection in the middle of the answer's head",
                    )));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(Http1Error::io("reading the answer", e))),
            }
        }
    }

    /// Parses the final answer head at the start of `buf`, skipping interim (1xx) ones;
    /// `None` while it is incomplete.
    fn parse_head(&mut self, head_request: bool) -> Result<Option<Head>, Http1Error> {
        loop {
            if self.buf.is_empty() {
                return Ok(None);
            }
            // Uninitialised: zeroing a hundred fields per answer cost more than parsing.
            let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut []);
            let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut parsed,
                &self.buf,
                &mut fields,
            ) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(e) => {
                    return Err(Http1Error::new(
                        Http1ErrorKind::Parse,
                        format!("the answer is not valid HTTP/1.1: {e}"),
                    ));
                }
            };
            let code = parsed.code.unwrap_or(0);
            let status = StatusCode::from_u16(code).map_err(|_| {
                Http1Error::new(
                    Http1ErrorKind::Parse,
                    format!("the answer's status {code} is not valid"),
                )
            })?;
            if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
                self.buf.advance(len);
                continue;
            }
            let version = if parsed.version == Some(0) {
                Version::HTTP_10
            } else {
                Version::HTTP_11
            };
            // Header values are slices of the head's bytes, not copies.
            let base = self.buf.as_ptr() as usize;
            let spans = &mut self.spans;
            spans.clear();
            spans.extend(parsed.headers.iter().map(|field| Span {
                name: field.name.as_ptr() as usize - base,
                name_len: field.name.len(),
                value: field.value.as_ptr() as usize - base,
                value_len: field.value.len(),
            }));
            let head_bytes = self.buf.split_to(len).freeze();
            // Room beyond the answer's own fields: Ferry adds its correlation header.
            let mut headers = HeaderMap::with_capacity(self.spans.len() + ANSWER_HEADER_ROOM);
            for &Span {
                name,
                name_len,
                value,
                value_len,
            } in &self.spans
            {
                let name = HeaderName::from_bytes(&head_bytes[name..name + name_len])
                    .map_err(|_| invalid_field())?;
                let value =
                    HeaderValue::from_maybe_shared(head_bytes.slice(value..value + value_len))
                        .map_err(|_| invalid_field())?;
                headers.append(name, value);
            }
            let (framing, keep_alive) = answer_framing(status, version, &headers, head_request)?;
            let mut response = Response::new(());
            *response.status_mut() = status;
            *response.version_mut() = version;
            *response.headers_mut() = headers;
            return Ok(Some(Head {
                response,
                framing,
                keep_alive,
            }));
        }
    }
}

fn invalid_field() -> Http1Error {
    Http1Error::new(
        Http1ErrorKind::Parse,
        "the answer has a header field that is not valid",
    )
}

fn body_failed(e: BoxError) -> Http1Error {
    Http1Error {
        kind: Http1ErrorKind::Request,
        message: "the request body failed".to_owned(),
        source: Some(e),
    }
}

/// An answer's head and how its body is framed.
struct Head {
    response: Response<()>,
    framing: Framing,
    keep_alive: bool,
}

enum Next {
    Frame(Option<Frame<Bytes>>),
    Answer(Head),
}

/// What of the request body has been sent, checked against its framing.
struct Sent {
    framing: Framing,
    bytes: u64,
    finished: bool,
}

impl Sent {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            bytes: 0,
            finished: framing == Framing::Empty,
        }
    }

    fn add(&mut self, n: usize) -> Result<(), Http1Error> {
        self.bytes += n as u64;
        match self.framing {
            Framing::Length(len) if self.bytes > len => Err(Http1Error::new(
                Http1ErrorKind::Request,
                format!("the request body is longer than its content-length {len}"),
            )),
            Framing::Empty if n > 0 => Err(Http1Error::new(
                Http1ErrorKind::Request,
                "the request has a body its method and headers say it has not",
            )),
            _ => Ok(()),
        }
    }

    /// The body has ended: checks its length, or ends the chunked encoding into `out`.
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), Http1Error> {
        self.finished = true;
        match self.framing {
            Framing::Length(len) if self.bytes != len => Err(Http1Error::new(
                Http1ErrorKind::Request,
                format!(
                    "the request body ended after {} of its content-length {len} bytes",
                    self.bytes
                ),
            )),
            Framing::Chunked => {
                out.extend_from_slice(b"0\r\n\r\n");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn encode_chunk(out: &mut Vec<u8>, framing: Framing, data: &[u8]) {
    if framing == Framing::Chunked {
        wire::encode_chunk(out, data);
    } else {
        out.extend_from_slice(data);
    }
}

/// How the request body goes out: as the request's own `content-length` or
/// `transfer-encoding: chunked` says, else by what the body knows of its size.
fn request_framing(
    method: &Method,
    headers: &HeaderMap,
    body: &Body,
) -> Result<Framing, Http1Error> {
    if headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .next_back()
        .is_some()
    {
        if last_coding_is_chunked(headers) {
            return Ok(Framing::Chunked);
        }
        return Err(Http1Error::new(
            Http1ErrorKind::Request,
            "a request's transfer-encoding must end with chunked",
        ));
    }
    if let Some(value) = headers.get(http::header::CONTENT_LENGTH) {
        return match value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(n) => Ok(Framing::Length(n)),
            None => Err(Http1Error::new(
                Http1ErrorKind::Request,
                "the request's content-length is not a number",
            )),
        };
    }
    if body.is_end_stream() {
        // A method that carries a body says it is empty; others send no framing at all.
        let expects_body = matches!(*method, Method::POST | Method::PUT | Method::PATCH);
        return Ok(if expects_body {
            Framing::Length(0)
        } else {
            Framing::Empty
        });
    }
    Ok(match body.size_hint().exact() {
        Some(n) => Framing::Length(n),
        None => Framing::Chunked,
    })
}

/// How an answer's body is delimited (RFC 9112, 6.3) and whether the connection stays
/// open after it.
fn answer_framing(
    status: StatusCode,
    version: Version,
    headers: &HeaderMap,
    head_request: bool,
) -> Result<(Framing, bool), Http1Error> {
    let mut keep_alive = if version == Version::HTTP_10 {
        connection_has(headers, "keep-alive")
    } else {
        !connection_has(headers, "close")
    };
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // The connection is no longer HTTP/1.1; nothing more is read from it here.
        return Ok((Framing::Empty, false));
    }
    if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok((Framing::Empty, keep_alive));
    }
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        if last_coding_is_chunked(headers) {
            // A content-length beside it is ignored, and the connection is not trusted after.
            if headers.contains_key(http::header::CONTENT_LENGTH) {
                keep_alive = false;
            }
            return Ok((Framing::Chunked, keep_alive));
        }
        return Ok((Framing::Close, false));
    }
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        let parsed = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                Http1Error::new(
                    Http1ErrorKind::Parse,
                    "the answer's content-length is not a number",
                )
            })?;
        if length.is_some_and(|l| l != parsed) {
            return Err(Http1Error::new(
                Http1ErrorKind::Parse,
                "the answer has content-length fields that differ",
            ));
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(0) => (Framing::Empty, keep_alive),
        Some(n) => (Framing::Length(n), keep_alive),
        None => (Framing::Close, false),
    })
}

/// Writes all of `bytes`; on failure, says how many went out.
async fn write_all(io: &mut BackendStream, bytes: &[u8]) -> Result<(), (io::Error, usize)> {
    let mut written = 0;
    while written < bytes.len() {
        match poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, &bytes[written..])).await {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), written)),
            Ok(n) => written += n,
            Err(e) => return Err((e, written)),
        }
    }
    Ok(())
}

/// A request body whose first frame was taken out before it could be sent.
struct Replay {
    first: Option<Frame<Bytes>>,
    rest: Body,
}

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_ref()
            .and_then(|f| f.data_ref())
            .map_or(0, |d| d.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + first);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

fn decoder(framing: Framing) -> Decoder {
    match framing {
        Framing::Empty => Decoder::Done,
        Framing::Length(n) => Decoder::length(n),
        Framing::Chunked => Decoder::ChunkSize,
        Framing::Close => Decoder::Close,
    }
}

/// An answer's body, decoded from its connection as it is polled. Once it has ended, a
/// connection that may take another request is there for [`ResponseBody::take_reusable`].
pub(crate) struct ResponseBody {
    conn: Option<Conn>,
    decoder: Decoder,
    keep_alive: bool,
}

impl ResponseBody {
    /// The connection, when the body has ended and the connection can be used again.
    pub(crate) fn take_reusable(&mut self) -> Option<Conn> {
        if !matches!(self.decoder, Decoder::Done) || !self.keep_alive {
            return None;
        }
        let conn = self.conn.take()?;
        // Bytes after the answer were not asked for: the connection is out of step.
        conn.buf.is_empty().then_some(conn)
    }

    fn incomplete(&mut self) -> Http1Error {
        self.conn = None;
        self.decoder = Decoder::Done;
        Http1Error::new(
            Http1ErrorKind::Incomplete,
            "the backend closed the connection before the answer's body was complete",
        )
    }

    fn malformed(&mut self, what: &'static str) -> Http1Error {
        self.conn = None;
        self.decoder = Decoder::Done;
        Http1Error::new(
            Http1ErrorKind::Parse,
            format!("the answer's chunked body is not valid: {what}"),
        )
    }

    /// Reads more into the connection's buffer; `Ok(false)` at the connection's end.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Http1Error>> {
        let expected = match (self.decoder.left(), self.decoder) {
            (Some(left), _) => usize::try_from(left).unwrap_or(MAX_READ),
            (None, Decoder::Close) => MAX_READ,
            _ => READ_CHUNK,
        };
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Ok(false));
        };
        match ready!(conn.poll_fill_up_to(cx, expected)) {
            Ok(0) => Poll::Ready(Ok(false)),
            Ok(_) => Poll::Ready(Ok(true)),
            Err(e) => {
                self.conn = None;
                self.decoder = Decoder::Done;
                Poll::Ready(Err(Http1Error::io("reading the answer's body", e)))
            }
        }
    }
}

impl HttpBody for ResponseBody {
    type Data = Bytes;
    type Error = Http1Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Http1Error>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match this.decoder.step(&mut conn.buf) {
                Step::Data(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Step::End => return Poll::Ready(None),
                Step::Malformed(what) => return Poll::Ready(Some(Err(this.malformed(what)))),
                Step::NeedMore => match ready!(this.poll_more(cx)) {
                    Ok(true) => {}
                    Ok(false) if this.decoder.at_eof() => {
                        this.conn = None;
                        return Poll::Ready(None);
                    }
                    Ok(false) => return Poll::Ready(Some(Err(this.incomplete()))),
                    Err(e) => return Poll::Ready(Some(Err(e))),
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}

#[cfg(test)]
mod tests;
