//! Player names: what a client asks to be called, made safe to show to every other player.
//!
//! A name reaches every other player's screen, so nothing in it may hide, reorder or fake
//! text around it. [`clean`] keeps what a person sees and drops the rest:
//!
//! 1. characters that draw nothing or steer other text are removed: controls, Unicode
//!    format characters (bidi embeddings, overrides, isolates and marks, zero-width
//!    spaces and joiners, the byte-order mark, soft hyphens, tag characters) and every
//!    other default-ignorable code point (variation selectors, fillers);
//! 2. the rest is put in Unicode normalization form NFKC (UAX #15), so that fullwidth or
//!    stylised letters and compatibility spaces become their plain forms;
//! 3. every kind of space (and the blank-looking fillers) becomes one ASCII space; runs of
//!    them become one; none at either end;
//! 4. combining marks that start the name or pile more than [`MAX_MARKS`] on one letter
//!    are dropped;
//! 5. it is cut to [`MAX_NAME_CHARS`] characters (and the wire's `MAX_NAME_BYTES`);
//! 6. nothing left: "player".
//!
//! Two players of one room never show the same name: [`Room::shown_name`] adds a visible
//! suffix, " (2)", " (3)"..., to a name another player of the room already shows (letter
//! case aside).

use tickwire_shared::entity::EntityKind;
use tickwire_shared::protocol::MAX_NAME_BYTES;

use super::Room;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Longest name, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 16;

/// Combining marks kept on one letter (enough for any language's accents, not a tower).
pub const MAX_MARKS: usize = 2;

/// The name given to a player whose name has nothing visible in it.
pub const FALLBACK_NAME: &str = "player";

/// Whether `c` draws nothing or changes how the text around it is drawn (see the module
/// documentation; [`is_blank`] ones, line breaks included, count as a space instead): Unicode's `Default_Ignorable_Code_Point` set plus the format
/// characters (general category Cf) outside it, the controls and the line and paragraph
/// separators.
#[must_use]
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}'   // C0, DEL, C1 controls
        | '\u{AD}'                                // soft hyphen
        | '\u{34F}'                               // combining grapheme joiner
        | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' // Arabic format, ALM
        | '\u{890}'..='\u{891}' | '\u{8E2}'
        | '\u{17B4}'..='\u{17B5}'                 // Khmer inherent vowels
        | '\u{180B}'..='\u{180F}'                 // Mongolian selectors, vowel separator
        | '\u{200B}'..='\u{200F}'                 // zero-width space/joiners, LRM, RLM
        | '\u{2028}'..='\u{202E}'                 // line/paragraph separators, bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}'                 // word joiner, invisible operators, bidi isolates
        | '\u{FE00}'..='\u{FE0F}'                 // variation selectors
        | '\u{FEFF}'                              // byte-order mark
        | '\u{FFF0}'..='\u{FFFB}'                 // unassigned specials, interlinear annotation
        | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'               // Egyptian format controls
        | '\u{1BCA0}'..='\u{1BCA3}'               // shorthand format controls
        | '\u{1D173}'..='\u{1D17A}'               // musical format controls
        | '\u{E0000}'..='\u{E0FFF}'               // tags, variation selectors supplement
    )
}

/// Whether `c` shows as blank space: every Unicode white space, and the letters that are
/// drawn blank (Hangul fillers, the braille blank).
#[must_use]
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{115F}' | '\u{1160}' | '\u{2800}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// The name to show for what a client asked to be called (see the module documentation).
#[must_use]
pub fn clean(raw: &str) -> String {
    // Bounded work whatever arrives: a join is at most a few hundred bytes anyway.
    let visible: String = raw
        .chars()
        .take(4 * MAX_NAME_BYTES)
        .filter(|c| is_blank(*c) || !is_invisible(*c))
        .collect();
    let mut name = String::with_capacity(MAX_NAME_BYTES);
    let (mut chars, mut marks, mut space) = (0, 0, false);
    for c in visible.nfkc().filter(|c| is_blank(*c) || !is_invisible(*c)) {
        if is_blank(c) {
            space = !name.is_empty();
            continue;
        }
        if is_combining_mark(c) {
            // A mark needs a letter under it, and a letter carries a few at most.
            if name.is_empty() || space || marks >= MAX_MARKS {
                continue;
            }
            marks += 1;
        } else {
            marks = 0;
        }
        let pad = usize::from(space);
        if chars + pad + 1 > MAX_NAME_CHARS || name.len() + pad + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        if space {
            name.push(' ');
            chars += 1;
            space = false;
        }
        name.push(c);
        chars += 1;
    }
    if name.is_empty() {
        FALLBACK_NAME.to_owned()
    } else {
        name
    }
}

