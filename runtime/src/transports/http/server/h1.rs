//! One accepted connection, served by the task that accepted it: HTTP/1.1 spoken here, or
//! HTTP/2 (by its connection preface) handed to hyper.
//!
//! hyper's HTTP/1 server runs a general dispatcher per connection: a request's body
//! crosses a channel from the connection to the handler, the answer goes through an
//! encoder that buffers and flattens it, and its read buffer is reallocated per request.
//! On a 1 KiB passthrough that was about a third of Ferry's instructions per request
//! (callgrind). Here the task parses each request head with `httparse` (hyper's parser)
//! straight into the request the handler gets, a body that is already in the read buffer
//! is handed over as bytes, a streamed one is decoded from the connection as the handler
//! reads it, and the answer's head and first body frame go out in one write.
//!
//! What it speaks (RFC 9112): HTTP/1.1 and 1.0, keep-alive unless either side says
//! `close` (1.0 only with `keep-alive`), pipelined requests one after the other, bodies
//! by `Content-Length` or chunked both ways (close-delimited answers to 1.0 clients),
//! `Expect: 100-continue` answered when the handler first reads the body, `HEAD`, `204`
//! and `304` answers without a body, a `Date` on every answer. A request that is not valid
//! HTTP/1.1 is answered `400` and a head over the limit `431`, and the connection closed;
//! so is one whose framing could be read two ways (`Transfer-Encoding` not ending in
//! `chunked`, differing lengths); one with both a length and chunked is read as chunked
//! and the connection closed after it. While the handler runs, a connection whose client
//! went away cancels it.

use std::future::{Future, poll_fn};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::super::body::Body;
use super::super::drain::Drain;
use super::super::error::error_response;
use super::super::wire::{
    self, COALESCE, Decoder, Framing, HEAD_ROOM, MAX_HEADERS, MAX_READ, READ_CHUNK, Step,
    connection_has, last_coding_is_chunked,
};
use crate::timeouts::Timeout;

/// Header fields a request's map has room for beyond its own: the correlation id.
const HEADER_ROOM: usize = 2;
/// The HTTP/2 connection preface (RFC 9113, 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The transport settings a connection is served with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// The most a request head may take; also what the read buffer holds at most while
    /// the handler runs.
    pub max_head: usize,
    /// How long a client may take to send a request head, counted from when the
    /// connection starts waiting for it (an idle keep-alive connection too).
    pub header_timeout: Option<Duration>,
    /// Whether connections stay open between requests.
    pub keep_alive: bool,
}

/// The connection's stream and what was read from it but not yet used, shared with the
/// body of the request being served (which reads from it as the handler asks).
pub(super) struct Shared<I> {
    io: I,
    buf: BytesMut,
    /// The streamed request body's decoding; `Done` between requests.
    decoder: Decoder,
    /// The rest of a `100 Continue` to write before the body is read.
    interim: &'static [u8],
    /// The connection was closed with the body unread: whoever still holds the body gets
    /// an error, not an early end.
    abandoned: bool,
}

pub(super) type Wire<I> = Arc<Mutex<Shared<I>>>;

fn lock<I>(wire: &Mutex<Shared<I>>) -> MutexGuard<'_, Shared<I>> {
    // The state stays consistent whatever panicked while holding it: a panic in a body
    // read leaves at worst a connection that fails its next read.
    wire.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<I: AsyncRead + Unpin> Shared<I> {
    /// Reads what the socket has into `buf`, with room for `wanted` more bytes.
    fn poll_fill(&mut self, cx: &mut Context<'_>, wanted: usize) -> Poll<io::Result<usize>> {
        wire::poll_fill(&mut self.io, &mut self.buf, cx, wanted)
    }
}

/// The body of a request, as the handler gets it.
pub(super) enum RequestBody<I> {
    /// No body, or all of it has been read.
    Empty,
    /// All of it arrived with the head.
    Full(Bytes),
    /// The rest comes from the connection as it is read.
    Stream(Wire<I>),
}

