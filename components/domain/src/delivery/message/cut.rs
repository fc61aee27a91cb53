//! Fitting text into a platform's limit: cut at a word, mark the cut with "…".

/// How a platform counts the length of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Unicode scalar values (Rust `char`s).
    Chars,
    /// UTF-16 code units, as JavaScript's `length` counts (an emoji outside the BMP is two).
    Utf16,
    /// UTF-8 bytes.
    Bytes,
}

impl Unit {
    fn width(self, c: char) -> usize {
        match self {
            Unit::Chars => 1,
            Unit::Utf16 => c.len_utf16(),
            Unit::Bytes => c.len_utf8(),
        }
    }

    /// The length of `text` in this unit.
    pub fn len(self, text: &str) -> usize {
        match self {
            Unit::Chars => text.chars().count(),
            Unit::Utf16 => text.encode_utf16().count(),
            Unit::Bytes => text.len(),
        }
    }
}

/// A length limit of one platform's field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The most the field holds.
    pub max: usize,
    /// How the platform counts.
    pub unit: Unit,
}

impl Limit {
    /// `text` cut to fit, at a word where one is near the end.
    pub fn fit(self, text: &str) -> String {
        cut_at_word_in(text, self.max, self.unit)
    }
}

/// A Discord webhook message's `content`: 2,000 characters (Discord counts as JavaScript does, so
/// UTF-16 units are the safe measure).
pub const DISCORD_CONTENT: Limit = Limit {
    max: 2000,
    unit: Unit::Utf16,
};
/// A Telegram `sendMessage` text: 4,096 characters after entity parsing (UTF-16 units).
pub const TELEGRAM_TEXT: Limit = Limit {
    max: 4096,
    unit: Unit::Utf16,
};
/// The text of one Slack section block: 3,000 characters.
pub const SLACK_SECTION_TEXT: Limit = Limit {
    max: 3000,
    unit: Unit::Utf16,
};
/// An ntfy title: ntfy has no documented limit, phones show about a line; 250 bytes keeps it in
/// one HTTP header comfortably.
pub const NTFY_TITLE: Limit = Limit {
    max: 250,
    unit: Unit::Bytes,
};

/// The mark a cut text ends with.
pub const ELLIPSIS: char = '…';

/// `text` within `max` characters: unchanged when it fits, else cut at the last space that keeps at
/// least half of the room (so one long word, a URL, still shows its start) and ended with "…".
pub fn cut_at_word(text: &str, max: usize) -> String {
    cut_at_word_in(text, max, Unit::Chars)
}

/// [`cut_at_word`] with the length counted in `unit`.
pub fn cut_at_word_in(text: &str, max: usize, unit: Unit) -> String {
    if unit.len(text) <= max {
        return text.to_owned();
    }
    let room = max.saturating_sub(unit.width(ELLIPSIS));
    if room == 0 {
        return if unit.width(ELLIPSIS) <= max {
            ELLIPSIS.to_string()
        } else {
            String::new()
        };
    }
    // The longest prefix that fits the room, as a byte index on a char boundary.
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let w = unit.width(c);
        if used + w > room {
            break;
        }
        used += w;
        end = i + c.len_utf8();
    }
    let hard = &text[..end];
    // A cut right before whitespace already ends a word.
    let next_is_space = text[end..].chars().next().is_some_and(char::is_whitespace);
    let kept = if next_is_space {
        hard
    } else {
        match hard.rfind(char::is_whitespace) {
            Some(space) if unit.len(&hard[..space]) * 2 >= room => &hard[..space],
            _ => hard,
        }
    };
    let mut out = kept.trim_end().to_owned();
    out.push(ELLIPSIS);
    out
}
