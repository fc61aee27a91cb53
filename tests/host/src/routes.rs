//! HTTP routing with Spin's rules.
//!
//! A route is a path of segments, optionally ending in `/...` (a wildcard that matches the prefix
//! itself and everything below it). Segments are literals or `:name` parameters. When several routes
//! match, the most specific wins: an exact route before any wildcard; among exact routes, literals
//! before parameters (compared segment by segment); among wildcards, the longest prefix.

use std::cmp::Ordering;

use anyhow::{bail, Result};

/// One route of the manifest, bound to a component.
#[derive(Debug, Clone)]
struct Route {
    text: String,
    segments: Vec<Segment>,
    wildcard: bool,
    component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of routing one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component to run.
    pub component: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route without its trailing `/...` (`spin-component-route`, `spin-matched-route`).
    pub route: String,
    /// The part of the path the wildcard matched, starting with `/`, or empty (`spin-path-info`).
    pub path_info: String,
    /// `:name` parameters and their values, in order.
    pub params: Vec<(String, String)>,
}

/// A route written by more than one trigger: only the last one is reachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The route.
    pub route: String,
    /// The component that will never run for it.
    pub unused_component: String,
    /// The component that does.
    pub effective_component: String,
}

/// The application's routing table.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// Builds the table from `(route, component)` pairs, rejecting malformed routes.
    ///
    /// As in Spin, a route written twice is not an error: the last trigger wins, and the
    /// shadowed ones are returned so the caller can report them.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(Self, Vec<Duplicate>)> {
        let mut routes: Vec<Route> = Vec::new();
        let mut duplicates = Vec::new();
        for (text, component) in entries {
            let route = parse(text, component)?;
            if let Some(prev) = routes.iter_mut().find(|r| r.text == route.text) {
                duplicates.push(Duplicate {
                    route: text.to_owned(),
                    unused_component: prev.component.clone(),
                    effective_component: component.to_owned(),
                });
                *prev = route;
            } else {
                routes.push(route);
            }
        }
        // Most specific first, so the first match wins.
        routes.sort_by(specificity);
        Ok((Self { routes }, duplicates))
    }

    /// Finds the component for `path` (no query string).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let request: Vec<&str> = split(path);
        self.routes.iter().find_map(|r| r.matches(&request))
    }
}

fn parse(text: &str, component: &str) -> Result<Route> {
    if !text.starts_with('/') {
        bail!("route {text:?} of component {component:?} must start with `/`");
    }
    let (prefix, wildcard) = match text.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None if text.contains("...") => {
            bail!(
                "route {text:?} of component {component:?}: `...` may only end a route, as `/...`"
            )
        }
        None => (text, false),
    };
    let segments = split(prefix)
        .into_iter()
        .map(|s| match s.strip_prefix(':') {
            Some("") => {
                bail!("route {text:?} of component {component:?} has an unnamed `:` parameter")
            }
            Some(name) => Ok(Segment::Param(name.to_owned())),
            None => Ok(Segment::Literal(s.to_owned())),
        })
        .collect::<Result<_>>()?;
    Ok(Route {
        text: text.to_owned(),
        segments,
        wildcard,
        component: component.to_owned(),
    })
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

fn specificity(a: &Route, b: &Route) -> Ordering {
    // Exact routes first.
    a.wildcard
        .cmp(&b.wildcard)
        // Longer prefixes first (for wildcards; exact routes of different lengths never compete).
        .then_with(|| b.segments.len().cmp(&a.segments.len()))
        // Literals before parameters, segment by segment.
        .then_with(|| {
            let rank = |s: &Segment| matches!(s, Segment::Param(_)) as u8;
            a.segments.iter().map(rank).cmp(b.segments.iter().map(rank))
        })
}

impl Route {
    fn matches(&self, request: &[&str]) -> Option<RouteMatch> {
        let fits = if self.wildcard {
            request.len() >= self.segments.len()
        } else {
            request.len() == self.segments.len()
        };
        if !fits {
            return None;
        }
        let mut params = Vec::new();
        for (segment, actual) in self.segments.iter().zip(request) {
            match segment {
                Segment::Literal(lit) if lit == actual => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), (*actual).to_owned())),
            }
        }
        let rest = &request[self.segments.len()..];
        let path_info = if rest.is_empty() {
            String::new()
        } else {
            format!("/{}", rest.join("/"))
        };
        let route = self
            .text
            .strip_suffix("/...")
            .unwrap_or(&self.text)
            .to_owned();
        Some(RouteMatch {
            component: self.component.clone(),
            raw_route: self.text.clone(),
            route,
            path_info,
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(routes.iter().copied()).expect("router").0
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("/...", "ui"),
            ("/api/...", "api"),
            ("/api/health", "health"),
            ("/api/triggers/...", "triggers"),
        ]);
        assert_eq!(component(&r, "/api/health").as_deref(), Some("health"));
        assert_eq!(component(&r, "/api/health/x").as_deref(), Some("api"));
        assert_eq!(
            component(&r, "/api/triggers/1").as_deref(),
            Some("triggers")
        );
        assert_eq!(component(&r, "/api").as_deref(), Some("api"));
        assert_eq!(component(&r, "/index.html").as_deref(), Some("ui"));
        assert_eq!(component(&r, "/").as_deref(), Some("ui"));
    }

    #[test]
    fn path_info_and_params() {
        let r = router(&[("/api/...", "api"), ("/users/:id", "users")]);
        let m = r.route("/api/sources/abc").expect("match");
        assert_eq!(m.path_info, "/sources/abc");
        assert_eq!(m.route, "/api");
        assert_eq!(m.raw_route, "/api/...");
        let m = r.route("/users/42").expect("match");
        assert_eq!(m.params, vec![("id".into(), "42".into())]);
        assert_eq!(m.path_info, "");
        assert!(r.route("/users/42/x").is_none());
    }

    #[test]
    fn literals_beat_parameters() {
        let r = router(&[("/users/:id", "by-id"), ("/users/me", "me")]);
        assert_eq!(component(&r, "/users/me").as_deref(), Some("me"));
        assert_eq!(component(&r, "/users/7").as_deref(), Some("by-id"));
    }

    #[test]
    fn no_match_and_bad_routes() {
        let r = router(&[("/api/...", "api")]);
        assert!(r.route("/other").is_none());
        assert!(Router::new([("api", "c")]).is_err());
        assert!(Router::new([("/a/.../b", "c")]).is_err());
        let (r, dups) = Router::new([("/a", "x"), ("/a", "y")]).expect("router");
        assert_eq!(component(&r, "/a").as_deref(), Some("y"));
        assert_eq!(dups[0].unused_component, "x");
    }
}
