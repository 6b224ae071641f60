//! The words of the pages, from one Fluent catalogue per language
//! (`locales/fr/clavis.ftl`, French first; `locales/en/clavis.ftl`).
//!
//! Fluent (Mozilla's translation format, `fluent-bundle`) was chosen over
//! pairs of strings in the code so that a translator edits one file per
//! language, with plurals and arguments in the file, not in Rust. The
//! catalogues are compiled into the binary (an appliance has no files to
//! lose) and parsed once; a test checks that both parse, hold the same
//! messages, and hold every message the templates and the code ask for.
//!
//! Pages still written with [`Lang::t`] pairs move here as they are
//! rewritten on templates.

use crate::pages::Lang;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;

/// The French catalogue's text.
const FR: &str = include_str!("../locales/fr/clavis.ftl");
/// The English catalogue's text.
const EN: &str = include_str!("../locales/en/clavis.ftl");

struct Catalogue {
    fr: FluentBundle<FluentResource>,
    en: FluentBundle<FluentResource>,
}

fn bundle(lang: &str, text: &str) -> FluentBundle<FluentResource> {
    // Parse errors are found by the tests; at run time a message that did
    // not parse is reported missing (its id shown) rather than stopping.
    let resource = FluentResource::try_new(text.to_string()).unwrap_or_else(|(r, _)| r);
    let id = lang
        .parse()
        .unwrap_or_else(|_| unic_langid::LanguageIdentifier::default());
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // Pages are HTML: no Unicode isolation marks around arguments.
    b.set_use_isolating(false);
    // A duplicate message keeps the first: also a test failure.
    let _ = b.add_resource(resource);
    b
}

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue {
    fr: bundle("fr", FR),
    en: bundle("en", EN),
});

impl Lang {
    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        match self {
            Lang::Fr => &CATALOGUE.fr,
            Lang::En => &CATALOGUE.en,
        }
    }

    /// The message `id` in this language (its id itself when missing, so a
    /// gap shows on the page and in the tests instead of failing a page).
    pub fn tr(self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with one argument.
    pub fn tr1<'a>(self, id: &str, name: &str, value: impl Into<FluentValue<'a>>) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), value.into());
        self.format(id, Some(&args))
    }

    /// The message `id` with its arguments.
    pub fn tr_args(self, id: &str, args: &FluentArgs) -> String {
        self.format(id, Some(args))
    }

    fn format(self, id: &str, args: Option<&FluentArgs>) -> String {
        let b = self.bundle();
        let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
            tracing::warn!(message.id = id, "a message is missing from the catalogue");
            return id.to_string();
        };
        let mut errors = vec![];
        b.format_pattern(pattern, args, &mut errors).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ids(text: &str) -> BTreeSet<String> {
        let r = match FluentResource::try_new(text.to_string()) {
            Ok(r) => r,
            Err((_, e)) => panic!("the catalogue does not parse: {e:?}"),
        };
        let mut seen = BTreeSet::new();
        for entry in r.entries() {
            if let fluent_syntax::ast::Entry::Message(m) = entry {
                assert!(
                    seen.insert(m.id.name.to_string()),
                    "{} is defined twice",
                    m.id.name
                );
            }
        }
        seen
    }

    /// Every `tr("…")`, `tr1("…"` and `tr_args("…"` of the templates and
    /// the code.
    fn asked_for() -> BTreeSet<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        let mut dirs = vec![root.join("src"), root.join("templates")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs" || x == "html")
                    && !p.ends_with("i18n.rs")
                {
                    files.push(p);
                }
            }
        }
        let mut asked = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("read");
            for call in ["tr(\"", "tr1(\"", "tr_args(\""] {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    if let Some(end) = rest.find('"') {
                        let id = &rest[..end];
                        if id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                            asked.insert(id.to_string());
                        }
                    }
                }
            }
        }
        asked
    }

    #[test]
    fn both_catalogues_parse_and_hold_the_same_messages() {
        let fr = ids(FR);
        let en = ids(EN);
        assert_eq!(
            fr.difference(&en).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in French only"
        );
        assert_eq!(
            en.difference(&fr).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in English only"
        );
    }

    #[test]
    fn every_message_asked_for_is_in_the_catalogue() {
        let fr = ids(FR);
        let asked = asked_for();
        assert!(asked.len() > 20, "the scan finds the calls: {asked:?}");
        let missing: Vec<_> = asked.difference(&fr).collect();
        assert!(
            missing.is_empty(),
            "missing from the catalogues: {missing:?}"
        );
    }

    #[test]
    fn arguments_and_languages_are_applied() {
        assert_eq!(Lang::Fr.tr("console-title"), "Console d'administration");
        assert_eq!(Lang::En.tr("console-title"), "Administration console");
        assert_eq!(Lang::Fr.tr1("console-results", "count", 1), "1 résultat");
        assert_eq!(Lang::Fr.tr1("console-results", "count", 3), "3 résultats");
        assert_eq!(Lang::En.tr1("console-results", "count", 1), "1 result");
        assert_eq!(Lang::Fr.tr("no-such-message"), "no-such-message");
    }
}
