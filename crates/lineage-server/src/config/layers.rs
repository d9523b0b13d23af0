//! Where each setting of `lineaged` comes from, and which source wins: a
//! flag, else its `LINEAGE_*` variable, else the key of the same name in
//! the TOML file `--config` (`LINEAGE_CONFIG`) names, else the built-in
//! default.
//!
//! Every setting is declared once, as a clap argument of
//! [`Config`](super::Config) with a long flag and a variable: its long flag
//! without `--` is its key in the file (`batch-size = 512`). An argument
//! without a variable (`--help`, `--check-config`) is a command, not a
//! setting, and has no key.
//!
//! The file and the environment are turned into flags placed before the
//! command line's own, and the command is parsed with every argument
//! overriding itself (the last occurrence wins), so a flag the operator
//! typed beats what the file or a variable said. Clap therefore checks a
//! value from the file exactly as it checks a flag: its value parser and
//! range, and the settings that require or exclude each other (a file
//! naming `nats-creds` and `nats-nkey` is refused as those two flags are).
//! Setting each key as its argument's default instead would let a file
//! skip those checks, since clap never holds a default value against
//! another argument.
//!
//! Clap reads an argument's variable when the argument is built, out of
//! reach; so [`parse_layered`] turns clap's own reading off and looks the
//! variables up itself, through a lookup it is given. The binary passes
//! the process's environment; tests pass a map, and never touch the
//! process's environment (which other tests read in parallel).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::builder::{BoolishValueParser, TypedValueParser as _, ValueParser};
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, Parser};

/// The id of the argument naming the config file (`--config`,
/// `LINEAGE_CONFIG`). It is read before the others and is not a key of
/// the file itself: a file cannot name another.
pub const CONFIG_FILE_ARG: &str = "config_file";

/// The farthest (in single-character edits) an unknown key may be from a
/// setting's name for the error to suggest that setting.
const MAX_SUGGESTION_DISTANCE: usize = 3;

/// Why the settings cannot be put together. Each stops `lineaged` before it
/// starts: the operator fixes the file, variable or flag named.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line itself does not parse (clap's own message and exit
    /// code); `--help` and `--version` also arrive this way, to be printed
    /// by [`clap::Error::exit`].
    #[error("{0}")]
    CommandLine(clap::Error),
    /// Clap refused a value or a combination of settings, at least one of
    /// which came from the config file or a variable; `origins` says
    /// where each of those came from.
    #[error("{message} ({origins})")]
    Refused {
        /// Clap's kind of error (an invalid value, a conflict, a missing
        /// companion setting), for callers and tests to match on.
        kind: ErrorKind,
        /// Clap's message, first line.
        message: String,
        /// The settings involved that did not come from the command line,
        /// each with where it came from.
        origins: String,
    },
    /// The config file cannot be read (missing, permissions).
    #[error("config file {}: cannot read it: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not TOML.
    #[error("config file {}: not TOML: {message}", path.display())]
    NotToml { path: PathBuf, message: String },
    /// A key of the config file is no setting's name.
    #[error("config file {}: unknown key `{key}`; {hint}", path.display())]
    UnknownKey {
        path: PathBuf,
        key: String,
        /// The nearest setting's name, or the list of them all.
        hint: String,
    },
    /// A key of the config file holds a value of the wrong TOML type (an
    /// array or a table for a single value, a string for a switch).
    #[error("config file {}: key `{key}` must be {expected}, not {found}", path.display())]
    WrongType {
        path: PathBuf,
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A variable for a switch holds no boolean.
    #[error("{variable}: {message}")]
    InvalidVariable { variable: String, message: String },
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A flag on the command line.
    CommandLine,
    /// A `LINEAGE_*` variable.
    Environment { variable: String },
    /// A key (the setting's name) of the config file.
    File { path: PathBuf },
    /// The built-in default.
    Default,
    /// Nowhere: an optional setting left unset.
    Unset,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::CommandLine => f.write_str("command line"),
            Origin::Environment { variable } => write!(f, "environment {variable}"),
            Origin::File { path } => write!(f, "config file {}", path.display()),
            Origin::Default => f.write_str("default"),
            Origin::Unset => f.write_str("unset"),
        }
    }
}

