//! `switchboard serve`: the daemon. Opens the log (making a development key on a first start
//! with none given), resolves credentials, starts the actor engine and the HTTP server, and on
//! SIGTERM or SIGINT stops accepting, closes every WebSocket, lets in-flight requests finish,
//! flushes, and exits 0 within a few seconds whatever its peers do.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};

use crate::listener::ListenerConfig;
use anyhow::Context;
use switchboard_actors::{Engine, EngineConfig, Sandbox, SystemClock};
use switchboard_crypto::{KeySource, MasterKey};
use switchboard_http::metrics::{PrometheusHandle, Scrape};
use switchboard_http::state::{AppState, Secret};
use switchboard_store::{EventLog, OpenOptions};

use crate::cli::DEV_KEY_FILE;
use crate::config::{ServeArgs, Settings};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve()?;
    let log_control = crate::logging::init_for_daemon(&settings.logging)?;
    // Before the log opens: what is recorded before a recorder is installed is lost.
    let metrics = switchboard_http::metrics::install()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    crate::memory::apply(settings.huge_pages);
    let open_files = crate::descriptors::raise_limit();
    if let Some(limit) = open_files {
        tracing::debug!(limit, "open-file limit");
        // Every connection up to the ceiling takes a descriptor, shed or not.
        let ceiling = settings.limits.connection_ceiling();
        let needed = ceiling as u64 + 256;
        if limit < needed {
            tracing::warn!(
                open_files = limit,
                max_connections = settings.limits.max_connections,
                connection_ceiling = ceiling,
                "the open-file limit leaves no room for max_connections and a tenth more: lower \
                 max_connections or raise the limit (systemd: LimitNOFILE=)"
            );
        }
    }
    let (key, source) = settings.data.master_key(true)?;
    warn_about_key(&source);
    let options =
        OpenOptions { accept_loss_at: settings.accept_data_loss.then(crate::timefmt::now) };
    let log = EventLog::open_with(settings.data.store_config(), key.clone(), &options)
        .map_err(|e| crate::cli::explain_open_error(e, &settings.data.dir()))?;
    let log = Arc::new(log);
    let credentials = crate::credentials::resolve(&log, &settings)?;
    let start = Start::decide(&log, &settings, (key, &source), open_files)?;
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    actix_web::rt::System::new().block_on(serve(
        Arc::clone(&log),
        credentials,
        settings,
        start,
        scheme,
        metrics,
        log_control,
    ))?;
    log.mark_clean()?;
    tracing::info!("switchboard stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// What a start decided besides the settings: the key, the sandbox, and what the tools are told.
struct Start {
    key: MasterKey,
    development_key: bool,
    folder_credentials: crate::access::FolderCredentials,
    meta_app_secret: Option<Secret>,
    sandbox: Option<Arc<Sandbox>>,
    /// The open-file limit in force, which sizes the lobby.
    open_files: Option<u64>,
}

impl Start {
    fn decide(
        log: &EventLog,
        settings: &Settings,
        (key, source): (MasterKey, &KeySource),
        open_files: Option<u64>,
    ) -> anyhow::Result<Start> {
        let sandbox = (!settings.upstream_configured()).then(|| Arc::new(Sandbox::new()));
        // A sandboxed daemon checks Meta's webhooks with a development secret unless given one,
        // so that `switchboard dev whatsapp` and `dev messenger` can sign theirs.
        let meta_app_secret = match (&settings.meta_app_secret, &sandbox) {
            (Some(secret), _) => Some(Secret::new(secret.clone())),
            (None, Some(_)) => Some(crate::credentials::development_meta_app_secret(log)?),
            (None, None) => None,
        };
        let folder_credentials =
            crate::credentials::kept_in_folder(log, settings, meta_app_secret.as_ref())?;
        Ok(Start {
            key,
            development_key: is_development_key(source),
            folder_credentials,
            meta_app_secret,
            sandbox,
            open_files,
        })
    }
}

async fn serve(
    log: Arc<EventLog>,
    credentials: switchboard_http::state::Credentials,
    settings: Settings,
    start: Start,
    scheme: &str,
    metrics: PrometheusHandle,
    log_control: switchboard_http::logging::LogControl,
) -> anyhow::Result<()> {
    // Bound first: the public URL, which the engine's status callback is built on, may name the
    // port the system chose.
    let listener =
        listen(&settings.listen).with_context(|| format!("listening on {}", settings.listen))?;
    let bound = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{bound}"))
        .trim_end_matches('/')
        .to_owned();
    let config = EngineConfig {
        janitor_window: settings.janitor_inactive_after,
        janitor_tick: (settings.janitor_inactive_after / 4)
            .clamp(std::time::Duration::from_millis(100), std::time::Duration::from_secs(30)),
        hibernate_after: settings.hibernate_after,
        outbox: switchboard_actors::OutboxConfig {
            signing_key: credentials.auth_token.expose().to_owned(),
            public_url: public_url.clone(),
            account_sid: credentials.account_sid.to_string(),
            retry_base: settings.outbox_retry_base,
            reply_retries: settings.reply_retries,
            // A sandboxed daemon's Twilio account is one it made: it goes nowhere, not even
            // with a media fetch.
            twilio: start
                .sandbox
                .is_none()
                .then(|| twilio_api(&settings, &credentials, &public_url)),
            graph: Some(graph_api(&settings)),
            outbound: settings.outbound.clone(),
            sandbox: start.sandbox.clone(),
            ..switchboard_actors::OutboxConfig::default()
        },
        media: switchboard_actors::MediaConfig {
            max_bytes: settings.media_max_bytes,
            ..switchboard_actors::MediaConfig::default()
        },
        ..EngineConfig::default()
    };
    let engine =
        Engine::start(log, Arc::new(SystemClock), config).context("starting the engine")?;
    if settings.first_start_defaults {
        crate::first_start::make_defaults(&engine).await?;
        let account = credentials.account_sid;
        crate::first_start::make_first_admin(&engine, account, &public_url).await?;
    }
    let meta = switchboard_http::state::MetaConfig {
        verify_token: settings.meta_verify_token.clone().map(Secret::new),
        app_secret: start.meta_app_secret.clone(),
    };
    let state = AppState {
        engine,
        credentials,
        meta,
        public_url: public_url.clone(),
        realtime: settings.realtime,
        webchat: switchboard_http::Webchat::new(settings.webchat),
        rate: switchboard_http::RateLimits::new(settings.rate),
        sessions: switchboard_http::Sessions,
    };
    let engine = state.engine.clone();
    let scrape = Scrape::new(metrics, engine.clone());
    let metrics_server = metrics_listener(settings.metrics_listen.as_deref(), &scrape)?;
    let metrics_on_main = metrics_server.is_none();
    let limits = settings.limits;
    let access_log = settings.logging.access_log;
    let room = ConnectionRoom::within(&limits, start.open_files);
    tracing::debug!(lobby = room.lobby, accept_cap = room.accept_cap, "connections");
    let connections = switchboard_http::limits::ConnectionCounter::for_limits(&limits, room.lobby);
    let stalled_bodies = connections.stalled_bodies();
    let owing = std::sync::Arc::clone(&connections);
    actix_web::rt::spawn(async move {
        let mut every = tokio::time::interval(SHED_OWED_EVERY);
        loop {
            every.tick().await;
            owing.shed_owed();
        }
    });
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let keep_alive = match limits.keep_alive {
        idle if idle.is_zero() => actix_web::http::KeepAlive::Disabled,
        idle => actix_web::http::KeepAlive::Timeout(idle),
    };
    let config = ListenerConfig {
        workers,
        accept_cap: room.accept_cap,
        keep_alive,
        header_read_timeout: limits.header_read_timeout,
        shutdown_timeout_secs: SHUTDOWN_TIMEOUT_SECS,
        tls: match &settings.tls {
            Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
            None => None,
        },
    };
    let counted = Arc::clone(&connections);
    let on_connect: crate::listener::OnConnect = Arc::new(move |connection, data| {
        // Refused here if its address holds too many; otherwise counted (shedding a stalled one
        // when the server is full) and prepared (TCP_NODELAY).
        counted.on_connect(connection, data);
        switchboard_http::on_connect(connection, data);
    });
    let server = crate::listener::start(listener, config, (connections, on_connect), move || {
        App::new()
            .app_data(switchboard_http::limits::BodyDeadline::from(limits))
            .app_data(std::sync::Arc::clone(&stalled_bodies))
            .wrap(switchboard_http::twilio::error::twilio_error_shape())
            .wrap(actix_web::middleware::from_fn(switchboard_http::rest_cause))
            // Inside the body deadline, so a refused request's unread body closes its
            // connection; its 429 is in Twilio's shape of itself.
            .wrap(actix_web::middleware::from_fn(switchboard_http::rate::limit_unauthenticated))
            .wrap(actix_web::middleware::from_fn(switchboard_http::limits::cut_slow_bodies))
            // Outside the error shaping: it sees every answer as sent.
            .wrap(actix_web::middleware::from_fn(switchboard_http::metrics::record_requests))
            .wrap(actix_web::middleware::Condition::new(
                access_log,
                actix_web::middleware::from_fn(switchboard_http::logging::access_log),
            ))
            // Outermost of all: every line logged for a request, by any of the above, carries
            // its id.
            .wrap(actix_web::middleware::from_fn(switchboard_http::logging::trace_requests))
            .configure(|cfg| {
                switchboard_http::configure(cfg, state.clone());
                switchboard_http::logging::serve_log_control(cfg, log_control.clone());
                if metrics_on_main {
                    switchboard_http::metrics::serve_on_main_listener(cfg, scrape.clone());
                }
            })
    })?;
    // Signal handlers are in place before the address is announced, so a supervisor that
    // stops the daemon right after it starts still gets a clean stop.
    stop_on_signal(server.handle(), engine.clone())?;
    let url = format!("{scheme}://{bound}");
    announce(&settings.data.dir(), &url, &public_url, start)?;
    // One line on stdout names the bound address, so scripts and tests can use port 0.
    println!("switchboard listening on {url}");
    server.await.context("HTTP server")?;
    if let Some((handle, task)) = metrics_server {
        handle.stop(true).await;
        let _ = task.await;
    }
    // Nothing comes in any more: the live channels write their snapshots before the log closes,
    // so the next start loads each from a recent one instead of replaying its tail.
    engine.operations().hibernate_all().await;
    Ok(())
}

/// How deep the main listener's queue of connections not yet accepted is: the kernel caps it at
/// `net.core.somaxconn` (4 096 by default since Linux 5.4). std's 128 fills in a moment when
/// thousands reconnect at once, and a SYN finding it full is retried only a second later.
const LISTEN_BACKLOG: i32 = 65_535;

/// Listens on `address` (the first of its resolutions that binds) with [`LISTEN_BACKLOG`].
fn listen(address: &str) -> std::io::Result<std::net::TcpListener> {
    let mut failed = None;
    for address in std::net::ToSocketAddrs::to_socket_addrs(address)? {
        let domain = socket2::Domain::for_address(address);
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None)?;
        // As std binds on Unix: a restarted daemon binds again while its old connections linger.
        socket.set_reuse_address(true)?;
        match socket.bind(&address.into()).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(()) => return Ok(socket.into()),
            Err(error) => failed = Some(error),
        }
    }
    Err(failed.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing")
    }))
}

