//! HTTP glue every component needs: methods, bearer tokens, variables and JSON answers.

use spin_sdk::http::{Method, Request, Response};

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
