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
///
/// Plain ASCII names, most of a directory, skip the Unicode decomposition
/// (the same result: a property test holds them equal); a sync normalises
/// a few names for every record and every identity it compares.
pub fn normalize_name(input: &str) -> String {
    if input.is_ascii() {
        return input
            .bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect();
    }
    normalize_unicode_name(input)
}

/// [`normalize_name`] by way of the Unicode decomposition, for any name.
fn normalize_unicode_name(input: &str) -> String {
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

/// The key under which matching looks up the identities a record could be:
/// its birth date, its first given name and one of its family names (birth
/// or used), each normalised. Two people match on traits only if they share
/// the date, the first given name and at least one family name, so the
/// identities sharing one of a record's keys are all it can match
/// (`clavis_directory::reconcile`); the comparison itself decides.
/// Normalised names hold only letters and digits, so `|` cannot be part of
/// one.
///
/// At most [`MATCH_KEY_MAX`] bytes, cut at a character boundary: a source
/// may send a name thousands of letters long, which an index entry cannot
/// hold (PostgreSQL's B-tree takes about 2.7 kB). A cut key still holds
/// every identity the whole key would; at worst a few more candidates,
/// which the comparison turns away.
pub fn match_key(birth_date: &str, first_given_name: Option<&str>, family_name: &str) -> String {
    let mut key = format!(
        "{birth_date}|{}|{}",
        first_given_name.map(normalize_name).unwrap_or_default(),
        normalize_name(family_name)
    );
    if key.len() > MATCH_KEY_MAX {
        let mut end = MATCH_KEY_MAX;
        while !key.is_char_boundary(end) {
            end -= 1;
        }
        key.truncate(end);
    }
    key
}

/// The longest [`match_key`], in bytes.
pub const MATCH_KEY_MAX: usize = 512;

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

    #[test]
    fn plain_names_normalise_as_any_other() {
        for name in [
            "Jean-Pierre",
            "O'Neil",
            "DUPONT  Marie",
            "Hélène",
            "Œdipe",
            "Straße",
            "",
        ] {
            assert_eq!(
                normalize_name(name),
                normalize_unicode_name(name),
                "{name:?}"
            );
        }
    }

    #[test]
    fn match_keys_hold_date_given_name_and_family_name() {
        assert_eq!(
            match_key("1980-02-03", Some("Jean-Pierre"), "Dupont Moréau"),
            "1980-02-03|jeanpierre|dupontmoreau"
        );
        assert_eq!(
            match_key("1980-02-03", Some("JEAN PIERRE"), "DUPONT-MOREAU"),
            match_key("1980-02-03", Some("Jean-Pierre"), "Dupont Moréau")
        );
        assert_eq!(
            match_key("1980-02-03", None, "Martin"),
            "1980-02-03||martin"
        );
        assert_ne!(
            match_key("1980-02-03", Some("Marie"), "Martin"),
            match_key("1980-02-04", Some("Marie"), "Martin")
        );
        assert_ne!(
            match_key("1980-02-03", Some("Marie"), "Martin"),
            match_key("1980-02-03", Some("Maria"), "Martin")
        );
        // A name no index entry could hold: cut, on a character boundary.
        let long = "é".repeat(400) + &"x".repeat(400);
        let key = match_key("1980-02-03", Some(&long), &long);
        assert!(key.len() <= MATCH_KEY_MAX, "{}", key.len());
        assert!(key.starts_with("1980-02-03|eee"));
        // Two bytes a letter after an odd-length prefix: the cut falls
        // inside a letter and moves back before it.
        let cyrillic = match_key("1980-02-03", Some("a"), &"Ж".repeat(600));
        assert_eq!(cyrillic.len(), MATCH_KEY_MAX - 1);
        assert!(cyrillic.ends_with('ж'));
    }

    proptest! {
        #[test]
        fn the_ascii_shortcut_gives_the_unicode_answer(name in "[ -~]{0,40}") {
            prop_assert_eq!(normalize_name(&name), normalize_unicode_name(&name));
        }

        #[test]
        fn normalisation_is_idempotent(s in "\\PC{0,30}") {
            let once = normalize_name(&s);
            prop_assert_eq!(normalize_name(&once), once.clone());
        }
    }
}
