//! The test image: a 2 MB HTTP server made locally from Debian's static busybox.
//!
//! No image can be pulled from Docker Hub here, so the tests make their own: a root filesystem
//! of `/bin/busybox` (package `busybox-static`) and its applet links, imported with
//! `docker import`. Its entrypoint `/bin/ecs-e2e-httpd` runs `busybox httpd` in the foreground:
//!
//! - `GET /` answers [`TEST_IMAGE_GREETING`], or `$HTTPD_MESSAGE` when that is set;
//! - `GET /cgi-bin/env` answers the container's environment, one `KEY=value` a line;
//! - it listens on `$HTTPD_PORT`, default [`TEST_IMAGE_PORT`] (also the image's `EXPOSE`);
//! - SIGTERM or SIGINT make it exit 0 at once, so stopping it never waits for the kill timeout.
//!
//! With a command override the image runs anything busybox does (`sh -c 'exit 3'`).
//!
//! The local tag is a hash of everything that goes into the image, so it is built once per
//! machine and content and reused by every test process. The local name has the `localhost/`
//! registry host so that no Docker command ever looks it up on Docker Hub; tests run the image
//! only by its reference in a test registry ([`crate::Registry::push_test_image`]).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{cmd, docker};

/// Repository of the test image, locally (under `localhost/`) and in test registries.
pub const TEST_IMAGE_REPOSITORY: &str = "ecs-e2e/httpd";

/// The port the test image's server listens on unless `HTTPD_PORT` says otherwise.
pub const TEST_IMAGE_PORT: u16 = 8080;

/// What `GET /` answers (plus a newline) unless `HTTPD_MESSAGE` says otherwise.
pub const TEST_IMAGE_GREETING: &str = "hello from ecs-e2e-httpd";

/// Bump to rebuild the image when the way it is made changes but its inputs do not.
const RECIPE_VERSION: &str = "1";

const ENTRYPOINT: &str = r#"#!/bin/sh
# Entrypoint of the ecs-e2e test image: busybox httpd in the foreground on $HTTPD_PORT.
# A shell that is PID 1 ignores the signals it does not trap, so it traps them and exits 0.
pid=
stop() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    exit 0
}
trap stop TERM INT
port="${HTTPD_PORT:-8080}"
root=/www
if [ -n "${HTTPD_MESSAGE:-}" ]; then
    root=/tmp/www
    mkdir -p "$root"
    cp -r /www/cgi-bin "$root/"
    printf '%s\n' "$HTTPD_MESSAGE" > "$root/index.html"
fi
echo "ecs-e2e-httpd: serving $root on port $port"
httpd -f -v -p "$port" -h "$root" &
pid=$!
wait "$pid"
"#;

const ENV_CGI: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv\n";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The test image in the local Docker Engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestImage {
    /// `localhost/ecs-e2e/httpd:<content hash>`; push it before running it.
    pub reference: String,
    /// The content hash tag alone, reused as the tag in test registries.
    pub tag: String,
}

/// The test image, built if this machine does not have it yet.
///
/// Safe to call from many tests and processes at once: within a process one test builds and the
/// others wait; across processes the import is idempotent (same tag, same content).
pub fn test_image() -> Result<TestImage> {
    // Serializes builds within this process, and remembers the result for the next test.
    static BUILT: Mutex<Option<TestImage>> = Mutex::new(None);
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(image) = built.as_ref() {
        return Ok(image.clone());
    }
    let image = build().context("cannot build the test image")?;
    *built = Some(image.clone());
    Ok(image)
}

