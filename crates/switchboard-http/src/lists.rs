//! Twilio-style list pages: `PageSize` and `Page` in, `{"<key>": [...], "meta": {...}}` out,
//! with absolute page URLs that keep the request's other parameters (filters, `Order`).

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

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

/// The largest `Page` and `PageSize`: the int32 range the OpenAPI document declares.
const PAGING_MAX: u64 = crate::openapi::strict::PAGING_MAX;

/// A whole number from 0 to [`PAGING_MAX`].
fn paging_number(text: &str) -> Option<usize> {
    text.parse::<u64>().ok().filter(|n| *n <= PAGING_MAX).and_then(|n| usize::try_from(n).ok())
}

impl Paging {
    pub fn from_request(request: &HttpRequest, max_page_size: usize) -> Result<Paging, ApiError> {
        let mut paging =
            Paging { page: 0, page_size: DEFAULT_PAGE_SIZE.min(max_page_size), others: Vec::new() };
        for (name, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
            match name.as_ref() {
                // Above the list's maximum, clamped as twilio::paging does (SDKs send their
                // `limit` as `PageSize`); beyond what the document declares, refused.
                "PageSize" => {
                    let size = paging_number(&value).filter(|n| *n >= 1).ok_or_else(|| {
                        ApiError::bad_param(format!(
                            "PageSize must be a whole number from 1 to {PAGING_MAX} (at most \
                             {max_page_size} are given)"
                        ))
                    })?;
                    paging.page_size = size.min(max_page_size);
                }
                "Page" => {
                    paging.page = paging_number(&value).ok_or_else(|| {
                        ApiError::bad_param(format!(
                            "Page must be a whole number from 0 to {PAGING_MAX}"
                        ))
                    })?;
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

    /// A `true` or `false` filter (any case, as forms take them); anything else is 20001.
    pub fn filter_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.filter(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_param(format!("{name} must be true or false, not {v:?}"))),
        }
    }

    /// Sets a parameter the page URLs carry (replacing what the request gave): a default the
    /// server worked out, pinned so the next pages cut the same list.
    pub fn pin(&mut self, name: &str, value: String) {
        self.others.retain(|(n, _)| n != name);
        self.others.push((name.to_owned(), value));
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

/// The `meta` of every list page, as Twilio renders it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListMeta {
    /// The page's number, from 0.
    pub page: usize,
    pub page_size: usize,
    pub first_page_url: String,
    /// `null` on the first page.
    pub previous_page_url: Option<String>,
    /// This page.
    pub url: String,
    /// `null` on the last page: the SDKs stop there.
    pub next_page_url: Option<String>,
    /// The name of the list's key in this body, which the SDKs find the records through.
    pub key: String,
}

/// A list resource's page type: its items under [`Listing::KEY`] and the `meta`. Made by
/// [`listing!`](crate::listing), so the key of the body and the key of its schema are one name.
pub trait Listing: Serialize {
    type Item;
    const KEY: &'static str;
    fn new(items: Vec<Self::Item>, meta: ListMeta) -> Self;
}

/// Declares a list page type: `listing!(/// doc, FlowList, flex_flows, Flow)` is
/// `{"flex_flows": [Flow…], "meta": ListMeta}`, with its OpenAPI schema.
#[macro_export]
macro_rules! listing {
    ($(#[$doc:meta])* $name:ident, $key:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub $key: Vec<$item>,
            pub meta: $crate::lists::ListMeta,
        }

        impl $crate::lists::Listing for $name {
            type Item = $item;
            const KEY: &'static str = stringify!($key);
            fn new(items: Vec<$item>, meta: $crate::lists::ListMeta) -> Self {
                $name { $key: items, meta }
            }
        }
    };
}

/// One page of `items` (all matching items, in order) as Twilio renders a list.
pub fn list_response<L: Listing>(
    state: &AppState,
    request: &HttpRequest,
    paging: &Paging,
    items: Vec<L::Item>,
) -> Result<HttpResponse, ApiError> {
    let range = paging.range(items.len());
    let has_more = items.len() > range.end;
    let page: Vec<L::Item> = items.into_iter().skip(range.start).take(range.len()).collect();
    page_response::<L>(state, request, paging, page, has_more)
}

/// A page already cut from its list (see [`Paging::range`]), for lists that render only it.
pub fn page_response<L: Listing>(
    state: &AppState,
    request: &HttpRequest,
    paging: &Paging,
    page: Vec<L::Item>,
    has_more: bool,
) -> Result<HttpResponse, ApiError> {
    let path = request.path();
    let meta = ListMeta {
        page: paging.page,
        page_size: paging.page_size,
        first_page_url: paging.url(state, path, 0),
        previous_page_url: (paging.page > 0).then(|| paging.url(state, path, paging.page - 1)),
        url: paging.url(state, path, paging.page),
        next_page_url: has_more.then(|| paging.url(state, path, paging.page + 1)),
        key: L::KEY.to_owned(),
    };
    Ok(HttpResponse::Ok().json(L::new(page, meta)))
}

/// The paging parameters every list takes, for the OpenAPI document.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, non_snake_case)]
pub struct PageParams {
    /// Items per page: default 50; above the list's maximum, that maximum.
    PageSize: Option<u32>,
    /// The page's number, from 0.
    Page: Option<u32>,
    /// Accepted and ignored: these pages are positional.
    PageToken: Option<String>,
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

    fn parsed(query: &str) -> Result<Paging, ApiError> {
        let request = actix_web::test::TestRequest::get().uri(&format!("/x?{query}"));
        Paging::from_request(&request.to_http_request(), 100)
    }

    #[test]
    fn paging_takes_the_int32_range_the_document_declares() {
        assert_eq!(parsed("PageSize=2147483647").unwrap().page_size, 100, "clamped");
        assert_eq!(parsed("Page=2147483647").unwrap().page, 2_147_483_647);
        for bad in ["PageSize=0", "PageSize=2147483648", "Page=2147483648", "Page=-1"] {
            assert_eq!(parsed(bad).unwrap_err().code(), 20001, "{bad}");
        }
    }

    #[test]
    fn boolean_filters_are_true_or_false() {
        assert_eq!(parsed("Available=TRUE").unwrap().filter_bool("Available").unwrap(), Some(true));
        assert_eq!(
            parsed("Available=false").unwrap().filter_bool("Available").unwrap(),
            Some(false)
        );
        assert_eq!(parsed("").unwrap().filter_bool("Available").unwrap(), None);
        for bad in ["Available=null", "Available=1", "Available="] {
            assert_eq!(parsed(bad).unwrap().filter_bool("Available").unwrap_err().code(), 20001);
        }
    }
}
