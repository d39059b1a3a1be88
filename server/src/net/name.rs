//! Names as identities: the rules a name must pass beyond `shared::codec::validate_name`, and
//! the keys that make two names the same.
//!
//! `validate_name` (shared, pure and cheap, also run by the page) allows letters and digits of
//! any script. That lets through names that *look* like another pilot's or like nothing: "Аlice"
//! with a Cyrillic А, fullwidth "Ａｌｉｃｅ", mathematical "𝐀𝐥𝐢𝐜𝐞", names of Hangul fillers
//! (letters that draw nothing), and letters under towers of combining marks. Here, with the
//! Unicode tables (too heavy for the page's wasm), the server:
//!
//! 1. refuses any default-ignorable code point (Hangul fillers and the like draw nothing), so
//!    no name is invisible or hides an invisible part ([`NameRule::Invisible`]);
//! 2. refuses more than `max_marks` ([`crate::limits::MAX_MARKS_PER_BASE`]) combining marks on one base character, or a
//!    mark with no base ([`NameRule::MarkStack`]);
//! 3. keys the name for uniqueness by NFKC, lower-case, NFKC again ([`NameKeys::key`]: "Ａｌｉｃｅ",
//!    "𝐀𝐥𝐢𝐜𝐞" and "ALICE" are all "alice");
//! 4. and by the UTS #39 confusable skeleton ([`NameKeys::skeleton`]: "Аlice" with a Cyrillic
//!    А, "AIice" with a capital i, "AᏞice" with a Cherokee letter all have the skeleton of
//!    "Alice"), which the store keeps unique, so a look-alike of an existing name is taken.
//!    UTS #39's table leaves out many letter-like forms that NFKC does not fold either: small
//!    capitals ("ᴀlice" with U+1D00, "ʟ", "ɪ", "ꜱ"), turned and sideways letters, and a few
//!    letterlike symbols. [`fold_letterlike`] maps each to the Latin letter it draws as
//!    before the skeleton is taken.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::GeneralSecurityProfile;

/// Why a name that passed `validate_name` is still refused (answered `InvalidName`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// It contains a character that draws nothing (a default-ignorable code point).
    Invisible,
    /// A character carries more combining marks than allowed, or a mark has no base.
    MarkStack,
}

impl NameRule {
    /// The explanation sent in `Rejected`.
    pub fn message(self) -> &'static str {
        match self {
            NameRule::Invisible => "invalid name: it contains characters that draw nothing",
            NameRule::MarkStack => "invalid name: too many accents on one letter",
        }
    }
}

/// The keys under which the store files a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameKeys {
    /// NFKC, lower-cased, NFKC again: names that differ only in case or compatibility form
    /// (fullwidth, mathematical, ligatures) share it. Unique in the store.
    pub key: String,
    /// The UTS #39 confusable skeleton of `key`: names that look alike share it. Unique in the
    /// store.
    pub skeleton: String,
}

/// The uniqueness keys of a name (any string; the rules are [`check`]'s).
pub fn keys(name: &str) -> NameKeys {
    let nfkc: String = name.nfkc().collect();
    let key: String = nfkc.to_lowercase().nfkc().collect();
    // Skeleton, lower case, skeleton again: the first pass maps look-alikes in the case they
    // were written (capital I and l look alike, i and l do not; a Cherokee Ꮮ is an L, its
    // lower-case form nothing Latin), the second folds what case left apart.
    let letters: String = nfkc.chars().map(|c| fold_letterlike(c).unwrap_or(c)).collect();
    let once: String = unicode_security::skeleton(&letters).collect();
    let skeleton = unicode_security::skeleton(&once.to_lowercase()).collect();
    NameKeys { key, skeleton }
}

/// The Latin letter a letter-like form draws as, for the forms that neither NFKC nor the
/// UTS #39 confusables fold: the small capitals of the Phonetic Extensions block
/// (U+1D00–U+1D2B) and of IPA and Latin Extended-D, and letterlike symbols without a
/// compatibility decomposition. A lower-case letter, as the skeleton's second pass compares
/// them; `None` for everything else.
pub fn fold_letterlike(c: char) -> Option<char> {
    Some(match c {
        // Phonetic Extensions: small capitals, and turned, reversed, sideways and barred forms.
        '\u{1D00}' => 'a',
        '\u{1D03}' => 'b',
        '\u{1D04}' => 'c',
        '\u{1D05}' | '\u{1D06}' => 'd',
        '\u{1D07}' => 'e',
        '\u{1D09}' => 'i',
        '\u{1D0A}' => 'j',
        '\u{1D0B}' => 'k',
        '\u{1D0C}' => 'l',
        '\u{1D0D}' | '\u{1D1F}' => 'm',
        '\u{1D0E}' | '\u{1D28}' => 'n',
        '\u{1D0F}' | '\u{1D10}' | '\u{1D11}' | '\u{1D12}' | '\u{1D13}' | '\u{1D16}' | '\u{1D17}' => 'o',
        '\u{1D18}' | '\u{1D29}' => 'p',
        '\u{1D19}' | '\u{1D1A}' | '\u{1D26}' => 'r',
        '\u{1D1B}' => 't',
        '\u{1D1C}' | '\u{1D1D}' | '\u{1D1E}' => 'u',
        '\u{1D20}' => 'v',
        '\u{1D21}' => 'w',
        '\u{1D22}' => 'z',
        '\u{1D7B}' => 'i',
        '\u{1D7E}' => 'u',
        // IPA small capitals.
        '\u{0262}' | '\u{029B}' => 'g',
        '\u{026A}' => 'i',
        '\u{0274}' => 'n',
        '\u{0280}' | '\u{0281}' => 'r',
        '\u{028F}' => 'y',
        '\u{0299}' => 'b',
        '\u{029C}' => 'h',
        '\u{029F}' => 'l',
        // Latin Extended-D small capitals.
        '\u{A730}' => 'f',
        '\u{A731}' => 's',
        '\u{A7AF}' => 'q',
        // Letterlike symbols NFKC leaves alone.
        '\u{2129}' => 'i',
        '\u{2132}' | '\u{214E}' => 'f',
        '\u{212E}' => 'e',
        '\u{2118}' => 'p',
        _ => return None,
    })
}

