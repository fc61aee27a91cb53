//! The template engine as Aurras configures it: minijinja with the built-in filters, fuel, a cap on
//! output, no loader, no escaping, and the message helpers (`amount`, `short`).

use std::io;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};
use serde_json::Value as Json;

use super::{RenderError, MAX_OUTPUT_BYTES, MAX_TEMPLATE_CHARS};
use crate::amount::format_units;
use crate::filter::as_account;
use crate::notification::shorten;

/// The work one template may do: every instruction costs one fuel and every 64 bytes it produces
/// one more, so this bounds both time and memory. A message template of a few lines uses a few
/// hundred; a loop over every field of an event a few thousand.
pub const FUEL: u64 = 50_000;

/// Nested loops and recursion deeper than this fail rather than exhaust the stack.
const RECURSION_LIMIT: usize = 32;

/// The context variables every render has (beside the environment's globals).
pub(super) const CONTEXT_NAMES: &[&str] = &[
    "fields", "block", "chain", "event", "link", "token", "asset", "track",
];

/// One environment for every render: it holds only configuration and helpers, no templates.
static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Plain-text messages: `<` and `&` are what the person wrote, not HTML to escape.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    // Printing or iterating an undefined value fails (a misspelt `fields.amout` is an error, not
    // an empty string), while `{% if fields.memo %}` and `| default(...)` still test for absence.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    // Spans on errors, for the column a person is pointed at.
    env.set_debug(true);
    // `debug()` dumps the engine's whole state: no use in a notification.
    env.remove_global("debug");
    env.add_function("amount", amount);
    env.add_function("asset_amount", asset_amount);
    env.add_function("short", short);
    env
});

/// The shared environment.
pub(super) fn env() -> &'static Environment<'static> {
    &ENV
}

/// A template value from a decoded event field, as the envelope carries it.
pub(super) fn from_json(value: &Json) -> Value {
    match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => n
            .as_u64()
            .map(Value::from)
            .or_else(|| n.as_i64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or_else(|| Value::from(n.to_string())),
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => items.iter().map(from_json).collect(),
        Json::Object(map) => Value::from_pairs(map.iter().map(|(k, v)| (k.as_str(), from_json(v)))),
    }
}

/// A value of unknown type in the sample event a template is validated against: any attribute
/// of it is another placeholder, it is true, iterates as empty and prints as `‹name›`. The
/// helpers accept it, so the preview reads like a message.
#[derive(Debug)]
pub(super) struct Placeholder(pub(super) String);

impl Object for Placeholder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from_object(Placeholder(key.to_string())))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "‹{}›", self.0)
    }
}

