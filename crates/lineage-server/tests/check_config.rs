//! `lineaged --check-config`, run as an operator runs it: the real binary,
//! a config file, variables in its real environment and flags. It accepts
//! every config file `deploy/` ships, prints the settings in effect with
//! the source that won each (a flag over its variable over the file over
//! the default), and refuses a bad file with exit code 2 and an error
//! naming the file and the key.
//!
//! Each run gets an environment of its own (`env_clear`), so no
//! `LINEAGE_*` variable of the test's environment leaks in, and tests run
//! in parallel without sharing one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LINEAGED: &str = env!("CARGO_BIN_EXE_lineaged");
/// lineaged's exit code for settings it cannot use, as clap's for flags.
const EXIT_BAD_SETTINGS: i32 = 2;

/// Runs `lineaged --check-config` with `args` and only `env` in its
/// environment.
fn check_config(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(LINEAGED)
        .arg("--check-config")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("lineaged runs")
}

/// The settings a successful check printed (a TOML config file).
fn printed_settings(output: &Output) -> toml::Table {
    assert!(
        output.status.success(),
        "lineaged --check-config failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8")
        .parse()
        .expect("--check-config prints TOML")
}

/// The line of `setting` in what a check printed (its value and source).
fn printed_line(output: &Output, setting: &str) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|line| line.starts_with(&format!("{setting} = ")))
        .unwrap_or_else(|| panic!("{setting} is printed"))
        .to_owned()
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every `lineaged*.toml` under `dir` (access files are other TOML).
fn lineaged_configs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable deploy dir") {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if path.is_dir() {
                pending.push(path);
            } else if name.starts_with("lineaged") && name.ends_with(".toml") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn every_config_file_deploy_ships_is_accepted_as_written() {
    let configs = lineaged_configs(&deploy_dir());
    assert!(
        configs.len() >= 4,
        "systemd, image, Compose and Kubernetes config files: {configs:?}"
    );
    for config in configs {
        let path = config.to_str().expect("UTF-8 path");
        let settings = printed_settings(&check_config(&["--config", path], &[]));
        let written: toml::Table = std::fs::read_to_string(&config)
            .expect("readable")
            .parse()
            .expect("TOML");
        for (key, value) in written {
            assert_eq!(settings.get(&key), Some(&value), "{path}: {key}");
        }
    }
}

#[test]
fn a_flag_beats_its_variable_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("lineaged.toml");
    std::fs::write(
        &config,
        "consumer = \"from-file\"\nbatch-size = 100\nmax-depth = 100\n",
    )
    .expect("write");
    let config = config.to_str().expect("UTF-8 path");
    // The file named by its variable, as the container image does.
    let output = check_config(
        &["--consumer", "from-flag"],
        &[
            ("LINEAGE_CONFIG", config),
            ("LINEAGE_CONSUMER", "from-variable"),
            ("LINEAGE_BATCH_SIZE", "200"),
        ],
    );
    let settings = printed_settings(&output);
    assert_eq!(settings["consumer"].as_str(), Some("from-flag"));
    assert_eq!(settings["batch-size"].as_integer(), Some(200));
    assert_eq!(settings["max-depth"].as_integer(), Some(100));
    assert_eq!(settings["max-limit"].as_integer(), Some(20_000));
    assert!(printed_line(&output, "consumer").ends_with("# command line"));
    assert!(printed_line(&output, "batch-size").ends_with("# environment LINEAGE_BATCH_SIZE"));
    assert!(printed_line(&output, "max-depth").ends_with(&format!("# config file {config}")));
    assert!(printed_line(&output, "max-limit").ends_with("# default"));
}

#[test]
fn a_bad_file_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (text, key) in [
        ("batch-size = 100000\n", "batch-size"),
        ("batch-sise = 100\n", "batch-sise"),
        ("grpc-addr = [\"0.0.0.0:50051\"]\n", "grpc-addr"),
    ] {
        let config = dir.path().join("lineaged.toml");
        std::fs::write(&config, text).expect("write");
        let path = config.to_str().expect("UTF-8 path");
        let output = check_config(&["--config", path], &[]);
        assert_eq!(output.status.code(), Some(EXIT_BAD_SETTINGS), "{text}");
        assert!(
            output.stdout.is_empty(),
            "{text}: nothing printed as settings"
        );
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(path), "{text}: {error}");
        assert!(error.contains(&format!("`{key}`")), "{text}: {error}");
    }
}

#[test]
fn an_open_service_beyond_loopback_is_refused_without_reading_any_file() {
    let output = check_config(&["--grpc-addr", "0.0.0.0:50051"], &[]);
    assert_eq!(output.status.code(), Some(EXIT_BAD_SETTINGS));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("--access-file"), "{error}");

    // An access file that exists only where lineaged will run is fine.
    let output = check_config(
        &[
            "--grpc-addr",
            "0.0.0.0:50051",
            "--access-file",
            "/nonexistent/access.toml",
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
}
