//! boto3 from PyPI in a venv cached next to the AWS CLI's (`<cache>/boto3-venv-<BOTO3_VERSION>`),
//! made once per machine under an exclusive file lock, with a marker written last (as
//! [`crate::awscli_venv`] does). Tests run its `bin/python` with a script of their own.

use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::awscli::pip_venv;

/// The pinned boto3 (and its botocore) release.
pub const BOTO3_VERSION: &str = "1.44.5";

/// The venv holding boto3 [`BOTO3_VERSION`], created if missing; run `bin/python` in it.
pub fn boto3_venv() -> Result<PathBuf> {
    static READY: Mutex<Option<PathBuf>> = Mutex::new(None);
    let mut ready = READY.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(venv) = ready.as_ref() {
        return Ok(venv.clone());
    }
    let venv = pip_venv("boto3", BOTO3_VERSION, "python", |_| Ok(()))
        .context("cannot set up boto3 for the tests")?;
    *ready = Some(venv.clone());
    Ok(venv)
}
