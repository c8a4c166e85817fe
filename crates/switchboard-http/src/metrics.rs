//! `/metrics`: the daemon's metrics in Prometheus's text format, and the HTTP ones.
//!
//! Every crate records through the `metrics` facade; [`install`] puts the Prometheus recorder of
//! `metrics-exporter-prometheus` behind it once per process, and [`Scrape`] renders it (no
//! listener of the exporter's own: actix serves the text). `/metrics` is served on the main
//! listener behind Basic credentials, or, when the daemon has a metrics listener of its own,
//! there alone and without credentials ([`configure_listener`]), and the main listener answers
//! 404. [`record_requests`] counts every request by route template, never by its path: a path
//! holds SIDs. docs/operating.md, "Monitoring", lists every metric.

use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{get, web, HttpMessage, HttpRequest, HttpResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use switchboard_actors::Engine;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::twilio::error::ApiError;

pub use metrics_exporter_prometheus::PrometheusHandle;

/// Requests answered (counter; labels `route`, `method`, `status`).
pub const REQUESTS: &str = "switchboard_http_requests_total";
/// From a request's arrival to its answer's head (histogram; labels `route`, `method`).
pub const REQUEST_SECONDS: &str = "switchboard_http_request_duration_seconds";
/// WebSocket connections open now (gauge; label `kind`: [`SocketKind`]).
pub const WEBSOCKETS_OPEN: &str = "switchboard_websockets_open";
/// WebSocket connections accepted (counter).
pub const WEBSOCKETS_OPENED: &str = "switchboard_websockets_opened_total";

/// Connections cut to make room for a new one when the server was full (counter).
pub const CONNECTIONS_SHED: &str = "switchboard_connections_shed_total";
/// Connections refused before any request was read: their address held
/// `max_connections_per_ip` (counter).
pub const CONNECTIONS_REFUSED: &str = "switchboard_connections_refused_total";
/// Connections refused because the server held its ceiling and its lobby was full.
pub const CONNECTIONS_TURNED_AWAY: &str = "switchboard_connections_turned_away_total";

/// The route of a request no route took: its path is a stranger's and never becomes a label.
const UNMATCHED: &str = "unmatched";

/// Upper bounds of the buckets of every `_seconds` histogram: 100 µs (a flush on a fast disk)
/// to 10 s (a stalled disk, a slow webhook).
const SECONDS_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Upper bounds of the buckets of appends per flush: one to the thousands of a busy log.
const APPENDS_BUCKETS: [f64; 12] =
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0];

/// How often histograms' recent samples are folded into their buckets, which bounds what they
/// hold between scrapes (the exporter leaves this to whoever installs it without its listener).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder every crate's metrics go to, with its buckets.
fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(switchboard_actors::metrics::FLUSH_APPENDS.into()),
                &APPENDS_BUCKETS,
            )
        })
        .expect("the bucket lists are not empty")
}

/// Installs the process's metrics recorder, describes every metric, and keeps the histograms
/// folded. Once per process, before the log opens (what it records before is lost).
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = builder().install_recorder().map_err(|e| e.to_string())?;
    describe();
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("switchboard-metrics".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        })
        .map_err(|e| e.to_string())?;
    Ok(handle)
}

