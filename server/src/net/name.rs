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
    let once: String = unicode_security::skeleton(&nfkc).collect();
    let skeleton = unicode_security::skeleton(&once.to_lowercase()).collect();
    NameKeys { key, skeleton }
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
        assert_ne!(keys("Alicia").skeleton, alice.skeleton);
        assert_ne!(keys("Bob").key, alice.key);
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