/// One setting as it came out of the layering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveSetting {
    /// The setting's name: its long flag without `--`, its key in the file.
    pub key: String,
    /// The value clap parsed it from (`true`/`false` for a switch); none
    /// when unset.
    pub value: Option<String>,
    /// Whether the setting is a switch (a flag without a value).
    pub switch: bool,
    pub origin: Origin,
}

/// A parsed command line, and where each of its settings came from.
#[derive(Debug)]
pub struct Layered<P> {
    pub parsed: P,
    /// The config file read, if any.
    pub config_file: Option<PathBuf>,
    /// Every setting, in the order they are declared.
    pub settings: Vec<EffectiveSetting>,
}

/// A setting: an argument with a long flag and a variable.
#[derive(Debug, Clone)]
struct Setting {
    id: String,
    /// The long flag without `--`: the key in the file.
    key: String,
    variable: String,
    /// A flag without a value (`--allow-unauthenticated`).
    switch: bool,
}

/// A value for a setting from the file or the environment.
#[derive(Debug, Clone)]
enum Supplied {
    Value(OsString),
    Switch(bool),
}

/// Parses `args` (the program's name first) into `P`, with the config file
/// and the variables `env` looks up layered under the flags.
pub fn parse_layered<P: Parser>(
    args: impl IntoIterator<Item = impl Into<OsString>>,
    env: impl Fn(&OsStr) -> Option<OsString>,
) -> Result<Layered<P>, ConfigError> {
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.is_empty() {
        args.push("lineaged".into());
    }
    let declared = P::command();
    let settings = settings_of(&declared);

    let config_file = config_file(&declared, &args, &env)?;
    let mut supplied: BTreeMap<String, (Supplied, Origin)> = BTreeMap::new();
    if let Some(path) = &config_file {
        for (key, value) in read_config_file(path, &settings)? {
            supplied.insert(key, (value, Origin::File { path: path.clone() }));
        }
    }
    for setting in &settings {
        let Some(value) = env(OsStr::new(&setting.variable)) else {
            continue;
        };
        let value = if setting.switch {
            let on = BoolishValueParser::new()
                .parse_ref(&declared, None, &value)
                .map_err(|error| ConfigError::InvalidVariable {
                    variable: setting.variable.clone(),
                    message: clap_message(&error),
                })?;
            Supplied::Switch(on)
        } else {
            Supplied::Value(value)
        };
        let origin = Origin::Environment {
            variable: setting.variable.clone(),
        };
        // The environment wins over the file.
        supplied.insert(setting.key.clone(), (value, origin));
    }

    // The supplied settings go first: with every argument overriding
    // itself, the command line's own flags, which come after, win. The
    // file's path goes too, so that `Config::config_file` names it
    // wherever it was named.
    let mut layered_args = vec![args[0].clone()];
    if let Some(path) = &config_file {
        let mut flag = OsString::from("--config=");
        flag.push(path);
        layered_args.push(flag);
    }
    for (key, (value, _)) in &supplied {
        match value {
            Supplied::Value(value) => {
                let mut flag = OsString::from(format!("--{key}="));
                flag.push(value);
                layered_args.push(flag);
            }
            Supplied::Switch(true) => layered_args.push(format!("--{key}").into()),
            // Off is every switch's default; a flag on the command line
            // still turns it on.
            Supplied::Switch(false) => {}
        }
    }
    layered_args.extend(args[1..].iter().cloned());

    let matches = P::command()
        .mut_args(|arg| arg.env(None))
        .args_override_self(true)
        .try_get_matches_from(layered_args)
        .map_err(|error| explain(error, &supplied))?;
    let parsed = P::from_arg_matches(&matches).map_err(ConfigError::CommandLine)?;
    let settings = settings
        .iter()
        .map(|setting| effective(setting, &matches, &supplied))
        .collect();
    Ok(Layered {
        parsed,
        config_file,
        settings,
    })
}

/// The settings `command` declares: its arguments with a long flag and a
/// variable, except the config file's own.
fn settings_of(command: &Command) -> Vec<Setting> {
    command
        .get_arguments()
        .filter(|arg| arg.get_id() != CONFIG_FILE_ARG)
        .filter_map(|arg| {
            Some(Setting {
                id: arg.get_id().to_string(),
                key: arg.get_long()?.to_owned(),
                variable: arg.get_env()?.to_string_lossy().into_owned(),
                switch: !arg.get_action().takes_values(),
            })
        })
        .collect()
}

