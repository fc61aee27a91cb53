//! The `ui` component over HTTP: what it serves, with which headers, and what it refuses. The page's
//! behaviour in a browser is `browser.rs`.

use anyhow::Result;
use aurras_e2e::App;
use reqwest::{Client, Method, StatusCode};

async fn get(client: &Client, app: &App, path: &str) -> Result<reqwest::Response> {
    Ok(client.get(format!("{}{path}", app.url())).send().await?)
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> &'a str {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn serves_the_page_with_types_policy_and_revalidation() -> Result<()> {
    let app = App::start().await?;
    let client = Client::new();
    let expected = [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/sw.js", "text/javascript; charset=utf-8"),
        ("/styles.css", "text/css; charset=utf-8"),
        ("/icon-192.png", "image/png"),
        ("/manifest.webmanifest", "application/manifest+json"),
    ];
    for (path, content_type) in expected {
        let resp = get(&client, &app, path).await?;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, "content-type"), content_type, "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        let csp = header(&resp, "content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");

        let etag = header(&resp, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 34, "{path}: {etag}");
        let body = resp.bytes().await?;
        assert!(!body.is_empty());
        let again = client
            .get(format!("{}{path}", app.url()))
            .header("if-none-match", &etag)
            .send()
            .await?;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert!(again.bytes().await?.is_empty());
        let weak = client
            .get(format!("{}{path}", app.url()))
            .header("if-none-match", format!("\"other\", W/{etag}"))
            .send()
            .await?;
        assert_eq!(
            weak.status(),
            StatusCode::NOT_MODIFIED,
            "{path}: weak comparison"
        );
    }
    let page = get(&client, &app, "/").await?.text().await?;
    assert!(page.contains("<script type=\"module\" src=\"/app.js\">"));
    assert!(!page.contains("<script>"), "no inline script");
    Ok(())
}

#[tokio::test]
async fn head_unknown_paths_and_other_methods() -> Result<()> {
    let app = App::start().await?;
    let client = Client::new();
    let head = client.head(format!("{}/app.js", app.url())).send().await?;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        header(&head, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(head.bytes().await?.is_empty());

    let missing = get(&client, &app, "/nothing-here.js").await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(header(&missing, "content-security-policy").contains("default-src 'none'"));
    let traversal = get(&client, &app, "/..%2f..%2fCargo.toml").await?;
    assert_eq!(traversal.status(), StatusCode::NOT_FOUND);

    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let resp = client
            .request(method.clone(), format!("{}/", app.url()))
            .send()
            .await?;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(header(&resp, "allow"), "GET, HEAD");
    }
    // The API keeps its routes: the page's catch-all does not shadow them.
    let api = get(&client, &app, "/api/health").await?;
    assert_eq!(header(&api, "content-type"), "application/json");
    Ok(())
}