/// The request body could not be read in full.
#[derive(Debug, thiserror::Error)]
pub enum RequestBodyError {
    /// The client's chunked framing was broken.
    #[error("the request's chunked body is not valid: {0}")]
    Malformed(&'static str),
    /// The client closed the connection before the body was complete.
    #[error("the client closed the connection before the request body was complete")]
    Incomplete,
    /// Reading from the connection failed.
    #[error("reading the request body failed: {0}")]
    Io(#[source] io::Error),
}

impl<I: AsyncRead + AsyncWrite + Unpin> HttpBody for RequestBody<I> {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let this = &mut *self;
        let wire = match this {
            RequestBody::Empty => return Poll::Ready(None),
            RequestBody::Full(_) => {
                let RequestBody::Full(bytes) = std::mem::replace(this, RequestBody::Empty) else {
                    return Poll::Ready(None);
                };
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            RequestBody::Stream(wire) => wire,
        };
        let mut shared = lock(wire);
        let shared = &mut *shared;
        if shared.abandoned {
            return Poll::Ready(Some(Err(RequestBodyError::Incomplete)));
        }
        while !shared.interim.is_empty() {
            match ready!(Pin::new(&mut shared.io).poll_write(cx, shared.interim)) {
                Ok(0) => return Poll::Ready(Some(Err(RequestBodyError::Incomplete))),
                Ok(n) => shared.interim = &shared.interim[n..],
                Err(e) => return Poll::Ready(Some(Err(RequestBodyError::Io(e)))),
            }
            if shared.interim.is_empty()
                && let Err(e) = ready!(Pin::new(&mut shared.io).poll_flush(cx))
            {
                return Poll::Ready(Some(Err(RequestBodyError::Io(e))));
            }
        }
        loop {
            match shared.decoder.step(&mut shared.buf) {
                Step::Data(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Step::End => return Poll::Ready(None),
                Step::Malformed(what) => {
                    return Poll::Ready(Some(Err(RequestBodyError::Malformed(what))));
                }
                Step::NeedMore => {
                    let wanted = shared
                        .decoder
                        .left()
                        .map_or(READ_CHUNK, |left| usize::try_from(left).unwrap_or(MAX_READ));
                    match ready!(shared.poll_fill(cx, wanted)) {
                        Ok(0) => {
                            shared.decoder.at_eof();
                            return Poll::Ready(Some(Err(RequestBodyError::Incomplete)));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            shared.decoder = Decoder::Done;
                            return Poll::Ready(Some(Err(RequestBodyError::Io(e))));
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Empty => true,
            RequestBody::Full(_) => false,
            RequestBody::Stream(wire) => lock(wire).decoder.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Empty => SizeHint::with_exact(0),
            RequestBody::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            RequestBody::Stream(wire) => lock(wire).decoder.size_hint(),
        }
    }
}

/// What the first bytes of a connection said it speaks.
pub(super) enum Protocol<I> {
    /// HTTP/1.x, served by [`serve`]; the bytes read so far.
    Http1(I, BytesMut),
    /// HTTP/2: the stream with the preface bytes already read put back in front.
    Http2(Prefixed<I>),
    /// The connection ended, the drain started or the time ran out before it said.
    Gone,
}

/// Reads until the first bytes tell HTTP/2's preface from an HTTP/1 request, within the
/// header timeout: a client that connects and sends nothing is a slowloris too.
pub(super) async fn detect<I: AsyncRead + Unpin>(
    mut io: I,
    header_timeout: Option<Duration>,
    drain: &Drain,
) -> Protocol<I> {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut deadline = header_timeout.map(Timeout::after);
    let decided = poll_fn(|cx| {
        loop {
            let n = buf.len().min(H2_PREFACE.len());
            if buf[..n] != H2_PREFACE[..n] {
                return Poll::Ready(Some(false));
            }
            if n == H2_PREFACE.len() {
                return Poll::Ready(Some(true));
            }
            if drain.is_started() && buf.is_empty() {
                return Poll::Ready(None);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut io), cx, &mut buf) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => {
                    if let Some(deadline) = deadline.as_mut()
                        && Pin::new(deadline).poll(cx).is_ready()
                    {
                        return Poll::Ready(None);
                    }
                    return Poll::Pending;
                }
            }
        }
    })
    .await;
    match decided {
        Some(false) => Protocol::Http1(io, buf),
        Some(true) => Protocol::Http2(Prefixed {
            prefix: buf.freeze(),
            io,
        }),
        None => Protocol::Gone,
    }
}

/// A stream with bytes already read from it put back in front.
pub(super) struct Prefixed<I> {
    prefix: Bytes,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let bytes = self.prefix.split_to(n);
            buf.put_slice(&bytes);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A request head that could not be taken: answered with this status, then the
/// connection is closed.
struct Refused(StatusCode, &'static str);

/// A request's head, parsed, with what the connection needs to know of it.
struct Head {
    request: Request<()>,
    decoder: Decoder,
    keep_alive: bool,
    expect_continue: bool,
}

/// Where a header field is in the head's bytes.
#[derive(Clone, Copy)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// Serves HTTP/1.x requests on `io` (whose first bytes, `buf`, are read already) until
/// either side closes it, it idles past the header timeout, or the drain starts.
/// `respond` answers each request.
pub(super) async fn serve<I, F, R>(
    io: I,
    buf: BytesMut,
    settings: Settings,
    drain: &Drain,
    respond: F,
) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: Fn(Request<RequestBody<I>>) -> R,
    R: Future<Output = Response<Body>>,
{
    let wire: Wire<I> = Arc::new(Mutex::new(Shared {
        io,
        buf,
        decoder: Decoder::Done,
        interim: b"",
        abandoned: false,
    }));
    let mut out = Vec::with_capacity(READ_CHUNK);
    let mut spans = Vec::new();
    loop {
        let head = match read_head(&wire, settings, drain, &mut spans).await {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(Refused(status, message)) => {
                let answer = error_response(status, message);
                write_answer(
                    &wire,
                    &mut out,
                    answer,
                    &Method::GET,
                    Version::HTTP_11,
                    false,
                )
                .await?;
                return shutdown(&wire).await;
            }
        };
        let Head {
            request,
            decoder,
            mut keep_alive,
            expect_continue,
        } = head;
        let method = request.method().clone();
        let version = request.version();
        let body = {
            let mut shared = lock(&wire);
            match decoder {
                Decoder::Done => RequestBody::Empty,
                Decoder::Length(n) if shared.buf.len() as u64 >= n => {
                    RequestBody::Full(shared.buf.split_to(n as usize).freeze())
                }
                _ => {
                    shared.decoder = decoder;
                    shared.interim = if expect_continue {
                        b"HTTP/1.1 100 Continue\r\n\r\n"
                    } else {
                        b""
                    };
                    RequestBody::Stream(Arc::clone(&wire))
                }
            }
        };
        let answer = {
            let answer = std::pin::pin!(respond(request.map(|()| body)));
            match answer_unless_gone(&wire, answer, settings.max_head).await {
                Some(answer) => answer,
                None => return Ok(()),
            }
        };
        if drain.is_started() || connection_has(answer.headers(), "close") {
            keep_alive = false;
        }
        let framed = write_answer(&wire, &mut out, answer, &method, version, keep_alive).await?;
        let body_read = {
            let mut shared = lock(&wire);
            shared.interim = b"";
            let done = shared.decoder.is_done();
            shared.abandoned = !done;
            done
        };
        // A body the handler left unread is still on the wire: the next request cannot be
        // found after it without reading it, so the connection ends.
        if !keep_alive || !framed || !body_read {
            return shutdown(&wire).await;
        }
    }
}

/// Waits for the next request head, at most `max_head` bytes of it and within the header
/// timeout; `None` when the connection ended, timed out or was drained between requests.
async fn read_head<I: AsyncRead + Unpin>(
    wire: &Mutex<Shared<I>>,
    settings: Settings,
    drain: &Drain,
    spans: &mut Vec<Span>,
) -> Result<Option<Head>, Refused> {
    let mut deadline: Option<Timeout> = None;
    poll_fn(|cx| {
        let mut shared = lock(wire);
        loop {
            if !shared.buf.is_empty()
                && let Some(head) = parse_head(&mut shared.buf, settings, spans)?
            {
                return Poll::Ready(Ok(Some(head)));
            }
            if shared.buf.len() >= settings.max_head {
                return Poll::Ready(Err(Refused(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "the request head is too large",
                )));
            }
            if shared.buf.is_empty() && drain.is_started() {
                return Poll::Ready(Ok(None));
            }
            match shared.poll_fill(cx, HEAD_ROOM) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(Ok(None)),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => {
                    if let Some(timeout) = settings.header_timeout {
                        let deadline = deadline.get_or_insert_with(|| Timeout::after(timeout));
                        if Pin::new(deadline).poll(cx).is_ready() {
                            return Poll::Ready(Ok(None));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    })
    .await
}

/// Parses the request head at the start of `buf`; `None` while it is incomplete.
fn parse_head(
    buf: &mut BytesMut,
    settings: Settings,
    spans: &mut Vec<Span>,
) -> Result<Option<Head>, Refused> {
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    // Uninitialised: zeroing a hundred fields per request cost more than parsing.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refused(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "the request has too many header fields",
            ));
        }
        Err(_) => return Err(Refused(BAD, "the request is not valid HTTP/1.1")),
    };
    let base = buf.as_ptr() as usize;
    let at = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let method = parsed.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Refused(BAD, "the request method is not valid"))?;
    let path = at(parsed.path.unwrap_or_default().as_bytes());
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    spans.clear();
    spans.extend(parsed.headers.iter().map(|field| Span {
        name: at(field.name.as_bytes()),
        value: at(field.value),
    }));
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path.0..path.0 + path.1))
        .map_err(|_| Refused(BAD, "the request target is not valid"))?;
    let mut headers = HeaderMap::with_capacity(spans.len() + HEADER_ROOM);
    for span in spans.iter() {
        let name = HeaderName::from_bytes(&head[span.name.0..span.name.0 + span.name.1])
            .map_err(|_| Refused(BAD, "a header field name is not valid"))?;
        let value =
            HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.0 + span.value.1))
                .map_err(|_| Refused(BAD, "a header field value is not valid"))?;
        headers.append(name, value);
    }

    let mut keep_alive = settings.keep_alive
        && if version == Version::HTTP_10 {
            connection_has(&headers, "keep-alive")
        } else {
            !connection_has(&headers, "close")
        };
    let decoder = if headers.contains_key(header::TRANSFER_ENCODING) {
        if version == Version::HTTP_10 || !last_coding_is_chunked(&headers) {
            return Err(Refused(
                BAD,
                "the request's transfer-encoding must end with chunked",
            ));
        }
        // Two framings: read as chunked (RFC 9112, 6.3), and trust nothing after it.
        if headers.remove(header::CONTENT_LENGTH).is_some() {
            keep_alive = false;
        }
        Decoder::ChunkSize
    } else {
        match content_length(&headers) {
            Ok(Some(len)) => Decoder::length(len),
            Ok(None) => Decoder::Done,
            Err(()) => return Err(Refused(BAD, "the request's content-length is not valid")),
        }
    };
    let expect_continue = version == Version::HTTP_11
        && headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));

    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Head {
        request,
        decoder,
        keep_alive,
        expect_continue,
    }))
}