/// The config file's path: from `--config`, else from its variable.
///
/// The command line is read leniently here (every value taken as it is,
/// errors skipped), only to find `--config`; it is parsed for real once
/// the file has been read. `--help` and `--version` end it here.
fn config_file(
    declared: &Command,
    args: &[OsString],
    env: &impl Fn(&OsStr) -> Option<OsString>,
) -> Result<Option<PathBuf>, ConfigError> {
    let lenient = declared
        .clone()
        .mut_args(|arg| arg.env(None).value_parser(ValueParser::os_string()))
        .ignore_errors(true)
        .try_get_matches_from(args);
    let matches = match lenient {
        Ok(matches) => matches,
        // Only what clap prints to stdout (help, version) gets past
        // `ignore_errors`. Printed by the declared command, whose help
        // shows the variables' values.
        Err(lenient_error) => {
            let error = declared.clone().try_get_matches_from(args).err();
            return Err(ConfigError::CommandLine(error.unwrap_or(lenient_error)));
        }
    };
    if matches.value_source(CONFIG_FILE_ARG) == Some(ValueSource::CommandLine)
        && let Some(path) = matches.get_one::<OsString>(CONFIG_FILE_ARG)
    {
        return Ok(Some(PathBuf::from(path)));
    }
    let variable = declared
        .get_arguments()
        .find(|arg| arg.get_id() == CONFIG_FILE_ARG)
        .and_then(Arg::get_env);
    Ok(variable.and_then(env).map(PathBuf::from))
}

/// The settings the file at `path` holds, by key.
fn read_config_file(
    path: &Path,
    settings: &[Setting],
) -> Result<Vec<(String, Supplied)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::NotToml {
                path: path.to_path_buf(),
                message: error.to_string().trim_end().to_owned(),
            })?;
    table
        .into_iter()
        .map(|(key, value)| {
            let Some(setting) = settings.iter().find(|setting| setting.key == key) else {
                return Err(ConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    hint: unknown_key_hint(&key, settings),
                    key,
                });
            };
            let wrong_type = |expected| ConfigError::WrongType {
                path: path.to_path_buf(),
                key: key.clone(),
                expected,
                found: value.type_str(),
            };
            let supplied = match (&value, setting.switch) {
                (toml::Value::Boolean(on), true) => Supplied::Switch(*on),
                (_, true) => return Err(wrong_type("true or false")),
                (toml::Value::String(text), false) => Supplied::Value(text.into()),
                (toml::Value::Integer(number), false) => Supplied::Value(number.to_string().into()),
                (toml::Value::Float(number), false) => Supplied::Value(number.to_string().into()),
                (toml::Value::Boolean(on), false) => Supplied::Value(on.to_string().into()),
                (_, false) => return Err(wrong_type("a string, a number or a boolean")),
            };
            Ok((key, supplied))
        })
        .collect()
}

/// What to say about an unknown key: the setting it was probably meant to
/// be, or else every setting's name.
fn unknown_key_hint(key: &str, settings: &[Setting]) -> String {
    if key == "config" {
        return "a config file cannot name another".into();
    }
    // `batch_size` for `batch-size` is the likeliest slip.
    let normalized = key.replace('_', "-");
    let nearest = settings
        .iter()
        .map(|setting| (edit_distance(&normalized, &setting.key), &setting.key))
        .min();
    match nearest {
        Some((distance, name)) if distance <= MAX_SUGGESTION_DISTANCE => {
            format!("did you mean `{name}`?")
        }
        _ => {
            let names: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
            format!(
                "the keys are the long flags without `--`: {}",
                names.join(", ")
            )
        }
    }
}

