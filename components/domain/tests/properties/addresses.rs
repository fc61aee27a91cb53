//! SS58 addresses and amounts in token units.

use aurras_domain::amount::{format_units, parse_units, AmountError};
use aurras_domain::ss58::{AccountId, Ss58Error};
use proptest::prelude::*;

use crate::support::{account, config, prefix, text};

proptest! {
    #![proptest_config(config(2048))]

    /// Every account encodes for every prefix and decodes back to itself and that prefix; no
    /// address is longer than 50 characters (what `from_ss58`'s fixed buffer assumes).
    #[test]
    fn ss58_round_trips_for_every_prefix(id in account(), prefix in 0u16..=16_383) {
        let address = id.to_ss58(prefix).expect("prefix in range");
        prop_assert!(address.len() <= 50, "{address} is {} long", address.len());
        prop_assert_eq!(AccountId::from_ss58(&address), Ok((id, prefix)));
        prop_assert_eq!(AccountId::from_ss58_for(&address, prefix), Ok(id));
        let other = if prefix == 0 { 1 } else { prefix - 1 };
        prop_assert_eq!(
            AccountId::from_ss58_for(&address, other),
            Err(Ss58Error::WrongPrefix { expected: other, found: prefix })
        );
        prop_assert_eq!(AccountId::from_hex(&id.to_hex()), Some(id));
    }

    /// Prefixes past 14 bits are refused, not truncated.
    #[test]
    fn ss58_refuses_prefixes_out_of_range(id in account(), prefix in 16_384u16..) {
        prop_assert_eq!(id.to_ss58(prefix), Err(Ss58Error::BadPrefix(prefix)));
    }

    /// Any text decodes or is refused without panicking; whatever decodes re-encodes to an address
    /// of the same account and prefix.
    #[test]
    fn ss58_decoding_never_panics(s in text()) {
        if let Ok((id, prefix)) = AccountId::from_ss58(&s) {
            let again = id.to_ss58(prefix).expect("a decoded prefix is in range");
            prop_assert_eq!(AccountId::from_ss58(&again), Ok((id, prefix)));
        }
        let _ = AccountId::from_hex(&s);
    }

    /// A truncated or extended address never reads as the original account. (It may, once in
    /// 65536, read as another length's address with a matching checksum: that is SS58's
    /// checksum size, not a bug.)
    #[test]
    fn ss58_truncated_or_extended_addresses_are_refused(
        id in account(),
        prefix in prefix(),
        cut in 1usize..10,
        extra in "[1-9A-HJ-NP-Za-km-z]{1,10}",
    ) {
        let address = id.to_ss58(prefix).expect("prefix in range");
        let short = &address[..address.len().saturating_sub(cut)];
        prop_assert_ne!(AccountId::from_ss58(short).ok(), Some((id, prefix)), "{}", short);
        let long = format!("{address}{extra}");
        prop_assert_ne!(AccountId::from_ss58(&long).ok(), Some((id, prefix)), "{}", long);
    }

    /// Every amount formats and parses back, for every precision a token may have.
    #[test]
    fn amounts_round_trip(units in any::<u128>(), decimals in 0u8..=38) {
        let text = format_units(units, decimals);
        prop_assert_eq!(parse_units(&text, decimals), Ok(units), "{}", text);
        // Trailing zeros change nothing.
        let padded = if text.contains('.') { format!("{text}000") } else { format!("{text}.000") };
        prop_assert_eq!(parse_units(&padded, decimals), Ok(units), "{}", padded);
    }

    /// Any text, any precision: a number, or one of the three errors. What parses is plain
    /// decimal notation and means the same number once formatted.
    #[test]
    fn amount_parsing_never_panics(s in text(), decimals in any::<u8>()) {
        match parse_units(&s, decimals) {
            Ok(units) => {
                let (whole, fraction) = s.split_once('.').unwrap_or((s.as_str(), ""));
                prop_assert!(!whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(fraction.bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(parse_units(&format_units(units, decimals), decimals), Ok(units));
            }
            Err(AmountError::NotDecimal(v) | AmountError::TooLarge(v)) => prop_assert_eq!(v, s),
            Err(AmountError::TooPrecise { value, decimals: d }) => {
                prop_assert_eq!(value, s);
                prop_assert_eq!(d, decimals);
            }
        }
    }

    /// Decimal strings of any length and precision: too large and too precise are told apart
    /// from malformed.
    #[test]
    fn long_decimals_are_refused_by_size_not_shape(
        whole in "[0-9]{1,80}",
        fraction in "[0-9]{0,80}",
        decimals in 0u8..=38,
    ) {
        let s = if fraction.is_empty() { whole.clone() } else { format!("{whole}.{fraction}") };
        prop_assert!(!matches!(parse_units(&s, decimals), Err(AmountError::NotDecimal(_))), "{}", s);
    }
}