/// The request's length: every `Content-Length` field (and every value of a list in one)
/// must be the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut length = None;
    for field in headers.get_all(header::CONTENT_LENGTH) {
        for value in field.as_bytes().split(|&b| b == b',') {
            let value = value.trim_ascii();
            if value.is_empty() {
                return Err(());
            }
            let mut n: u64 = 0;
            for &digit in value {
                if !digit.is_ascii_digit() {
                    return Err(());
                }
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(digit - b'0')))
                    .ok_or(())?;
            }
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// Runs the handler's `answer` to its end, watching the connection meanwhile once the
/// request body is in: a client that closes it cancels the request (`None`). Pipelined
/// bytes read meanwhile stay in the buffer, at most `max_head` of them.
async fn answer_unless_gone<I: AsyncRead + Unpin>(
    wire: &Mutex<Shared<I>>,
    mut answer: Pin<&mut impl Future<Output = Response<Body>>>,
    max_head: usize,
) -> Option<Response<Body>> {
    poll_fn(|cx| {
        if let Poll::Ready(response) = answer.as_mut().poll(cx) {
            return Poll::Ready(Some(response));
        }
        let mut shared = lock(wire);
        if !shared.decoder.is_done() {
            // The body is the handler's to read.
            return Poll::Pending;
        }
        while shared.buf.len() < max_head {
            match shared.poll_fill(cx, HEAD_ROOM) {
                Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await
}

/// Writes `answer` to a request of `method` and `version`; false when the connection
/// cannot carry another request after it (the body failed, or went out close-delimited).
async fn write_answer<I: AsyncRead + AsyncWrite + Unpin>(
    wire: &Mutex<Shared<I>>,
    out: &mut Vec<u8>,
    answer: Response<Body>,
    method: &Method,
    version: Version,
    keep_alive: bool,
) -> io::Result<bool> {
    let (parts, mut body) = answer.into_parts();
    let framing = encode_head(out, &parts, &body, method, version, keep_alive);
    if framing == Framing::Empty {
        return finish(wire, out, framing, 0).await;
    }
    let mut sent: u64 = 0;
    // `out` holds the head until it is written: the first frame goes out with it when it
    // is there already and small.
    let mut head_pending = true;
    loop {
        let ready = if head_pending {
            body.frame().now_or_never()
        } else {
            None
        };
        let frame = match ready {
            Some(frame) => frame,
            None => {
                if head_pending {
                    write_all(wire, out).await?;
                    out.clear();
                    head_pending = false;
                }
                body.frame().await
            }
        };
        let data = match frame {
            None => return finish(wire, out, framing, sent).await,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                // Trailers are not sent.
                Err(_) => continue,
            },
            // Nothing tells the client but an incomplete body: the connection ends.
            Some(Err(_)) => {
                if head_pending {
                    write_all(wire, out).await?;
                }
                return Ok(false);
            }
        };
        let (take, fits) = room(framing, data.len(), sent);
        sent += take as u64;
        let data = &data[..take];
        if framing == Framing::Chunked || (head_pending && data.len() <= COALESCE) {
            if framing == Framing::Chunked {
                wire::encode_chunk(out, data);
            } else {
                out.extend_from_slice(data);
            }
            if fits && body.is_end_stream() {
                return finish(wire, out, framing, sent).await;
            }
            write_all(wire, out).await?;
            out.clear();
        } else {
            // A large frame is written from where it is, not copied.
            if head_pending {
                write_all(wire, out).await?;
                out.clear();
            }
            write_all(wire, data).await?;
        }
        head_pending = false;
        if !fits {
            return Ok(false);
        }
        if body.is_end_stream() {
            return finish(wire, out, framing, sent).await;
        }
    }
}

/// How much of a frame of `len` bytes the body's framing takes after `sent` bytes, and
/// whether that is all of it (not, past a declared length).
fn room(framing: Framing, len: usize, sent: u64) -> (usize, bool) {
    match framing {
        Framing::Length(declared) => {
            let take = (len as u64).min(declared.saturating_sub(sent)) as usize;
            (take, take == len)
        }
        Framing::Empty => (0, true),
        Framing::Chunked | Framing::Close => (len, true),
    }
}

/// Ends the body as its framing says and writes what is left of the answer.
async fn finish<I: AsyncRead + AsyncWrite + Unpin>(
    wire: &Mutex<Shared<I>>,
    out: &mut Vec<u8>,
    framing: Framing,
    sent: u64,
) -> io::Result<bool> {
    let complete = match framing {
        Framing::Chunked => {
            out.extend_from_slice(b"0\r\n\r\n");
            true
        }
        Framing::Length(len) => sent == len,
        Framing::Empty => true,
        Framing::Close => false,
    };
    write_all(wire, out).await?;
    out.clear();
    Ok(complete)
}

/// Writes the status line and header fields of an answer into `out` (cleared first), and
/// says how its body goes out.
fn encode_head(
    out: &mut Vec<u8>,
    parts: &http::response::Parts,
    body: &Body,
    method: &Method,
    version: Version,
    keep_alive: bool,
) -> Framing {
    out.clear();
    let status = parts.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");

    let (mut has_length, mut has_te, mut has_date, mut has_connection) =
        (false, false, false, false);
    for (name, value) in &parts.headers {
        has_length |= name == header::CONTENT_LENGTH;
        has_te |= name == header::TRANSFER_ENCODING;
        has_date |= name == header::DATE;
        has_connection |= name == header::CONNECTION;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if has_te {
        if last_coding_is_chunked(&parts.headers) && version == Version::HTTP_11 {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if has_length {
        content_length(&parts.headers)
            .ok()
            .flatten()
            .map_or(Framing::Close, Framing::Length)
    } else if let Some(len) = body.size_hint().exact() {
        if !bodiless {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Framing::Length(len)
    } else if version == Version::HTTP_11 {
        if *method != Method::HEAD && !bodiless {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        Framing::Chunked
    } else {
        Framing::Close
    };
    let keep_alive = keep_alive && framing != Framing::Close;
    if !has_date {
        out.extend_from_slice(b"date: ");
        date::write(out);
        out.extend_from_slice(b"\r\n");
    }
    if !has_connection {
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if version == Version::HTTP_10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    if *method == Method::HEAD || bodiless {
        Framing::Empty
    } else {
        framing
    }
}

/// Writes all of `bytes` and flushes them (TLS holds written bytes in records until then).
async fn write_all<I: AsyncWrite + Unpin>(wire: &Mutex<Shared<I>>, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    poll_fn(|cx| {
        let mut shared = lock(wire);
        while written < bytes.len() {
            match ready!(Pin::new(&mut shared.io).poll_write(cx, &bytes[written..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Pin::new(&mut shared.io).poll_flush(cx)
    })
    .await
}

/// Closes the connection's sending side (over TLS, with its close_notify).
async fn shutdown<I: AsyncWrite + Unpin>(wire: &Mutex<Shared<I>>) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut lock(wire).io).poll_shutdown(cx)).await
}

/// The `Date` field's value (RFC 9110, 6.6.1), made once a second per thread.
mod date {
    use std::cell::RefCell;

    use super::SystemTime;

    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }

    /// Appends the current date, as `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub(super) fn write(out: &mut Vec<u8>) {
        let now = SystemTime::now();
        let second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        CACHED.with(|cached| {
            let mut cached = cached.borrow_mut();
            if cached.0 != second {
                let text = httpdate::fmt_http_date(now);
                if text.len() == cached.1.len() {
                    cached.1.copy_from_slice(text.as_bytes());
                    cached.0 = second;
                } else {
                    out.extend_from_slice(text.as_bytes());
                    return;
                }
            }
            out.extend_from_slice(&cached.1);
        });
    }
}
