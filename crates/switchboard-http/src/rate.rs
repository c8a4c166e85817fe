//! Rate limits on requests: per credential on REST, per address on failed authentications, and
//! per address on requests that carry no credentials ([`limit_unauthenticated`]). Each is a
//! keyed GCRA limiter of `governor` (a budget that refills at a steady rate, up to a burst), whose
//! table of keys is bounded ([`MAX_KEYS`]). Past a limit the answer is 429 (20429) with
//! `Retry-After`, and the refusal is counted in `switchboard_rate_limited_total`. docs/limits.md
//! lists the settings and their defaults.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, StateStore};
use governor::{Quota, RateLimiter};
use switchboard_domain::Sid;

use crate::state::AppState;
use crate::twilio::error::ApiError;

/// Refusals by the limit that refused (counter; label `limit`: `credential`, `failed_auth`,
/// `address`, `failed_sign_in`).
pub const RATE_LIMITED: &str = "switchboard_rate_limited_total";

/// The most keys (credentials or addresses) one limiter remembers. A key is forgotten once its
/// budget is full again (swept every [`PRUNE_EVERY`] checks); when the table is full of keys
/// still spending theirs, a new key is refused (429) until a sweep makes room, so a spray of
/// addresses costs a bounded table (about 100 bytes a key) and never the budgets of the
/// addresses already counted.
pub const MAX_KEYS: usize = 100_000;

/// Checks between two sweeps of the keys whose budget is full again.
const PRUNE_EVERY: u64 = 4_096;

/// The rate limits' settings (configuration: `rate_*`); a rate of 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// REST requests one credential (the account, or one API key) may make per second…
    pub credential_per_second: u32,
    /// …and at once after a pause.
    pub credential_burst: u32,
    /// Failed authentications one address may make per minute…
    pub failed_auth_per_minute: u32,
    /// …and at once.
    pub failed_auth_burst: u32,
    /// Requests without credentials one address may make per second…
    pub address_per_second: u32,
    /// …and at once.
    pub address_burst: u32,
}

impl Default for RateConfig {
    fn default() -> RateConfig {
        RateConfig {
            credential_per_second: 100,
            credential_burst: 200,
            failed_auth_per_minute: 20,
            failed_auth_burst: 20,
            address_per_second: 50,
            address_burst: 100,
        }
    }
}

/// The quota of a rate per `period`, with its burst (at least one; 0 takes the rate); `None`
/// for a rate of 0, no limit.
fn quota(rate: u32, burst: u32, period: Duration) -> Option<Quota> {
    let rate = NonZeroU32::new(rate)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    let per_cell = period / rate.get();
    Quota::with_period(per_cell.max(Duration::from_nanos(1))).map(|q| q.allow_burst(burst))
}

/// The quota of failed sign-ins per account (not a setting: the address limit is the one a
/// proxy may need to change).
fn sign_in_quota() -> Quota {
    quota(SIGN_IN_FAILURES_PER_HOUR, SIGN_IN_FAILURES_BURST, Duration::from_secs(3600))
        .expect("a rate above zero")
}

/// An address as a limit counts it: IPv4 (and IPv4-mapped IPv6) whole, IPv6 by its /64, the
/// block one host is usually given, so one host cannot spread its requests over 2^64 keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(IpAddr);

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> AddressKey {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                AddressKey(IpAddr::V6(prefix.into()))
            }
            v4 => AddressKey(v4),
        }
    }
}

/// governor's table of states, shared with the [`Limit`] that bounds it.
#[derive(Debug)]
struct SharedTable<K: Hash + Eq>(Arc<DashMap<K, InMemoryState>>);

impl<K: Hash + Eq + Clone> StateStore for SharedTable<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for SharedTable<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A refusal: how long until the key may try again, in whole seconds (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub retry_after_secs: u64,
}

impl Refused {
    fn after(wait: Duration) -> Refused {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Refused { retry_after_secs: secs.max(1) }
    }
}

/// Counts events and says when a sweep of a table is due: every `every` of them.
struct Sweeps {
    every: u64,
    count: AtomicU64,
}

impl Sweeps {
    fn every(every: u64) -> Sweeps {
        Sweeps { every: every.max(1), count: AtomicU64::new(0) }
    }

    fn due(&self) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed) % self.every == self.every - 1
    }
}