/// `name` cut so that `suffix` fits after it within the limits.
fn with_suffix(name: &str, suffix: &str) -> String {
    let room_chars = MAX_NAME_CHARS - suffix.chars().count();
    let room_bytes = MAX_NAME_BYTES - suffix.len();
    let mut out = String::with_capacity(MAX_NAME_BYTES);
    for (i, c) in name.chars().enumerate() {
        if i + 1 > room_chars || out.len() + c.len_utf8() > room_bytes {
            break;
        }
        out.push(c);
    }
    // A cut can leave a space or a bare mark at the end: the suffix brings its own space.
    let keep = out.trim_end().len();
    out.truncate(keep);
    out.push_str(suffix);
    out
}

impl Room {
    /// The name a joining player is shown under: `raw` [`clean`]ed, with a visible suffix
    /// when another player of the room already shows it (compared without letter case).
    pub(super) fn shown_name(&self, raw: &str) -> String {
        let name = clean(raw);
        // One set, each name lower-cased once: a crowd of equal names costs a lookup per
        // suffix tried, not a scan of the room.
        let taken: std::collections::HashSet<String> = self
            .players
            .keys()
            .filter_map(|id| match &self.world.entities.get(id)?.kind {
                EntityKind::Player(p) => Some(p.name.to_lowercase()),
                _ => None,
            })
            .collect();
        let free = |n: &str| !taken.contains(&n.to_lowercase());
        if free(&name) {
            return name;
        }
        (2..)
            .map(|n| with_suffix(&name, &format!(" ({n})")))
            .find(|n| free(n))
            .expect("a room holds fewer players than numbers")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_and_bidi_controls_are_removed() {
        assert_eq!(clean("ab\u{202E}cd"), "abcd", "right-to-left override");
        assert_eq!(clean("\u{2067}evil\u{2069}x"), "evilx", "isolates");
        assert_eq!(clean("a\u{200B}b\u{200D}c\u{2060}d"), "abcd", "zero-width");
        assert_eq!(clean("\u{FEFF}bom"), "bom");
        assert_eq!(clean("x\u{E0041}\u{E0042}"), "x", "tag characters");
        assert_eq!(
            clean("a\u{7}b\nc"),
            "ab c",
            "controls out, line breaks are space"
        );
    }

    #[test]
    fn invisible_or_blank_names_become_the_fallback() {
        for raw in [
            "",
            "   ",
            "\u{200B}\u{200B}\u{200B}",
            "\u{3164}\u{3164}",
            "\u{2800}",
            "\u{FEFF} \u{200E}",
            "\u{301}\u{301}",
        ] {
            assert_eq!(clean(raw), FALLBACK_NAME, "{raw:?}");
        }
        // Trimming comes after filtering: invisible characters cannot shield a space.
        assert_eq!(clean("\u{200B} ann \u{200B}"), "ann");
    }

    #[test]
    fn confusable_spaces_and_compatibility_forms_normalize() {
        assert_eq!(clean("a\u{A0}\u{2003}\u{3000}b"), "a b", "one space");
        assert_eq!(clean("ＡＤＭＩＮ"), "ADMIN", "fullwidth");
        assert_eq!(clean("ﬁsh"), "fish", "ligature");
        assert_eq!(clean("e\u{301}"), "é", "composed");
        // NFKC composes a + acute into one letter; two more marks at most on it.
        assert_eq!(
            clean("a\u{301}\u{302}\u{303}\u{304}"),
            "\u{E1}\u{302}\u{303}"
        );
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(clean(&"x".repeat(40)).chars().count(), MAX_NAME_CHARS);
        let cjk = clean(&"名".repeat(40));
        assert!(cjk.len() <= MAX_NAME_BYTES && !cjk.is_empty());
        assert_eq!(clean("ab          cd"), "ab cd");
        // A cut never leaves a trailing space.
        let cut = clean("abcdefghijklmno pqrs");
        assert_eq!(cut, "abcdefghijklmno");
    }

    #[test]
    fn suffixes_fit_the_limits() {
        assert_eq!(with_suffix("bob", " (2)"), "bob (2)");
        let long = with_suffix(&"x".repeat(MAX_NAME_CHARS), " (12)");
        assert_eq!(long.chars().count(), MAX_NAME_CHARS);
        assert!(long.ends_with("x (12)"));
        assert_eq!(with_suffix("abcdefghijk mnop", " (2)"), "abcdefghijk (2)");
    }
}
