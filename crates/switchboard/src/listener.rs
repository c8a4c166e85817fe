//! The main listener, built from actix-server and actix-http as actix-web's `HttpServer` builds
//! its own, with the one thing `HttpServer` does not expose: an HTTP/1.1 request asking for a
//! WebSocket (or a `CONNECT`) leaves actix-http's dispatcher, and its two 8 KiB buffers, for
//! switchboard-http's `take_over_upgraded`, so that an idle socket holds little more than its
//! connection (docs/BENCHMARKS.md, memory per idle socket).

use std::any::Any;
use std::rc::Rc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive};
use actix_server::{Server, ServerBuilder};
use actix_service::{fn_factory, fn_service, map_config, IntoServiceFactory, ServiceFactory};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, ServiceRequest, ServiceResponse};
use actix_web::App;

/// How the listener serves connections (everything `HttpServer` was told before).
#[derive(Clone)]
pub(crate) struct ListenerConfig {
    pub workers: usize,
    /// The most connections open at once, over all workers.
    pub max_connections: usize,
    pub keep_alive: KeepAlive,
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// How long in-flight requests have to finish once the server stops.
    pub shutdown_timeout_secs: u64,
    pub tls: Option<rustls::ServerConfig>,
}

/// What is done with each new connection, before any request (refused, counted, prepared).
pub(crate) type OnConnect = std::sync::Arc<dyn Fn(&dyn Any, &mut Extensions) + Send + Sync>;

/// How long a closing connection has to take what is written to it (actix-web's default).
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One worker's HTTP service on connections of type `$io`: the app for requests, and the app
/// again, behind `take_over_upgraded`, for upgraded connections. A macro, as the service's type
/// (the app's, the upgrade's) cannot be written out for a function to return.
macro_rules! http_service {
    ($config:expr, $app:expr, $on_connect:expr, $stopping:expr) => {{
        let upgrade_app = $app.clone();
        let upgrade = fn_factory(move || {
            let factory = upgrade_app().into_factory();
            async move {
                let app = Rc::new(factory.new_service(AppConfig::default()).await?);
                Ok::<_, ()>(fn_service(move |upgraded| {
                    switchboard_http::take_over_upgraded(Rc::clone(&app), upgraded)
                }))
            }
        });
        let on_connect = $on_connect.clone();
        let stopping = $stopping.clone();
        HttpService::build()
            .keep_alive($config.keep_alive)
            .client_request_timeout($config.header_read_timeout)
            .client_disconnect_timeout(DISCONNECT_TIMEOUT)
            // Idle keep-alive connections close when the server stops, as with `HttpServer`.
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            .on_connect_ext(move |io: &_, data: &mut Extensions| (on_connect)(io as &dyn Any, data))
            .upgrade(upgrade)
            // The app's URL helpers (host, scheme) are not used: it builds its URLs on the
            // public URL.
            .finish(map_config($app().into_factory(), |_| AppConfig::default()))
    }};
}

/// Starts serving `listener` with the app `make_app` builds (once per worker, and once more per
/// worker for upgraded connections).
pub(crate) fn start<F, T, B>(
    listener: std::net::TcpListener,
    config: ListenerConfig,
    on_connect: OnConnect,
    make_app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let builder = ServerBuilder::default()
        .workers(config.workers)
        // actix counts connections per worker.
        .max_concurrent_connections(config.max_connections.div_ceil(config.workers))
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout_secs);
    let stopping = builder.graceful_shutdown_signal();
    let name = "switchboard";
    let builder = match config.tls.clone() {
        None => builder.listen(name, listener, move || {
            http_service!(config, make_app, on_connect, stopping).tcp()
        })?,
        Some(tls) => builder.listen(name, listener, move || {
            http_service!(config, make_app, on_connect, stopping).rustls_0_23(tls.clone())
        })?,
    };
    Ok(builder.run())
}