/// One keyed limit with a bounded table of keys.
struct Limit<K: Hash + Eq + Clone, C: Clock> {
    limiter: RateLimiter<K, SharedTable<K>, C, NoOpMiddleware<C::Instant>>,
    keys: Arc<DashMap<K, InMemoryState>>,
    max_keys: usize,
    sweeps: Sweeps,
    /// How long one request's worth of budget takes to refill: the wait of a new key at the cap.
    refill: Duration,
}

impl<K: Hash + Eq + Clone, C: Clock> Limit<K, C> {
    fn new(quota: Quota, clock: C, max_keys: usize) -> Limit<K, C> {
        let keys = Arc::new(DashMap::new());
        let limiter = RateLimiter::new(quota, SharedTable(Arc::clone(&keys)), clock);
        Limit {
            limiter,
            keys,
            max_keys,
            sweeps: Sweeps::every(PRUNE_EVERY.min(max_keys as u64)),
            refill: quota.replenish_interval(),
        }
    }

    /// The limit of `quota`, if there is one.
    fn of(quota: Option<Quota>, clock: &C, max_keys: usize) -> Option<Limit<K, C>>
    where
        C: Clone,
    {
        quota.map(|quota| Limit::new(quota, clock.clone(), max_keys))
    }

    /// Spends one request of `key`'s budget, or says how long until it has one. A new key
    /// when the table is full waits for a refill: the keys whose budget is full again are swept
    /// every so many checks, never on every one (a spray of addresses would make each request
    /// walk the whole table).
    fn check(&self, key: &K) -> Result<(), Refused> {
        if self.sweeps.due() {
            self.limiter.retain_recent();
        }
        if self.keys.len() >= self.max_keys && !self.keys.contains_key(key) {
            return Err(Refused::after(self.refill));
        }
        self.limiter.check_key(key).map_err(|not_until| {
            Refused::after(not_until.wait_time_from(self.limiter.clock().now()))
        })
    }

    fn now(&self) -> C::Instant {
        self.limiter.clock().now()
    }
}

/// Failed authentications per key (an address, or a console account), and the keys refused
/// until a time for them.
struct FailedAuth<K: Hash + Eq + Clone, C: Clock> {
    failures: Limit<K, C>,
    /// Bounded as the failures' table is, and swept of the expired as often.
    blocked: DashMap<K, C::Instant>,
    sweeps: Sweeps,
}

impl<K: Hash + Eq + Clone, C: Clock> FailedAuth<K, C> {
    fn new(failures: Limit<K, C>) -> FailedAuth<K, C> {
        FailedAuth {
            sweeps: Sweeps::every(failures.sweeps.every),
            failures,
            blocked: DashMap::new(),
        }
    }

    /// Refuses a key whose failures used its budget, until that refills.
    fn admit(&self, key: K) -> Result<(), Refused> {
        let Some(until) = self.blocked.get(&key).map(|until| *until) else { return Ok(()) };
        let now = self.failures.now();
        if until > now {
            return Err(Refused::after(until.duration_since(now).into()));
        }
        self.blocked.remove_if(&key, |_, until| *until <= now);
        Ok(())
    }

    /// Counts a failure; past the budget, blocks the key until it refills.
    fn fail(&self, key: K) -> Result<(), Refused> {
        let refused = self.failures.check(&key).err();
        let Some(refused) = refused else { return Ok(()) };
        let now = self.failures.now();
        if self.sweeps.due() {
            self.blocked.retain(|_, until| *until > now);
        }
        if self.blocked.len() < self.failures.max_keys {
            let wait = Duration::from_secs(refused.retry_after_secs);
            self.blocked.insert(key, now + Nanos::from(wait));
        }
        Err(refused)
    }
}

/// Every rate limit of the server; cheap to clone (shared).
#[derive(Clone)]
pub struct RateLimits<C: Clock = DefaultClock>(Arc<Limits<C>>);

struct Limits<C: Clock> {
    credential: Option<Limit<Sid, C>>,
    failed_auth: Option<FailedAuth<AddressKey, C>>,
    address: Option<Limit<AddressKey, C>>,
    /// Failed console sign-ins per account (username), beside those per address.
    failed_sign_in: FailedAuth<String, C>,
}

/// Failed sign-ins one console account may have at once…
pub const SIGN_IN_FAILURES_BURST: u32 = 5;
/// …and then one a minute: a guesser gets a few hundred guesses a day at most, and the person
/// whose account is attacked waits a minute, not a day, once the guessing stops.
pub const SIGN_IN_FAILURES_PER_HOUR: u32 = 60;

impl<C: Clock> std::fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits::new(RateConfig::default())
    }
}