/// Every metric's help text and unit, and the zeros of the counters that have fixed labels.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    switchboard_actors::metrics::describe();
    describe_counter!(REQUESTS, Unit::Count, "HTTP requests by route template, method and status");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "HTTP request latency by route template");
    describe_gauge!(WEBSOCKETS_OPEN, Unit::Count, "WebSocket connections open");
    describe_counter!(WEBSOCKETS_OPENED, Unit::Count, "WebSocket connections accepted");
    describe_counter!(
        crate::rate::RATE_LIMITED,
        Unit::Count,
        "Requests refused by a rate limit, by the limit (credential, failed_auth, address, \
         failed_sign_in)"
    );
    for limit in ["credential", "failed_auth", "address", "failed_sign_in"] {
        metrics::counter!(crate::rate::RATE_LIMITED, "limit" => limit).increment(0);
    }
    describe_counter!(
        CONNECTIONS_SHED,
        Unit::Count,
        "Connections whose stalled request body was cut to admit a new connection when the \
         server held max_connections"
    );
    metrics::counter!(CONNECTIONS_SHED).increment(0);
    describe_counter!(
        CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections refused before any request was read: their address held \
         max_connections_per_ip"
    );
    metrics::counter!(CONNECTIONS_REFUSED).increment(0);
    describe_counter!(
        CONNECTIONS_TURNED_AWAY,
        Unit::Count,
        "Connections refused (503) without a whole request when the server held its ceiling of \
         connections and its lobby was full"
    );
    metrics::counter!(CONNECTIONS_TURNED_AWAY).increment(0);
    describe_counter!(
        crate::log_budget::LOG_LINES_SUPPRESSED,
        Unit::Count,
        "Log lines held back by their budget (a flood of refusals), by kind"
    );
    for kind in crate::log_budget::KINDS {
        metrics::counter!(crate::log_budget::LOG_LINES_SUPPRESSED, "kind" => kind).increment(0);
    }
    for kind in SocketKind::ALL {
        metrics::gauge!(WEBSOCKETS_OPEN, "kind" => kind.label()).set(0.0);
    }
    metrics::counter!(WEBSOCKETS_OPENED).increment(0);
}

/// What a scrape renders: the recorder, and the engine whose gauges are sampled then.
#[derive(Clone)]
pub struct Scrape {
    handle: PrometheusHandle,
    engine: Engine,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Scrape {
    pub fn new(handle: PrometheusHandle, engine: Engine) -> Scrape {
        Scrape { handle, engine }
    }

    /// The exposition: the sampled gauges set, then everything recorded, then the process's
    /// CPU and memory as Prometheus's own process collector names them.
    async fn render(&self) -> String {
        self.engine.operations().sample_metrics().await;
        let mut text = self.handle.render();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&process_metrics());
        text
    }

    async fn answer(&self) -> HttpResponse {
        HttpResponse::Ok().content_type(TEXT_FORMAT).body(self.render().await)
    }
}

/// Prometheus's text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The daemon's metrics in Prometheus's text format (docs/operating.md, "Monitoring"). Answers
/// 404 when the daemon serves them on a listener of their own (`metrics_listen`).
#[utoipa::path(
    tag = "Operations",
    operation_id = "Metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")),
)]
#[get("/metrics")]
pub(crate) async fn metrics_with_credentials(
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some(scrape) = request.app_data::<web::Data<Scrape>>() else {
        return Err(ApiError::not_found(request.path()));
    };
    crate::auth::authenticate(&request)?;
    Ok(scrape.answer().await)
}

/// The metrics on their own listener, which serves nothing else: no credentials, so it belongs
/// on an address only the monitoring system reaches.
#[utoipa::path(
    tag = "Operations",
    operation_id = "MetricsListener",
    security(()),
    responses((status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")),
)]
#[get("/metrics")]
async fn listener_metrics(scrape: web::Data<Scrape>) -> HttpResponse {
    scrape.answer().await
}

/// The whole app of a metrics listener: `/metrics`, and 404 for anything else.
pub fn configure_listener(cfg: &mut web::ServiceConfig, scrape: Scrape) {
    cfg.app_data(web::Data::new(scrape));
    ServiceConfig::new(cfg).service(listener_metrics);
    cfg.default_service(web::to(crate::openapi::unrouted));
}

/// Makes `/metrics` on the main listener answer (behind Basic credentials): register on its app
/// unless the metrics have a listener of their own.
pub fn serve_on_main_listener(cfg: &mut web::ServiceConfig, scrape: Scrape) {
    cfg.app_data(web::Data::new(scrape));
}

