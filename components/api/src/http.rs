//! HTTP glue: methods, bearer tokens, body checks and JSON answers.

use aurras_domain::api::Route;
use aurras_domain::{ApiError, ApiResult, ErrorCode};
use serde_json::Value;
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

/// Whether `token` is the operator's token (the secret variable `admin_token`). An empty or
/// unset variable disables operator access rather than accepting an empty token.
pub fn is_admin_token(token: &str) -> bool {
    let Ok(expected) = spin_sdk::variables::get("admin_token") else {
        return false;
    };
    !expected.is_empty()
        && aurras_domain::secrets::token_matches(
            token,
            &aurras_domain::secrets::hash_token(&expected),
        )
}

/// The request body, checked against the route: size limit and JSON content type.
pub fn body(req: &Request, route: &Route) -> ApiResult<Vec<u8>> {
    let body = req.body();
    if route.max_body == 0 {
        return Ok(Vec::new());
    }
    if body.len() > route.max_body {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the body is {} bytes; this route takes at most {}",
                body.len(),
                route.max_body
            ),
        ));
    }
    let content_type = req
        .header("content-type")
        .and_then(|h| h.as_str())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("send the body as application/json (got {content_type:?})"),
        ));
    }
    Ok(body.to_vec())
}

/// A JSON response.
pub fn json_response(status: u16, value: &Value) -> Response {
    Answer::json(status, value.clone()).into_response()
}

/// A successful answer.
pub struct Answer {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    location: Option<String>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, value: Value) -> Self {
        Self::raw(status, "application/json", value.to_string().into_bytes())
    }

    /// Bytes with a content type.
    pub fn raw(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            body,
            location: None,
        }
    }

    /// No body.
    pub fn empty(status: u16) -> Self {
        Self::raw(status, "", Vec::new())
    }

    /// Adds a `Location` header.
    pub fn located(mut self, location: String) -> Self {
        self.location = Some(location);
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
        if let Some(location) = self.location {
            builder.header("location", location);
        }
        builder.body(self.body).build()
    }
}
