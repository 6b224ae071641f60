//! `[directory]` and its `[[directory.sources]]`. Each source is read on its own, so that
//! a problem names its index (`directory.sources[1].kind`) and one bad source does not
//! hide the others' problems. The rules themselves are `clavis_directory`'s.

use clavis_directory::{DirectoryConfig, SourceConfig};

use super::problems::de_section;

/// Reads the `[directory]` table, sources included; `None` when the table itself has
/// problems (added to `problems`).
pub(super) fn read(
    mut value: toml::Value,
    problems: &mut Vec<(String, String)>,
) -> Option<DirectoryConfig> {
    let sources_value = value.as_table_mut().and_then(|t| t.remove("sources"));
    let mut directory: Option<DirectoryConfig> = de_section(value, "directory", problems);
    let mut sources = Vec::new();
    match sources_value {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                if let Some(s) =
                    de_section::<SourceConfig>(item, &format!("directory.sources[{i}]"), problems)
                {
                    sources.push(s);
                }
            }
        }
        Some(_) => problems.push((
            "directory.sources".into(),
            "must be an array of tables ([[directory.sources]])".into(),
        )),
    }
    if let Some(d) = directory.as_mut() {
        d.sources = sources;
    }
    directory
}

/// Adds the problems of a read `[directory]` section (`DirectoryConfig::validate`).
pub(super) fn check(directory: &DirectoryConfig, problems: &mut Vec<(String, String)>) {
    for p in directory.validate() {
        problems.push((p.path, p.message));
    }
}
