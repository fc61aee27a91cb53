//! HTTP glue every component needs: methods, bearer tokens, variables and JSON answers, and
//! request bodies read within a limit ([`read_request`]).

use aurras_domain::{ApiError, ErrorCode};
use spin_sdk::http::{IncomingRequest, Method, Request, Response};
use wasi::io::streams::StreamError;

/// How much of a body one read asks for.
const READ_CHUNK: u64 = 64 * 1024;

/// Reads an incoming request: its head first, then at most `limit(head)` bytes of body (none when
/// the limit is 0). A body beyond the limit is `413 payload_too_large` as soon as the limit is
/// passed (at once when `Content-Length` announces it), without reading the rest, and before
/// anything else looks at it (a signature, a parser).
pub fn read_request(
    incoming: IncomingRequest,
    limit: impl FnOnce(&Request) -> usize,
) -> Result<Request, ApiError> {
    let mut request = Request::builder()
        .method(incoming.method())
        .uri(incoming.uri())
        .headers(incoming.headers())
        .build();
    let limit = limit(&request);
    if limit == 0 {
        return Ok(request);
    }
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes, the most this route takes"),
        )
    };
    let announced = header(&request, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let unreadable = || ApiError::new(ErrorCode::InvalidJson, "the request body could not be read");
    let body = incoming.consume().map_err(|()| unreadable())?;
    let stream = body.stream().map_err(|()| unreadable())?;
    let mut bytes = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    loop {
        // One byte past the limit is enough to know it was passed.
        let room = (limit + 1).saturating_sub(bytes.len()) as u64;
        match stream.blocking_read(room.min(READ_CHUNK)) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidJson,
                    format!(
                        "the request body could not be read: {}",
                        e.to_debug_string()
                    ),
                ))
            }
        }
        if bytes.len() > limit {
            return Err(too_large());
        }
    }
    drop(stream);
    drop(body);
    *request.body_mut() = bytes;
    Ok(request)
}

/// The method as text.
pub fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m.to_ascii_uppercase(),
    }
}

/// The bearer token of the request, if any.
pub fn bearer(req: &Request) -> Option<String> {
    let value = req.header("authorization")?.as_str()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// A header's value as text.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|h| h.as_str())
}

/// A Spin variable; `None` when unset or empty.
pub fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Unix time now, in milliseconds.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// RFC 3339 now.
pub fn now_rfc3339() -> String {
    aurras_domain::rfc3339(now_millis())
}

/// The answer for an API error: its JSON body and the headers it asks for.
pub fn error_response(error: &aurras_domain::ApiError) -> Response {
    let answer = Answer::json(error.status(), error.to_json());
    error
        .headers
        .iter()
        .fold(answer, |a, (name, value)| {
            a.with_header(name, value.clone())
        })
        .into_response()
}

/// A successful answer.
pub struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, value: serde_json::Value) -> Self {
        Self::raw(status, "application/json", value.to_string().into_bytes())
    }

    /// Bytes with a content type.
    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        Self::raw(status, "", Vec::new())
    }

    /// Adds a `Location` header.
    pub fn located(self, location: String) -> Self {
        self.with_header("location", location)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The Spin response.
    pub fn into_response(self) -> Response {
        let mut builder = Response::builder();
        builder.status(self.status);
        if !self.content_type.is_empty() {
            builder.header("content-type", self.content_type);
        }
        if self.status == 401 {
            builder.header("www-authenticate", "Bearer");
        }
        for (name, value) in self.headers {
            builder.header(name, value);
        }
        builder.body(self.body).build()
    }
}
