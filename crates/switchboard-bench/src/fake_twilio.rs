//! A stand-in for Twilio's Messages API on 127.0.0.1, for the benches whose daemon sends
//! replies: it accepts every message with an `SM…` SID of its own and keeps its body, or
//! answers 503 while told to fail (a provider outage).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

/// A stand-in for Twilio's Messages API on 127.0.0.1 that keeps the bodies it was sent, and
/// answers 503 while `failing`.
pub(crate) struct FakeTwilio {
    pub(crate) url: String,
    bodies: Arc<Mutex<Vec<String>>>,
    /// While set, every message is answered 503.
    pub(crate) failing: Arc<AtomicBool>,
}

impl FakeTwilio {
    pub(crate) fn start() -> anyhow::Result<FakeTwilio> {
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let failing = Arc::new(AtomicBool::new(false));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = web::Data::new((Arc::clone(&bodies), Arc::clone(&failing)));
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new().app_data(state.clone()).default_service(web::to(accept))
                })
                .workers(1)
                .listen(listener)
                .map(HttpServer::run);
                if let Ok(server) = server {
                    let _ = server.await;
                }
            });
        });
        Ok(FakeTwilio { url, bodies, failing })
    }

    /// The bodies of the messages accepted, in order.
    pub(crate) fn received(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// How many messages were accepted.
    pub(crate) fn sent(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }
}

type FakeState = (Arc<Mutex<Vec<String>>>, Arc<AtomicBool>);

async fn accept(
    state: web::Data<FakeState>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let (bodies, failing) = state.get_ref();
    if failing.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let mut bodies = bodies.lock().unwrap();
    bodies.push(form.get("Body").cloned().unwrap_or_default());
    let n = bodies.len();
    HttpResponse::Created().json(json!({"sid": format!("SM{n:032x}"), "status": "queued"}))
}
