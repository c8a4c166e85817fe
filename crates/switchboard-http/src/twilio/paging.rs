//! Twilio v1/v2 list paging: `PageSize`, `Page` and `PageToken` in the query; out, the body
//! `{"<key>": [...], "meta": {"page", "page_size", "first_page_url", "previous_page_url", "url",
//! "next_page_url", "key"}}` with absolute URLs on the server's public base.
//!
//! The official SDKs follow `meta.next_page_url` verbatim (null means stop) and find the records
//! through `meta.key`, so both must be exact; every page URL keeps the request's other query
//! parameters (filters, `Order`) so that following it continues the same listing.
//!
//! Decisions (Twilio's own behaviour unverified):
//! - `PageSize` above the resource's maximum is clamped, not refused: the Python SDK sends
//!   `PageSize=<limit>` for `list(limit=N)`, so refusing would break `list(limit=5000)`.
//!   `PageSize` below 1 or not a number, and a `Page` that is not a whole number, are 20001;
//!   so are both beyond 2^31−1, the int32 range the OpenAPI document declares.
//! - A [`PageToken`] is `PT` + base64url (no padding) of `<offset>:<after>`: the position of the
//!   page's first item, and optionally the sort key of the last item before it, so a listing
//!   can resume after a key (stable under inserts) or at an offset. It is opaque to clients but
//!   neither secret nor signed: a forged token only moves within what the caller may list anyway.
//!   A malformed one is 20001.
//! - With a token, the token's position wins over `Page` × `PageSize` (`Page` is then only
//!   echoed back, as Twilio's docs describe it: client state).
//! - `previous_page_url` carries a positional token (offset − page size, no key).

use actix_web::{HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::twilio::error::ApiError;

/// Twilio's default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// The largest `Page` and `PageSize`: the int32 range the OpenAPI document declares.
const PAGING_MAX: u64 = crate::openapi::strict::PAGING_MAX;

/// A whole number from 0 to [`PAGING_MAX`].
fn paging_number(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|n| *n <= PAGING_MAX)
}

/// Where a page starts: an offset into the listing, and optionally the key of the item just
/// before it (for keyset resumption).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub offset: u64,
    pub after: Option<String>,
}

impl PageToken {
    const PREFIX: &'static str = "PT";

    pub fn at(offset: u64) -> PageToken {
        PageToken { offset, after: None }
    }

    pub fn after(offset: u64, key: impl Into<String>) -> PageToken {
        PageToken { offset, after: Some(key.into()) }
    }

    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.offset, self.after.as_deref().unwrap_or_default());
        format!("{}{}", Self::PREFIX, URL_SAFE_NO_PAD.encode(raw))
    }

    pub fn decode(text: &str) -> Result<PageToken, ApiError> {
        let invalid = || ApiError::bad_param(format!("PageToken {text:?} is not valid"));
        let encoded = text.strip_prefix(Self::PREFIX).ok_or_else(invalid)?;
        let raw = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let (offset, after) = raw.split_once(':').ok_or_else(invalid)?;
        let offset = offset.parse().map_err(|_| invalid())?;
        Ok(PageToken { offset, after: (!after.is_empty()).then(|| after.to_owned()) })
    }
}

/// A list request: its paging parameters, its other query parameters, and the absolute URL of
/// the list (public base + path) to build page URLs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    page: u64,
    page_size: u64,
    token: Option<PageToken>,
    /// Every query parameter but the paging ones, in order: filters, and the page URLs' query.
    others: Vec<(String, String)>,
    list_url: String,
}

impl PageRequest {
    /// Reads the request's query; `public_base` is the server's external origin (and prefix, if
    /// any), e.g. `https://chat.example.com`, without a trailing slash needed.
    pub fn from_request(
        request: &HttpRequest,
        public_base: &str,
        max_page_size: u64,
    ) -> Result<PageRequest, ApiError> {
        let list_url = format!("{}{}", public_base.trim_end_matches('/'), request.path());
        PageRequest::parse(&list_url, request.query_string(), max_page_size)
    }

