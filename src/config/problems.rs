//! What is wrong with a configuration: [`Problem`]s with their dotted key path and line,
//! gathered in [`ConfigErrors`]; finding the line of a key path in the TOML document;
//! deserialising one section so that its errors name their key path.

use std::fmt;

/// One configuration problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (`directory.sources[0].url`), or empty for syntax.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.path.is_empty(), self.line) {
            (false, Some(l)) => write!(f, "{} (line {l}): {}", self.path, self.message),
            (false, None) => write!(f, "{}: {}", self.path, self.message),
            (true, Some(l)) => write!(f, "line {l}: {}", self.message),
            (true, None) => write!(f, "{}", self.message),
        }
    }
}

/// Every problem of a configuration file.
#[derive(Debug)]
pub struct ConfigErrors {
    /// The file.
    pub file: String,
    /// The problems, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} problem(s)", self.file, self.problems.len())?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Finds the line of a dotted key path like `directory.sources[1].url`.
pub(super) fn line_for_path(
    doc: &toml_edit::Document<String>,
    text: &str,
    path: &str,
) -> Option<usize> {
    let mut item: Option<&toml_edit::Item> = None;
    let mut best: Option<usize> = None;
    for seg in path.split('.') {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        let table_like: Option<&dyn toml_edit::TableLike> = match item {
            None => Some(doc.as_table() as &dyn toml_edit::TableLike),
            Some(i) => i.as_table_like(),
        };
        let Some(t) = table_like else { break };
        let Some((k, next)) = t.get_key_value(key) else {
            break;
        };
        if let Some(s) = k.span() {
            best = Some(s.start);
        }
        item = Some(next);
        if let Some(idx) = index {
            match next.as_array_of_tables().and_then(|a| a.get(idx)) {
                Some(tbl) => {
                    if let Some(s) = tbl.span() {
                        best = Some(s.start);
                    }
                    // Re-wrap the table as an item for the next segment.
                    return line_for_rest(tbl, text, path, seg).or(best.map(|b| line_of(text, b)));
                }
                None => break,
            }
        }
    }
    best.map(|b| line_of(text, b))
}

fn line_for_rest(tbl: &toml_edit::Table, text: &str, path: &str, seg: &str) -> Option<usize> {
    let rest = path
        .split_once(seg)
        .map(|(_, r)| r.trim_start_matches('.'))?;
    let mut t: &dyn toml_edit::TableLike = tbl;
    let mut best = tbl.span().map(|s| s.start);
    for key in rest.split('.').filter(|k| !k.is_empty()) {
        let Some((k, next)) = t.get_key_value(key) else {
            break;
        };
        if let Some(s) = k.span() {
            best = Some(s.start);
        }
        match next.as_table_like() {
            Some(n) => t = n,
            None => break,
        }
    }
    best.map(|b| line_of(text, b))
}

pub(super) fn de_section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
    problems: &mut Vec<(String, String)>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.path().to_string();
            let path = if inner == "." || inner.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{inner}")
            };
            problems.push((path, e.into_inner().to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    #[test]
    fn every_problem_is_reported_with_path_and_line() {
        let text = r#"
[server]
listen = "nowhere"

[directory]
batch_size = 0

[[directory.sources]]
name = "rh"
kind = "ldap"
role = "hr"
attributes = { external_id = "employeeNumber" }

[[directory.sources]]
name = "ad"
kind = "ldapp"
role = "ad"
attributes = { external_id = "objectGUID" }
"#;
        let e = parse(text, "t.toml").expect_err("invalid");
        let shown: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        let has = |needle: &str| shown.iter().any(|s| s.contains(needle));
        assert!(has("server.listen (line 3)"), "{shown:#?}");
        assert!(has("directory.batch_size (line 6)"), "{shown:#?}");
        assert!(has("directory.sources[0].url"), "{shown:#?}");
        assert!(has("directory.sources[0].base_dn"), "{shown:#?}");
        assert!(has("directory.sources[1].kind"), "{shown:#?}");
        assert!(e.problems.len() >= 5, "{shown:#?}");
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let e = parse("[server]\nlisten = \n", "t.toml").expect_err("syntax");
        assert_eq!(e.problems[0].line, Some(2), "{}", e);
    }
}
