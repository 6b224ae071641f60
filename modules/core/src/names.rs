//! Name normalisation for matching people across sources.
//!
//! HR writes `DUPONT-MOREAU`, AD writes `Dupont Moreau`, an old export writes
//! `Dupont-Moréau`: the same person. Matching compares names after removing
//! case, accents, hyphens, apostrophes and spaces. The stored names are never
//! altered; only the comparison keys are.

use unicode_normalization::UnicodeNormalization;

/// The comparison form of a name: accents stripped (NFD, combining marks
/// removed), ligatures expanded, lower-cased, and everything that is not a
/// letter or a digit removed (hyphens, apostrophes, spaces, dots).
pub fn normalize_name(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        match c {
            'œ' | 'Œ' => out.push_str("oe"),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' => out.push_str("ss"),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
    out
}

/// The free-text search form: like [`normalize_name`] but keeps word
/// boundaries as single spaces, so that `search` can match any word.
pub fn normalize_search_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    for c in input.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() || c == '@' || c == '.' {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            match c {
                'œ' | 'Œ' => out.push_str("oe"),
                'æ' | 'Æ' => out.push_str("ae"),
                c => out.extend(c.to_lowercase()),
            }
        } else {
            pending_space = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accents_hyphens_apostrophes_spaces_and_case_do_not_matter() {
        let forms = [
            "DUPONT-MORÉAU",
            "Dupont Moreau",
            "dupont moréau",
            "Dupont--Moreau ",
        ];
        for f in forms {
            assert_eq!(normalize_name(f), "dupontmoreau", "{f}");
        }
        assert_eq!(normalize_name("N'Diaye"), normalize_name("NDIAYE"));
        assert_eq!(normalize_name("Hélène"), "helene");
        assert_eq!(normalize_name("Cœur"), "coeur");
        assert_ne!(normalize_name("Martin"), normalize_name("Martine"));
    }

    #[test]
    fn search_text_keeps_words() {
        assert_eq!(
            normalize_search_text("Jean-Pierre  DUPONT"),
            "jean pierre dupont"
        );
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "\\PC{0,30}") {
            let once = normalize_name(&s);
            prop_assert_eq!(normalize_name(&once), once.clone());
        }
    }
}
