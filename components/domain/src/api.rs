//! The HTTP API's route table: one place that names every route, its method, who may call it and
//! how large a body it takes. The `api` component dispatches through it and a test checks that the
//! OpenAPI document (`docs/openapi.json`) lists exactly these routes.

use crate::error::{ApiError, ErrorCode};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// Anyone; the operator (admin token) sees more.
    PublicOrAdmin,
    /// The operator: `Authorization: Bearer <admin_token>`.
    Admin,
    /// The holder of the trigger's management token.
    TriggerOwner,
}

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Operation {
    Health,
    OpenApi,
    ListSources,
    CreateSource,
    GetSource,
    PatchSource,
    DeleteSource,
    GetChainSpec,
    GetRelayChainSpec,
    CreateTrigger,
    GetTrigger,
    ReplaceTrigger,
    PatchTrigger,
    DeleteTrigger,
    LookupTriggers,
    PushPublicKey,
    TestTrigger,
    ResendDelivery,
    Reencrypt,
    GetLease,
    TakeLease,
    AccountChallenge,
    TelegramUpdate,
    SetTelegramWebhook,
    EmailConfirm,
    EmailUnsubscribePage,
    EmailUnsubscribe,
    ListChannels,
    ListRecipes,
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The HTTP method.
    pub method: &'static str,
    /// The path, with `{param}` segments as in OpenAPI.
    pub path: &'static str,
    /// What it does.
    pub operation: Operation,
    /// Who may call it.
    pub access: Access,
    /// The largest body accepted, in bytes (0: no body).
    pub max_body: usize,
}

/// Bodies of source registrations may carry a raw chain spec (Paseo's is about 2 MiB).
pub const MAX_SOURCE_BODY: usize = 16 * 1024 * 1024;
/// Trigger bodies are small.
pub const MAX_TRIGGER_BODY: usize = 64 * 1024;
/// A source's changes may carry its chain's assets: up to [`crate::assets::MAX_ASSETS`] of a
/// few dozen bytes each.
pub const MAX_SOURCE_PATCH_BODY: usize = 1024 * 1024;
/// A one-click unsubscribe (RFC 8058) posts `List-Unsubscribe=One-Click` as a form; more is
/// not read.
pub const MAX_UNSUBSCRIBE_BODY: usize = 1024;
/// A Telegram update: a message of at most 4,096 characters with its entities and the sender's
/// profile, well under this; more is not an update worth reading.
pub const MAX_TELEGRAM_UPDATE: usize = 256 * 1024;

const fn route(
    method: &'static str,
    path: &'static str,
    operation: Operation,
    access: Access,
    max_body: usize,
) -> Route {
    Route {
        method,
        path,
        operation,
        access,
        max_body,
    }
}

