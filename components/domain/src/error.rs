//! The one error shape every API answer uses: `{"error": {"code", "message", "field"}}`.

use serde::Serialize;

/// What went wrong, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not JSON, or a value has the wrong JSON type.
    InvalidJson,
    /// A field the API does not know.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field is present and well-typed but its value is not acceptable.
    InvalidField,
    /// No or wrong credentials.
    Unauthorized,
    /// Nothing there (or not yours: the API does not say which).
    NotFound,
    /// The request conflicts with what is stored.
    Conflict,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// Too many concurrent writers to one record; retrying will work.
    Busy,
    /// An index is full: the account (or, for any-account triggers, the topic) has as many
    /// triggers as the deployment allows; one must be deleted first.
    TooManyTriggers,
    /// This client created too many triggers too quickly; `Retry-After` says when to retry.
    RateLimited,
    /// The deployment lacks a setting the route needs (a Spin variable).
    NotConfigured,
    /// A platform the request needs (a chat homeserver) did not answer, or not usefully; the
    /// message says why, and retrying later may work.
    PlatformUnavailable,
    /// Something failed inside; details are in the logs, not in the answer.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidJson | ErrorCode::UnknownField | ErrorCode::MissingField => 400,
            ErrorCode::InvalidField => 422,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyTriggers | ErrorCode::RateLimited => 429,
            ErrorCode::Busy | ErrorCode::NotConfigured => 503,
            ErrorCode::Internal => 500,
            ErrorCode::PlatformUnavailable => 502,
        }
    }
}

/// An error a client can act on, naming the field at fault where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ApiError {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// A sentence for people.
    pub message: String,
    /// The JSON path of the offending field (`filter.balance.account`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What went wrong inside, for the logs; never sent to clients.
    #[serde(skip)]
    pub detail: Option<String>,
    /// Headers the answer must carry (`Allow` with a 405, `Retry-After` with a 429).
    #[serde(skip)]
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with a code and message, no field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            detail: None,
            headers: Vec::new(),
        }
    }

    /// An opaque 500: `detail` goes to the logs, the client sees a generic message.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(
                ErrorCode::Internal,
                "internal error; the operator's logs have the details",
            )
        }
    }

    /// `invalid_field` for `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidField, message).at(field)
    }

    /// `not_found`, with the message every hidden-or-absent record shares.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// Adds a header to the answer.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Names (or renames) the field.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Prefixes the field path with `parent` (`keys.auth` → `action.web_push.keys.auth`).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = Some(match self.field {
            Some(f) if !f.is_empty() => format!("{parent}.{f}"),
            _ => parent.to_owned(),
        });
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The JSON body: `{"error": {...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self })
    }
}

/// Shorthand for results whose error goes back to the client.
pub type ApiResult<T> = Result<T, ApiError>;

/// A setting that does not parse; the message names the Spin variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Spin variable {variable} is {value:?}: {message}")]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What is expected.
    pub message: String,
}

impl From<ConfigError> for ApiError {
    fn from(e: ConfigError) -> Self {
        ApiError::new(ErrorCode::NotConfigured, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_the_documented_shape() {
        let e = ApiError::invalid("account", "bad checksum").within("filter.balance");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": {"code": "invalid_field", "message": "bad checksum",
                                         "field": "filter.balance.account"}})
        );
        assert_eq!(e.status(), 422);
        assert_eq!(e.to_string(), "filter.balance.account: bad checksum");
    }
}
