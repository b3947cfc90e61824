//! `ecs-agent config` and the command line, run as the built binary with a clean environment.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temporary directory with an empty instance config file, so the host's
/// `/var/lib/ecs/ecs.config` is never read.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("instance.config"), "").expect("write instance file");
        Self { dir }
    }

    /// Writes the user config file and returns its path.
    fn user_file(&self, contents: &str) -> PathBuf {
        let path = self.dir.path().join("ecs.config");
        std::fs::write(&path, contents).expect("write user file");
        path
    }

    fn instance_file(&self) -> PathBuf {
        self.dir.path().join("instance.config")
    }

    /// `ecs-agent config --config-file <user> --instance-config-file <empty>` with only `env`.
    fn config(&self, user: &Path, env: &[(&str, &str)]) -> Run {
        let mut args: Vec<String> = vec!["config".into(), "--config-file".into()];
        args.push(user.display().to_string());
        args.push("--instance-config-file".into());
        args.push(self.instance_file().display().to_string());
        run(&args, env)
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

fn run<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecs-agent"));
    cmd.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run ecs-agent");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

#[test]
fn environment_beats_the_config_file() {
    let f = Fixture::new();
    let user = f.user_file("ECS_CLUSTER=staging\n");
    let out = f.config(&user, &[("ECS_CLUSTER", "prod")]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json = out.json();
    assert_eq!(json["config"]["ECS_CLUSTER"]["value"], "prod");
    assert_eq!(json["config"]["ECS_CLUSTER"]["source"], "env");

    let out = f.config(&user, &[]);
    let json = out.json();
    assert_eq!(json["config"]["ECS_CLUSTER"]["value"], "staging");
    assert_eq!(
        json["config"]["ECS_CLUSTER"]["source"],
        format!("{}:1", user.display())
    );
    assert_eq!(json["config"]["ECS_RESERVED_MEMORY"]["source"], "default");
    // No region: printing works (exit 0), and stderr says the agent could not run.
    assert!(out.stderr.contains("note: "), "{}", out.stderr);
    assert!(out.stderr.contains("AWSRegion"), "{}", out.stderr);
}

#[test]
fn bad_reserved_ports_warn_and_use_the_default() {
    let f = Fixture::new();
    let user = f.user_file("ECS_CLUSTER=a\n# ports\nECS_RESERVED_PORTS=[22,oops]\n");
    let out = f.config(&user, &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let json = out.json();
    assert_eq!(
        json["config"]["ECS_RESERVED_PORTS"]["value"],
        serde_json::json!([22, 2375, 2376, 51678, 51679])
    );
    let location = format!("{}:3", user.display());
    let warnings = json["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["location"], location.as_str());
    assert_eq!(warnings[0]["key"], "ECS_RESERVED_PORTS");
    assert!(
        out.stderr
            .contains(&format!("warning: {location}: ECS_RESERVED_PORTS: ")),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_instance_attributes_are_fatal() {
    let f = Fixture::new();
    let user = f.user_file("ECS_CLUSTER=a\nECS_INSTANCE_ATTRIBUTES={bad\n");
    let out = f.config(&user, &[]);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    let location = format!("{}:2", user.display());
    let json = out.json();
    assert_eq!(json["errors"][0]["location"], location.as_str());
    assert_eq!(json["errors"][0]["key"], "ECS_INSTANCE_ATTRIBUTES");
    assert!(
        out.stderr
            .contains(&format!("error: {location}: ECS_INSTANCE_ATTRIBUTES: ")),
        "{}",
        out.stderr
    );
}

#[test]
fn auth_data_is_never_printed() {
    let f = Fixture::new();
    let data = r#"{"r":{"username":"u","password":"hunter2"}}"#;
    for (file, env) in [
        (format!("ECS_ENGINE_AUTH_DATA={data}\n"), vec![]),
        (
            "ECS_ENGINE_AUTH_TYPE=docker\n".to_string(),
            vec![("ECS_ENGINE_AUTH_DATA", data)],
        ),
        // Broken JSON wrapped over two lines: both lines get diagnostics.
        (
            "ECS_ENGINE_AUTH_DATA={\"r\":{\"username\":\"u\",\n\"password\":\"hunter2\"}}\n"
                .to_string(),
            vec![],
        ),
    ] {
        let user = f.user_file(&file);
        let out = f.config(&user, &env);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        assert!(!out.stdout.contains("hunter2"), "{}", out.stdout);
        assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);
        assert_eq!(
            out.json()["config"]["ECS_ENGINE_AUTH_DATA"]["value"],
            "<redacted>"
        );
    }
}

#[test]
fn a_named_config_file_must_exist() {
    let f = Fixture::new();
    let missing = f.dir.path().join("nope.config");
    let out = f.config(&missing, &[]);
    assert_eq!(out.code, Some(5));
    assert!(
        out.stderr.contains(&missing.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn version_help_and_usage_errors() {
    let out = run(&["--version"], &[]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.starts_with("ecs-agent "), "{}", out.stdout);

    let out = run(&["--help"], &[]);
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("config"), "{}", out.stdout);

    let out = run(&["--no-such-flag"], &[]);
    assert_eq!(out.code, Some(5));

    // No subcommand runs the agent; without a region that is a terminal configuration error.
    // (Its log to standard error only: never the machine's /var/log/ecs.)
    let out = run::<&str>(&[], &[("ECS_LOGFILE", "")]);
    assert_eq!(out.code, Some(5), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("region"),
        "{}",
        out.stderr
    );
}

#[test]
fn markdown_table_is_the_generated_one() {
    let out = run(&["config", "--markdown-table"], &[]);
    assert_eq!(out.code, Some(0));
    assert_eq!(out.stdout, ecs_config::markdown_table());
}
