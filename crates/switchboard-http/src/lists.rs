//! Twilio-style list pages: `PageSize` and `Page` in, `{"<key>": [...], "meta": {...}}` out,
//! with absolute page URLs that keep the request's other parameters (filters, `Order`).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::state::AppState;
use crate::twilio::error::ApiError;

/// The paging parameters of a list request, and its other query parameters.
#[derive(Debug, Clone)]
pub struct Paging {
    pub page: usize,
    pub page_size: usize,
    /// Every query parameter but the paging ones, in order, for filters and page URLs.
    others: Vec<(String, String)>,
}

/// Twilio's default page size.
const DEFAULT_PAGE_SIZE: usize = 50;

impl Paging {
    pub fn from_request(request: &HttpRequest, max_page_size: usize) -> Result<Paging, ApiError> {
        let mut paging =
            Paging { page: 0, page_size: DEFAULT_PAGE_SIZE.min(max_page_size), others: Vec::new() };
        for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
            match name.as_ref() {
                "PageSize" => {
                    paging.page_size = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=max_page_size).contains(n))
                        .ok_or_else(|| {
                            ApiError::bad_param(format!(
                                "PageSize must be a number from 1 to {max_page_size}"
                            ))
                        })?;
                }
                "Page" => {
                    paging.page = value
                        .parse()
                        .map_err(|_| ApiError::bad_param("Page must be a whole number from 0"))?;
                }
                // Our pages are positional; a token from a previous page carries no more.
                "PageToken" => {}
                _ => paging.others.push((name.into_owned(), value.into_owned())),
            }
        }
        Ok(paging)
    }

    /// Which items of a list of `len` this page shows.
    pub fn range(&self, len: usize) -> std::ops::Range<usize> {
        let start = self.page.saturating_mul(self.page_size).min(len);
        start..start.saturating_add(self.page_size).min(len)
    }

    /// The last value of a filter parameter.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.others.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable filter parameter.
    pub fn filters(&self, name: &str) -> Vec<&str> {
        self.others.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn url(&self, state: &AppState, path: &str, page: usize) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.others {
            query.append_pair(name, value);
        }
        query.append_pair("PageSize", &self.page_size.to_string());
        query.append_pair("Page", &page.to_string());
        state.url(&format!("{path}?{}", query.finish()))
    }
}

/// One page of `items` (all matching items, in order) as Twilio renders a list.
pub fn list_response(
    state: &AppState,
    request: &HttpRequest,
    paging: &Paging,
    key: &str,
    items: Vec<Value>,
) -> Result<HttpResponse, ApiError> {
    let range = paging.range(items.len());
    let has_more = items.len() > range.end;
    let page: Vec<Value> = items.into_iter().skip(range.start).take(range.len()).collect();
    page_response(state, request, paging, key, page, has_more)
}

/// A page already cut from its list (see [`Paging::range`]), for lists that render only it.
pub fn page_response(
    state: &AppState,
    request: &HttpRequest,
    paging: &Paging,
    key: &str,
    page: Vec<Value>,
    has_more: bool,
) -> Result<HttpResponse, ApiError> {
    let path = request.path();
    let body = json!({
        key: page,
        "meta": {
            "page": paging.page,
            "page_size": paging.page_size,
            "first_page_url": paging.url(state, path, 0),
            "previous_page_url": (paging.page > 0).then(|| paging.url(state, path, paging.page - 1)),
            "url": paging.url(state, path, paging.page),
            "next_page_url": has_more.then(|| paging.url(state, path, paging.page + 1)),
            "key": key,
        },
    });
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_within_its_list() {
        let paging = |page, page_size| Paging { page, page_size, others: Vec::new() };
        assert_eq!(paging(0, 50).range(120), 0..50);
        assert_eq!(paging(2, 50).range(120), 100..120);
        assert_eq!(paging(3, 50).range(120), 120..120, "past the end: empty, not a panic");
        assert_eq!(paging(usize::MAX, 50).range(7), 7..7);
        assert_eq!(paging(0, 50).range(0), 0..0);
    }
}
