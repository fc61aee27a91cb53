//! The `ui` component: serves the page (`ui/`) at `/...`; the API keeps `/api/...`.
//!
//! Every answer carries the Content-Security-Policy and the other hardening headers; files are
//! revalidated on each load (`no-cache` with a strong ETag, answered 304 when unchanged), so a new
//! deployment reaches browsers at once, service worker included.

// `#[http_component]` expands to the component's export glue, which is `unsafe` by nature.
#![allow(unsafe_code)]

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// One embedded file of `ui/dist`.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    etag: &'static str,
    body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Scripts, styles, workers and calls only from this origin; no inline code, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

fn find(path: &str) -> Option<&'static Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

fn with_security_headers(builder: &mut spin_sdk::http::ResponseBuilder) {
    builder
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("cross-origin-opener-policy", "same-origin");
}

fn not_found(path: &str) -> Response {
    let mut builder = Response::builder();
    builder
        .status(404)
        .header("content-type", "text/plain; charset=utf-8")
        .header("cache-control", "no-store");
    with_security_headers(&mut builder);
    builder
        .body(format!("{path} is not part of the page\n"))
        .build()
}

/// Whether `If-None-Match` names `etag` (a list, `*`, or weak forms of the same tag).
fn matches(if_none_match: Option<&str>, etag: &str) -> bool {
    if_none_match.is_some_and(|value| {
        value
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag)
    })
}

#[http_component]
fn handle(req: Request) -> Response {
    let head = match req.method() {
        Method::Get => false,
        Method::Head => true,
        _ => {
            return Response::builder()
                .status(405)
                .header("allow", "GET, HEAD")
                .header("content-type", "text/plain; charset=utf-8")
                .body("the page is read with GET or HEAD\n")
                .build()
        }
    };
    let Some(asset) = find(req.path()) else {
        return not_found(req.path());
    };
    let if_none_match = req.header("if-none-match").and_then(|v| v.as_str());
    let fresh = matches(if_none_match, asset.etag);
    let mut builder = Response::builder();
    builder
        .status(if fresh { 304 } else { 200 })
        .header("etag", asset.etag)
        .header("cache-control", "no-cache");
    with_security_headers(&mut builder);
    if fresh {
        return builder.body(Vec::new()).build();
    }
    // No explicit Content-Length: the host frames the body, and for HEAD it must not be checked
    // against the empty body written.
    builder.header("content-type", asset.content_type);
    builder
        .body(if head {
            Vec::new()
        } else {
            asset.body.to_vec()
        })
        .build()
}
