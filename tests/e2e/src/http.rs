//! A small HTTP/1.1 client for the tests of lineaged's HTTP API (the
//! OpenLineage and Marquez routes beside `/metrics`).
//!
//! It speaks just enough HTTP/1.1 over a tokio `TcpStream` to check what a
//! real client would see on the wire: one request per connection with
//! `Connection: close` (the listener does no keep-alive anyway), the answer
//! read to its end, and a body framed by `Content-Length`,
//! `Transfer-Encoding: chunked` (axum streams some bodies) or the end of the
//! connection. A hand-written client, rather than a crate, keeps the test
//! crate's dependencies to what the service itself builds, and lets the
//! tests see framing mistakes a forgiving client would hide. Every exchange
//! is bounded by [`WAIT`]; anything malformed fails the test with the bytes
//! received.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::WAIT;

/// More bytes than any answer in these tests holds; reaching it means the
/// server does not stop sending.
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// Sends one request to `addr` and returns the answer's status and body
/// (decoded from chunks when the server chunked it).
///
/// `headers` are sent as given, after `Host`, `Connection: close` and
/// `Content-Length` (always sent, so a bodiless POST is well-formed).
/// Panics, failing the test, if the exchange takes longer than [`WAIT`] or
/// the answer is not HTTP/1.1.
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut request = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);

    let raw = tokio::time::timeout(WAIT, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&request).await.expect("send the request");
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut raw)
            .await
            .expect("read the answer");
        raw
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path_and_query} answered within {WAIT:?}"));
    parse_response(&raw)
}

/// Like [`http_request`], with `Accept: application/json` and, for a
/// non-empty body sent without a `Content-Type`, `Content-Type:
/// application/json`; returns the body parsed as JSON (`Null` for an
/// empty body, as a `201 Created` may have). Panics if the body is not
/// JSON.
pub async fn http_json(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut all_headers = vec![("Accept", "application/json")];
    let has_content_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if !body.is_empty() && !has_content_type {
        all_headers.push(("Content-Type", "application/json"));
    }
    all_headers.extend_from_slice(headers);
    let (status, body) = http_request(addr, method, path_and_query, &all_headers, body).await;
    if body.is_empty() {
        return (status, serde_json::Value::Null);
    }
    let json = serde_json::from_slice(&body).unwrap_or_else(|error| {
        panic!(
            "{method} {path_and_query} answered {status} with a body that is not JSON ({error}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, json)
}

/// The status and body of a whole HTTP/1.1 answer.
fn parse_response(raw: &[u8]) -> (u16, Vec<u8>) {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    let head_end = find(raw, b"\r\n\r\n")
        .unwrap_or_else(|| panic!("an answer with a head and a body: {}", shown()));
    let head = std::str::from_utf8(&raw[..head_end])
        .unwrap_or_else(|_| panic!("a head in UTF-8: {}", shown()));
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP/1.1 status line: {}", shown()));
    let header = |wanted: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_owned())
        })
    };
    let chunked = header("transfer-encoding")
        .is_some_and(|encoding| encoding.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        decode_chunked(body).unwrap_or_else(|problem| panic!("{problem} in {}", shown()))
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .unwrap_or_else(|_| panic!("a numeric Content-Length: {}", shown()));
        assert_eq!(
            body.len(),
            length,
            "the body is as long as announced: {}",
            shown()
        );
        body.to_vec()
    } else {
        // Neither framing: the body ends with the connection.
        body.to_vec()
    };
    (status, body)
}

/// The data of a chunked body: hex sizes (extensions after `;` ignored),
/// each chunk followed by CRLF, ending with a zero-size chunk and optional
/// trailers.
fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("a chunk size line without its CRLF")?;
        let size_line =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| "a chunk size line in UTF-8")?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("a chunk size {size_line:?} that is not hex"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, end with an empty line; the tests need none.
            return Ok(data);
        }
        if rest.len() < size + 2 || &rest[size..size + 2] != b"\r\n" {
            return Err(format!("a chunk of {size} bytes cut short"));
        }
        data.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_body_framed_by_its_length() {
        let raw = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(raw), (404, b"{}".to_vec()));
    }

    #[test]
    fn joins_the_chunks_of_a_chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw), (200, b"{\"a\":1}".to_vec()));
    }

    #[test]
    fn reads_a_body_to_the_end_of_the_connection() {
        let raw = b"HTTP/1.1 200 OK\r\n\r\nok\n";
        assert_eq!(parse_response(raw), (200, b"ok\n".to_vec()));
    }

    #[test]
    fn refuses_a_chunk_cut_short() {
        assert!(decode_chunked(b"a\r\nshort\r\n").is_err());
        assert!(decode_chunked(b"zz\r\n").is_err());
    }
}
