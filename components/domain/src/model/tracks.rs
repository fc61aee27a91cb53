//! A chain's referendum tracks, as its runtime names them (`Referenda.Tracks`): what the operator
//! (or `aurras-ingestor recipes`, which reads the runtime) stores with the source, so a person can
//! follow tracks by name ("treasurer", "small tipper") and a track the chain lacks is refused.

use serde_json::Value;

use crate::envelope::Track;
use crate::error::{ApiError, ApiResult};

/// The most tracks a source keeps.
pub const MAX_TRACKS: usize = 100;
/// The longest track name.
pub const MAX_NAME_CHARS: usize = 64;

/// A source's tracks, checked: ids unique, names short, printable and unique.
pub fn validate(tracks: Vec<Track>, field: &str) -> ApiResult<Vec<Track>> {
    if tracks.len() > MAX_TRACKS {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_TRACKS} tracks"),
        ));
    }
    for (i, t) in tracks.iter().enumerate() {
        let bad_name = t.name.is_empty()
            || t.name.chars().count() > MAX_NAME_CHARS
            || t.name.chars().any(char::is_control);
        if bad_name {
            return Err(ApiError::invalid(
                format!("{field}[{i}].name"),
                format!("1 to {MAX_NAME_CHARS} characters, no control characters"),
            ));
        }
        if tracks[..i]
            .iter()
            .any(|o| o.id == t.id || key(&o.name) == key(&t.name))
        {
            return Err(ApiError::invalid(
                format!("{field}[{i}]"),
                format!("track {} ({}) is listed twice", t.id, t.name),
            ));
        }
    }
    Ok(tracks)
}

/// A name as people and runtimes write it, compared without case, `_`, `-` or spaces.
fn key(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A track a person gave (its id, or its name on the chain) as its id. With no tracks known for
/// the chain only ids are taken, unchecked; with them, an id or name the chain lacks is refused,
/// naming the chain's tracks.
pub fn resolve(given: &Value, known: &[Track], chain: &str) -> Result<u16, String> {
    let listed = || {
        known
            .iter()
            .map(|t| format!("{} ({})", t.name.replace('_', " "), t.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match given {
        Value::Number(n) => {
            let id = crate::integer::to_u64(n)
                .and_then(|id| u16::try_from(id).ok())
                .ok_or("a track id is 0 to 65535")?;
            if known.is_empty() || known.iter().any(|t| t.id == id) {
                Ok(id)
            } else {
                Err(format!("{chain} has no track {id}; its tracks are {}", listed()))
            }
        }
        Value::String(name) if !known.is_empty() => known
            .iter()
            .find(|t| key(&t.name) == key(name))
            .map(|t| t.id)
            .ok_or_else(|| format!("{chain} has no track {name:?}; its tracks are {}", listed())),
        Value::String(_) => Err(format!(
            "{chain}'s track names are not known here (the operator runs `aurras-ingestor recipes --chain {chain}`); give track ids"
        )),
        _ => Err("a track id, or a track's name".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Vec<Track> {
        [(0, "root"), (11, "treasurer"), (30, "small_tipper")]
            .map(|(id, name)| Track {
                id,
                name: name.into(),
            })
            .to_vec()
    }

    #[test]
    fn names_and_ids_resolve_against_the_chains_tracks() {
        let k = known();
        assert_eq!(resolve(&json!("treasurer"), &k, "paseo"), Ok(11));
        assert_eq!(resolve(&json!("Small Tipper"), &k, "paseo"), Ok(30));
        assert_eq!(resolve(&json!("small-tipper"), &k, "paseo"), Ok(30));
        assert_eq!(resolve(&json!(0), &k, "paseo"), Ok(0));
        let err = resolve(&json!("big spender"), &k, "paseo").expect_err("unknown");
        assert!(
            err.contains("root (0), treasurer (11), small tipper (30)"),
            "{err}"
        );
        assert!(
            resolve(&json!(12), &k, "paseo").is_err(),
            "an id the chain lacks"
        );
        // Tracks not known: ids pass, names cannot be read.
        assert_eq!(resolve(&json!(12), &[], "paseo"), Ok(12));
        assert!(resolve(&json!("root"), &[], "paseo")
            .expect_err("no names")
            .contains("aurras-ingestor recipes"));
    }

    #[test]
    fn a_source_tracks_are_checked() {
        assert!(validate(known(), "tracks").is_ok());
        let twice = vec![
            Track {
                id: 0,
                name: "root".into(),
            },
            Track {
                id: 1,
                name: "Root".into(),
            },
        ];
        assert_eq!(
            validate(twice, "tracks")
                .expect_err("twice")
                .field
                .as_deref(),
            Some("tracks[1]")
        );
        let empty = vec![Track {
            id: 0,
            name: String::new(),
        }];
        assert_eq!(
            validate(empty, "tracks")
                .expect_err("empty")
                .field
                .as_deref(),
            Some("tracks[0].name")
        );
    }
}
