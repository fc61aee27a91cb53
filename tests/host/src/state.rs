//! What one request's instance sees: its component's permissions and variables, the WASI contexts,
//! and the outbound HTTP policy.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::blocked_networks::BlockedNetworks;
use crate::key_value::KeyValueStores;
use crate::outbound::{default_port, OutboundPolicy};
use crate::outbound_http::Route;
use crate::tls::ComponentTls;

/// A component's fixed context, built once at startup and shared by its requests.
#[derive(Debug)]
pub struct ComponentContext {
    /// The component id in `spin.toml`.
    pub id: String,
    /// Labels it may open.
    pub key_value_stores: Vec<String>,
    /// Its variables, resolved.
    pub variables: BTreeMap<String, String>,
    /// Its environment.
    pub environment: BTreeMap<String, String>,
    /// Where it may send HTTP requests.
    pub outbound: OutboundPolicy,
    /// The app's `[outbound_networking] block_networks`.
    pub blocked_networks: BlockedNetworks,
    /// Test-only resolver overrides ([`crate::AppOptions::resolve`]).
    pub resolve: Arc<BTreeMap<String, IpAddr>>,
    /// Its `[[client_tls]]` configs.
    pub tls: ComponentTls,
    /// Its outbound connections kept for reuse, across instances.
    pub pool: Arc<crate::outbound_http::Pool>,
}

/// The `T` of each request's `Store<T>`.
pub struct RequestState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    pub(crate) component: Arc<ComponentContext>,
    pub(crate) app_stores: KeyValueStores,
}

impl RequestState {
    /// A fresh state for one request to `component`.
    pub fn new(
        component: Arc<ComponentContext>,
        app_stores: KeyValueStores,
        self_addr: SocketAddr,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        for (k, v) in &component.environment {
            wasi.env(k, v);
        }
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component: component.clone(),
                self_addr,
            },
            component,
            app_stores,
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Enforces `allowed_outbound_hosts` on every outgoing request and sends it with the runtime
/// config's blocked networks and TLS settings.
struct OutboundHooks {
    component: Arc<ComponentContext>,
    self_addr: SocketAddr,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri
            .port_u16()
            .or_else(|| default_port(&scheme))
            .unwrap_or(0);
        let is_self = host.parse::<std::net::IpAddr>().ok() == Some(self.self_addr.ip())
            && port == self.self_addr.port();
        if !self
            .component
            .outbound
            .allows(&scheme, &host, port, is_self)
        {
            tracing::warn!(
                component = %self.component.id,
                url = %uri,
                "outbound request denied: add it to the component's allowed_outbound_hosts"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let _ = fut;
        let route = Route {
            pool: self.component.pool.clone(),
            blocked: self.component.blocked_networks.clone(),
            resolve: self.component.resolve.clone(),
            // Spin looks the config up by the URL's host alone.
            tls: self.component.tls.for_host(uri.host().unwrap_or_default()),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = crate::outbound_http::send(request, options, route).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}