    /// `list_url` is absolute and has no query; `query` is the raw query string.
    pub fn parse(list_url: &str, query: &str, max_page_size: u64) -> Result<PageRequest, ApiError> {
        let max_page_size = max_page_size.max(1);
        let mut request = PageRequest {
            page: 0,
            page_size: DEFAULT_PAGE_SIZE.min(max_page_size),
            token: None,
            others: Vec::new(),
            list_url: list_url.to_owned(),
        };
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "PageSize" => {
                    let size = paging_number(&value).filter(|n| *n >= 1).ok_or_else(|| {
                        ApiError::bad_param(format!(
                            "PageSize must be a whole number from 1 to {PAGING_MAX} (at most \
                             {max_page_size} are given), not {value:?}"
                        ))
                    })?;
                    request.page_size = size.min(max_page_size);
                }
                "Page" => {
                    request.page = paging_number(&value).ok_or_else(|| {
                        ApiError::bad_param(format!(
                            "Page must be a whole number from 0 to {PAGING_MAX}, not {value:?}"
                        ))
                    })?;
                }
                "PageToken" => request.token = Some(PageToken::decode(&value)?),
                _ => request.others.push((name.into_owned(), value.into_owned())),
            }
        }
        Ok(request)
    }

    pub fn page(&self) -> u64 {
        self.page
    }

    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The token the request carried, if any.
    pub fn token(&self) -> Option<&PageToken> {
        self.token.as_ref()
    }

    /// Where this page starts: the token's offset, or `Page` × `PageSize`.
    pub fn offset(&self) -> u64 {
        self.token.as_ref().map_or(self.page.saturating_mul(self.page_size), |t| t.offset)
    }

    /// The key to resume after, when the request's token carried one.
    pub fn after(&self) -> Option<&str> {
        self.token.as_ref().and_then(|t| t.after.as_deref())
    }

    /// The last value of a filter parameter.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.others.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable filter parameter.
    pub fn filters(&self, name: &str) -> Vec<&str> {
        self.others.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The non-paging query parameters, in order.
    pub fn params(&self) -> &[(String, String)] {
        &self.others
    }

    /// A page URL: the other parameters first, then `PageSize`, `Page` and `PageToken`, in the
    /// order Twilio writes them.
    fn url(&self, page: u64, token: Option<&PageToken>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.others {
            query.append_pair(name, value);
        }
        query.append_pair("PageSize", &self.page_size.to_string());
        query.append_pair("Page", &page.to_string());
        if let Some(token) = token {
            query.append_pair("PageToken", &token.encode());
        }
        format!("{}?{}", self.list_url, query.finish())
    }

    /// The list body for `items`, this page's items (at most `page_size`, starting at
    /// [`offset`](Self::offset)); `has_more` says whether a next page exists. The next page
    /// resumes by offset.
    pub fn render(&self, key: &str, items: Vec<Value>, has_more: bool) -> Value {
        let next = has_more.then(|| PageToken::at(self.offset().saturating_add(len(&items))));
        self.render_with(key, items, next)
    }

    /// As [`render`](Self::render), but the next page resumes after `last_key` (the sort key of
    /// this page's last item) when there is one; `None` means this is the last page.
    pub fn render_after(&self, key: &str, items: Vec<Value>, last_key: Option<String>) -> Value {
        let next = last_key.map(|k| PageToken::after(self.offset().saturating_add(len(&items)), k));
        self.render_with(key, items, next)
    }

    /// For listings held in memory: takes this page out of `all` (every matching item, in
    /// order) and renders it.
    pub fn render_slice(&self, key: &str, all: Vec<Value>) -> Value {
        let start = usize::try_from(self.offset()).unwrap_or(usize::MAX);
        let size = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        let has_more = all.len() > start.saturating_add(size);
        let page: Vec<Value> = all.into_iter().skip(start).take(size).collect();
        self.render(key, page, has_more)
    }

    fn render_with(&self, key: &str, items: Vec<Value>, next: Option<PageToken>) -> Value {
        let offset = self.offset();
        let previous = (self.page > 0 || offset > 0).then(|| {
            self.url(
                self.page.saturating_sub(1),
                Some(&PageToken::at(offset.saturating_sub(self.page_size))),
            )
        });
        json!({
            key: items,
            "meta": {
                "page": self.page,
                "page_size": self.page_size,
                "first_page_url": self.url(0, None),
                "previous_page_url": previous,
                "url": self.url(self.page, self.token.as_ref()),
                "next_page_url": next.map(|t| self.url(self.page.saturating_add(1), Some(&t))),
                "key": key,
            },
        })
    }
}