/// Middleware: counts every request and its latency by route template, method and status
/// class. Wrap it outermost, so it sees the answer as sent (errors reshaped included):
/// `.wrap(actix_web::middleware::from_fn(switchboard_http::metrics::record_requests))`.
pub async fn record_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = Instant::now();
    let method = method_label(request.method());
    let answer = next.call(request).await;
    let (status, route) = answered(&answer);
    metrics::histogram!(REQUEST_SECONDS, "route" => route.clone(), "method" => method)
        .record(began.elapsed().as_secs_f64());
    let status = status_class(status);
    metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    answer
}

/// The status of an answer and the template of the route that gave it, for a label.
pub(crate) fn answered<B>(
    answer: &Result<ServiceResponse<B>, actix_web::Error>,
) -> (StatusCode, String) {
    match answer {
        Ok(response) => (response.status(), route_label(response.request())),
        // A middleware's refusal, before routing: no route gave it.
        Err(error) => (error.as_response_error().status_code(), UNMATCHED.to_owned()),
    }
}

/// The template of the route that answered (`/chat/v2/Services/{service}`), else of the
/// documented path the request asked for (answered before routing, by a rate limit say, or by
/// `unrouted`, which leaves what it found); never the path itself. Read once routed:
/// before, actix can only find it by trying every route's regex, and does not look past the
/// first group of routes (`crate::route_shapes`); only a request no route took pays for a look
/// through the document.
pub(crate) fn route_label(request: &HttpRequest) -> String {
    if let Some(matched) = request.match_pattern() {
        return matched;
    }
    if let Some(looked) = request.extensions().get::<DocumentedPath>() {
        return looked.0.clone().unwrap_or_else(|| UNMATCHED.to_owned());
    }
    let served = request.app_data::<web::Data<crate::openapi::Served>>();
    let documented = served.and_then(|served| served.documented(request.path()));
    documented.and_then(|(path, _)| path.pattern()).unwrap_or(UNMATCHED).to_owned()
}

/// The documented path template of a request no route took (`None`: none matches its path),
/// left by `unrouted` for [`route_label`].
#[derive(Debug, Clone)]
pub(crate) struct DocumentedPath(pub(crate) Option<String>);

/// A method as a label: the standard ones by name, anything a client made up as `other`.
pub(crate) fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 7] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

/// `2xx`, `4xx`…: the class, which is what alerts are about, with five values at most.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Who holds a WebSocket, as its access token says: a label with four values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketKind {
    /// Open, its token not given yet (it has 10 seconds to send it in a first frame).
    Unauthenticated,
    /// A Chat client's token (the SDKs, custom clients).
    Chat,
    /// A token with a TaskRouter grant: an agent's console, a worker's client.
    Worker,
    /// A web chat visitor's token for one channel (the widget).
    Visitor,
}

impl SocketKind {
    const ALL: [SocketKind; 4] =
        [SocketKind::Unauthenticated, SocketKind::Chat, SocketKind::Worker, SocketKind::Visitor];

    pub(crate) fn of(peer: &crate::ws::Peer) -> SocketKind {
        if peer.channel_sid.is_some() {
            SocketKind::Visitor
        } else if peer.worker.is_some() {
            SocketKind::Worker
        } else {
            SocketKind::Chat
        }
    }

    fn label(self) -> &'static str {
        match self {
            SocketKind::Unauthenticated => "unauthenticated",
            SocketKind::Chat => "chat",
            SocketKind::Worker => "worker",
            SocketKind::Visitor => "visitor",
        }
    }
}

/// One open WebSocket, counted in [`WEBSOCKETS_OPEN`] under its kind while it lives.
#[derive(Debug)]
pub(crate) struct OpenWebSocket(SocketKind);

impl OpenWebSocket {
    /// Counted as unauthenticated until [`OpenWebSocket::is`] says whose it is.
    pub(crate) fn new() -> OpenWebSocket {
        metrics::gauge!(WEBSOCKETS_OPEN, "kind" => SocketKind::Unauthenticated.label())
            .increment(1.0);
        metrics::counter!(WEBSOCKETS_OPENED).increment(1);
        OpenWebSocket(SocketKind::Unauthenticated)
    }

