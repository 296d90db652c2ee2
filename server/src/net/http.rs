//! The HTTP side of the port: reading a request head (bounded in size and time), the
//! WebSocket upgrade check, static files for the browser client, and health.

use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Largest request head accepted (431 beyond).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers accepted (431 beyond).
pub const MAX_HEADERS: usize = 32;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// The query string (after `?`, empty when none).
    pub query: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// First value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// The first value of query parameter `name` (taken as it is: the parameters the server
    /// reads are codes, modes and tokens, which need no decoding).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether this asks for a WebSocket upgrade at all.
    pub fn wants_upgrade(&self) -> bool {
        self.header_has_token("upgrade", "websocket")
    }
}

/// Why a request head was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// Over [`MAX_HEAD_BYTES`] or [`MAX_HEADERS`].
    #[error("request head too large")]
    TooLarge,
    /// Not HTTP/1.x.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The peer closed or the socket failed.
    #[error("connection closed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one request head. Returns it with any bytes read past it (a client may pipeline
/// WebSocket frames right after its upgrade request).
pub async fn read_head(stream: &mut TcpStream) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) if len > MAX_HEAD_BYTES => {
                return Err(HeadError::TooLarge);
            }
            Ok(httparse::Status::Complete(len)) => {
                let (path, query) = req
                    .path
                    .unwrap_or("/")
                    .split_once('?')
                    .unwrap_or((req.path.unwrap_or("/"), ""));
                let request = Request {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                if req.version != Some(1) {
                    return Err(HeadError::Malformed("HTTP/1.1 required".into()));
                }
                return Ok((request, buf.split_off(len)));
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
                return Err(HeadError::TooLarge);
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        }
    }
}

/// Why an upgrade request was refused: the HTTP status and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status code.
    pub status: u16,
    /// Body text.
    pub text: &'static str,
}

/// Validates a WebSocket upgrade request (RFC 6455 section 4.2.1) and returns the
/// `Sec-WebSocket-Accept` value. Extensions (permessage-deflate) are never negotiated.
pub fn check_upgrade(req: &Request, allowed_origins: &[String]) -> Result<String, Refusal> {
    let bad = |text| Refusal { status: 400, text };
    if req.method != "GET" {
        return Err(Refusal {
            status: 405,
            text: "WebSocket upgrade needs GET",
        });
    }
    if !req.wants_upgrade() || !req.header_has_token("connection", "upgrade") {
        return Err(bad("not a WebSocket upgrade"));
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err(Refusal {
            status: 426,
            text: "WebSocket version 13 required",
        });
    }
    let key = req
        .header("sec-websocket-key")
        .map(str::trim)
        .filter(|k| k.len() == 24)
        .ok_or_else(|| bad("missing or malformed Sec-WebSocket-Key"))?;
    if !allowed_origins.is_empty() {
        let origin_ok = req
            .header("origin")
            .is_some_and(|o| allowed_origins.iter().any(|a| a == o));
        if !origin_ok {
            return Err(Refusal {
                status: 403,
                text: "origin not allowed",
            });
        }
    }
    Ok(derive_accept_key(key.as_bytes()))
}

/// The 101 response completing an upgrade.
pub fn switching_protocols(accept: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
}

/// Writes a complete response and closes our side.
pub async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    extra_headers: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n{extra_headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

/// Largest request body read (the JSON of `POST /rooms` is a few dozen bytes).
pub const MAX_BODY_BYTES: usize = 4096;

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Over [`MAX_BODY_BYTES`].
    #[error("request body too large")]
    TooLarge,
    /// A `Content-Length` that is not a number, or chunked encoding.
    #[error("request body needs a Content-Length")]
    NoLength,
    /// The peer closed or the socket failed.
    #[error("connection closed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the request's body (`Content-Length` bytes, none without it): `already` holds the
/// bytes read past the head.
pub async fn read_body(
    stream: &mut TcpStream,
    req: &Request,
    mut already: Vec<u8>,
) -> Result<Vec<u8>, BodyError> {
    if req.header("transfer-encoding").is_some() {
        return Err(BodyError::NoLength);
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| BodyError::NoLength)?,
    };
    if len > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    already.truncate(len);
    let mut chunk = [0u8; 1024];
    while already.len() < len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(BodyError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        let want = (len - already.len()).min(n);
        already.extend_from_slice(&chunk[..want]);
    }
    Ok(already)
}

/// Maps a URL path to a file: `/` is `assets/index.html`, `/pkg/...` is the built client,
/// anything else is under `assets/`. `None` for paths that try to leave those folders.
pub fn static_path(url_path: &str, assets: &Path, client_dir: &Path) -> Option<PathBuf> {
    let rel = url_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if rel.contains('\\') || rel.contains('\0') || rel.contains('%') {
        return None;
    }
    let (root, rest) = match rel.strip_prefix("pkg/") {
        Some(rest) => (client_dir, rest),
        None => (assets, rel),
    };
    let rest = Path::new(rest);
    if !rest.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rest))
}

/// Content type by file extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_paths_stay_inside_their_roots() {
        let (a, c) = (Path::new("assets"), Path::new("dist"));
        assert_eq!(
            static_path("/", a, c),
            Some(PathBuf::from("assets/index.html"))
        );
        assert_eq!(
            static_path("/pkg/x.js", a, c),
            Some(PathBuf::from("dist/x.js"))
        );
        assert_eq!(static_path("/../etc/passwd", a, c), None);
        assert_eq!(static_path("/pkg/../../x", a, c), None);
        assert_eq!(static_path("/a/%2e%2e/b", a, c), None);
    }
}