fn len(items: &[Value]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

/// A list answer: exactly 200 (the Python SDK refuses any other status for a list) with `body`.
pub fn respond(body: Value) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const FLOWS: &str = "https://sb.example.com/v1/FlexFlows";

    fn items(range: std::ops::Range<u64>) -> Vec<Value> {
        range.map(|i| json!({ "index": i })).collect()
    }

    #[test]
    fn defaults_match_twilio_single_page_shape() {
        // Twilio's own single-page list, the shape the Python SDK reads (docs/api.md).
        let request = PageRequest::parse(FLOWS, "", 1000).unwrap();
        assert_eq!((request.page(), request.page_size(), request.offset()), (0, 50, 0));
        let body = request.render("flex_flows", items(0..2), false);
        assert_eq!(
            body,
            json!({
                "flex_flows": [{"index": 0}, {"index": 1}],
                "meta": {
                    "page": 0,
                    "page_size": 50,
                    "first_page_url": "https://sb.example.com/v1/FlexFlows?PageSize=50&Page=0",
                    "previous_page_url": null,
                    "url": "https://sb.example.com/v1/FlexFlows?PageSize=50&Page=0",
                    "next_page_url": null,
                    "key": "flex_flows",
                },
            })
        );
    }

    #[test]
    fn page_size_is_validated_and_clamped() {
        assert_eq!(PageRequest::parse(FLOWS, "PageSize=20", 1000).unwrap().page_size(), 20);
        assert_eq!(PageRequest::parse(FLOWS, "PageSize=5000", 1000).unwrap().page_size(), 1000);
        assert_eq!(PageRequest::parse(FLOWS, "", 20).unwrap().page_size(), 20);
        let beyond_int32 = "PageSize=2147483648";
        for bad in
            ["PageSize=0", "PageSize=-1", "PageSize=ten", "PageSize=", "PageSize=1.5", beyond_int32]
        {
            let error = PageRequest::parse(FLOWS, bad, 1000).unwrap_err();
            assert_eq!((error.status(), error.code()), (400, 20001), "{bad}");
            assert!(error.message().starts_with("PageSize"), "{bad}");
        }
        for bad in ["Page=-1", "Page=x", "Page=2147483648", "Page=18446744073709551615"] {
            let error = PageRequest::parse(FLOWS, bad, 1000).unwrap_err();
            assert_eq!(error.code(), 20001, "{bad}");
            assert!(error.message().starts_with("Page "), "{bad}");
        }
    }

    #[test]
    fn next_and_previous_urls_keep_filters_and_carry_tokens() {
        // The Python SDK's `messages.list(order="desc", limit=3)` sends `Order=desc&PageSize=3`.
        let url = "https://sb.example.com/conversations/v1/Conversations/CH1/Messages";
        let first = PageRequest::parse(url, "Order=desc&PageSize=3", 50).unwrap();
        let body = first.render("messages", items(0..3), true);
        let meta = &body["meta"];
        assert_eq!(meta["previous_page_url"], Value::Null);
        let next = meta["next_page_url"].as_str().unwrap();
        let token = PageToken::at(3).encode();
        assert_eq!(next, format!("{url}?Order=desc&PageSize=3&Page=1&PageToken={token}"));

        // Following it verbatim, as the SDK does.
        let query = next.split_once('?').unwrap().1;
        let second = PageRequest::parse(url, query, 50).unwrap();
        assert_eq!((second.page(), second.offset()), (1, 3));
        assert_eq!(second.filter("Order"), Some("desc"));
        let body = second.render("messages", items(3..5), false);
        let meta = &body["meta"];
        assert_eq!(meta["next_page_url"], Value::Null);
        assert_eq!(meta["url"], next);
        assert_eq!(
            meta["previous_page_url"],
            format!("{url}?Order=desc&PageSize=3&Page=0&PageToken={}", PageToken::at(0).encode())
        );
        assert_eq!(meta["first_page_url"], format!("{url}?Order=desc&PageSize=3&Page=0"));
        assert_eq!(meta["key"], "messages");
        assert_eq!(meta["page"], 1);
    }

    #[test]
    fn repeated_filters_and_escaping_survive_in_page_urls() {
        let request =
            PageRequest::parse(FLOWS, "Type=public&Type=private&FriendlyName=a+%26+b", 50).unwrap();
        assert_eq!(request.filters("Type"), ["public", "private"]);
        assert_eq!(request.filter("FriendlyName"), Some("a & b"));
        let body = request.render("channels", vec![], false);
        assert_eq!(
            body["meta"]["url"],
            format!("{FLOWS}?Type=public&Type=private&FriendlyName=a+%26+b&PageSize=50&Page=0")
        );
        assert_eq!(request.params().len(), 3);
    }

    #[test]
    fn tokens_round_trip_and_win_over_page() {
        for token in [
            PageToken::at(0),
            PageToken::at(1234),
            PageToken::after(50, "IM0123456789abcdef0123456789abcdef"),
            PageToken::after(7, "key:with:colons"),
        ] {
            let encoded = token.encode();
            assert!(encoded.starts_with("PT"));
            assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(PageToken::decode(&encoded).unwrap(), token);
        }
        let token = PageToken::after(120, "k119");
        let request = PageRequest::parse(
            FLOWS,
            &format!("Page=9&PageSize=10&PageToken={}", token.encode()),
            50,
        )
        .unwrap();
        assert_eq!((request.page(), request.offset(), request.after()), (9, 120, Some("k119")));
        assert_eq!(request.token(), Some(&token));
    }

    #[test]
    fn malformed_tokens_are_20001() {
        let bad_payload = format!("PT{}", URL_SAFE_NO_PAD.encode("x:y"));
        for bad in ["", "PT", "XX", "PT!!!", "MTA6", bad_payload.as_str()] {
            assert_eq!(PageToken::decode(bad).unwrap_err().code(), 20001, "{bad:?}");
        }
        let error = PageRequest::parse(FLOWS, "PageToken=nope", 50).unwrap_err();
        assert_eq!((error.status(), error.code()), (400, 20001));
    }

    #[test]
    fn keyset_pages_resume_after_the_last_key() {
        let request = PageRequest::parse(FLOWS, "PageSize=2", 50).unwrap();
        let body = request.render_after("messages", items(0..2), Some("k1".into()));
        let next = body["meta"]["next_page_url"].as_str().unwrap();
        let following = PageRequest::parse(FLOWS, next.split_once('?').unwrap().1, 50).unwrap();
        assert_eq!((following.offset(), following.after()), (2, Some("k1")));
        let last = following.render_after("messages", items(2..3), None);
        assert_eq!(last["meta"]["next_page_url"], Value::Null);
    }

    #[test]
    fn in_memory_slices_page_through_everything_once() {
        let all = items(0..7);
        let mut query = "PageSize=3".to_owned();
        let mut seen = Vec::new();
        for expected_page in 0.. {
            let request = PageRequest::parse(FLOWS, &query, 50).unwrap();
            assert_eq!(request.page(), expected_page);
            let body = request.render_slice("flex_flows", all.clone());
            seen.extend(body["flex_flows"].as_array().unwrap().iter().cloned());
            match body["meta"]["next_page_url"].as_str() {
                Some(next) => query = next.split_once('?').unwrap().1.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, all);
        // Exactly a page's worth: no empty trailing page.
        let exact = PageRequest::parse(FLOWS, "PageSize=7", 50).unwrap();
        assert_eq!(
            exact.render_slice("flex_flows", items(0..7))["meta"]["next_page_url"],
            Value::Null
        );
        // Positional Page without a token.
        let third = PageRequest::parse(FLOWS, "PageSize=3&Page=2", 50).unwrap();
        assert_eq!(
            third.render_slice("flex_flows", items(0..7))["flex_flows"],
            json!([{"index": 6}])
        );
    }

    #[test]
    fn built_from_a_request_on_the_public_base() {
        let request = TestRequest::get()
            .uri("/chat/v2/Services/IS1/Channels?Type=private&PageSize=2")
            .to_http_request();
        let page = PageRequest::from_request(&request, "https://sb.example.com/", 100).unwrap();
        let body = page.render("channels", items(0..2), true);
        assert_eq!(
            body["meta"]["first_page_url"],
            "https://sb.example.com/chat/v2/Services/IS1/Channels?Type=private&PageSize=2&Page=0"
        );
        assert!(body["meta"]["next_page_url"]
            .as_str()
            .unwrap()
            .starts_with("https://sb.example.com/chat/v2/Services/IS1/Channels?Type=private&PageSize=2&Page=1&PageToken=PT"));
    }

    #[actix_rt::test]
    async fn responds_exactly_200_json() {
        let response = respond(json!({"k": [], "meta": {"key": "k"}}));
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers().get(actix_web::http::header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
    }
}
