//! The headers of a backend request: the message's own, minus those that describe one
//! connection or one body framing, plus the endpoint's.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri};

/// Headers that describe one connection or one body framing and never cross to a backend.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::PROXY_AUTHORIZATION,
];

/// A backend request: the message's headers with the body's content type, connection
/// headers out and the endpoint's own headers in.
pub(super) fn assemble(
    method: Method,
    uri: Uri,
    body: Bytes,
    content_type: &str,
    mut headers: HeaderMap,
    own: Vec<(HeaderName, HeaderValue)>,
) -> Request<Bytes> {
    headers.remove(header::CONTENT_TYPE);
    if !content_type.is_empty()
        && let Ok(v) = HeaderValue::from_str(content_type)
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    add_headers(&mut headers, own);
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

/// Connection headers out, the endpoint's own headers in.
pub(super) fn add_headers(
    headers: &mut HeaderMap,
    own: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
) {
    strip_hop_by_hop(headers);
    for (name, value) in own {
        headers.insert(name, value);
    }
}

pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Looking at the few names a message has is cheaper than removing each of the ten
    // (every removal hashes its name); usually only Host and Content-Length are there.
    let mut found: [Option<HeaderName>; 10] = Default::default();
    let mut count = 0;
    for name in headers.keys() {
        if count < found.len() && is_hop_by_hop(name) {
            found[count] = Some(name.clone());
            count += 1;
        }
    }
    for name in found.into_iter().flatten() {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == "keep-alive" || name == "proxy-connection"
}
