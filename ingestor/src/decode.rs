//! Turning decoded SCALE values into the envelope's JSON, typed for people: accounts as SS58 with
//! the chain's prefix (and collected as hex for routing), 64-bit and larger integers as decimal
//! strings (JSON numbers lose precision past 2^53), byte arrays as hex, `Option` as value or null,
//! enums as their variant name or `{variant: fields}`.
//!
//! Field names come from the block's metadata, never from a client library's type names, so a
//! library upgrade does not change the envelope.

use aurras_domain::ss58::AccountId;
use scale_info::{form::PortableForm, PortableRegistry, TypeDef, TypeDefPrimitive, Variant};
use serde_json::{Map, Value as Json};
use subxt::ext::scale_value::{self as sv, Composite, Primitive, ValueDef};

/// A field that would not decode against the metadata.
#[derive(Debug, thiserror::Error)]
#[error("field {field:?} does not decode: {reason}")]
pub struct DecodeError {
    field: String,
    reason: String,
}

/// An event's fields as JSON, and the accounts they mention (hex, in order, without repeats).
#[derive(Debug, Default, PartialEq)]
pub struct DecodedFields {
    /// Named fields (`"0"`, `"1"`, … for unnamed ones).
    pub fields: Map<String, Json>,
    /// Account ids found anywhere in the fields.
    pub accounts: Vec<String>,
}

/// Decodes against one metadata's type registry.
pub struct Decoder<'a> {
    types: &'a PortableRegistry,
    ss58_prefix: u16,
}

impl<'a> Decoder<'a> {
    /// A decoder for `types`, writing addresses with `ss58_prefix`.
    pub fn new(types: &'a PortableRegistry, ss58_prefix: u16) -> Self {
        Self { types, ss58_prefix }
    }

    /// Decodes an event's field bytes against its metadata variant.
    pub fn event_fields(
        &self,
        variant: &Variant<PortableForm>,
        mut bytes: &[u8],
    ) -> Result<DecodedFields, DecodeError> {
        let mut out = DecodedFields::default();
        for (i, field) in variant.fields.iter().enumerate() {
            let name = field.name.clone().unwrap_or_else(|| i.to_string());
            let value =
                sv::scale::decode_as_type(&mut bytes, field.ty.id, self.types).map_err(|e| {
                    DecodeError {
                        field: name.clone(),
                        reason: e.to_string(),
                    }
                })?;
            let json = self.to_json(&value, &mut out.accounts);
            out.fields.insert(name, json);
        }
        Ok(out)
    }

    fn type_def(&self, id: u32) -> Option<&TypeDef<PortableForm>> {
        self.types.resolve(id).map(|t| &t.type_def)
    }

    fn is_account(&self, id: u32) -> bool {
        self.types
            .resolve(id)
            .is_some_and(|t| t.path.segments.last().is_some_and(|s| s == "AccountId32"))
    }

    /// Whether integers of this type can exceed 2^53 (u64 and wider, signed or not).
    fn is_wide_integer(&self, id: u32) -> bool {
        match self.type_def(id) {
            Some(TypeDef::Primitive(p)) => matches!(
                p,
                TypeDefPrimitive::U64
                    | TypeDefPrimitive::U128
                    | TypeDefPrimitive::U256
                    | TypeDefPrimitive::I64
                    | TypeDefPrimitive::I128
                    | TypeDefPrimitive::I256
            ),
            Some(TypeDef::Compact(c)) => self.is_wide_integer(c.type_param.id),
            Some(TypeDef::Composite(c)) if c.fields.len() == 1 => {
                self.is_wide_integer(c.fields[0].ty.id)
            }
            _ => false,
        }
    }

    /// Whether the type is a sequence or array of bytes.
    fn is_bytes(&self, id: u32) -> bool {
        let elem = match self.type_def(id) {
            Some(TypeDef::Sequence(s)) => s.type_param.id,
            Some(TypeDef::Array(a)) => a.type_param.id,
            _ => return false,
        };
        matches!(
            self.type_def(elem),
            Some(TypeDef::Primitive(TypeDefPrimitive::U8))
        )
    }

    fn to_json(&self, v: &sv::Value<u32>, accounts: &mut Vec<String>) -> Json {
        if self.is_account(v.context) {
            if let Some(id) = bytes_of(v)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .map(AccountId)
            {
                let hex = id.to_hex();
                if !accounts.contains(&hex) {
                    accounts.push(hex.clone());
                }
                return match id.to_ss58(self.ss58_prefix) {
                    Ok(address) => Json::String(address),
                    Err(_) => Json::String(hex),
                };
            }
        }
        match &v.value {
            ValueDef::Primitive(p) => self.primitive(p, v.context),
            ValueDef::BitSequence(bits) => {
                Json::String(bits.iter().map(|b| if b { '1' } else { '0' }).collect())
            }
            ValueDef::Composite(c) => {
                if self.is_bytes(v.context) {
                    if let Some(bytes) = bytes_of(v) {
                        return Json::String(format!("0x{}", hex::encode(bytes)));
                    }
                }
                self.composite(c, accounts)
            }
            ValueDef::Variant(var) => match (var.name.as_str(), var.values.len()) {
                ("None", 0) => Json::Null,
                ("Some", 1) => var
                    .values
                    .values()
                    .next()
                    .map(|inner| self.to_json(inner, accounts))
                    .unwrap_or(Json::Null),
                (name, 0) => Json::String(name.to_owned()),
                (name, _) => {
                    let mut obj = Map::new();
                    obj.insert(name.to_owned(), self.composite(&var.values, accounts));
                    Json::Object(obj)
                }
            },
        }
    }

