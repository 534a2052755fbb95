//! HTTP/1.1 message bodies as RFC 9112 frames them on the wire (§6–7): by a length, in
//! chunks, or up to the connection's close. The listener decodes request bodies with it
//! ([`super::server`]), the endpoint pool answers' bodies (`endpoints::pool::conn`); both
//! decode from their connection's read buffer, so a frame is a slice of what was read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::SizeHint;
use tokio::io::AsyncRead;

/// The longest chunk-size or trailer line accepted in a chunked body.
const MAX_LINE: usize = 4 * 1024;
/// At most this many header fields in a head (as hyper).
pub(crate) const MAX_HEADERS: usize = 100;
/// What a read buffer grows by when it runs out of room.
pub(crate) const READ_CHUNK: usize = 8 * 1024;
/// The least room a read asks for. Small on purpose: the previous message's bytes are
/// still held (its header values are slices of them), so growing the buffer means a new
/// allocation; a kilobyte of room takes most heads, and a few messages share one buffer
/// before it is replaced.
pub(crate) const HEAD_ROOM: usize = 1024;
/// What one read of a body asks the socket for, at most.
pub(crate) const MAX_READ: usize = 64 * 1024;
/// A head whose first body frame fits in this many bytes goes out in one write with it:
/// one system call and, over TLS, one record.
pub(crate) const COALESCE: usize = 16 * 1024;

/// Reads what `io` has into `buf`, with room for `wanted` more bytes (at least
/// [`HEAD_ROOM`], at most [`MAX_READ`]): a large body comes in a few large reads.
/// `Ok(0)` at the stream's end.
pub(crate) fn poll_fill<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
    wanted: usize,
) -> Poll<io::Result<usize>> {
    let spare = buf.capacity() - buf.len();
    if spare < HEAD_ROOM || spare < wanted.min(MAX_READ) {
        buf.reserve(wanted.clamp(READ_CHUNK, MAX_READ));
    }
    tokio_util::io::poll_read_buf(Pin::new(io), cx, buf)
}

/// How a message's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body at all (a bodiless request; HEAD, 1xx, 204 and 304 answers).
    Empty,
    Length(u64),
    Chunked,
    /// Up to the connection's close (answers only: to an HTTP/1.0 client, or from a
    /// backend that gives no length).
    Close,
}

/// Where a body's decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// This many bytes to go.
    Length(u64),
    /// Expecting a chunk-size line.
    ChunkSize,
    /// Inside a chunk, this many bytes to go.
    ChunkData(u64),
    /// After a chunk's data, expecting its CRLF.
    ChunkEnd,
    /// After the last chunk, expecting trailer fields or the final CRLF.
    Trailers,
    /// Everything up to the connection's end.
    Close,
    /// The body has ended.
    Done,
}

/// What one [`Decoder::step`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The next piece of the body.
    Data(Bytes),
    /// The body has ended.
    End,
    /// The buffer holds no more of the body: read more (see [`Decoder::at_eof`] when the
    /// connection has ended instead).
    NeedMore,
    /// The chunked framing is broken; says where.
    Malformed(&'static str),
}

impl Decoder {
    /// A body of `len` bytes.
    pub(crate) fn length(len: u64) -> Self {
        if len == 0 {
            Decoder::Done
        } else {
            Decoder::Length(len)
        }
    }

    /// Whether the body has ended.
    pub(crate) fn is_done(self) -> bool {
        self == Decoder::Done
    }

    /// The bytes of the body still to come, where the framing says.
    pub(crate) fn left(self) -> Option<u64> {
        match self {
            Decoder::Length(left) | Decoder::ChunkData(left) => Some(left),
            _ => None,
        }
    }

    /// The size hint of what is left of the body.
    pub(crate) fn size_hint(self) -> SizeHint {
        match self {
            Decoder::Done => SizeHint::with_exact(0),
            Decoder::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }

    /// The connection ended: the body has ended with it when it is close-delimited (true),
    /// else it was cut short (false).
    pub(crate) fn at_eof(&mut self) -> bool {
        let ended = matches!(self, Decoder::Close | Decoder::Done);
        *self = Decoder::Done;
        ended
    }

    /// Decodes the next piece of the body from the start of `buf`. Chunk-size lines and
    /// trailer fields are consumed (trailers are not passed on).
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Step {
        loop {
            match *self {
                Decoder::Done => return Step::End,
                Decoder::Length(left) | Decoder::ChunkData(left) => {
                    if buf.is_empty() {
                        return Step::NeedMore;
                    }
                    let take = left.min(buf.len() as u64);
                    // `take` is at most the buffer's length.
                    let data = buf.split_to(take as usize).freeze();
                    let left = left - take;
                    *self = match *self {
                        Decoder::Length(_) if left == 0 => Decoder::Done,
                        Decoder::Length(_) => Decoder::Length(left),
                        _ if left == 0 => Decoder::ChunkEnd,
                        _ => Decoder::ChunkData(left),
                    };
                    return Step::Data(data);
                }
                Decoder::Close => {
                    if buf.is_empty() {
                        return Step::NeedMore;
                    }
                    return Step::Data(buf.split().freeze());
                }
                Decoder::ChunkSize => match take_line(buf) {
                    Ok(Some(line)) => match chunk_size(&line) {
                        Some(0) => *self = Decoder::Trailers,
                        Some(n) => *self = Decoder::ChunkData(n),
                        None => return self.malformed("a chunk size"),
                    },
                    Ok(None) => return Step::NeedMore,
                    Err(what) => return self.malformed(what),
                },
                Decoder::ChunkEnd | Decoder::Trailers => match take_line(buf) {
                    Ok(Some(line)) => {
                        if *self == Decoder::ChunkEnd {
                            if !line.is_empty() {
                                return self.malformed("a chunk is longer than its size");
                            }
                            *self = Decoder::ChunkSize;
                        } else if line.is_empty() {
                            *self = Decoder::Done;
                            return Step::End;
                        }
                    }
                    Ok(None) => return Step::NeedMore,
                    Err(what) => return self.malformed(what),
                },
            }
        }
    }

    fn malformed(&mut self, what: &'static str) -> Step {
        *self = Decoder::Done;
        Step::Malformed(what)
    }
}

/// A chunk-size line's size (hexadecimal, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let size = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or(&[])
        .trim_ascii();
    if size.is_empty() || size.len() > 16 {
        return None;
    }
    let size = std::str::from_utf8(size).ok()?;
    u64::from_str_radix(size, 16).ok()
}