/// Applies the rules to a name that passed `validate_name`, with at most `max_marks`
/// combining marks per base character.
pub fn check(name: &str, max_marks: usize) -> Result<(), NameRule> {
    let folded: String = name.nfkc().collect();
    if folded.chars().any(|c| c.identifier_type() == Some(IdentifierType::Default_Ignorable)) {
        return Err(NameRule::Invisible);
    }
    if folded.chars().all(|c| c.is_whitespace()) {
        return Err(NameRule::Invisible);
    }
    let mut marks = None; // marks on the current base; None before the first base
    for c in folded.nfd() {
        if is_combining_mark(c) {
            let n = marks.ok_or(NameRule::MarkStack)? + 1;
            if n > max_marks {
                return Err(NameRule::MarkStack);
            }
            marks = Some(n);
        } else {
            marks = Some(0);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::MAX_MARKS_PER_BASE;
    use shared::codec::validate_name;

    fn check(name: &str) -> Result<(), NameRule> {
        super::check(name, MAX_MARKS_PER_BASE)
    }

    /// The look-alikes of the review share "Alice"'s skeleton, and the compatibility forms its
    /// key; distinct names keep distinct keys.
    #[test]
    fn look_alikes_share_alices_keys() {
        let alice = keys("Alice");
        assert_eq!(alice.key, "alice");
        for same_key in ["ALICE", "Ａｌｉｃｅ", "𝐀𝐥𝐢𝐜𝐞", "𝔄𝔩𝔦𝔠𝔢"] {
            assert_eq!(keys(same_key).key, alice.key, "{same_key}");
        }
        for look_alike in ["\u{410}lice", "A\u{13de}ice", "Al\u{456}ce", "AIice", "\u{430}lice"] {
            assert!(validate_name(look_alike).is_ok(), "{look_alike} passes the shared rules");
            assert_eq!(keys(look_alike).skeleton, alice.skeleton, "{look_alike}");
        }
        assert_eq!(keys("ALlCE").skeleton, keys("ALICE").skeleton, "capital I and l");
        assert_ne!(keys("Alice").skeleton, keys("Alike").skeleton);
        assert_ne!(keys("Alicia").skeleton, alice.skeleton);
        assert_ne!(keys("Bob").key, alice.key);
    }

    /// Regression (issue 23: "ᴀlice" with a small capital A, U+1D00, passed as a new name
    /// beside "Alice"): small capitals and the other letter-like forms share the skeleton of
    /// the Latin letters they draw as, whichever of them a name mixes.
    #[test]
    fn small_capitals_and_letterlike_forms_share_alices_skeleton() {
        let alice = keys("Alice").skeleton;
        for look_alike in ["\u{1D00}lice", "\u{1D00}\u{029F}\u{026A}\u{1D04}\u{1D07}", "AL\u{026A}CE", "A\u{029F}ice"] {
            assert!(validate_name(look_alike).is_ok(), "{look_alike} passes the shared rules");
            assert_eq!(keys(look_alike).skeleton, alice, "{look_alike}");
        }
        assert_eq!(keys("\u{A731}\u{1D1B}\u{1D00}\u{0280}").skeleton, keys("star").skeleton);
        assert_eq!(keys("\u{1D0D}\u{1D0F}\u{1D0F}\u{0274}").skeleton, keys("moon").skeleton);
        // Every small capital of the Phonetic Extensions block that draws as a Latin letter folds.
        for c in ('\u{1D00}'..='\u{1D2B}').filter(|c| fold_letterlike(*c).is_some()) {
            let folded = fold_letterlike(c).unwrap();
            assert_eq!(keys(&format!("x{c}x")).skeleton, keys(&format!("x{folded}x")).skeleton, "U+{:04X}", c as u32);
        }
    }

    /// Names of fillers, or hiding one, and towers of marks are refused; real names of many
    /// scripts, accents included, are not.
    #[test]
    fn invisible_and_mark_stacked_names_are_refused() {
        for invisible in ["\u{3164}", "\u{3164}\u{3164}\u{3164}", "\u{115f}\u{1160}", "\u{ffa0}", "Al\u{3164}ice"] {
            assert!(validate_name(invisible).is_ok(), "{invisible:?} passes the shared rules");
            assert_eq!(check(invisible), Err(NameRule::Invisible), "{invisible:?}");
        }
        let tower = format!("a{}", "\u{e34}".repeat(MAX_MARKS_PER_BASE + 1));
        assert!(validate_name(&tower).is_ok(), "Thai marks are letters to validate_name");
        assert_eq!(check(&tower), Err(NameRule::MarkStack));
        assert_eq!(check("\u{64b}a"), Err(NameRule::MarkStack), "a mark with no base");
        for fine in ["Alice", "Nguyễn Văn", "Zoë", "Ærøskøbing", "Ђорђе", "محمد", "สมชาย", "李小龙", "ঋত্বিক", "x_9.z-1"]
        {
            assert_eq!(check(fine), Ok(()), "{fine}");
        }
    }
}
