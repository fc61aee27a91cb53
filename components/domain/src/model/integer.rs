//! Integers in request bodies, read as JSON numbers: `10` and `10.0` are the same number in JSON
//! (RFC 8259 has one number type, and JSON Schema's `integer` admits both), so both are accepted;
//! `10.5`, negatives where unsigned, and out-of-range values are refused with the field's name.

use serde::de::{Deserializer, Error};
use serde::Deserialize;

/// A JSON number that is a whole number (`7` or `7.0`) within `u64`.
pub fn to_u64(number: &serde_json::Number) -> Option<u64> {
    if let Some(n) = number.as_u64() {
        return Some(n);
    }
    // Exactly integral and within u64: 2^64 is the first float past the range.
    let f = number.as_f64()?;
    (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
}

/// An unsigned integer of type `T`, written `7` or `7.0`.
pub fn unsigned<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    to_u64(&number)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            D::Error::custom(format!(
                "{number} is not a whole number in range (at most {})",
                std::any::type_name::<T>()
            ))
        })
}

/// [`unsigned`] for an optional field (use with `#[serde(default)]`).
pub fn optional_unsigned<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    unsigned(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "super::unsigned")]
        n: u8,
        #[serde(default, deserialize_with = "super::optional_unsigned")]
        m: Option<u16>,
    }

    fn parse(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn integral_numbers_in_either_form() {
        assert_eq!(parse(r#"{"n": 10}"#).expect("int").n, 10);
        assert_eq!(parse(r#"{"n": 10.0}"#).expect("float").n, 10);
        assert_eq!(
            parse(r#"{"n": 1e1, "m": 377.0}"#).expect("exp").m,
            Some(377)
        );
        assert_eq!(parse(r#"{"n": 1}"#).expect("absent").m, None);
    }

    #[test]
    fn fractions_negatives_and_overflow_are_refused() {
        for bad in [
            r#"{"n": 10.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 256}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "10"}"#,
            r#"{"n": 1, "m": 65536.0}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
