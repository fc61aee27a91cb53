//! Token amounts: decimal strings in human units ("1.5" PAS) ↔ integers in base units.

/// Why an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not of the form `123` or `123.45`.
    #[error("{0:?} is not a decimal number like \"1.5\"")]
    NotDecimal(String),
    /// More fractional digits than the token has.
    #[error("{value:?} has more than {decimals} decimal places, the token's precision")]
    TooPrecise {
        /// The input.
        value: String,
        /// The token's decimals.
        decimals: u8,
    },
    /// Larger than a u128 of base units.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// Parses a non-negative decimal string in token units into base units.
pub fn parse_units(value: &str, decimals: u8) -> Result<u128, AmountError> {
    let not_decimal = || AmountError::NotDecimal(value.to_owned());
    let (whole, fraction) = match value.split_once('.') {
        Some((w, f)) => (w, f),
        None => (value, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || value.ends_with('.') {
        return Err(not_decimal());
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise {
            value: value.to_owned(),
            decimals,
        });
    }
    let too_large = || AmountError::TooLarge(value.to_owned());
    let scale = 10u128
        .checked_pow(u32::from(decimals))
        .ok_or_else(too_large)?;
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let fraction_units: u128 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<width$}", width = usize::from(decimals));
        padded.parse().map_err(|_| too_large())?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_units))
        .ok_or_else(too_large)
}

/// Formats base units as a decimal string in token units, without trailing zeros.
pub fn format_units(units: u128, decimals: u8) -> String {
    let s = format!("{units:0>width$}", width = usize::from(decimals) + 1);
    let (whole, fraction) = s.split_at(s.len() - usize::from(decimals));
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_units() {
        assert_eq!(parse_units("1.5", 10), Ok(15_000_000_000));
        assert_eq!(parse_units("0", 10), Ok(0));
        assert_eq!(parse_units("10", 0), Ok(10));
        assert_eq!(parse_units("0.0000000001", 10), Ok(1));
        assert_eq!(parse_units("1.50000000000", 10), Ok(15_000_000_000));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        for bad in ["", ".5", "1.", "-1", "1e3", " 1", "1,5", "0x10"] {
            assert!(
                matches!(parse_units(bad, 10), Err(AmountError::NotDecimal(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_units("0.00000000001", 10),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            parse_units("340282366920938463463374607431768211456", 0),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_round_trip() {
        for (units, decimals, text) in [
            (15_000_000_000u128, 10, "1.5"),
            (1, 10, "0.0000000001"),
            (7, 0, "7"),
        ] {
            assert_eq!(format_units(units, decimals), text);
            assert_eq!(parse_units(text, decimals), Ok(units));
        }
    }
}