impl RateLimits {
    pub fn new(config: RateConfig) -> RateLimits {
        RateLimits::with_clock(config, DefaultClock::default(), MAX_KEYS)
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// The limits of `config` on `clock`, each remembering at most `max_keys` keys.
    pub fn with_clock(config: RateConfig, clock: C, max_keys: usize) -> RateLimits<C> {
        let (second, minute) = (Duration::from_secs(1), Duration::from_secs(60));
        let failures = Limit::of(
            quota(config.failed_auth_per_minute, config.failed_auth_burst, minute),
            &clock,
            max_keys,
        );
        RateLimits(Arc::new(Limits {
            credential: Limit::of(
                quota(config.credential_per_second, config.credential_burst, second),
                &clock,
                max_keys,
            ),
            failed_auth: failures.map(FailedAuth::new),
            address: Limit::of(
                quota(config.address_per_second, config.address_burst, second),
                &clock,
                max_keys,
            ),
            failed_sign_in: FailedAuth::new(Limit::new(sign_in_quota(), clock.clone(), max_keys)),
        }))
    }
}

/// 429 in Twilio's shape, counted under `limit`.
fn too_many(limit: &'static str, refused: Refused, message: &str) -> ApiError {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
    ApiError::too_many_requests(message, refused.retry_after_secs)
}

impl<C: Clock> RateLimits<C> {
    /// Spends one REST request of an authenticated credential (the account's SID or an API
    /// key's): never of a claimed one, so a stranger cannot spend someone else's budget.
    pub(crate) fn credential(&self, credential: Sid) -> Result<(), ApiError> {
        let Some(limit) = &self.0.credential else { return Ok(()) };
        limit.check(&credential).map_err(|refused| {
            too_many("credential", refused, "Too many requests for this credential")
        })
    }

    /// Before any credential is checked: refuses an address whose failed authentications used
    /// its budget, so credentials cannot be guessed at speed.
    pub(crate) fn before_authentication(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limit), Some(ip)) = (&self.0.failed_auth, ip) else { return Ok(()) };
        limit.admit(ip.into()).map_err(|refused| {
            too_many("failed_auth", refused, "Too many failed authentications from this address")
        })
    }

    /// Counts a failed authentication of `ip`: 429 instead of the caller's 401 once past the
    /// budget.
    pub(crate) fn failed_authentication(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limit), Some(ip)) = (&self.0.failed_auth, ip) else { return Ok(()) };
        limit.fail(ip.into()).map_err(|refused| {
            too_many("failed_auth", refused, "Too many failed authentications from this address")
        })
    }

    /// Before a console sign-in's password is checked: refuses an account whose failed sign-ins
    /// used its budget, whoever tries and whatever the password.
    pub(crate) fn before_sign_in(&self, account: &str) -> Result<(), ApiError> {
        self.0.failed_sign_in.admit(account.to_owned()).map_err(|refused| {
            too_many("failed_sign_in", refused, "Too many failed sign-ins for this account")
        })
    }

    /// Counts a failed sign-in of `account`: 429 instead of 401 once past the budget.
    pub(crate) fn failed_sign_in(&self, account: &str) -> Result<(), ApiError> {
        self.0.failed_sign_in.fail(account.to_owned()).map_err(|refused| {
            too_many("failed_sign_in", refused, "Too many failed sign-ins for this account")
        })
    }

    /// Spends one request without credentials of `ip`.
    pub(crate) fn unauthenticated(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        let (Some(limit), Some(ip)) = (&self.0.address, ip) else { return Ok(()) };
        limit
            .check(&AddressKey::from(ip))
            .map_err(|refused| too_many("address", refused, "Too many requests from this address"))
    }
}

/// Routes that check the credentials a request carries (Basic, or an access token): a request
/// with credentials to one of them is counted by its credential, or as a failed authentication
/// of its address, not here.
const CHECKED_PREFIXES: [&str; 11] = [
    "/chat/",
    "/flex/",
    "/taskrouter/",
    "/studio/",
    "/admin/",
    "/media/",
    "/metrics",
    "/ws",
    "/webchat/v1/Flows",
    "/webchat/v1/Sessions/End",
    "/webchat/v1/Messages",
];

/// Whether the limit per address on requests without credentials counts `request`: not the
/// providers' signed webhooks (few addresses at high rates, the signature checked before the
/// body is read), not a request carrying credentials to a route that checks them.
fn counted_by_address(path: &str, carries_credentials: bool) -> bool {
    if path.starts_with("/webhooks/") {
        return false;
    }
    !(carries_credentials && CHECKED_PREFIXES.iter().any(|prefix| path.starts_with(prefix)))
}

