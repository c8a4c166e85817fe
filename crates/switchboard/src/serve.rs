//! `switchboard serve`: the daemon. For now it opens the log (creating a development key on
//! first start) and answers health checks; the actors and the APIs come with the daemon issue.

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use switchboard_crypto::KeySource;
use switchboard_store::EventLog;

use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (key, source) = args.data.master_key(true)?;
    match &source {
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
    let log = EventLog::open(args.data.store_config(), key)
        .map_err(|e| crate::cli::explain_open_error(e, &args.data.data_dir))?;
    let log = Arc::new(log);
    tracing::info!(listen = %args.listen, data_dir = %args.data.data_dir.display(), "switchboard serving");
    let state = web::Data::from(Arc::clone(&log));
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/healthz", web::get().to(|| async { HttpResponse::Ok().body("ok") }))
                .route("/readyz", web::get().to(ready))
        })
        .disable_signals()
        .bind(&args.listen)
        .with_context(|| format!("listening on {}", args.listen))?;
        let addrs = server.addrs();
        let server = server.run();
        // Signal handlers are in place before the address is announced, so a supervisor that
        // stops the daemon right after it starts still gets a clean stop.
        stop_on_signal(server.handle())?;
        // One line on stdout names the bound address, so scripts and tests can use port 0.
        for addr in addrs {
            println!("switchboard listening on http://{addr}");
        }
        server.await.context("HTTP server")
    })?;
    // actix stops on SIGTERM/SIGINT after in-flight requests finish; then flush what is left.
    log.flush()?;
    tracing::info!("switchboard stopped cleanly");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT: stop accepting, let in-flight requests finish, then return from `run`.
fn stop_on_signal(handle: actix_web::dev::ServerHandle) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    actix_web::rt::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
        handle.stop(true).await;
    });
    Ok(())
}

async fn ready(log: web::Data<EventLog>) -> HttpResponse {
    match log.check_ready() {
        Ok(_) => HttpResponse::Ok().body("ready"),
        Err(error) => {
            HttpResponse::ServiceUnavailable().body(format!("store unavailable: {error}"))
        }
    }
}
