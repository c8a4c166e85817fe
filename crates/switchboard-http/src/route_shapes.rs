//! Route groups entered by the shape of the request's path, so that actix's router tries a
//! handful of routes instead of every route of the API.
//!
//! actix-web's router tries resources in the order they were registered, and for each one with
//! a dynamic segment (`{service}`) runs a regex capture over the path: with about 190 routes a
//! Chat message post paid for some forty captures, 18 % of the daemon's own CPU on that path
//! (docs/BENCHMARKS.md, "Evening of 2026-12-07"). Each module's routes now sit in a scope with no
//! prefix whose guard, [`Shapes`], admits a path only if it has the shape of one of the module's
//! own paths: the same number of segments, its literal segments equal (a `{…}` segment is any
//! non-empty one). Comparing segments costs nanoseconds and stops at the first difference, and
//! the router then captures only within the one module whose shape fits.
//!
//! This is only sound if no two groups admit the same path, since the router never leaves a
//! scope it entered: `app`'s tests check every pair of groups.

use std::borrow::Cow;

use actix_web::dev::HttpServiceFactory;
use actix_web::guard::{Guard, GuardContext};
use utoipa_actix_web::scope::scope;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::OpenApiFactory;

/// One module's route registration.
pub(crate) type Routes = fn(&mut ServiceConfig);

/// One segment of a route's path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Literal(String),
    /// `{name}`: any non-empty segment, as actix's default pattern `[^/]+` has it.
    Any,
}

/// The shapes of a group's paths.
#[derive(Debug, Clone)]
pub(crate) struct Shapes(Vec<Vec<Segment>>);

impl Shapes {
    /// The shapes of `templates`, paths as routes declare them (`/a/{b}/c`).
    pub(crate) fn of<'a>(templates: impl IntoIterator<Item = &'a str>) -> Shapes {
        let mut shapes: Vec<Vec<Segment>> = templates.into_iter().map(shape).collect();
        shapes.sort();
        shapes.dedup();
        Shapes(shapes)
    }

    /// The shapes of the paths `routes` registers.
    pub(crate) fn of_routes(routes: Routes) -> Shapes {
        let paths = scope("").configure(routes).paths();
        Shapes::of(paths.paths.keys().map(String::as_str))
    }

    /// Whether `path` (a request's, percent-encoded) has one of these shapes.
    pub(crate) fn admits(&self, path: &str) -> bool {
        self.0.iter().any(|shape| fits(shape, path))
    }

    /// A path both admit, written as a template, if any.
    #[cfg(test)]
    pub(crate) fn overlap(&self, other: &Shapes) -> Option<String> {
        self.0.iter().find_map(|mine| {
            other.0.iter().find(|theirs| overlapping(mine, theirs)).map(|_| render(mine))
        })
    }
}

impl Guard for Shapes {
    fn check(&self, ctx: &GuardContext<'_>) -> bool {
        self.admits(ctx.head().uri.path())
    }
}

/// `routes` behind the guard of their own shapes.
pub(crate) fn by_shape(routes: Routes) -> impl HttpServiceFactory + OpenApiFactory + 'static {
    scope("").guard(Shapes::of_routes(routes)).configure(routes)
}

fn shape(template: &str) -> Vec<Segment> {
    template
        .split('/')
        .skip(1)
        .map(|segment| match segment.starts_with('{') && segment.ends_with('}') {
            true => Segment::Any,
            false => Segment::Literal(segment.to_owned()),
        })
        .collect()
}

fn fits(shape: &[Segment], path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else { return false };
    let mut segments = rest.split('/');
    let fits_each = shape.iter().all(|expected| match (expected, segments.next()) {
        (Segment::Any, Some(segment)) => !segment.is_empty(),
        (Segment::Literal(literal), Some(segment)) => decoded(segment) == literal.as_str(),
        (_, None) => false,
    });
    fits_each && segments.next().is_none()
}

/// A segment as actix's router reads it: percent-encoded letters and digits decoded (a literal
/// segment is only those, so decoding the rest changes nothing this guard compares).
fn decoded(segment: &str) -> Cow<'_, str> {
    if segment.contains('%') {
        percent_encoding::percent_decode_str(segment).decode_utf8_lossy()
    } else {
        Cow::Borrowed(segment)
    }
}

#[cfg(test)]
fn overlapping(a: &[Segment], b: &[Segment]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|pair| match pair {
            (Segment::Literal(x), Segment::Literal(y)) => x == y,
            _ => true,
        })
}

#[cfg(test)]
fn render(shape: &[Segment]) -> String {
    shape
        .iter()
        .map(|segment| match segment {
            Segment::Literal(literal) => format!("/{literal}"),
            Segment::Any => "/{…}".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Shapes {
        Shapes::of([
            "/chat/v2/Services/{service}/Channels/{channel}/Messages",
            "/chat/v2/Services/{service}/Channels/{channel}/Messages/{message}",
        ])
    }

    #[test]
    fn a_path_of_a_routes_shape_is_admitted_whatever_its_dynamic_segments() {
        let shapes = messages();
        assert!(shapes.admits("/chat/v2/Services/IS1/Channels/CH2/Messages"));
        assert!(shapes.admits("/chat/v2/Services/IS1/Channels/CH2/Messages/IM3"));
        assert!(shapes.admits("/chat/v2/Services/IS1/Channels/a%20b/Messages"));
        assert!(shapes.admits("/chat/v2/Services/IS1/Channels/CH2/%4Dessages"), "decoded");
    }

    #[test]
    fn a_path_of_another_shape_is_not() {
        let shapes = messages();
        for path in [
            "/chat/v2/Services/IS1/Channels/CH2/Members",
            "/chat/v2/Services/IS1/Channels/CH2",
            "/chat/v2/Services/IS1/Channels/CH2/Messages/IM3/Extra",
            "/chat/v2/Services/IS1/Channels/CH2/Messages/",
            "/chat/v2/Services/IS1/Channels//Messages",
            "/chat/v2/Services/IS1/Channels/CH2/messages",
            "chat/v2/Services/IS1/Channels/CH2/Messages",
            "",
            "/",
        ] {
            assert!(!shapes.admits(path), "{path}");
        }
    }

    #[test]
    fn the_root_path_has_a_shape_of_its_own() {
        let root = Shapes::of(["/"]);
        assert!(root.admits("/"));
        assert!(!root.admits("/x"));
        assert!(!root.admits(""));
    }

    #[test]
    fn groups_overlap_where_one_path_could_be_either_routes() {
        let channels = Shapes::of(["/chat/v2/Services/{service}/Channels/{channel}"]);
        let literal = Shapes::of(["/chat/v2/Services/{service}/Channels/Validate"]);
        assert_eq!(
            channels.overlap(&literal).as_deref(),
            Some("/chat/v2/Services/{…}/Channels/{…}")
        );
        assert_eq!(messages().overlap(&channels), None);
        assert_eq!(Shapes::of(["/a/{b}"]).overlap(&Shapes::of(["/a/{b}/c"])), None);
    }
}
