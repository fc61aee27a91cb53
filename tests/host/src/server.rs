//! Serving HTTP: route each request, instantiate its component afresh (as Spin does), hand it the
//! request with Spin's headers, and answer 500 when the component traps, while the host keeps going.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::app::{engine, AppOptions, LoadedApp};
use crate::key_value::StoreLocation;
use crate::routes::RouteMatch;
use crate::state::RequestState;

/// A running host: serves until [`TestHost::stop`] or drop.
pub struct TestHost {
    addr: SocketAddr,
    routes: Vec<(String, String)>,
    stores: Vec<(String, StoreLocation)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl TestHost {
    /// Loads the app and serves it on `listen` (port 0 picks a free port).
    pub async fn start(options: &AppOptions, listen: SocketAddr) -> Result<Self> {
        let engine = engine()?;
        let options = options.clone();
        // Compiling components is CPU-bound: keep it off the async workers.
        let app = tokio::task::spawn_blocking(move || LoadedApp::load(&engine, &options))
            .await
            .context("loading the app panicked")??;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        let routes = app.routes.clone();
        let stores = app
            .stores
            .describe()
            .map(|(label, location)| (label.to_owned(), location.clone()))
            .collect();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(Arc::new(app), listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            routes,
            stores,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The public routes and their components.
    pub fn routes(&self) -> &[(String, String)] {
        &self.routes
    }

    /// The key-value stores components use: label and where it lives.
    pub fn stores(&self) -> &[(String, StoreLocation)] {
        &self.stores
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drops open connections and closes the stores.
    pub async fn stop(mut self) -> Result<()> {
        self.shutdown.take().map(|tx| tx.send(()));
        match self.task.take() {
            Some(task) => task.await.context("the server task panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.shutdown.take().map(|tx| tx.send(()));
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    app: Arc<LoadedApp>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let local = listener.local_addr()?;
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(handle(&app, local, client, req).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("connection from {client} ended: {e}");
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
    Ok(())
}

/// Spin answers these itself, before routing.
fn well_known(app: &LoadedApp, what: &str) -> Response<HyperOutgoingBody> {
    match what {
        "health" => text(StatusCode::OK, "OK"),
        "info" => {
            let info = serde_json::json!({ "name": app.name, "version": app.version });
            let mut response = text(StatusCode::OK, info.to_string());
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, ""),
    }
}

// Spin's own answers (404, 500) have empty bodies; so do ours.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}

async fn handle(
    app: &LoadedApp,
    local: SocketAddr,
    client: SocketAddr,
    req: Request<Incoming>,
) -> Response<HyperOutgoingBody> {
    if let Some(what) = req.uri().path().strip_prefix("/.well-known/spin/") {
        return well_known(app, what);
    }
    let Some(matched) = app.router.route(req.uri().path()) else {
        return text(StatusCode::NOT_FOUND, "");
    };
    match run_component(app, &matched, local, client, req).await {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(component = %matched.component, "request failed: {e:?}");
            text(StatusCode::INTERNAL_SERVER_ERROR, "")
        }
    }
}

async fn run_component(
    app: &LoadedApp,
    matched: &RouteMatch,
    local: SocketAddr,
    client: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<HyperOutgoingBody>> {
    let component = app
        .components
        .get(&matched.component)
        .context("routed to a component that was not loaded")?;
    let req = with_spin_headers(req, matched, local, client)?;

    let state = RequestState::new(component.context.clone(), app.stores.clone(), local);
    let mut store = Store::new(component.pre.engine(), state);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let outparam = store.data_mut().http().new_response_outparam(sender)?;
    let pre = component.pre.clone();

    // The guest may keep streaming the body after it has set the response: run it on its own task.
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, incoming, outparam)
            .await
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => Err(anyhow::anyhow!(
            "the component answered with error {code:?}"
        )),
        Err(_) => {
            let outcome = task.await.context("the component's task panicked")?;
            Err(match outcome {
                Ok(()) => anyhow::anyhow!("the component returned without setting a response"),
                Err(trap) => anyhow::Error::from(trap).context("the component trapped"),
            })
        }
    }
}

/// Rewrites the URI to the full URL and adds the headers Spin gives every component.
fn with_spin_headers(
    req: Request<Incoming>,
    matched: &RouteMatch,
    local: SocketAddr,
    client: SocketAddr,
) -> Result<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| local.to_string());
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let full_url = format!("http://{authority}{path_and_query}");
    parts.uri = full_url.parse::<Uri>().context("bad request URI")?;

    let mut set = |name: &str, value: &str| -> Result<()> {
        parts.headers.insert(
            http::HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
        Ok(())
    };
    set("spin-full-url", &full_url)?;
    set("spin-path-info", &matched.path_info)?;
    set("spin-matched-route", &matched.raw_route)?;
    set("spin-raw-component-route", &matched.raw_route)?;
    set("spin-component-route", &matched.route)?;
    set("spin-base-path", "/")?;
    set("spin-client-addr", &client.to_string())?;
    for (name, value) in &matched.params {
        // Spin derives header names from SPIN_PATH_MATCH_<NAME>, so `_` becomes `-`.
        let name = name.to_ascii_lowercase().replace('_', "-");
        set(&format!("spin-path-match-{name}"), value)?;
    }
    Ok(Request::from_parts(parts, body))
}