    /// Moves the socket to the count of `kind`.
    pub(crate) fn is(&mut self, kind: SocketKind) {
        metrics::gauge!(WEBSOCKETS_OPEN, "kind" => self.0.label()).decrement(1.0);
        metrics::gauge!(WEBSOCKETS_OPEN, "kind" => kind.label()).increment(1.0);
        self.0 = kind;
    }
}

impl Drop for OpenWebSocket {
    fn drop(&mut self) {
        metrics::gauge!(WEBSOCKETS_OPEN, "kind" => self.0.label()).decrement(1.0);
    }
}

/// The process's CPU time and resident memory, read from `/proc` now, in the text format with
/// the names of Prometheus's process collector. Empty where `/proc` cannot be read.
fn process_metrics() -> String {
    let mut text = String::new();
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    if let Some(seconds) = stat.as_deref().and_then(cpu_seconds) {
        text.push_str(&format!(
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
             # TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {seconds}\n"
        ));
    }
    let status = std::fs::read_to_string("/proc/self/status").ok();
    if let Some(bytes) = status.as_deref().and_then(resident_bytes) {
        text.push_str(&format!(
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {bytes}\n"
        ));
    }
    text
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times: `USER_HZ`, which Linux fixes at 100
/// for user space on every architecture (Prometheus's procfs library assumes the same).
const USER_HZ: f64 = 100.0;

/// User plus system CPU seconds from `/proc/self/stat` (fields 14 and 15, counted after the
/// command name, which may hold spaces and parentheses: it ends at the last `)`).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // Field 3 (the state) is the first after the name.
    let mut fields = after_name.split_whitespace().skip(14 - 3);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

/// `VmRSS` of `/proc/self/status`, in bytes (the file says kB, meaning KiB).
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as atest, App};

    #[test]
    fn cpu_time_is_read_after_the_last_parenthesis_of_the_name() {
        // A command name with a space and a parenthesis, then fields 3 to 17.
        let stat = "4242 (switch) board) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        assert_eq!(cpu_seconds("4242 (cut short) S 1"), None);
    }

    #[test]
    fn resident_memory_is_vm_rss_in_bytes() {
        let status = "Name:\tswitchboard\nVmPeak:\t  900000 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(resident_bytes(status), Some(20480 * 1024));
        assert_eq!(resident_bytes("Name:\tswitchboard\n"), None);
    }

    #[test]
    fn this_process_has_cpu_time_and_resident_memory() {
        let text = process_metrics();
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
        let rss = text
            .lines()
            .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
            .and_then(|value| value.parse::<u64>().ok());
        assert!(rss.is_some_and(|bytes| bytes > 1024 * 1024), "{text}");
    }

    #[test]
    fn methods_and_statuses_become_a_few_fixed_labels() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }

    /// Requests are counted by the template of their route, and a path no route takes by none.
    #[actix_rt::test]
    async fn requests_are_counted_by_route_template_never_by_path() {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        // The test runs on this one thread: the recorder stays its default throughout.
        let _local = metrics::set_default_local_recorder(&recorder);
        let app = atest::init_service(
            App::new()
                .wrap(actix_web::middleware::from_fn(record_requests))
                .service(web::resource("/things/{thing}").to(HttpResponse::Ok))
                .default_service(web::to(HttpResponse::NotFound)),
        )
        .await;
        for uri in ["/things/IS0123456789", "/things/+14155550101", "/nothing/IS0123456789"] {
            atest::call_service(&app, atest::TestRequest::get().uri(uri).to_request()).await;
        }
        let text = handle.render();
        assert!(
            text.contains(
                "switchboard_http_requests_total{route=\"/things/{thing}\",method=\"GET\",\
                 status=\"2xx\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "switchboard_http_requests_total{route=\"unmatched\",method=\"GET\",\
                 status=\"4xx\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "switchboard_http_request_duration_seconds_count{route=\"/things/{thing}\",\
                 method=\"GET\"} 2"
            ),
            "{text}"
        );
        for secret in ["IS0123456789", "14155550101", "/nothing"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
    }
}
