//! The API's request checks: the operator token and the body against the route's limits.

use aurras_domain::api::Route;
use aurras_domain::{ApiError, ApiResult, ErrorCode};
use spin_sdk::http::Request;

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

/// The refusal of operator access while `admin_token` is set but too weak (a placeholder, or
/// shorter than [`MIN_ADMIN_TOKEN_LEN`](aurras_domain::operator::MIN_ADMIN_TOKEN_LEN)
/// characters, or empty): `503 not_configured` with the reason, logged each time. `None` when
/// the token is strong.
pub fn weak_admin_token() -> Option<ApiError> {
    let token = spin_sdk::variables::get("admin_token").unwrap_or_default();
    let why = aurras_domain::operator::admin_token_weakness(&token)?;
    eprintln!("operator access refused: {why}");
    Some(ApiError::new(
        ErrorCode::NotConfigured,
        format!("operator access is off: {why}"),
    ))
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
