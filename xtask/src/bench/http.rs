//! A tiny HTTP/1.1 client over one keep-alive TCP connection: just enough for the
//! benchmarks (plain HTTP to a local server, `Content-Length` and chunked bodies,
//! no TLS, no redirects, no pipelining). Every read is bounded in size.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest status or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted in one answer.
const MAX_HEADERS: usize = 128;
/// Largest body accepted.
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// An answer: status, headers (names lowercased) and the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// Every value of header `name` (lowercase).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Encodes one request for `host`; a body is sent as `application/json`.
pub fn request(
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    json_body: Option<&str>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = json_body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if let Some(body) = json_body {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

/// One keep-alive connection; requests are sent one at a time.
#[derive(Debug)]
pub struct Connection {
    stream: BufReader<TcpStream>,
    reusable: bool,
}

impl Connection {
    /// Connects to `addr` (with Nagle's algorithm off: requests are written whole).
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            reusable: true,
        })
    }

    /// Whether another request may be sent: the last answer was read completely and
    /// the server did not ask to close.
    pub fn is_reusable(&self) -> bool {
        self.reusable
    }

    /// Sends an encoded request (see [`request`]) and reads the whole answer.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        if !self.reusable {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "connection is not reusable",
            ));
        }
        // Until a complete answer has been read, the connection is in an unknown state.
        self.reusable = false;
        self.stream.get_mut().write_all(request).await?;
        let (response, keep_alive) = read_response(&mut self.stream).await?;
        self.reusable = keep_alive;
        Ok(response)
    }
}

/// Reads one answer; also says whether the connection may be reused afterwards.
pub async fn read_response<R>(reader: &mut R) -> io::Result<(Response, bool)>
where
    R: AsyncBufRead + Unpin,
{
    let status_line = read_line(reader).await?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!(
            "not an HTTP/1 status line: {status_line:?}"
        )));
    }
    let status: u16 = parts
        .next()
        .and_then(|code| code.parse().ok())
        .filter(|code| (100..1000).contains(code))
        .ok_or_else(|| invalid(format!("bad status line: {status_line:?}")))?;

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader).await?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(invalid("too many header lines"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line: {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let value_of = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut keep_alive = version == "HTTP/1.1"
        && !value_of("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let chunked = value_of("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    let body = if (100..200).contains(&status) || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        read_chunked(reader).await?
    } else if let Some(length) = value_of("content-length") {
        let length: u64 = length
            .parse()
            .map_err(|_| invalid(format!("bad content-length: {length:?}")))?;
        if length > MAX_BODY {
            return Err(invalid(format!("body of {length} bytes is too large")));
        }
        let mut body = vec![0; usize::try_from(length).map_err(invalid)?];
        reader.read_exact(&mut body).await?;
        body
    } else {
        // No framing: the body runs until the server closes the connection.
        keep_alive = false;
        let mut body = Vec::new();
        (&mut *reader)
            .take(MAX_BODY + 1)
            .read_to_end(&mut body)
            .await?;
        if body.len() as u64 > MAX_BODY {
            return Err(invalid("body too large"));
        }
        body
    };
    Ok((
        Response {
            status,
            headers,
            body,
        },
        keep_alive,
    ))
}

async fn read_chunked<R>(reader: &mut R) -> io::Result<Vec<u8>>
where
    R: AsyncBufRead + Unpin,
{
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size: {line:?}")))?;
        if size == 0 {
            // Trailers, then the empty line that ends the message.
            for _ in 0..MAX_HEADERS {
                if read_line(reader).await?.is_empty() {
                    return Ok(body);
                }
            }
            return Err(invalid("too many trailer lines"));
        }
        if body.len() as u64 + size > MAX_BODY {
            return Err(invalid("body too large"));
        }
        let mut chunk = vec![0; usize::try_from(size).map_err(invalid)?];
        reader.read_exact(&mut chunk).await?;
        body.extend_from_slice(&chunk);
        if !read_line(reader).await?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
    }
}

/// One line without its CRLF (or LF); an error at end of stream or when too long.
async fn read_line<R>(reader: &mut R) -> io::Result<String>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete answer",
        ));
    }
    if line.pop() != Some(b'\n') {
        return Err(invalid("line too long or truncated"));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(invalid)
}

fn invalid(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(raw: &[u8]) -> io::Result<(Response, bool)> {
        let mut reader = raw;
        read_response(&mut reader).await
    }

    #[tokio::test]
    async fn reads_a_content_length_answer_and_keeps_the_connection() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1; Path=/\r\nset-cookie: b=2\r\ncontent-length: 2\r\n\r\n{}trailing";
        let (response, keep_alive) = parse(raw).await.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{}");
        assert!(keep_alive);
        assert_eq!(
            response.header_values("set-cookie").collect::<Vec<_>>(),
            ["a=1; Path=/", "b=2"]
        );
    }

    #[tokio::test]
    async fn reads_a_chunked_answer() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\nx-trailer: 1\r\n\r\n";
        let (response, keep_alive) = parse(raw).await.unwrap();
        assert_eq!(response.status, 401);
        assert_eq!(response.body, b"abcdef");
        assert!(keep_alive);
    }

    #[tokio::test]
    async fn connection_close_and_unframed_bodies_end_the_connection() {
        let raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse(raw).await.unwrap().1);
        let raw = b"HTTP/1.1 200 OK\r\n\r\nuntil eof";
        let (response, keep_alive) = parse(raw).await.unwrap();
        assert_eq!(response.body, b"until eof");
        assert!(!keep_alive);
        let raw = b"HTTP/1.1 204 No Content\r\n\r\n";
        let (response, keep_alive) = parse(raw).await.unwrap();
        assert!(response.body.is_empty() && keep_alive);
    }

    #[tokio::test]
    async fn refuses_truncated_or_malformed_answers() {
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(
                parse(raw).await.is_err(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn encodes_requests_with_and_without_a_body() {
        let get = request("GET", "127.0.0.1:1", "/healthz", &[("Cookie", "a=b")], None);
        assert_eq!(
            String::from_utf8(get).unwrap(),
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:1\r\nAccept: */*\r\nCookie: a=b\r\n\r\n"
        );
        let post = request("POST", "h", "/x", &[], Some("{\"a\":1}"));
        let post = String::from_utf8(post).unwrap();
        assert!(
            post.contains("Content-Length: 7\r\n\r\n{\"a\":1}"),
            "{post}"
        );
    }
}
