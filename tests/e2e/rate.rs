//! Rate limits through the real daemon, set small through its environment: a credential past its
//! budget gets 429 (20429, `Retry-After`) while another credential is served and a stranger
//! claiming a credential cannot spend its budget; an address past its failed authentications is
//! refused before its credentials are checked, REST and WebSocket alike, until its budget
//! refills (an access token that merely expired is no failure); requests without credentials are limited per address; signed provider webhooks are
//! not; and every refusal is counted by the limit that refused it.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::support::api::{
    basic, daemon_command, token, ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID, AUTH_TOKEN,
};
use crate::support::Daemon;

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Daemon) {
    let temp = tempfile::tempdir().unwrap();
    let mut command = daemon_command(&temp.path().join("data"));
    command.env("SWITCHBOARD_DURABILITY", "flush");
    for (name, value) in extra {
        command.env(name, value);
    }
    (temp, Daemon::start(command))
}

/// An answer with what these tests look at: its status, `Retry-After`, and its body.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    /// Asserts a 429 in Twilio's shape with a `Retry-After` of whole seconds, at least one;
    /// returns those seconds.
    #[track_caller]
    fn assert_too_many(&self) -> u64 {
        assert_eq!(self.status, 429, "{self:?}");
        let body: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        assert_eq!(body["code"], 20429, "{body}");
        assert_eq!(body["status"], 429, "{body}");
        assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/20429", "{body}");
        let retry_after = self.retry_after.as_deref().expect("a Retry-After header");
        let seconds: u64 = retry_after.parse().expect("whole seconds");
        assert!(seconds >= 1, "Retry-After {seconds}");
        seconds
    }
}

fn get(daemon: &Daemon, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = ureq::get(&daemon.url(path));
    if let Some(authorization) = authorization {
        request = request.set("Authorization", authorization);
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("request failed: {error}"),
    };
    let status = response.status();
    let retry_after = response.header("Retry-After").map(str::to_owned);
    Answer { status, retry_after, body: response.into_string().unwrap_or_default() }
}

fn basic_of(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

/// Requests `path` with `authorization` until one is refused; the refusal (at most `bound` tries).
fn until_refused(daemon: &Daemon, path: &str, authorization: Option<&str>, bound: usize) -> Answer {
    for _ in 0..bound {
        let answer = get(daemon, path, authorization);
        if answer.status == 429 {
            return answer;
        }
        assert!(answer.status < 400, "{answer:?}");
    }
    panic!("{bound} requests to {path} and none refused");
}

/// The value of `switchboard_rate_limited_total{limit}` in a scrape (behind `authorization`,
/// which spends a request of that credential's budget).
fn refusals(daemon: &Daemon, limit: &str, authorization: &str) -> f64 {
    let scrape = get(daemon, "/metrics", Some(authorization));
    assert_eq!(scrape.status, 200, "{scrape:?}");
    let series = format!("switchboard_rate_limited_total{{limit=\"{limit}\"}} ");
    let line = scrape.body.lines().find(|line| line.starts_with(&series));
    line.unwrap_or_else(|| panic!("no {series} in\n{}", scrape.body))[series.len()..]
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_credential_past_its_budget_gets_429_while_another_is_served() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_RATE_CREDENTIAL_PER_SECOND", "1"),
        ("SWITCHBOARD_RATE_CREDENTIAL_BURST", "3"),
    ]);
    let api_key = basic_of(API_KEY_SID, API_KEY_SECRET);
    // A stranger claiming the API key with a wrong secret spends nothing of its budget.
    for _ in 0..6 {
        let claimed = get(&daemon, "/chat/v2/Services", Some(&basic_of(API_KEY_SID, "guess")));
        assert_eq!(claimed.status, 401, "{claimed:?}");
    }
    let refused = until_refused(&daemon, "/chat/v2/Services", Some(&basic()), 30);
    refused.assert_too_many();
    assert!(refused.body.contains("credential"), "{}", refused.body);
    for n in 0..2 {
        let served = get(&daemon, "/chat/v2/Services", Some(&api_key));
        assert_eq!(served.status, 200, "request {n} of the API key's burst: {served:?}");
    }
    // The burst's third.
    assert!(refusals(&daemon, "credential", &api_key) >= 1.0);
}

