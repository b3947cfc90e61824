//! The real AWS CLI, from PyPI, in a venv cached outside the repository.
//!
//! The venv is `<cache>/awscli-venv-<AWSCLI_VERSION>`, where `<cache>` is `$ECS_TEST_CACHE_DIR`,
//! default `${XDG_CACHE_HOME:-$HOME/.cache}/ecs-agent-rs`. The first test on a machine creates it
//! (about 15 s) with `$ECS_TEST_PYTHON` (default `python3`) and pip, under an exclusive file lock
//! so that racing test processes build it once; a marker file written last tells a complete venv
//! from one a killed process left half-made, which is then rebuilt. A venv cannot be moved (its
//! scripts name their interpreter by absolute path), hence the lock and not build-and-rename.
//!
//! [`AwsCli`] runs `aws` isolated from the host: a cleared environment, no config or credentials
//! files, no instance metadata, keys and region given by the test.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cmd::{self, CmdOutput};

/// The pinned AWS CLI (v1) release: exact, so that tests see the same requests everywhere.
pub const AWSCLI_VERSION: &str = "1.46.3";

const MARKER: &str = ".ecs-e2e-complete";
const PIP_TIMEOUT: Duration = Duration::from_secs(900);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The directory for machine-wide test caches: `$ECS_TEST_CACHE_DIR`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/ecs-agent-rs`.
pub fn cache_dir() -> Result<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = non_empty("ECS_TEST_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let base = match non_empty("XDG_CACHE_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(
            non_empty("HOME")
                .context("neither ECS_TEST_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")?,
        )
        .join(".cache"),
    };
    Ok(base.join("ecs-agent-rs"))
}

/// The venv holding AWS CLI [`AWSCLI_VERSION`], created if missing; its `aws` is `bin/aws`.
pub fn awscli_venv() -> Result<PathBuf> {
    // Within one process, the first caller checks (or builds) and the others reuse its answer.
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(venv) = ready.as_ref() {
        return Ok(venv.clone());
    }
    let venv = ensure_venv().context("cannot set up the AWS CLI for the tests")?;
    *ready = Some(venv.clone());
    Ok(venv)
}

fn ensure_venv() -> Result<PathBuf> {
    pip_venv("awscli", AWSCLI_VERSION, "aws", |venv| {
        let version = version_of(&venv.join("bin/aws"))?;
        if !version.starts_with(&format!("aws-cli/{AWSCLI_VERSION} ")) {
            bail!("the new venv's aws reports {version:?}, expected aws-cli/{AWSCLI_VERSION}");
        }
        Ok(())
    })
}

/// The venv `<cache>/<package>-venv-<version>` holding `package==version` from PyPI, made if
/// missing or incomplete (no marker, or no `bin/<program>`), under an exclusive file lock; `check`
/// runs on a new venv before its marker is written.
pub(crate) fn pip_venv(
    package: &str,
    version: &str,
    program: &str,
    check: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let cache = cache_dir()?;
    fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let name = format!("{package}-venv-{version}");
    let venv = cache.join(&name);
    let lock_path = cache.join(format!("{name}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    // Blocks while another process builds; released when `lock` drops.
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;

    let complete = fs::read_to_string(venv.join(MARKER)).is_ok_and(|v| v == version)
        && venv.join("bin").join(program).is_file()
        && venv.join("bin/python").is_file();
    if complete {
        return Ok(venv);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv)
            .with_context(|| format!("cannot remove the incomplete venv {}", venv.display()))?;
    }
    let python = std::env::var_os("ECS_TEST_PYTHON")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| OsString::from("python3"));
    cmd::run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        DEFAULT_TIMEOUT,
    )
    .with_context(|| {
        format!(
            "cannot create a Python venv with {}: on Debian/Ubuntu install python3-venv \
             (or set ECS_TEST_PYTHON to a Python 3 that has venv and ensurepip)",
            python.to_string_lossy()
        )
    })?;
    cmd::run(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .arg(format!("{package}=={version}")),
        PIP_TIMEOUT,
    )
    .with_context(|| format!("cannot install {package}=={version} from PyPI"))?;
    check(&venv)?;
    let marker = venv.join(MARKER);
    fs::write(&marker, version).with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(venv)
}

/// `aws --version` (AWS CLI v1 prints it on stdout, older releases on stderr).
fn version_of(aws: &Path) -> Result<String> {
    let out = cmd::output(
        Command::new(aws)
            .arg("--version")
            .env_clear()
            .env("PATH", "/usr/bin:/bin"),
        DEFAULT_TIMEOUT,
    )?;
    let text = format!("{}{}", out.stdout, out.stderr).trim().to_owned();
    out.into_stdout()?;
    Ok(text)
}

/// `aws` exited non-zero.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`aws {}` failed (exit {exit_code:?}): {}", .args.join(" "), .stderr.trim_end())]
pub struct AwsCliError {
    /// The arguments the test gave (without the ones [`AwsCli`] adds).
    pub args: Vec<String>,
    pub exit_code: Option<i32>,
    pub stderr: String,
}

impl AwsCliError {
    /// The AWS error code from "An error occurred (CODE) when calling ...", if stderr has one.
    pub fn error_code(&self) -> Option<&str> {
        let start = self.stderr.find("An error occurred (")? + "An error occurred (".len();
        let len = self.stderr[start..].find(')')?;
        Some(&self.stderr[start..start + len])
    }
}

/// The AWS CLI pointed at one endpoint, with test credentials and region.
///
/// Defaults: region `us-east-1`, the AWS documentation's example keys, one attempt per call
/// (no retries, so an error shows at once), a 2-minute deadline per call.
#[derive(Debug, Clone)]
pub struct AwsCli {
    aws: PathBuf,
    endpoint_url: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    max_attempts: u32,
    timeout: Duration,
    ca_bundle: Option<PathBuf>,
}

impl AwsCli {
    /// The CLI with every command sent to `endpoint_url` (e.g. `http://127.0.0.1:4566`).
    /// Creates the venv on first use (see the module docs).
    pub fn new(endpoint_url: impl Into<String>) -> Result<Self> {
        Ok(Self {
            aws: awscli_venv()?.join("bin/aws"),
            endpoint_url: endpoint_url.into(),
            region: "us-east-1".to_owned(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: None,
            max_attempts: 1,
            timeout: DEFAULT_TIMEOUT,
            ca_bundle: None,
        })
    }

    /// Trusts the CA certificates in `path` (`AWS_CA_BUNDLE`), for an `https` endpoint.
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.access_key_id = access_key_id.into();
        self.secret_access_key = secret_access_key.into();
        self
    }

    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Total attempts per call, as `AWS_MAX_ATTEMPTS` with the standard retry mode.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// The path of the `aws` executable.
    pub fn program(&self) -> &Path {
        &self.aws
    }

    /// `aws --version`, e.g. `aws-cli/1.46.3 Python/3.11.7 Linux/6.1 botocore/1.43.62`.
    pub fn version(&self) -> Result<String> {
        version_of(&self.aws)
    }

    /// The `aws` command line for `args` with the endpoint, output format and isolated
    /// environment set, for tests that need to run it themselves.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.aws);
        cmd.args(args)
            .args(["--endpoint-url", &self.endpoint_url, "--output", "json"])
            .env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("LANG", "C.UTF-8")
            // Nothing of the host's AWS set-up may leak in: no files, no profile, no IMDS.
            .env("HOME", std::env::temp_dir())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_DEFAULT_REGION", &self.region)
            .env("AWS_RETRY_MODE", "standard")
            .env("AWS_MAX_ATTEMPTS", self.max_attempts.to_string());
        if let Some(token) = &self.session_token {
            cmd.env("AWS_SESSION_TOKEN", token);
        }
        if let Some(ca) = &self.ca_bundle {
            cmd.env("AWS_CA_BUNDLE", ca);
        }
        cmd
    }

    /// Runs `aws ARGS...` and returns what it printed and how it exited, success or not.
    pub fn output(&self, args: &[&str]) -> Result<CmdOutput> {
        cmd::output(&mut self.command(args), self.timeout)
    }

    /// Runs `aws ARGS...` and returns its JSON output (`Null` when it printed nothing).
    /// When `aws` fails the error is an [`AwsCliError`] (`err.downcast_ref::<AwsCliError>()`).
    pub fn run(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = self.output(args)?;
        if !out.success() {
            return Err(self.error(args, out).into());
        }
        if out.stdout.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("`aws {}` printed no JSON: {}", args.join(" "), out.stdout))
    }

    /// Runs `aws ARGS...`, expecting it to fail, and returns the failure; succeeding is an error.
    pub fn run_err(&self, args: &[&str]) -> Result<AwsCliError> {
        let out = self.output(args)?;
        if out.success() {
            bail!(
                "`aws {}` succeeded but the test expected it to fail; it printed: {}",
                args.join(" "),
                out.stdout
            );
        }
        Ok(self.error(args, out))
    }

    fn error(&self, args: &[&str], out: CmdOutput) -> AwsCliError {
        AwsCliError {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            exit_code: out.code(),
            stderr: out.stderr,
        }
    }
}