fn placeholder(value: &Value) -> Option<&Placeholder> {
    value.downcast_object_ref::<Placeholder>()
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// A value quoted in an error, short enough for a delivery status however long the field.
fn shown(value: &impl std::fmt::Display) -> String {
    super::cut_at_word(&value.to_string(), 60)
}

/// `{{ amount(fields.amount) }}` → `12.5 PAS`: base units (a string of digits or an integer, as
/// the envelope carries them) in the source's token; the plain number when the source has no
/// token.
fn amount(state: &State, value: Value) -> Result<String, Error> {
    units_in(state, "token", "amount", value)
}

/// `{{ asset_amount(fields.amount) }}` → `2.5 USDT`: base units in the event's asset (its
/// metadata on the chain); the plain number when the asset has none.
fn asset_amount(state: &State, value: Value) -> Result<String, Error> {
    units_in(state, "asset", "asset_amount", value)
}

/// Base units `value` in the `{symbol, decimals}` of the context variable `unit`, for the helper
/// `helper`.
fn units_in(state: &State, unit: &str, helper: &str, value: Value) -> Result<String, Error> {
    let token = state.lookup(unit).filter(|t| !t.is_none());
    let symbol = token
        .as_ref()
        .and_then(|t| t.get_attr("symbol").ok())
        .and_then(|s| s.as_str().map(str::to_owned));
    if let Some(p) = placeholder(&value) {
        return Ok(match symbol {
            Some(symbol) => format!("‹{}› {symbol}", p.0),
            None => format!("‹{}›", p.0),
        });
    }
    if value.is_undefined() {
        return Err(invalid(format!("{helper}() was given an undefined value")));
    }
    let raw = match value.as_str() {
        Some(s) => s.to_owned(),
        None if value.is_integer() => value.to_string(),
        None => {
            return Err(invalid(format!(
                "{helper}() takes an integer in base units, not {} ({})",
                value.kind(),
                shown(&value)
            )))
        }
    };
    let units: u128 = raw.parse().map_err(|_| {
        invalid(format!(
            "{helper}() takes a non-negative integer in base units, not {:?}",
            shown(&raw)
        ))
    })?;
    let decimals = token
        .as_ref()
        .and_then(|t| t.get_attr("decimals").ok())
        .and_then(|d| u8::try_from(d).ok());
    Ok(match (symbol, decimals) {
        (Some(symbol), Some(decimals)) => format!("{} {symbol}", format_units(units, decimals)),
        _ => units.to_string(),
    })
}

/// `{{ short(fields.to) }}` → `5FHn…94ty`: an account as the envelope carries it (SS58 or hex,
/// or wrapped in a one-variant object such as `{"Id": "5FHn…"}`, how `MultiAddress` decodes);
/// any other string is shortened the same way.
fn short(value: Value) -> Result<String, Error> {
    if let Some(p) = placeholder(&value) {
        return Ok(format!("‹{}›", p.0));
    }
    if let Some(s) = value.as_str() {
        return Ok(shorten(s));
    }
    if value.kind() == minijinja::value::ValueKind::Map {
        let mut entries = value.try_iter().map_err(|e| invalid(e.to_string()))?;
        if let (Some(key), None) = (entries.next(), entries.next()) {
            let inner = value.get_item(&key).unwrap_or_default();
            if let Some(s) = inner.as_str() {
                if as_account(&Json::String(s.to_owned())).is_some() {
                    return Ok(shorten(s));
                }
            }
        }
    }
    if value.is_number() {
        return Ok(value.to_string());
    }
    if value.is_undefined() {
        return Err(invalid("short() was given an undefined value".into()));
    }
    Err(invalid(format!(
        "short() takes an address, not {} ({})",
        value.kind(),
        shown(&value)
    )))
}

/// Collects output and refuses to grow past [`MAX_OUTPUT_BYTES`].
struct Capped {
    out: Vec<u8>,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.over = true;
            return Err(io::Error::other("output limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compiles and renders one template; errors name `field` and where in the source they are.
pub(super) fn render_one(
    field: &'static str,
    source: &str,
    context: &Value,
) -> Result<String, RenderError> {
    let chars = source.chars().count();
    if chars > MAX_TEMPLATE_CHARS {
        return Err(RenderError::at(
            field,
            None,
            format!("the template is {chars} characters long; the limit is {MAX_TEMPLATE_CHARS}"),
        ));
    }
    let env = env();
    let template = env
        .template_from_str(source)
        .map_err(|e| from_engine(field, source, &e))?;
    let mut out = Capped {
        out: Vec::new(),
        over: false,
    };
    let result = template.render_captured_to(context.clone(), &mut out);
    if out.over {
        return Err(RenderError::at(
            field,
            None,
            format!("the message is longer than {MAX_OUTPUT_BYTES} bytes"),
        ));
    }
    result.map_err(|e| from_engine(field, source, &e))?;
    String::from_utf8(out.out).map_err(|_| RenderError::at(field, None, "not UTF-8 text".into()))
}

/// Names in `source` that are neither context variables nor globals: a misspelt helper in a branch
/// the sample did not take. Each with the position of its first use inside a tag.
pub(super) fn unknown_names(source: &str) -> Vec<(String, Option<(usize, usize)>)> {
    let env = env();
    let Ok(template) = env.template_from_str(source) else {
        return Vec::new();
    };
    let globals: Vec<&str> = env.globals().map(|(name, _)| name).collect();
    let mut unknown: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| !CONTEXT_NAMES.contains(&n.as_str()) && !globals.contains(&n.as_str()))
        .collect();
    unknown.sort();
    let mut found: Vec<(String, Option<(usize, usize)>)> = unknown
        .into_iter()
        .map(|name| {
            let at = first_use(source, &name).map(|offset| line_column(source, offset));
            (name, at)
        })
        .collect();
    // The first in the source first, as a person reads it.
    found.sort_by_key(|(_, at)| at.unwrap_or((usize::MAX, 0)));
    found
}

/// What a template may name: the context's variables, then the functions.
pub(super) fn known_names() -> String {
    let mut functions: Vec<&str> = env().globals().map(|(name, _)| name).collect();
    functions.sort_unstable();
    let functions = functions.join(", ");
    format!(
        "a template knows {} and the functions {functions}",
        CONTEXT_NAMES.join(", ")
    )
}

/// The inside of every `{{ … }}` and `{% … %}` in `source`, with its byte offset.
fn tag_bodies(source: &str) -> Vec<(usize, &str)> {
    let mut bodies = Vec::new();
    let mut rest = 0;
    while let Some(open) = source[rest..].find('{').map(|i| rest + i) {
        let close = match source[open + 1..].chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            // A comment is no code: skip it whole.
            Some('#') => {
                rest = source[open + 2..]
                    .find("#}")
                    .map_or(source.len(), |i| open + 2 + i + 2);
                continue;
            }
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let end = source[start..]
            .find(close)
            .map_or(source.len(), |i| start + i);
        bodies.push((start, &source[start..end]));
        rest = end;
    }
    bodies
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Byte offset of `name` as a whole identifier (not an attribute) inside a tag.
fn first_use(source: &str, name: &str) -> Option<usize> {
    tag_bodies(source).into_iter().find_map(|(start, body)| {
        body.match_indices(name).find_map(|(i, _)| {
            let before = body[..i].chars().next_back();
            let after = body[i + name.len()..].chars().next();
            let whole =
                !before.is_some_and(|c| is_ident(c) || c == '.') && !after.is_some_and(is_ident);
            whole.then_some(start + i)
        })
    })
}

/// Filters (`| name`) and tests (`is name`, `is not name`) used in tags, outside string literals:
/// (is a filter, name, byte offset).
fn filters_and_tests(source: &str) -> Vec<(bool, String, usize)> {
    let mut found = Vec::new();
    for (start, body) in tag_bodies(source) {
        // Tokens outside string literals: identifiers, and `|` (other symbols end identifiers).
        let mut tokens: Vec<(usize, &str)> = Vec::new();
        let mut quote = None;
        let mut ident_start = None;
        for (i, c) in body.char_indices() {
            if let Some(q) = quote {
                quote = (c != q).then_some(q);
                continue;
            }
            if is_ident(c) {
                ident_start.get_or_insert(i);
                continue;
            }
            if let Some(s) = ident_start.take() {
                tokens.push((s, &body[s..i]));
            }
            match c {
                '"' | '\'' => quote = Some(c),
                '|' => tokens.push((i, "|")),
                c if c.is_whitespace() => {}
                _ => tokens.push((i, "")),
            }
        }
        if let Some(s) = ident_start {
            tokens.push((s, &body[s..]));
        }
        for (k, &(_, token)) in tokens.iter().enumerate() {
            let next = |n: usize| tokens.get(k + n).map(|&(at, t)| (at, t));
            let hit = match token {
                "|" => next(1).map(|n| (true, n)),
                "is" => match next(1) {
                    Some((_, "not")) => next(2).map(|n| (false, n)),
                    n => n.map(|n| (false, n)),
                },
                _ => None,
            };
            if let Some((is_filter, (at, name))) = hit {
                if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    found.push((is_filter, name.to_owned(), start + at));
                }
            }
        }
    }
    found
}

/// The first filter or test in `source` the environment does not have, for a person's error:
/// the engine only finds them when it reaches them, and a branch the sample skips is not reached.
pub(super) fn unknown_filter_or_test(source: &str) -> Option<(String, (usize, usize))> {
    let env = env();
    filters_and_tests(source)
        .into_iter()
        .find_map(|(is_filter, name, at)| {
            let probe = if is_filter {
                format!("none | {name}")
            } else {
                format!("none is {name}")
            };
            let unknown = env
                .compile_expression_owned(probe)
                .and_then(|e| e.eval(()))
                .is_err_and(|e| {
                    matches!(e.kind(), ErrorKind::UnknownFilter | ErrorKind::UnknownTest)
                });
            let kind = if is_filter { "filter" } else { "test" };
            unknown.then(|| (format!("unknown {kind} `{name}`"), line_column(source, at)))
        })
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// A person's sentence for what the engine reported, with the line and column.
fn from_engine(field: &'static str, source: &str, e: &Error) -> RenderError {
    let span = e
        .range()
        .filter(|r| r.start < r.end && r.end <= source.len());
    let at = match (&span, e.line()) {
        (Some(r), _) => Some(line_column(source, r.start)),
        (None, Some(line)) => Some((line, 0)),
        (None, None) => None,
    };
    let snippet = span.and_then(|r| source.get(r)).unwrap_or("");
    let detail = e.detail().unwrap_or_default();
    let message = match e.kind() {
        ErrorKind::UnknownFunction => format!("unknown function `{}`", name_in(snippet)),
        // The engine's detail reads "filter nope is unknown".
        ErrorKind::UnknownFilter | ErrorKind::UnknownTest => {
            let mut words = detail.split_whitespace();
            match (words.next(), words.next()) {
                (Some(kind), Some(name)) => format!("unknown {kind} `{name}`"),
                _ => e.kind().to_string(),
            }
        }
        ErrorKind::UndefinedError if !snippet.is_empty() => format!("`{snippet}` is undefined"),
        ErrorKind::OutOfFuel => {
            "the template does too much work (a loop too long?); it ran out of fuel".into()
        }
        ErrorKind::SyntaxError => format!("syntax error: {detail}"),
        kind => match detail {
            "" => kind.to_string(),
            d => d.to_owned(),
        },
    };
    let mut error = RenderError::at(field, at, message);
    error.value_error = matches!(
        e.kind(),
        ErrorKind::InvalidOperation
            | ErrorKind::NonPrimitive
            | ErrorKind::NonKey
            | ErrorKind::CannotUnpack
            | ErrorKind::BadSerialization
    );
    error
}

/// The identifier a failing call or filter names: `amout` from `amout(fields.amount)`.
fn name_in(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}