/// Middleware: the limit per address on requests without credentials. Wrap it inside the
/// metrics and error-shaping middleware, so its 429 is counted and in Twilio's shape.
pub async fn limit_unauthenticated<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    let carries = request.headers().contains_key(actix_web::http::header::AUTHORIZATION)
        || request.query_string().contains("token=");
    if counted_by_address(request.path(), carries) {
        if let Some(state) = request.app_data::<web::Data<AppState>>() {
            let ip = request.peer_addr().map(|peer| peer.ip());
            if let Err(error) = state.rate.unauthenticated(ip) {
                return Ok(request.error_response(error).map_into_right_body());
            }
        }
    }
    next.call(request).await.map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limits(
        config: RateConfig,
        max_keys: usize,
    ) -> (RateLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (RateLimits::with_clock(config, clock.clone(), max_keys), clock)
    }

    fn key(n: u8) -> Sid {
        Sid::from_parts(switchboard_domain::SidPrefix::API_KEY, [n; 16])
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn retry_after(error: &ApiError) -> u64 {
        assert_eq!((error.status(), error.code()), (429, 20429), "{error}");
        error.retry_after_secs().expect("a Retry-After")
    }

    #[test]
    fn a_credential_spends_its_burst_then_refills_at_its_rate() {
        let config =
            RateConfig { credential_per_second: 2, credential_burst: 4, ..RateConfig::default() };
        let (limits, clock) = limits(config, 10);
        let (mine, other) = (key(1), key(2));
        for n in 0..4 {
            assert!(limits.credential(mine).is_ok(), "request {n} of the burst");
        }
        let refused = limits.credential(mine).unwrap_err();
        assert_eq!(retry_after(&refused), 1, "half a second rounds up to one");
        assert!(limits.credential(other).is_ok(), "another credential has its own budget");
        clock.advance(Duration::from_millis(500));
        assert!(limits.credential(mine).is_ok(), "one refilled");
        assert!(limits.credential(mine).is_err(), "and only one");
        clock.advance(Duration::from_secs(2));
        for n in 0..4 {
            assert!(limits.credential(mine).is_ok(), "the whole burst again: {n}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_until_the_next_request() {
        let config =
            RateConfig { failed_auth_per_minute: 6, failed_auth_burst: 2, ..RateConfig::default() };
        let (limits, clock) = limits(config, 10);
        let a = ip("192.0.2.1");
        assert!(limits.failed_authentication(a).is_ok());
        assert!(limits.failed_authentication(a).is_ok());
        let third = limits.failed_authentication(a).unwrap_err();
        assert_eq!(retry_after(&third), 10, "one failure refills every 10 s");
        clock.advance(Duration::from_millis(2_500));
        let blocked = limits.before_authentication(a).unwrap_err();
        assert_eq!(retry_after(&blocked), 8, "7.5 s left, rounded up");
        assert!(limits.before_authentication(ip("192.0.2.2")).is_ok(), "another address");
        clock.advance(Duration::from_millis(7_500));
        assert!(limits.before_authentication(a).is_ok(), "refilled");
        assert!(limits.failed_authentication(a).is_ok(), "one more failure is allowed");
        assert!(limits.failed_authentication(a).is_err(), "and only one");
    }

    #[test]
    fn only_failures_spend_the_failed_authentication_budget() {
        let config =
            RateConfig { failed_auth_per_minute: 1, failed_auth_burst: 1, ..RateConfig::default() };
        let (limits, _clock) = limits(config, 10);
        let a = ip("192.0.2.1");
        for _ in 0..100 {
            assert!(limits.before_authentication(a).is_ok(), "checks before are free");
        }
        assert!(limits.failed_authentication(a).is_ok());
        assert!(limits.before_authentication(a).is_ok(), "one failure of a budget of one");
        assert!(limits.failed_authentication(a).is_err());
        assert!(limits.before_authentication(a).is_err(), "now refused before any check");
    }

    #[test]
    fn an_account_is_refused_after_its_failed_sign_ins_whoever_tries_and_others_are_not() {
        let (limits, clock) = limits(RateConfig::default(), 10);
        for _ in 0..SIGN_IN_FAILURES_BURST {
            assert!(limits.before_sign_in("alice").is_ok());
            assert!(limits.failed_sign_in("alice").is_ok());
        }
        let refused = limits.failed_sign_in("alice").unwrap_err();
        assert_eq!(refused.status(), 429);
        assert!(limits.before_sign_in("alice").is_err(), "refused before the password is checked");
        assert!(limits.before_sign_in("bob").is_ok(), "another account keeps its budget");
        clock.advance(Duration::from_secs(61));
        assert!(limits.before_sign_in("alice").is_ok(), "a failure's worth refilled");
    }

    #[test]
    fn addresses_count_ipv6_by_their_64_and_mapped_ipv4_as_ipv4() {
        let config =
            RateConfig { address_per_second: 1, address_burst: 1, ..RateConfig::default() };
        let (limits, _clock) = limits(config, 10);
        assert!(limits.unauthenticated(ip("2001:db8:1:2::1")).is_ok());
        assert!(limits.unauthenticated(ip("2001:db8:1:2:ffff::9")).is_err(), "the same /64");
        assert!(limits.unauthenticated(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        assert!(limits.unauthenticated(ip("192.0.2.7")).is_ok());
        assert!(limits.unauthenticated(ip("::ffff:192.0.2.7")).is_err(), "mapped is the same");
        assert!(limits.unauthenticated(None).is_ok(), "no address (a Unix socket): not counted");
    }

    #[test]
    fn at_the_cap_new_keys_wait_and_known_keys_keep_their_budget() {
        let config =
            RateConfig { address_per_second: 1, address_burst: 2, ..RateConfig::default() };
        let (limits, clock) = limits(config, 2);
        assert!(limits.unauthenticated(ip("192.0.2.1")).is_ok());
        assert!(limits.unauthenticated(ip("192.0.2.2")).is_ok());
        let third = limits.unauthenticated(ip("192.0.2.3")).unwrap_err();
        assert_eq!(retry_after(&third), 1, "a new address waits for one refill");
        assert!(limits.unauthenticated(ip("192.0.2.1")).is_ok(), "a known one is served");
        clock.advance(Duration::from_secs(5));
        // Swept every `max_keys` checks (two here), never on each.
        let served = (0..2).any(|_| limits.unauthenticated(ip("192.0.2.3")).is_ok());
        assert!(served, "idle keys were forgotten");
    }

    #[test]
    fn zero_is_no_limit() {
        let config = RateConfig {
            credential_per_second: 0,
            failed_auth_per_minute: 0,
            address_per_second: 0,
            ..RateConfig::default()
        };
        let (limits, _clock) = limits(config, 1);
        let key = key(1);
        for n in 0..1_000 {
            let a = ip(&format!("10.0.{}.{}", n / 256, n % 256));
            assert!(limits.credential(key).is_ok());
            assert!(limits.failed_authentication(a).is_ok());
            assert!(limits.before_authentication(a).is_ok());
            assert!(limits.unauthenticated(a).is_ok());
        }
    }

    #[test]
    fn webhooks_and_checked_credentials_are_not_counted_by_address() {
        assert!(!counted_by_address("/webhooks/twilio", false));
        assert!(!counted_by_address("/chat/v2/Services", true));
        assert!(counted_by_address("/chat/v2/Services", false), "no credentials at all");
        assert!(counted_by_address("/healthz", true), "credentials /healthz never checks");
        assert!(counted_by_address("/webchat/v1/Sessions", true));
        assert!(!counted_by_address("/webchat/v1/Sessions/End", true));
        assert!(counted_by_address("/openapi.json", false));
    }

    /// A route that takes credentials but is missing from `CHECKED_PREFIXES` would count its
    /// authenticated callers by address (a whole contact center behind one proxy) and refuse
    /// them: every operation the OpenAPI document secures must be left to the credential limits.
    #[test]
    fn every_route_that_checks_credentials_is_left_to_the_credential_limits() {
        let document = crate::openapi::document("https://chat.example.com").to_json().unwrap();
        let document: serde_json::Value = serde_json::from_str(&document).unwrap();
        let mut checked = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for operation in item.as_object().unwrap().values() {
                let security = operation.get("security").map(|s| s.to_string());
                // No `security` of its own: the document's, Basic.
                let takes_credentials = security
                    .as_deref()
                    .is_none_or(|s| s.contains("basic") || s.contains("accessToken"));
                if takes_credentials && !path.starts_with("/webhooks/") {
                    checked += 1;
                    assert!(!counted_by_address(path, true), "{path} is counted by address");
                }
            }
        }
        assert!(checked > 50, "{checked} secured operations");
    }
}