#[test]
fn an_address_past_its_failed_authentications_is_refused_before_its_credentials_are_checked() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE", "60"),
        ("SWITCHBOARD_RATE_FAILED_AUTH_BURST", "20"),
    ]);
    let wrong = basic_of(ACCOUNT_SID, "not-the-token");
    for n in 0..20 {
        let answer = get(&daemon, "/chat/v2/Services", Some(&wrong));
        assert_eq!(answer.status, 401, "wrong password {n}: {answer:?}");
    }
    get(&daemon, "/chat/v2/Services", Some(&wrong)).assert_too_many();
    let right = basic_of(ACCOUNT_SID, AUTH_TOKEN);
    let refused = get(&daemon, "/chat/v2/Services", Some(&right));
    let wait = refused.assert_too_many();
    // Access tokens go through the same gate: a valid one is refused too.
    assert_eq!(refused_upgrade(&daemon, &token("alice", "1h")), 429);
    // After the refill (one failure a second here), the right credentials are checked again.
    std::thread::sleep(Duration::from_secs(wait));
    let mut accepted = get(&daemon, "/chat/v2/Services", Some(&right));
    for _ in 0..8 {
        if accepted.status != 429 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        accepted = get(&daemon, "/chat/v2/Services", Some(&right));
    }
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert!(refusals(&daemon, "failed_auth", &right) >= 3.0);
}

#[test]
fn requests_without_credentials_are_limited_per_address_and_signed_webhooks_are_not() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_RATE_ADDRESS_PER_SECOND", "1"),
        ("SWITCHBOARD_RATE_ADDRESS_BURST", "5"),
    ]);
    let (_service, _flow) = daemon.sms_flow(false);
    until_refused(&daemon, "/healthz", None, 30).assert_too_many();
    get(&daemon, "/openapi.json", None).assert_too_many();
    // Credentials /healthz never checks do not lift the limit.
    get(&daemon, "/healthz", Some(&basic())).assert_too_many();
    for n in 0..10 {
        let sid = format!("SM{n:032x}");
        let webhook = daemon.sms("+15551230001", &format!("hello {n}"), &sid);
        assert_eq!(webhook.status, 200, "signed webhook {n}: {}", webhook.body);
    }
    get(&daemon, "/healthz", None).assert_too_many();
    // REST with credentials is counted by its credential, not here.
    assert_eq!(get(&daemon, "/chat/v2/Services", Some(&basic())).status, 200);
    assert!(refusals(&daemon, "address", &basic()) >= 4.0);
    // Refused before routing, yet counted under the route asked for.
    let scrape = get(&daemon, "/metrics", Some(&basic()));
    let series =
        "switchboard_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"4xx\"} ";
    let line = scrape.body.lines().find(|line| line.starts_with(series));
    let refused: f64 = line.unwrap_or_else(|| panic!("no {series} in\n{}", scrape.body))
        [series.len()..]
        .trim()
        .parse()
        .unwrap();
    assert!(refused >= 3.0, "{refused}");
}

/// The HTTP status a WebSocket upgrade with `token` is refused with.
fn refused_upgrade(daemon: &Daemon, token: &str) -> u16 {
    match daemon.websocket(Some(token)) {
        Err(error) => match *error {
            tungstenite::Error::Http(response) => response.status().as_u16(),
            other => panic!("not an HTTP refusal: {other}"),
        },
        Ok(_) => panic!("a WebSocket opened with a token that should be refused"),
    }
}

#[test]
fn expired_access_tokens_are_not_failed_authentications_but_forged_ones_are() {
    let (_temp, daemon) = start(&[
        ("SWITCHBOARD_RATE_FAILED_AUTH_PER_MINUTE", "1"),
        ("SWITCHBOARD_RATE_FAILED_AUTH_BURST", "2"),
    ]);
    let expired = token("alice", "1s");
    std::thread::sleep(Duration::from_millis(2_100));
    // A client late to refresh is not a guesser: three times the budget, still 401.
    for n in 0..6 {
        assert_eq!(refused_upgrade(&daemon, &expired), 401, "expired token {n}");
    }
    assert_eq!(get(&daemon, "/chat/v2/Services", Some(&basic())).status, 200);
    let forged = format!("{}x", token("alice", "1h"));
    assert_eq!(refused_upgrade(&daemon, &forged), 401);
    assert_eq!(refused_upgrade(&daemon, &forged), 401);
    assert_eq!(refused_upgrade(&daemon, &forged), 429, "past the budget of two");
}