use Access::*;
use Operation::*;

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    route("GET", "/api/health", Health, Public, 0),
    route("GET", "/api/openapi.json", OpenApi, Public, 0),
    route("GET", "/api/sources", ListSources, PublicOrAdmin, 0),
    route("POST", "/api/sources", CreateSource, Admin, MAX_SOURCE_BODY),
    route("GET", "/api/sources/{id}", GetSource, PublicOrAdmin, 0),
    route(
        "PATCH",
        "/api/sources/{id}",
        PatchSource,
        Admin,
        MAX_SOURCE_PATCH_BODY,
    ),
    route("DELETE", "/api/sources/{id}", DeleteSource, Admin, 0),
    // Which ingestor may produce the source's chain (see `crate::lease`).
    route("GET", "/api/sources/{id}/lease", GetLease, Admin, 0),
    route(
        "PUT",
        "/api/sources/{id}/lease",
        TakeLease,
        Admin,
        MAX_TRIGGER_BODY,
    ),
    route(
        "GET",
        "/api/sources/{id}/chain-spec",
        GetChainSpec,
        Admin,
        0,
    ),
    route(
        "GET",
        "/api/sources/{id}/relay-chain-spec",
        GetRelayChainSpec,
        Admin,
        0,
    ),
    // Anyone creates triggers; the operator's token exempts a create from the rate limit.
    route(
        "POST",
        "/api/triggers",
        CreateTrigger,
        PublicOrAdmin,
        MAX_TRIGGER_BODY,
    ),
    route("GET", "/api/triggers/{id}", GetTrigger, TriggerOwner, 0),
    route(
        "PUT",
        "/api/triggers/{id}",
        ReplaceTrigger,
        TriggerOwner,
        MAX_TRIGGER_BODY,
    ),
    route(
        "PATCH",
        "/api/triggers/{id}",
        PatchTrigger,
        TriggerOwner,
        MAX_TRIGGER_BODY,
    ),
    route(
        "DELETE",
        "/api/triggers/{id}",
        DeleteTrigger,
        TriggerOwner,
        0,
    ),
    route(
        "POST",
        "/api/triggers/{id}/test",
        TestTrigger,
        TriggerOwner,
        0,
    ),
    // A delivery no retry will repeat (gone, failed), sent again at its owner's request.
    route(
        "POST",
        "/api/triggers/{id}/deliveries/{event_id}/resend",
        ResendDelivery,
        TriggerOwner,
        0,
    ),
    route("GET", "/api/push/public-key", PushPublicKey, Public, 0),
    // Which delivery channels this server has enabled, for the page to offer only those.
    route("GET", "/api/channels", ListChannels, Public, 0),
    // The recipes, their inputs and the chains whose sources serve them (see `crate::recipe`).
    route("GET", "/api/recipes", ListRecipes, Public, 0),
    // A challenge for an account's owner to sign (see `crate::ownership`); nothing is stored.
    route(
        "POST",
        "/api/accounts/{account}/challenge",
        AccountChallenge,
        Public,
        0,
    ),
    route(
        "GET",
        "/api/topics/{topic}/triggers",
        LookupTriggers,
        Admin,
        0,
    ),
    route("POST", "/api/maintenance/reencrypt", Reencrypt, Admin, 0),
    // Telegram pushes updates here; public, because Telegram authenticates with the
    // X-Telegram-Bot-Api-Secret-Token header instead, checked first by the handler.
    route(
        "POST",
        "/api/telegram/update",
        TelegramUpdate,
        Public,
        MAX_TELEGRAM_UPDATE,
    ),
    route(
        "POST",
        "/api/operator/telegram/webhook",
        SetTelegramWebhook,
        Admin,
        MAX_TRIGGER_BODY,
    ),
    // The links in mails: public, because the one-time code or the HMAC token in the query is
    // the authentication (`crate::channel::email`).
    route("GET", "/api/email/confirm", EmailConfirm, Public, 0),
    route(
        "GET",
        "/api/email/unsubscribe",
        EmailUnsubscribePage,
        Public,
        0,
    ),
    route(
        "POST",
        "/api/email/unsubscribe",
        EmailUnsubscribe,
        Public,
        MAX_UNSUBSCRIBE_BODY,
    ),
];

/// A path's parameters: `("id", "trg_…")`.
pub type PathParams = Vec<(&'static str, String)>;

/// Finds the route for a request: 404 when no path matches, 405 (naming the allowed methods)
/// when the path exists for other methods. Returns the route and its path parameters.
pub fn resolve(method: &str, path: &str) -> Result<(&'static Route, PathParams), ApiError> {
    let actual: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut allowed = Vec::new();
    for r in ROUTES {
        let Some(params) = match_path(r.path, &actual) else {
            continue;
        };
        if r.method.eq_ignore_ascii_case(method) {
            return Ok((r, params));
        }
        allowed.push(r.method);
    }
    if allowed.is_empty() {
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no route {path}"),
        ))
    } else {
        // RFC 9110 §15.5.6: a 405 names the methods the resource has.
        let allow = allowed.join(", ");
        Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} allows {allow}"),
        )
        .with_header("allow", allow))
    }
}

fn match_path(template: &'static str, actual: &[&str]) -> Option<PathParams> {
    let parts: Vec<&'static str> = template.split('/').collect();
    if parts.len() != actual.len() {
        return None;
    }
    let mut params = Vec::new();
    for (t, a) in parts.into_iter().zip(actual) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !a.is_empty() => params.push((name, (*a).to_owned())),
            Some(_) => return None,
            None if t == *a => {}
            None => return None,
        }
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_routes_params_and_errors() {
        let (r, params) = resolve("GET", "/api/sources/src_1").expect("route");
        assert_eq!(r.operation, GetSource);
        assert_eq!(params, vec![("id", "src_1".to_string())]);
        assert_eq!(
            resolve("get", "/api/health/").expect("route").0.operation,
            Health
        );
        let e = resolve("PUT", "/api/sources").expect_err("405");
        assert_eq!(e.code, ErrorCode::MethodNotAllowed);
        assert!(e.message.contains("GET, POST"), "{}", e.message);
        assert_eq!(
            resolve("GET", "/api/nope").expect_err("404").code,
            ErrorCode::NotFound
        );
        assert_eq!(
            resolve("GET", "/api/sources//chain-spec")
                .expect_err("empty")
                .code,
            ErrorCode::NotFound
        );
    }
}
