//! `switchboard serve`: the daemon. Opens the log (making a development key on a first start
//! with none given), resolves credentials, starts the actor engine and the HTTP server, and on
//! SIGTERM or SIGINT stops accepting, closes every WebSocket, lets in-flight requests finish,
//! flushes, and exits 0 within a few seconds whatever its peers do.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use anyhow::Context;
use switchboard_actors::{Engine, EngineConfig, SystemClock};
use switchboard_crypto::KeySource;
use switchboard_http::state::{AppState, Secret};
use switchboard_store::EventLog;

use crate::config::{ServeArgs, Settings};

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.resolve()?;
    crate::memory::apply(settings.huge_pages);
    if let Some(limit) = crate::descriptors::raise_limit() {
        tracing::debug!(limit, "open-file limit (a WebSocket takes two)");
    }
    let (key, source) = settings.data.master_key(true)?;
    warn_about_key(&source);
    let log = EventLog::open(settings.data.store_config(), key)
        .map_err(|e| crate::cli::explain_open_error(e, &settings.data.dir()))?;
    let log = Arc::new(log);
    let credentials = crate::credentials::resolve(&log, &settings)?;
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    actix_web::rt::System::new().block_on(serve(
        Arc::clone(&log),
        credentials,
        settings,
        scheme,
    ))?;
    log.mark_clean()?;
    tracing::info!("switchboard stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    log: Arc<EventLog>,
    credentials: switchboard_http::state::Credentials,
    settings: Settings,
    scheme: &str,
) -> anyhow::Result<()> {
    // Bound first: the public URL, which the engine's status callback is built on, may name the
    // port the system chose.
    let listener = std::net::TcpListener::bind(&settings.listen)
        .with_context(|| format!("listening on {}", settings.listen))?;
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
            twilio: Some(twilio_api(&settings, &credentials, &public_url)),
            graph: Some(graph_api(&settings)),
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
    let meta = switchboard_http::state::MetaConfig {
        verify_token: settings.meta_verify_token.clone().map(Secret::new),
        app_secret: settings.meta_app_secret.clone().map(Secret::new),
    };
    let state = AppState {
        engine,
        credentials,
        meta,
        public_url: public_url.clone(),
        realtime: settings.realtime,
    };
    let engine = state.engine.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(switchboard_http::twilio::error::twilio_error_shape())
            .wrap(actix_web::middleware::from_fn(switchboard_http::rest_cause))
            .configure(|cfg| switchboard_http::configure(cfg, state.clone()))
    })
    .on_connect(switchboard_http::on_connect)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS);
    let server = match &settings.tls {
        Some((cert, key)) => {
            server.listen_rustls_0_23(listener, crate::tls::server_config(cert, key)?)?
        }
        None => server.listen(listener)?,
    };
    let server = server.run();
    // Signal handlers are in place before the address is announced, so a supervisor that
    // stops the daemon right after it starts still gets a clean stop.
    stop_on_signal(server.handle(), engine.clone())?;
    tracing::info!(listen = %bound, %public_url, "switchboard serving");
    // One line on stdout names the bound address, so scripts and tests can use port 0.
    println!("switchboard listening on {scheme}://{bound}");
    server.await.context("HTTP server")?;
    // Nothing comes in any more: the live channels write their snapshots before the log closes,
    // so the next start loads each from a recent one instead of replaying its tail.
    engine.hibernate_all().await;
    Ok(())
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
