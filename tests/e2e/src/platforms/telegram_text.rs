//! Telegram's formatting options (Bot API, "Formatting options"): the text a person sees and the
//! links in it, from `MarkdownV2`, `HTML` or plain text, refused the way the Bot API refuses it
//! (`Bad Request: can't parse entities: …`).

/// What a chat shows of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The text without markup.
    pub text: String,
    /// The targets of text links (`[label](url)`, `<a href="url">`) and of links in the text.
    pub links: Vec<String>,
}

/// Parses `text` as `parse_mode` says; `Err` is the Bot API's description after "Bad Request: ".
pub fn parse(text: &str, parse_mode: Option<&str>) -> Result<Parsed, String> {
    let mut parsed = match parse_mode {
        None => Parsed {
            text: text.to_owned(),
            links: Vec::new(),
        },
        Some("MarkdownV2") => {
            markdown_v2(text).map_err(|e| format!("can't parse entities: {e}"))?
        }
        Some("HTML") => html(text).map_err(|e| format!("can't parse entities: {e}"))?,
        // The legacy mode's rules are loose; only its link form is read.
        Some("Markdown") => Parsed {
            text: text.to_owned(),
            links: Vec::new(),
        },
        Some(other) => return Err(format!("unsupported parse_mode \"{other}\"")),
    };
    for link in super::links(&parsed.text) {
        if !parsed.links.contains(&link) {
            parsed.links.push(link);
        }
    }
    Ok(parsed)
}

const RESERVED: &str = "_*[]()~`>#+-=|{}.!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Bold,
    Italic,
    Underline,
    Strikethrough,
    Spoiler,
    TextUrl,
}

/// MarkdownV2: every reserved character outside an entity must be escaped with `\`; entities
/// must be closed.
fn markdown_v2(text: &str) -> Result<Parsed, String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Parsed::default();
    let mut open: Vec<(Mark, usize)> = Vec::new();
    let mut i = 0;
    let at_line_start = |i: usize| i == 0 || chars[i - 1].1 == '\n';
    while i < chars.len() {
        let (offset, c) = chars[i];
        let next = chars.get(i + 1).map(|&(_, c)| c);
        match c {
            '\\' => {
                let Some(escaped) = next.filter(|c| (1..=126).contains(&u32::from(*c))) else {
                    return Err(format!(
                        "Character '\\' at byte offset {offset} must be followed by a character to escape"
                    ));
                };
                out.text.push(escaped);
                i += 2;
                continue;
            }
            '`' => {
                let fence = next == Some('`') && chars.get(i + 2).map(|p| p.1) == Some('`');
                let width = if fence { 3 } else { 1 };
                let mut j = i + width;
                let mut body = String::new();
                loop {
                    let Some(&(_, d)) = chars.get(j) else {
                        let kind = if fence { "Pre" } else { "Code" };
                        return Err(format!(
                            "Can't find end of {kind} entity at byte offset {offset}"
                        ));
                    };
                    if d == '\\' {
                        if let Some(&(_, e)) = chars.get(j + 1) {
                            body.push(e);
                            j += 2;
                            continue;
                        }
                    }
                    let closes = (0..width).all(|k| chars.get(j + k).map(|p| p.1) == Some('`'));
                    if closes {
                        break;
                    }
                    body.push(d);
                    j += 1;
                }
                if fence {
                    // The first line of a pre block may name its language.
                    body = match body.split_once('\n') {
                        Some((first, rest)) if !first.contains(' ') => rest.to_owned(),
                        _ => body,
                    };
                }
                out.text.push_str(&body);
                i = j + width;
                continue;
            }
            '*' => toggle(&mut open, Mark::Bold, offset),
            '_' if next == Some('_') => {
                toggle(&mut open, Mark::Underline, offset);
                i += 1;
            }
            '_' => toggle(&mut open, Mark::Italic, offset),
            '~' => toggle(&mut open, Mark::Strikethrough, offset),
            '|' if next == Some('|') => {
                toggle(&mut open, Mark::Spoiler, offset);
                i += 1;
            }
            '[' => open.push((Mark::TextUrl, offset)),
            ']' if open.last().map(|m| m.0) == Some(Mark::TextUrl) => {
                open.pop();
                if next != Some('(') {
                    return Err(format!(
                        "Can't find end of the entity starting at byte offset {offset}"
                    ));
                }
                let mut j = i + 2;
                let mut url = String::new();
                loop {
                    match chars.get(j).map(|p| p.1) {
                        None => {
                            return Err(format!("Can't find end of a url at byte offset {offset}"))
                        }
                        Some('\\') => {
                            if let Some(&(_, e)) = chars.get(j + 1) {
                                url.push(e);
                            }
                            j += 2;
                        }
                        Some(')') => break,
                        Some(d) => {
                            url.push(d);
                            j += 1;
                        }
                    }
                }
                out.links.push(url);
                i = j + 1;
                continue;
            }
            '>' if at_line_start(i) => {}
            c if RESERVED.contains(c) => {
                return Err(format!(
                    "Character '{c}' is reserved and must be escaped with the preceding '\\'"
                ));
            }
            c => out.text.push(c),
        }
        i += 1;
    }
    if let Some((mark, offset)) = open.first() {
        return Err(format!(
            "Can't find end of {mark:?} entity at byte offset {offset}"
        ));
    }
    Ok(out)
}

