//! The main listener, built from actix-server and actix-http as actix-web's `HttpServer` builds
//! its own, with the one thing `HttpServer` does not expose: an HTTP/1.1 request asking for a
//! WebSocket (or a `CONNECT`) leaves actix-http's dispatcher, and its two 8 KiB buffers, for
//! switchboard-http's `take_over_upgraded`, so that an idle socket holds little more than its
//! connection (docs/BENCHMARKS.md, memory per idle socket). Every connection passes the lobby
//! first (`ConnectionCounter::enter`), so actix-server's own limit, which stops accepting, is
//! set far above the ceiling and the kernel's queue stays drained.

use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive};
use actix_server::{Server, ServerBuilder};
use actix_service::{
    fn_factory, fn_service, map_config, IntoServiceFactory, Service, ServiceFactory,
};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Extensions, ServiceRequest, ServiceResponse};
use actix_web::rt::net::TcpStream;
use actix_web::App;
use switchboard_http::limits::{ConnectionCounter, Entry};

/// How the listener serves connections (everything `HttpServer` was told before).
#[derive(Clone)]
pub(crate) struct ListenerConfig {
    pub workers: usize,
    /// The most connections open at once, over all workers, counting those in the lobby: past
    /// it the listener stops accepting (a last resort before the descriptors run out).
    pub accept_cap: usize,
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

/// `http` behind the lobby: each connection is served once `connections` lets it in
/// ([`ConnectionCounter::enter`]); `plain`: not TLS, so its request can be looked at. A connection
/// still waiting when the server stops is dropped.
fn behind_the_lobby<S>(
    http: S,
    connections: Arc<ConnectionCounter>,
    plain: bool,
    stopping: actix_server::GracefulShutdownSignal,
) -> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = S::Error, InitError = S::InitError>
where
    S: ServiceFactory<TcpStream, Config = (), Response = ()> + 'static,
{
    fn_factory(move || {
        let service = http.new_service(());
        let (connections, stopping) = (Arc::clone(&connections), stopping.clone());
        async move {
            let service = Rc::new(service.await?);
            Ok(fn_service(move |stream: TcpStream| {
                let service = Rc::clone(&service);
                let (connections, stopping) = (Arc::clone(&connections), stopping.clone());
                async move {
                    let entry = tokio::select! {
                        entry = connections.enter(&stream, plain) => entry,
                        () = stopping.notified() => Entry::Drop,
                    };
                    match entry {
                        Entry::Serve => service.call(stream).await,
                        Entry::Drop => Ok(()),
                    }
                }
            }))
        }
    })
}

/// Starts serving `listener` with the app `make_app` builds (once per worker, and once more per
/// worker for upgraded connections), each connection once `connections` lets it in.
pub(crate) fn start<F, T, B>(
    listener: std::net::TcpListener,
    config: ListenerConfig,
    (connections, on_connect): (Arc<ConnectionCounter>, OnConnect),
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
        .max_concurrent_connections(config.accept_cap.div_ceil(config.workers))
        .disable_signals()
        .shutdown_timeout(config.shutdown_timeout_secs);
    let stopping = builder.graceful_shutdown_signal();
    let name = "switchboard";
    let builder = match config.tls.clone() {
        None => builder.listen(name, listener, move || {
            let http = http_service!(config, make_app, on_connect, stopping).tcp();
            behind_the_lobby(http, Arc::clone(&connections), true, stopping.clone())
        })?,
        Some(tls) => builder.listen(name, listener, move || {
            let https =
                http_service!(config, make_app, on_connect, stopping).rustls_0_23(tls.clone());
            behind_the_lobby(https, Arc::clone(&connections), false, stopping.clone())
        })?,
    };
    Ok(builder.run())
}
