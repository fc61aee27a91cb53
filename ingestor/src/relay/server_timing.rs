//! Reading the `Server-Timing` header (W3C Server Timing) of `dispatch`'s answers: where the
//! app spent a request, stage by stage (`lookup;dur=27.1, claim;dur=3.2`, milliseconds), for the
//! relay's metrics.

use std::time::Duration;

/// The most stages taken from one header: `dispatch` reports about a dozen; the rest of a
/// longer header is ignored rather than growing the metrics without bound.
pub const MAX_STAGES: usize = 24;
/// The longest stage name taken.
const MAX_NAME: usize = 32;

/// The stages of one header value with a duration, in order. Entries without `dur`, with a
/// name that is not a short lowercase token, or with a negative or unreadable duration are
/// skipped; a stage named twice counts once per entry.
pub fn parse(value: &str) -> Vec<(String, Duration)> {
    value
        .split(',')
        .filter_map(entry)
        .take(MAX_STAGES)
        .collect()
}

fn entry(text: &str) -> Option<(String, Duration)> {
    let mut parts = text.split(';');
    let name = parts.next()?.trim().to_ascii_lowercase();
    let usable = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(usable) {
        return None;
    }
    let ms = parts.find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("dur")
            .then(|| value.trim().trim_matches('"').parse::<f64>().ok())
            .flatten()
    })?;
    (ms.is_finite() && ms >= 0.0).then(|| (name, Duration::from_secs_f64(ms / 1000.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1000.0)
    }

    #[test]
    fn reads_each_stage_in_order() {
        assert_eq!(
            parse("read;dur=0.412, lookup;dur=27.1,claim;desc=\"claims\";dur=3"),
            vec![
                ("read".to_owned(), ms(0.412)),
                ("lookup".to_owned(), ms(27.1)),
                ("claim".to_owned(), ms(3.0)),
            ]
        );
    }

    #[test]
    fn skips_entries_without_a_usable_duration_or_name() {
        assert_eq!(
            parse("cache, miss;desc=x, neg;dur=-1, nan;dur=NaN, bad name;dur=1, ok;dur=\"2.5\""),
            vec![("ok".to_owned(), ms(2.5))]
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn takes_at_most_max_stages() {
        let long: Vec<String> = (0..100).map(|i| format!("s{i};dur=1")).collect();
        let stages = parse(&long.join(", "));
        assert_eq!(stages.len(), MAX_STAGES);
        assert_eq!(stages[0].0, "s0");
    }
}