/// Takes one line (without its CRLF or LF) from the start of `buf`; `None` until it is
/// complete.
fn take_line(buf: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(end) => {
            let line = buf.split_to(end + 1).freeze();
            let trimmed = line
                .strip_suffix(b"\r\n")
                .or_else(|| line.strip_suffix(b"\n"));
            let len = trimmed.map_or(line.len(), <[u8]>::len);
            Ok(Some(line.slice(..len)))
        }
        None if buf.len() > MAX_LINE => Err("a line is too long"),
        None => Ok(None),
    }
}

/// Appends `data` to `out` as one chunk of a chunked body (nothing for no data: an empty
/// chunk would end the body).
pub(crate) fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut size = [0u8; 16];
    let mut at = size.len();
    let mut n = data.len();
    loop {
        at -= 1;
        size[at] = b"0123456789abcdef"[n & 0xF];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&size[at..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Whether the comma-separated `Connection` header fields of `headers` name `token`.
pub(crate) fn connection_has(headers: &http::HeaderMap, token: &str) -> bool {
    headers.get_all(http::header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Whether the last transfer coding of `headers` is `chunked`.
pub(crate) fn last_coding_is_chunked(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .next_back()
        .and_then(|v| v.as_bytes().rsplit(|&b| b == b',').next())
        .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(mut decoder: Decoder, input: &[u8]) -> (Vec<u8>, Step, Decoder) {
        let mut buf = BytesMut::from(input);
        let mut body = Vec::new();
        loop {
            match decoder.step(&mut buf) {
                Step::Data(data) => body.extend_from_slice(&data),
                other => return (body, other, decoder),
            }
        }
    }

    #[test]
    fn a_length_body_ends_at_its_length_and_leaves_what_follows() {
        let mut buf = BytesMut::from(&b"helloGET /"[..]);
        let mut d = Decoder::length(5);
        assert_eq!(d.step(&mut buf), Step::Data(Bytes::from_static(b"hello")));
        assert_eq!(d.step(&mut buf), Step::End);
        assert_eq!(&buf[..], b"GET /");
    }

    #[test]
    fn a_length_body_split_over_reads_asks_for_more() {
        let (body, step, d) = decode_all(Decoder::length(8), b"abc");
        assert_eq!(
            (body.as_slice(), step, d),
            (&b"abc"[..], Step::NeedMore, Decoder::Length(5))
        );
    }

    #[test]
    fn chunks_with_extensions_and_trailers_decode_to_their_data() {
        let input = b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nrest";
        let mut buf = BytesMut::from(&input[..]);
        let mut d = Decoder::ChunkSize;
        let mut body = Vec::new();
        loop {
            match d.step(&mut buf) {
                Step::Data(data) => body.extend_from_slice(&data),
                Step::End => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(body, b"abc0123456789");
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn a_chunked_body_cut_anywhere_asks_for_more() {
        let input = b"5\r\nhello\r\n0\r\n\r\n";
        for cut in 0..input.len() {
            let (_, step, _) = decode_all(Decoder::ChunkSize, &input[..cut]);
            assert_eq!(step, Step::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn broken_chunk_framing_is_malformed() {
        for input in [
            &b"zz\r\n"[..],
            b"3\r\nabcd\r\n",
            b"\r\n",
            b"11111111111111111\r\n",
        ] {
            let (_, step, d) = decode_all(Decoder::ChunkSize, input);
            assert!(matches!(step, Step::Malformed(_)), "{input:?}: {step:?}");
            assert!(d.is_done());
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(matches!(
            decode_all(Decoder::ChunkSize, &long).1,
            Step::Malformed(_)
        ));
    }

    #[test]
    fn only_a_close_delimited_body_ends_with_the_connection() {
        let mut close = Decoder::Close;
        assert!(close.at_eof());
        let mut length = Decoder::Length(3);
        assert!(!length.at_eof());
        assert!(length.is_done());
    }

    #[test]
    fn chunks_are_framed_in_hex() {
        let mut out = Vec::new();
        encode_chunk(&mut out, &[b'x'; 26]);
        encode_chunk(&mut out, b"");
        assert_eq!(out, [&b"1a\r\n"[..], &[b'x'; 26], b"\r\n"].concat());
    }

    #[test]
    fn connection_tokens_and_the_last_coding_are_read_from_every_field() {
        let mut h = http::HeaderMap::new();
        h.append("connection", "keep-alive, Close".parse().unwrap());
        h.append("transfer-encoding", "gzip".parse().unwrap());
        h.append("transfer-encoding", "gzip, Chunked".parse().unwrap());
        assert!(connection_has(&h, "close"));
        assert!(!connection_has(&h, "upgrade"));
        assert!(last_coding_is_chunked(&h));
        h.append("transfer-encoding", "gzip".parse().unwrap());
        assert!(!last_coding_is_chunked(&h));
    }
}