/// The number of single-character insertions, deletions and substitutions
/// that turn `a` into `b` (Levenshtein).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Clap's refusal of the layered command line, saying where the settings
/// it names came from when any did not come from the command line. A
/// missing companion setting (`--nats-user` without
/// `--nats-password-file`) is named without the setting that required
/// it, so that error lists every setting the file and the environment
/// supplied: the one that required it is among them.
fn explain(error: clap::Error, supplied: &BTreeMap<String, (Supplied, Origin)>) -> ConfigError {
    if supplied.is_empty() || !error.use_stderr() {
        return ConfigError::CommandLine(error);
    }
    let described: Vec<String> = if error.kind() == ErrorKind::MissingRequiredArgument {
        supplied
            .iter()
            .map(|(key, (_, origin))| describe_origin(key, origin))
            .collect()
    } else {
        [ContextKind::InvalidArg, ContextKind::PriorArg]
            .into_iter()
            .filter_map(|kind| error.get(kind))
            .flat_map(|value| match value {
                ContextValue::String(flag) => vec![flag.clone()],
                ContextValue::Strings(flags) => flags.clone(),
                _ => Vec::new(),
            })
            .filter_map(|flag| {
                let key = long_name(&flag)?;
                let (_, origin) = supplied.get(key)?;
                Some(describe_origin(key, origin))
            })
            .collect()
    };
    if described.is_empty() {
        return ConfigError::CommandLine(error);
    }
    ConfigError::Refused {
        kind: error.kind(),
        message: clap_message(&error),
        origins: described.join("; "),
    }
}

/// `--batch-size` came from `origin`, in words that name the file and key
/// or the variable.
fn describe_origin(key: &str, origin: &Origin) -> String {
    match origin {
        Origin::File { path } => format!("--{key} is key `{key}` of {}", path.display()),
        Origin::Environment { variable } => format!("--{key} is {variable}"),
        other => format!("--{key} is from the {other}"),
    }
}

/// `batch-size` of the way clap names an argument in its errors
/// (`--batch-size <BATCH_SIZE>`).
fn long_name(flag: &str) -> Option<&str> {
    let name = flag.strip_prefix("--")?;
    Some(name.split([' ', '=']).next().unwrap_or(name))
}

/// Clap's message on one line, without its `error: ` prefix, usage and
/// tips: its first paragraph (the arguments missing, or the values
/// possible, are on the lines after the first).
fn clap_message(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_owned()
}

/// A setting's value after layering, and where it came from.
fn effective(
    setting: &Setting,
    matches: &ArgMatches,
    supplied: &BTreeMap<String, (Supplied, Origin)>,
) -> EffectiveSetting {
    let value = matches
        .get_raw(&setting.id)
        .and_then(|mut values| values.next())
        .map(|value| value.to_string_lossy().into_owned());
    let origin = match matches.value_source(&setting.id) {
        Some(ValueSource::CommandLine) => match supplied.get(&setting.key) {
            // The supplied flag stood unless the command line repeated it
            // with another value (with the same one, either is right).
            Some((Supplied::Value(supplied_value), origin))
                if Some(supplied_value.to_string_lossy().as_ref()) == value.as_deref() =>
            {
                origin.clone()
            }
            Some((Supplied::Switch(true), origin)) => origin.clone(),
            _ => Origin::CommandLine,
        },
        Some(ValueSource::DefaultValue) => match supplied.get(&setting.key) {
            // A switch turned off by the file or a variable.
            Some((Supplied::Switch(false), origin)) => origin.clone(),
            _ => Origin::Default,
        },
        _ => Origin::Unset,
    };
    EffectiveSetting {
        key: setting.key.clone(),
        value,
        switch: setting.switch,
        origin,
    }
}

/// The settings as a TOML config file that reproduces them, each line
/// saying where its value came from: what `lineaged --check-config`
/// prints.
pub fn render_effective(settings: &[EffectiveSetting]) -> String {
    let mut text = String::new();
    for setting in settings {
        let line = match (&setting.value, setting.switch) {
            (Some(value), true) => format!("{} = {value}", setting.key),
            (Some(value), false) => format!("{} = {}", setting.key, toml_value(value)),
            (None, _) => format!("# {} (unset)", setting.key),
        };
        text.push_str(&format!("{line:<60} # {}\n", setting.origin));
    }
    text
}

