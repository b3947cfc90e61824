//! boto3 from PyPI in a venv cached next to the AWS CLI's (`<cache>/boto3-venv-<BOTO3_VERSION>`),
//! made once per machine under an exclusive file lock, with a marker written last (as
//! [`crate::awscli_venv`] does). Tests run its `bin/python` with a script of their own.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cache_dir;
use crate::cmd;

/// The pinned boto3 (and its botocore) release.
pub const BOTO3_VERSION: &str = "1.44.5";

const MARKER: &str = ".ecs-e2e-complete";

/// The venv holding boto3 [`BOTO3_VERSION`], created if missing; run `bin/python` in it.
pub fn boto3_venv() -> Result<PathBuf> {
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(venv) = ready.as_ref() {
        return Ok(venv.clone());
    }
    let cache = cache_dir()?;
    fs::create_dir_all(&cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let name = format!("boto3-venv-{BOTO3_VERSION}");
    let venv = cache.join(&name);
    let lock_path = cache.join(format!("{name}.lock"));
    let lock = File::create(&lock_path)
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    let complete = |v: &PathBuf| {
        fs::read_to_string(v.join(MARKER)).is_ok_and(|m| m == BOTO3_VERSION)
            && v.join("bin/python").is_file()
    };
    if !complete(&venv) {
        if venv.exists() {
            fs::remove_dir_all(&venv)
                .with_context(|| format!("cannot remove the incomplete venv {}", venv.display()))?;
        }
        let python = std::env::var_os("ECS_TEST_PYTHON")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| OsString::from("python3"));
        cmd::run(
            Command::new(&python).args(["-m", "venv"]).arg(&venv),
            Duration::from_secs(120),
        )
        .context("cannot create a Python venv for boto3 (install python3-venv)")?;
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
                .arg(format!("boto3=={BOTO3_VERSION}")),
            Duration::from_secs(900),
        )
        .with_context(|| format!("cannot install boto3=={BOTO3_VERSION} from PyPI"))?;
        fs::write(venv.join(MARKER), BOTO3_VERSION)?;
    }
    *ready = Some(venv.clone());
    Ok(venv)
}