    fn composite(&self, c: &Composite<u32>, accounts: &mut Vec<String>) -> Json {
        match c {
            Composite::Named(fields) => Json::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), self.to_json(v, accounts)))
                    .collect(),
            ),
            // A newtype wrapper (`Perbill(u32)`, `H256([u8; 32])`) shows as what it wraps.
            Composite::Unnamed(items) if items.len() == 1 => self.to_json(&items[0], accounts),
            Composite::Unnamed(items) => {
                Json::Array(items.iter().map(|v| self.to_json(v, accounts)).collect())
            }
        }
    }

    fn primitive(&self, p: &Primitive, ty: u32) -> Json {
        let wide = self.is_wide_integer(ty);
        match p {
            Primitive::Bool(b) => Json::Bool(*b),
            Primitive::Char(c) => Json::String(c.to_string()),
            Primitive::String(s) => Json::String(s.clone()),
            Primitive::U128(n) if wide || *n > (1u128 << 53) => Json::String(n.to_string()),
            Primitive::U128(n) => Json::from(*n as u64),
            Primitive::I128(n) if wide || n.unsigned_abs() > (1u128 << 53) => {
                Json::String(n.to_string())
            }
            Primitive::I128(n) => Json::from(*n as i64),
            Primitive::U256(b) | Primitive::I256(b) => {
                Json::String(format!("0x{}", hex::encode(b)))
            }
        }
    }
}

/// The bytes of a value that is (a wrapper around) a list of u8.
fn bytes_of<C>(v: &sv::Value<C>) -> Option<Vec<u8>> {
    match &v.value {
        ValueDef::Composite(Composite::Unnamed(xs))
            if xs.len() == 1 && !matches!(xs[0].value, ValueDef::Primitive(_)) =>
        {
            bytes_of(&xs[0])
        }
        ValueDef::Composite(Composite::Unnamed(xs)) => xs
            .iter()
            .map(|x| x.as_u128().and_then(|n| u8::try_from(n).ok()))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;
    use scale_info::{meta_type, Registry, TypeInfo};
    use serde_json::json;

    #[derive(Encode, TypeInfo)]
    struct AccountId32([u8; 32]);

    #[derive(Encode, TypeInfo)]
    struct H256([u8; 32]);

    #[derive(Encode, TypeInfo)]
    enum Status {
        Free,
        Held(u32),
    }

    #[derive(Encode, TypeInfo)]
    enum Event {
        Moved {
            from: AccountId32,
            to: AccountId32,
            amount: u128,
            small: u32,
            nonce: u64,
            memo: Vec<u8>,
            hash: H256,
            maybe: Option<u16>,
            nothing: Option<u16>,
            status: Status,
            held: Status,
            pair: (u16, bool),
            again: AccountId32,
        },
    }

    const ALICE: [u8; 32] = [
        0xd4, 0x35, 0x93, 0xc7, 0x15, 0xfd, 0xd3, 0x1c, 0x61, 0x14, 0x1a, 0xbd, 0x04, 0xa9, 0x9f,
        0xd6, 0x82, 0x2c, 0x85, 0x58, 0x85, 0x4c, 0xcd, 0xe3, 0x9a, 0x56, 0x84, 0xe7, 0xa5, 0x6d,
        0xa2, 0x7d,
    ];

    /// The type registry of `Event` and its one variant.
    fn event_types() -> (PortableRegistry, Variant<PortableForm>) {
        let mut registry = Registry::new();
        let id = registry.register_type(&meta_type::<Event>()).id;
        let types: PortableRegistry = registry.into();
        let Some(TypeDef::Variant(def)) = types.resolve(id).map(|t| &t.type_def) else {
            panic!("Event is an enum");
        };
        let variant = def.variants[0].clone();
        (types, variant)
    }

    #[test]
    fn fields_are_typed_for_people() {
        let (types, variant) = event_types();
        let event = Event::Moved {
            from: AccountId32(ALICE),
            to: AccountId32([1; 32]),
            amount: u128::MAX,
            small: 7,
            nonce: 9,
            memo: b"hi".to_vec(),
            hash: H256([0xab; 32]),
            maybe: Some(5),
            nothing: None,
            status: Status::Free,
            held: Status::Held(3),
            pair: (1, true),
            again: AccountId32(ALICE),
        };
        let bytes = event.encode();
        let decoded = Decoder::new(&types, 42)
            .event_fields(&variant, &bytes[1..])
            .expect("decodes");
        assert_eq!(
            Json::Object(decoded.fields),
            json!({
                "from": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                "to": AccountId([1; 32]).to_ss58(42).expect("ss58"),
                "amount": "340282366920938463463374607431768211455",
                "small": 7,
                "nonce": "9",
                "memo": "0x6869",
                "hash": format!("0x{}", "ab".repeat(32)),
                "maybe": 5,
                "nothing": null,
                "status": "Free",
                "held": {"Held": 3},
                "pair": [1, true],
                "again": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            })
        );
        assert_eq!(
            decoded.accounts,
            vec![AccountId(ALICE).to_hex(), AccountId([1; 32]).to_hex()]
        );
    }

    #[test]
    fn truncated_fields_name_the_field() {
        let (types, variant) = event_types();
        let err = Decoder::new(&types, 42)
            .event_fields(&variant, &ALICE[..10])
            .expect_err("truncated");
        assert!(err.to_string().contains("\"from\""), "{err}");
    }
}