/// `text` as a TOML value: an integer as it is (`batch-size = 256`),
/// anything else as a string. Both read back as the same setting.
fn toml_value(text: &str) -> String {
    match text.parse::<i64>() {
        Ok(number) if number.to_string() == text => text.to_owned(),
        _ => toml_string(text),
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for character in text.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            control if control.is_control() => {
                quoted.push_str(&format!("\\u{:04X}", u32::from(control)))
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{Config, LogFormat};

    #[derive(Debug, Parser)]
    #[command(name = "lineaged")]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    /// The variables a test's environment holds.
    fn environment(pairs: &[(&str, &str)]) -> impl Fn(&OsStr) -> Option<OsString> {
        let variables: HashMap<OsString, OsString> = pairs
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            .collect();
        move |name| variables.get(name).cloned()
    }

    /// A config file holding `text`, in a directory that lives as long as
    /// the returned guard.
    fn config_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("lineaged.toml");
        std::fs::write(&path, text).expect("write the config file");
        (dir, path)
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Layered<Flags>, ConfigError> {
        parse_layered::<Flags>(
            std::iter::once("lineaged").chain(args.iter().copied()),
            environment(env),
        )
    }

    fn origin_of<'a>(layered: &'a Layered<Flags>, key: &str) -> &'a Origin {
        &layered
            .settings
            .iter()
            .find(|setting| setting.key == key)
            .expect("a setting")
            .origin
    }

    #[test]
    fn a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default() {
        let (_dir, path) = config_file(
            "batch-size = 100\n\
             max-depth = 100\n\
             default-depth = 10\n\
             consumer = \"from-file\"\n",
        );
        let path = path.to_str().expect("a UTF-8 path");
        let layered = parse(
            &["--config", path, "--batch-size", "300"],
            &[("LINEAGE_BATCH_SIZE", "200"), ("LINEAGE_MAX_DEPTH", "200")],
        )
        .expect("layered settings");
        let config = &layered.parsed.config;
        // In the file, a variable and a flag: the flag.
        assert_eq!(config.batch_size, 300);
        // In the file and a variable: the variable.
        assert_eq!(config.max_depth, 200);
        // In the file only: the file, whatever its TOML type.
        assert_eq!(config.default_depth, 10);
        assert_eq!(config.consumer, "from-file");
        // Nowhere: the default.
        assert_eq!(config.max_limit, 20_000);
        assert_eq!(config.config_file.as_deref(), Some(Path::new(path)));

        assert_eq!(origin_of(&layered, "batch-size"), &Origin::CommandLine);
        assert_eq!(
            origin_of(&layered, "max-depth"),
            &Origin::Environment {
                variable: "LINEAGE_MAX_DEPTH".into()
            }
        );
        assert_eq!(
            origin_of(&layered, "default-depth"),
            &Origin::File { path: path.into() }
        );
        assert_eq!(origin_of(&layered, "max-limit"), &Origin::Default);
        assert_eq!(origin_of(&layered, "http-addr"), &Origin::Unset);
    }

    #[test]
    fn without_a_file_or_variables_the_defaults_are_those_of_the_tests() {
        let layered = parse(&[], &[]).expect("defaults");
        let defaults = Config::for_tests("nats://127.0.0.1:4222", "./data/lineaged".into());
        assert_eq!(layered.config_file, None);
        assert_eq!(layered.parsed.config.batch_size, defaults.batch_size);
        assert_eq!(layered.parsed.config.consumer, defaults.consumer);
        assert_eq!(layered.parsed.config.data_dir, defaults.data_dir);
        assert!(
            layered
                .settings
                .iter()
                .all(|setting| matches!(setting.origin, Origin::Default | Origin::Unset))
        );
    }

    #[test]
    fn the_file_may_come_from_its_variable_and_the_flag_beats_it() {
        let (_dir, from_variable) = config_file("consumer = \"named-by-variable\"\n");
        let (_other, from_flag) = config_file("consumer = \"named-by-flag\"\n");
        let variable = [("LINEAGE_CONFIG", from_variable.to_str().expect("UTF-8"))];
        let layered = parse(&[], &variable).expect("file from the variable");
        assert_eq!(layered.parsed.config.consumer, "named-by-variable");
        assert_eq!(
            layered.parsed.config.config_file,
            Some(from_variable.clone())
        );
        let flag = from_flag.to_str().expect("UTF-8");
        let layered = parse(&["--config", flag], &variable).expect("file from the flag");
        assert_eq!(layered.parsed.config.consumer, "named-by-flag");
    }

    #[test]
    fn switches_and_enums_layer_too() {
        let (_dir, path) = config_file(
            "allow-unauthenticated = true\n\
             nats-require-tls = true\n\
             log-format = \"json\"\n\
             grpc-addr = \"0.0.0.0:50051\"\n",
        );
        let path = path.to_str().expect("UTF-8");
        let layered = parse(
            &["--config", path],
            &[("LINEAGE_NATS_REQUIRE_TLS", "false")],
        )
        .expect("switches");
        let config = &layered.parsed.config;
        assert!(config.allow_unauthenticated);
        // A variable turns off what the file turned on.
        assert!(!config.nats_connect.require_tls);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.grpc_addr, ([0, 0, 0, 0], 50051).into());
        assert_eq!(
            origin_of(&layered, "nats-require-tls"),
            &Origin::Environment {
                variable: "LINEAGE_NATS_REQUIRE_TLS".into()
            }
        );
        // And a flag turns on what a variable turned off.
        let layered = parse(
            &["--config", path, "--nats-require-tls"],
            &[("LINEAGE_NATS_REQUIRE_TLS", "false")],
        )
        .expect("switch flag");
        assert!(layered.parsed.config.nats_connect.require_tls);

        let not_a_boolean = parse(&[], &[("LINEAGE_ALLOW_UNAUTHENTICATED", "maybe")]);
        assert!(matches!(
            not_a_boolean,
            Err(ConfigError::InvalidVariable { variable, .. })
                if variable == "LINEAGE_ALLOW_UNAUTHENTICATED"
        ));
    }

    #[test]
    fn an_unknown_key_names_the_file_and_the_nearest_setting() {
        let (_dir, path) = config_file("batch_size = 10\n");
        let error =
            parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("unknown key");
        assert!(matches!(
            &error,
            ConfigError::UnknownKey { path: named, key, hint }
                if *named == path && key == "batch_size" && hint.contains("`batch-size`")
        ));

        let (_dir, path) = config_file("frobnicate-everything = 1\n");
        let error =
            parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("unknown key");
        let ConfigError::UnknownKey { hint, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(
            hint.contains("grpc-addr") && hint.contains("nats-url"),
            "{hint}"
        );

        // Commands are not settings, nor is the file's own name.
        for key in ["config = \"other.toml\"", "help = true", "version = true"] {
            let (_dir, path) = config_file(key);
            let error = parse(&["--config", path.to_str().expect("UTF-8")], &[])
                .expect_err("not a setting");
            assert!(
                matches!(error, ConfigError::UnknownKey { .. }),
                "{key}: {error:?}"
            );
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_file_and_the_key() {
        for (text, key, found) in [
            ("batch-size = [1, 2]", "batch-size", "array"),
            ("[grpc-addr]\nport = 1", "grpc-addr", "table"),
            (
                "allow-unauthenticated = \"yes\"",
                "allow-unauthenticated",
                "string",
            ),
            ("snapshot-every = 1979-05-27", "snapshot-every", "datetime"),
        ] {
            let (_dir, path) = config_file(text);
            let error =
                parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("wrong type");
            assert!(
                matches!(
                    &error,
                    ConfigError::WrongType { path: named, key: named_key, found: named_found, .. }
                        if *named == path && named_key == key && *named_found == found
                ),
                "{text}: {error:?}"
            );
        }
    }

    #[test]
    fn a_bad_value_is_refused_by_clap_naming_the_file_and_the_key() {
        let (_dir, path) = config_file("batch-size = 0\n");
        let error =
            parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("out of range");
        let ConfigError::Refused { kind, origins, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*kind, ErrorKind::ValueValidation);
        assert!(origins.contains("`batch-size`"), "{origins}");
        assert!(origins.contains(&path.display().to_string()), "{origins}");

        let (_dir, path) = config_file("log-format = \"xml\"\ndefault-depth = 1.5\n");
        let error =
            parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("not a value");
        assert!(matches!(error, ConfigError::Refused { .. }), "{error:?}");

        // A variable's bad value names the variable.
        let error = parse(&[], &[("LINEAGE_GRPC_ADDR", "nowhere")]).expect_err("no address");
        let ConfigError::Refused { origins, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(origins.contains("LINEAGE_GRPC_ADDR"), "{origins}");

        // The command line's own bad value is clap's usual error.
        let error = parse(&["--batch-size", "many"], &[]).expect_err("not a number");
        assert!(
            matches!(&error, ConfigError::CommandLine(clap) if clap.kind() == ErrorKind::ValueValidation),
            "{error:?}"
        );
    }

    #[test]
    fn settings_that_go_together_are_checked_across_the_layers() {
        let (_dir, path) = config_file(
            "nats-creds = \"/etc/lineage/nats/lineaged.creds\"\n\
             nats-nkey = \"/etc/lineage/nats/lineaged.nk\"\n",
        );
        let error =
            parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("two identities");
        assert!(
            matches!(
                &error,
                ConfigError::Refused {
                    kind: ErrorKind::ArgumentConflict,
                    ..
                }
            ),
            "{error:?}"
        );

        let (_dir, path) = config_file("nats-user = \"lineaged\"\n");
        let path = path.to_str().expect("UTF-8");
        let error = parse(&["--config", path], &[]).expect_err("no password file");
        assert!(
            matches!(
                &error,
                ConfigError::Refused { kind: ErrorKind::MissingRequiredArgument, message, origins }
                    if message.contains("--nats-password-file") && origins.contains("`nats-user`")
            ),
            "{error:?}"
        );
        // The companion may come from another layer.
        let layered = parse(
            &["--config", path],
            &[("LINEAGE_NATS_PASSWORD_FILE", "/etc/lineage/nats/password")],
        )
        .expect("user from the file, password file from the environment");
        assert_eq!(
            layered.parsed.config.nats_connect.user.as_deref(),
            Some("lineaged")
        );
    }

    #[test]
    fn an_unreadable_or_malformed_file_is_named() {
        let missing = std::env::temp_dir().join("lineaged-no-such-dir/lineaged.toml");
        let error =
            parse(&["--config", missing.to_str().expect("UTF-8")], &[]).expect_err("missing file");
        assert!(
            matches!(&error, ConfigError::Unreadable { path, .. } if *path == missing),
            "{error:?}"
        );
        assert!(error.to_string().contains("lineaged.toml"), "{error}");

        let (_dir, path) = config_file("batch-size = \n");
        let error = parse(&["--config", path.to_str().expect("UTF-8")], &[]).expect_err("not TOML");
        assert!(
            matches!(&error, ConfigError::NotToml { path: named, .. } if *named == path),
            "{error:?}"
        );
    }

    #[test]
    fn help_is_clap_s_and_shows_the_config_flag() {
        let error = parse(&["--help"], &[]).expect_err("help");
        let ConfigError::CommandLine(help) = &error else {
            panic!("{error:?}");
        };
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let text = help.render().to_string();
        assert!(text.contains("--config <FILE>"), "{text}");
        assert!(text.contains("LINEAGE_CONFIG"), "{text}");
    }

    #[test]
    fn the_effective_settings_render_as_a_config_file_that_reproduces_them() {
        let (_dir, path) = config_file(
            "consumer = \"quote\\\"d\"\n\
             allow-unauthenticated = true\n\
             grpc-addr = \"0.0.0.0:50051\"\n",
        );
        let path = path.to_str().expect("UTF-8");
        let layered = parse(&["--config", path, "--batch-size", "7"], &[]).expect("settings");
        let rendered = render_effective(&layered.settings);
        assert!(rendered.contains("batch-size = 7 "), "{rendered}");
        assert!(rendered.contains("# command line"), "{rendered}");
        assert!(rendered.contains("# http-addr (unset)"), "{rendered}");

        let (_dir, again) = config_file(&rendered);
        let reparsed = parse(&["--config", again.to_str().expect("UTF-8")], &[])
            .expect("the rendered settings parse");
        let config = &reparsed.parsed.config;
        assert_eq!(config.consumer, "quote\"d");
        assert!(config.allow_unauthenticated);
        assert_eq!(config.batch_size, 7);
        assert_eq!(config.grpc_addr, ([0, 0, 0, 0], 50051).into());
    }

    #[test]
    fn the_edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("batch-size", "batch-size"), 0);
        assert_eq!(edit_distance("bach-size", "batch-size"), 1);
        assert_eq!(edit_distance("grpc-adr", "grpc-addr"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
