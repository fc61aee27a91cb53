//! The OpenAPI document (`docs/openapi.json`) lists exactly the routes the `api` component serves,
//! with the security each one enforces.

use std::collections::BTreeSet;

use aurras_domain::api::{Access, ROUTES};
use serde_json::Value;

fn document() -> Value {
    serde_json::from_str(include_str!("../../../docs/openapi.json"))
        .expect("docs/openapi.json is JSON")
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if method != "parameters" {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
}

#[test]
fn documented_security_matches_enforced_access() {
    let doc = document();
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.to_ascii_lowercase()];
        let schemes: BTreeSet<String> = op["security"]
            .as_array()
            .map(|reqs| {
                reqs.iter()
                    .flat_map(|req| req.as_object().into_iter().flat_map(|o| o.keys().cloned()))
                    .collect()
            })
            .unwrap_or_default();
        let expected: &[&str] = match r.access {
            Access::Public => &[],
            Access::PublicOrAdmin | Access::Admin => &["adminToken"],
            Access::TriggerOwner => &["adminToken", "triggerToken"],
        };
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(schemes, expected, "{} {}", r.method, r.path);
        if r.access == Access::PublicOrAdmin {
            assert!(
                op["security"].as_array().is_some_and(|a| a
                    .iter()
                    .any(|s| s.as_object().is_some_and(|o| o.is_empty()))),
                "{} {} must allow anonymous access",
                r.method,
                r.path
            );
        }
        if matches!(r.access, Access::Admin | Access::TriggerOwner) {
            assert!(
                op["responses"]["401"].is_object(),
                "{} {} documents its 401",
                r.method,
                r.path
            );
        }
    }
}