fn toggle(open: &mut Vec<(Mark, usize)>, mark: Mark, offset: usize) {
    match open.iter().rposition(|m| m.0 == mark) {
        Some(at) => {
            open.remove(at);
        }
        None => open.push((mark, offset)),
    }
}

const HTML_TAGS: [&str; 16] = [
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// HTML: only the documented tags, closed in order; `<`, `>` and `&` in text as entities.
fn html(text: &str) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest
                    .find('>')
                    .ok_or_else(|| format!("Unclosed start tag at byte offset {offset}"))?;
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim().to_ascii_lowercase();
                    match stack.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return Err(format!(
                                "Can't find end tag corresponding to start tag \"{top}\""
                            ))
                        }
                        None => return Err(format!("Unexpected end tag at byte offset {offset}")),
                    }
                } else {
                    let name = tag
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if !HTML_TAGS.contains(&name.as_str()) {
                        return Err(format!(
                            "Unsupported start tag \"{name}\" at byte offset {offset}"
                        ));
                    }
                    if name == "a" {
                        let href = attribute(tag, "href").ok_or_else(|| {
                            format!("Can't find href in the tag \"a\" at byte offset {offset}")
                        })?;
                        out.links.push(unescape(&href));
                    }
                    stack.push(name);
                }
                offset += end + 1;
                rest = &rest[end + 1..];
            }
            '&' => {
                let (decoded, used) = entity(rest);
                out.text.push_str(&decoded);
                offset += used;
                rest = &rest[used..];
            }
            c => {
                out.text.push(c);
                offset += c.len_utf8();
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(top) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{top}\""
        ));
    }
    Ok(out)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}="))? + name.len() + 1;
    let value = &tag[at..];
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &value[1..];
    Some(value[..value.find(quote)?].to_owned())
}

/// One entity at the start of `s` (it starts with `&`): its text and the bytes it used. Telegram
/// knows `&lt;`, `&gt;`, `&amp;`, `&quot;` and numeric entities; others stay as written.
fn entity(s: &str) -> (String, usize) {
    let Some(end) = s.find(';').filter(|e| *e <= 10) else {
        return ("&".into(), 1);
    };
    let name = &s[1..end];
    let decoded = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
            .ok()
            .and_then(char::from_u32),
        n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
        _ => None,
    };
    match decoded {
        Some(c) => (c.to_string(), end + 1),
        None => ("&".into(), 1),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let (decoded, used) = entity(&rest[at..]);
        out.push_str(&decoded);
        rest = &rest[at + used..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_v2_needs_reserved_characters_escaped() {
        let ok = parse(
            r"*12 PAS* from [Alice](https://x.example/a\)b)\.",
            Some("MarkdownV2"),
        )
        .expect("valid");
        assert_eq!(ok.text, "12 PAS from Alice.");
        assert_eq!(ok.links, vec!["https://x.example/a)b".to_owned()]);
        let err = parse("12.5 PAS", Some("MarkdownV2")).expect_err("unescaped dot");
        assert!(err.contains("Character '.' is reserved"), "{err}");
        let err = parse("*bold", Some("MarkdownV2")).expect_err("unclosed");
        assert!(err.contains("Can't find end of Bold"), "{err}");
    }

    #[test]
    fn html_takes_documented_tags_only() {
        let ok = parse(
            "<b>12 PAS</b> &lt;in&gt; <a href=\"https://x.example/?a=1&amp;b=2\">tx</a>",
            Some("HTML"),
        )
        .expect("valid");
        assert_eq!(ok.text, "12 PAS <in> tx");
        assert_eq!(ok.links, vec!["https://x.example/?a=1&b=2".to_owned()]);
        assert!(parse("<div>x</div>", Some("HTML")).is_err());
        assert!(parse("<b>x</i>", Some("HTML")).is_err());
        assert!(parse("a < b", Some("HTML")).is_err());
    }
}