/// Where the static busybox comes from: `$ECS_TEST_BUSYBOX`, default `/bin/busybox`.
fn busybox_path() -> PathBuf {
    std::env::var_os("ECS_TEST_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

fn changes() -> Vec<String> {
    vec![
        r#"CMD ["/bin/ecs-e2e-httpd"]"#.to_owned(),
        format!("EXPOSE {TEST_IMAGE_PORT}/tcp"),
    ]
}

fn build() -> Result<TestImage> {
    let busybox_path = busybox_path();
    let busybox = fs::read(&busybox_path).with_context(|| {
        format!(
            "cannot read {} (install Debian's busybox-static, or set ECS_TEST_BUSYBOX)",
            busybox_path.display()
        )
    })?;
    if !is_static_elf(&busybox) {
        bail!(
            "{} is not a statically linked ELF executable: the image has no libc, so it needs \
             Debian's busybox-static (or set ECS_TEST_BUSYBOX to a static busybox)",
            busybox_path.display()
        );
    }
    let files = [
        ("bin/ecs-e2e-httpd", ENTRYPOINT, 0o755),
        ("www/cgi-bin/env", ENV_CGI, 0o755),
        ("www/index.html", &format!("{TEST_IMAGE_GREETING}\n"), 0o644),
        ("etc/passwd", PASSWD, 0o644),
        ("etc/group", GROUP, 0o644),
    ];
    let changes = changes();

    let mut hash = Sha256::new();
    hash.update(RECIPE_VERSION);
    hash.update(&busybox);
    for (path, content, mode) in &files {
        hash.update(format!("{path}\0{mode:o}\0{}\0", content.len()));
        hash.update(content);
    }
    for change in &changes {
        hash.update(change);
        hash.update("\0");
    }
    let tag = hex::encode(&hash.finalize()[..8]);
    let reference = format!("localhost/{TEST_IMAGE_REPOSITORY}:{tag}");
    if docker::image_exists(&reference)? {
        return Ok(TestImage { reference, tag });
    }

    let work = tempfile::Builder::new()
        .prefix("ecs-e2e-image-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let root = work.path().join("rootfs");
    for dir in ["bin", "etc", "www/cgi-bin", "tmp", "root"] {
        fs::create_dir_all(root.join(dir))
            .with_context(|| format!("cannot create {dir} in the image root"))?;
    }
    set_mode(&root.join("tmp"), 0o1777)?;
    set_mode(&root.join("root"), 0o700)?;
    let target = root.join("bin/busybox");
    fs::write(&target, &busybox).with_context(|| format!("cannot write {}", target.display()))?;
    set_mode(&target, 0o755)?;
    for applet in applets(&busybox_path)? {
        let link = root.join("bin").join(&applet);
        if !link.exists() {
            symlink("busybox", &link).with_context(|| format!("cannot link {}", link.display()))?;
        }
    }
    for (path, content, mode) in &files {
        let file = root.join(path);
        fs::write(&file, content).with_context(|| format!("cannot write {}", file.display()))?;
        set_mode(&file, *mode)?;
    }

    let tar = work.path().join("rootfs.tar");
    cmd::run(
        Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        Duration::from_secs(60),
    )?;
    let tar = tar.to_string_lossy();
    let mut args = vec!["import"];
    for change in &changes {
        args.extend(["--change", change]);
    }
    args.extend([tar.as_ref(), &reference]);
    docker::docker(&args)?;
    Ok(TestImage { reference, tag })
}

/// The applet names the busybox binary knows (`busybox --list`).
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let list = cmd::run(Command::new(busybox).arg("--list"), Duration::from_secs(30))?;
    let applets: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_owned)
        .collect();
    for needed in ["sh", "httpd", "env", "kill", "mkdir", "cp"] {
        if !applets.iter().any(|a| a == needed) {
            bail!("{} has no `{needed}` applet", busybox.display());
        }
    }
    Ok(applets)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {mode:o} {}", path.display()))
}

/// Whether `bytes` is a 64- or 32-bit ELF executable without a program interpreter (PT_INTERP),
/// i.e. one that runs in an image with no libc.
fn is_static_elf(bytes: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if bytes.len() < 52 || &bytes[..4] != b"\x7fELF" {
        return false;
    }
    let is64 = bytes[4] == 2;
    let little = bytes[5] == 1;
    let read = |at: usize, len: usize| -> Option<u64> {
        let field = bytes.get(at..at + len)?;
        let mut value = 0u64;
        for i in 0..len {
            let byte = if little { field[len - 1 - i] } else { field[i] };
            value = value << 8 | u64::from(byte);
        }
        Some(value)
    };
    let header = if is64 {
        (read(0x20, 8), read(0x36, 2), read(0x38, 2))
    } else {
        (read(0x1c, 4), read(0x2a, 2), read(0x2c, 2))
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = header else {
        return false;
    };
    (0..phnum).all(|i| {
        let entry = phoff + i * phentsize;
        usize::try_from(entry)
            .ok()
            .and_then(|at| read(at, 4))
            .is_some_and(|p_type| p_type != u64::from(PT_INTERP))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic_executables() -> Result<()> {
        assert!(!is_static_elf(b"#!/bin/sh\n"));
        // /bin/sh is dynamically linked on every Debian and Ubuntu.
        assert!(!is_static_elf(&fs::read("/bin/sh")?));
        Ok(())
    }
}
