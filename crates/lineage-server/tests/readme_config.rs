//! The README's configuration table stays true: every setting `Config`
//! declares has exactly one row naming its flag, its variable, its config
//! file key and its default, and no row names a flag that is gone. A new
//! setting, a renamed flag or a changed default fails here until the
//! table says so.

use std::collections::BTreeMap;

use clap::{Args as _, Command};
use lineage_server::Config;
use lineage_server::config::CONFIG_FILE_ARG;

/// What the key column says of a setting that has no key (the config file
/// itself, variables that are not flags).
const NO_KEY: &str = "—";
/// What the default column says of a setting unset by default.
const NO_DEFAULT: &str = "none";
const HEADER: [&str; 5] = ["flag", "variable", "config file key", "default", "what"];

/// One row of the table, its cells trimmed.
#[derive(Debug)]
struct Row {
    flag: String,
    variable: String,
    key: String,
    default: String,
    what: String,
}

/// The rows of the one table in the README's "## Configuration" section.
fn configuration_table() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme
        .find("\n## Configuration\n")
        .expect("README.md has a Configuration section");
    let section = &readme[start + 1..];
    let section = match section[1..].find("\n## ") {
        Some(end) => &section[..end + 1],
        None => section,
    };
    let table: Vec<Vec<String>> = section
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(cells)
        .collect();
    let tables_headers = table.iter().filter(|cells| cells == &&HEADER).count();
    assert_eq!(
        tables_headers, 1,
        "the Configuration section holds one table headed {HEADER:?}"
    );
    assert_eq!(table[0], HEADER, "the table is the section's first");
    table
        .into_iter()
        .skip(2)
        .map(|cells| {
            let [flag, variable, key, default, what]: [String; 5] = cells
                .clone()
                .try_into()
                .unwrap_or_else(|_| panic!("a row of five cells: {cells:?}"));
            Row {
                flag,
                variable,
                key,
                default,
                what,
            }
        })
        .collect()
}

/// The cells of a Markdown table row (`\|` is a pipe inside a cell).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut escaped = false;
    for character in inner.chars() {
        match character {
            '|' if !escaped => cells.push(String::new()),
            other => {
                escaped = other == '\\';
                cells.last_mut().expect("a cell").push(other);
            }
        }
    }
    cells
        .into_iter()
        .map(|cell| cell.trim().to_owned())
        .collect()
}

/// `text` in backticks, as the table writes flags, variables and values.
fn code(text: &str) -> String {
    format!("`{text}`")
}

/// The settings as the binary declares them (built, so that switches
/// carry their `false` default).
fn declared() -> Command {
    let mut command = Config::augment_args(Command::new("lineaged"));
    command.build();
    command
}

#[test]
fn every_setting_has_its_row_and_every_row_its_setting() {
    let rows = configuration_table();
    let mut rows_by_flag: BTreeMap<String, &Row> = BTreeMap::new();
    for row in rows.iter().filter(|row| !row.flag.is_empty()) {
        assert!(
            rows_by_flag.insert(row.flag.clone(), row).is_none(),
            "{} has one row",
            row.flag
        );
    }

    let command = declared();
    let mut documented = 0;
    for arg in command.get_arguments() {
        let (Some(long), Some(variable)) = (arg.get_long(), arg.get_env()) else {
            continue; // --help and --version: commands, not settings
        };
        let flag = code(&format!("--{long}"));
        let row = rows_by_flag
            .get(&flag)
            .unwrap_or_else(|| panic!("README.md's configuration table has no row for {flag}"));
        assert_eq!(row.variable, code(&variable.to_string_lossy()), "{flag}");
        let key = if arg.get_id() == CONFIG_FILE_ARG {
            NO_KEY.to_owned()
        } else {
            code(long)
        };
        assert_eq!(row.key, key, "{flag}'s config file key");
        let default = match arg.get_default_values() {
            [] => NO_DEFAULT.to_owned(),
            values => {
                let values: Vec<String> = values
                    .iter()
                    .map(|value| value.to_string_lossy().into_owned())
                    .collect();
                code(&values.join(","))
            }
        };
        assert_eq!(row.default, default, "{flag}'s default");
        assert!(!row.what.is_empty(), "{flag} says what it is");
        documented += 1;
    }
    assert_eq!(
        documented,
        rows_by_flag.len(),
        "every row with a flag names a setting lineaged has"
    );

    // Rows without a flag are variables lineaged reads on its own
    // (`LINEAGE_LOG`), with no key.
    for row in rows.iter().filter(|row| row.flag.is_empty()) {
        assert!(row.variable.starts_with("`LINEAGE_"), "{row:?}");
        assert_eq!(row.key, NO_KEY, "{row:?}");
    }
}

#[test]
fn the_table_reader_splits_cells_and_keeps_escaped_pipes() {
    assert_eq!(
        cells("| `--a` | `A` | `a` | `1` | one \\| two |"),
        ["`--a`", "`A`", "`a`", "`1`", "one \\| two"]
    );
    assert_eq!(cells("| | `B` | — | none | x |")[0], "");
}