/// Descriptors kept from connections: the log's files, connections to providers, the metrics
/// listener, whatever else the daemon opens.
const RESERVED_DESCRIPTORS: usize = 1024;

/// What the listener holds beyond the ceiling, within the open-file limit: the lobby's places,
/// and the most connections it accepts at all (the ceiling, the lobby, and a third of the lobby
/// more for whole requests served past the ceiling and refusals being sent).
#[derive(Debug, PartialEq, Eq)]
struct ConnectionRoom {
    lobby: usize,
    accept_cap: usize,
}

impl ConnectionRoom {
    fn within(limits: &switchboard_http::limits::ServerLimits, open_files: Option<u64>) -> Self {
        let ceiling = limits.connection_ceiling();
        let descriptors =
            open_files.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let spare = descriptors.saturating_sub(RESERVED_DESCRIPTORS).saturating_sub(ceiling);
        let lobby = (spare / 4 * 3).min(limits.max_connections);
        let accept_cap = ceiling.saturating_add(spare.min(lobby + lobby / 3 + 16));
        ConnectionRoom { lobby, accept_cap }
    }
}

/// The metrics' own listener when one is configured (`metrics_listen`): plain HTTP, one worker,
/// `/metrics` without credentials and nothing else. Announced on stdout like the main one.
fn metrics_listener(
    address: Option<&str>,
    scrape: &Scrape,
) -> anyhow::Result<Option<(ServerHandle, actix_web::rt::task::JoinHandle<std::io::Result<()>>)>> {
    let Some(address) = address else { return Ok(None) };
    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("listening for metrics on {address}"))?;
    let bound = listener.local_addr()?;
    let scrape = scrape.clone();
    let server = HttpServer::new(move || {
        App::new()
            .configure(|cfg| switchboard_http::metrics::configure_listener(cfg, scrape.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = actix_web::rt::spawn(server);
    tracing::info!(listen = %bound, "metrics served on their own listener, without credentials");
    println!("switchboard metrics on http://{bound}");
    Ok(Some((handle, task)))
}

/// Twilio's Messages API: the default upstream account, and the accounts of numbers listed in
/// the configuration. Twilio reports delivery statuses to our status webhook.
fn twilio_api(
    settings: &Settings,
    credentials: &switchboard_http::state::Credentials,
    public_url: &str,
) -> switchboard_actors::TwilioApi {
    let numbers = settings
        .twilio_numbers
        .iter()
        .map(|n| {
            let account = switchboard_actors::TwilioAccount {
                account_sid: n.account_sid.clone(),
                auth_token: n.auth_token.clone(),
            };
            (n.number.clone(), account)
        })
        .collect();
    switchboard_actors::TwilioApi {
        base_url: settings.twilio_api_base.clone(),
        account_sid: credentials.twilio_account_sid.to_string(),
        auth_token: credentials.twilio_auth_token.expose().to_owned(),
        numbers,
        status_callback: Some(format!("{public_url}{}", switchboard_http::TWILIO_STATUS_PATH)),
    }
}

/// Meta's Graph API, with the access token of each WhatsApp number and Messenger page.
fn graph_api(settings: &Settings) -> switchboard_actors::GraphApi {
    switchboard_actors::GraphApi {
        base_url: settings.graph_api_base.clone(),
        media_origin: settings.whatsapp_media_origin.clone(),
        whatsapp_tokens: settings
            .whatsapp_numbers
            .iter()
            .map(|n| (n.phone_number_id.clone(), n.access_token.clone()))
            .collect(),
        whatsapp_default: settings.whatsapp_token.clone(),
        messenger_tokens: settings
            .messenger_pages
            .iter()
            .map(|p| (p.page_id.clone(), p.access_token.clone()))
            .collect(),
        messenger_default: settings.messenger_page_token.clone(),
    }
}

/// Tells the tools where the daemon is (`access`), the log that it serves, and a person the
/// rest (the banner).
fn announce(
    dir: &std::path::Path,
    url: &str,
    public_url: &str,
    start: Start,
) -> anyhow::Result<()> {
    let sandboxed = start.sandbox.is_some();
    let access = crate::access::DaemonAccess {
        pid: std::process::id(),
        url: url.to_owned(),
        public_url: public_url.to_owned(),
        sandbox: sandboxed,
        credentials: start.folder_credentials,
    };
    crate::access::write(dir, &start.key, &access)?;
    // The banner's facts as one plain line, for a log read by a program or a person later.
    tracing::info!(
        listen = %url,
        %public_url,
        data_dir = %dir.display(),
        development_key = start.development_key,
        sandbox = sandboxed,
        demo_page = %format!("{public_url}/"),
        "switchboard serving"
    );
    if sandboxed {
        tracing::warn!(
            "SANDBOX: no upstream provider credentials are configured; every reply to a customer \
             goes to the local sandbox, never to a provider"
        );
    }
    // The banner is for a person at a terminal; a journal or a file has the line above.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprint!("{}", banner(url, public_url, dir, start.development_key, sandboxed));
    }
    Ok(())
}

/// What a person starting the daemon needs to know first, on a few lines of stderr (a terminal).
fn banner(
    url: &str,
    public_url: &str,
    dir: &std::path::Path,
    development_key: bool,
    sandbox: bool,
) -> String {
    let key = if development_key {
        format!(
            "a DEVELOPMENT key, kept in {}: not for production",
            dir.join(DEV_KEY_FILE).display()
        )
    } else {
        "given (environment or key file)".to_owned()
    };
    let replies = if sandbox {
        "SANDBOX: no provider credentials, replies stay here (switchboard dev sandbox)"
    } else {
        "to the providers configured"
    };
    format!(
        "switchboard {version} (commit {commit})\n\
         \x20 listening on   {url}\n\
         \x20 public URL     {public_url}  (webhook signatures are checked against it)\n\
         \x20 data folder    {dir}\n\
         \x20 master key     {key}\n\
         \x20 replies        {replies}\n\
         \x20 demo page      {public_url}/  (a web chat to try it from a browser)\n\
         \x20 first message  switchboard dev sms --from +15551234567 --body \"hi\"  (with an \
         enabled sms Flex Flow: README, quick start)\n",
        version = env!("CARGO_PKG_VERSION"),
        commit = crate::version::COMMIT,
        dir = dir.display(),
    )
}

fn is_development_key(source: &KeySource) -> bool {
    match source {
        KeySource::GeneratedDevelopmentKey(_) => true,
        KeySource::File(path) => path.ends_with(DEV_KEY_FILE),
        _ => false,
    }
}

fn warn_about_key(source: &KeySource) {
    match source {
        KeySource::GeneratedDevelopmentKey(path) => tracing::warn!(
            path,
            "created a DEVELOPMENT master key in the data folder: anyone who can read the folder \
             can read the data; set SWITCHBOARD_MASTER_KEY or --master-key-file in production"
        ),
        KeySource::File(path) if path.ends_with(crate::cli::DEV_KEY_FILE) => {
            tracing::warn!(path, "using the development master key kept in the data folder")
        }
        _ => {}
    }
}

/// How often connections admitted past max_connections shed the stalled bodies they could not
/// shed when they came: what a newcomer waits at most once a body is stalled enough.
const SHED_OWED_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// How long requests in flight have to finish once the daemon stops; whatever is still open then
/// is dropped. WebSockets are told to close at once and dropped after a second
/// (`switchboard_http`'s `CLOSE_GRACE`), so they never hold a stop up; in-flight writes take
/// milliseconds.
const SHUTDOWN_TIMEOUT_SECS: u64 = 3;

/// SIGTERM or SIGINT: stop accepting, close every WebSocket, let in-flight requests finish, then
/// return from `serve`.
fn stop_on_signal(handle: actix_web::dev::ServerHandle, engine: Engine) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
        engine.hub().close_all();
        handle.stop(true).await;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_http::limits::ServerLimits;

    #[test]
    fn the_lobby_takes_what_the_open_file_limit_leaves_and_no_more() {
        let limits = ServerLimits::default();
        // 20 000 descriptors: 11 000 for the ceiling, 1 024 kept, 7 976 spare.
        let room = ConnectionRoom::within(&limits, Some(20_000));
        assert_eq!(room, ConnectionRoom { lobby: 5_982, accept_cap: 18_976 });
        // Plenty: a lobby as large as max_connections.
        let room = ConnectionRoom::within(&limits, Some(1 << 20));
        assert_eq!(room, ConnectionRoom { lobby: 10_000, accept_cap: 11_000 + 13_349 });
        // Too few for the ceiling: no lobby, and the listener stops at the ceiling.
        let room = ConnectionRoom::within(&limits, Some(4_096));
        assert_eq!(room, ConnectionRoom { lobby: 0, accept_cap: 11_000 });
        assert_eq!(ConnectionRoom::within(&limits, None).lobby, 10_000);
    }

    #[test]
    fn the_listener_queue_is_deeper_than_std_makes_it() {
        let listener = listen("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        // Past std's 128 and none accepted: each connects (the kernel's queue takes it), where a
        // full queue would drop their SYNs until they gave up.
        const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
        let connected: Vec<_> = (0..300)
            .map(|_| std::net::TcpStream::connect_timeout(&address, LIMIT).unwrap())
            .collect();
        assert_eq!(connected.len(), 300);
        assert!(listen("not an address").is_err());
    }
}
