//! Every variable's `acts` marker (ecs-config/src/vars.rs, shown in the README's configuration
//! table) is checked against the agent's sources, so that a setting cannot be parsed, printed and
//! documented while nothing acts on it:
//!
//! - a variable marked `Yes` or `Partly` must be read (`.<field>.value`) by the agent's
//!   production code: `agent/src/**` without test modules (`#[cfg(test)]` items, `tests.rs`
//!   files) and comments, plus the `Config` helpers in `ecs-config/src/lib.rs` (such as
//!   `Config::region`). `ecs-agent config` prints every variable through the generated
//!   `values_json`, which names no field, so printing alone never counts;
//! - a variable marked `No` or `Absent` must not be read there, so that the row is changed when
//!   the agent starts acting on it.
//!
//! A read is necessary, not sufficient: each acting variable also needs a test of its behaviour
//! beside the code that reads it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests may panic

use std::path::{Path, PathBuf};

use ecs_config::VARS;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

/// `source` without comments, string literals' contents and `#[cfg(test)]` items. A small lexer:
/// enough for this workspace's code (strings, raw strings, char literals, lifetimes, comments).
fn production_code(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    // Depth at which a `#[cfg(test)]` item started, while skipping it.
    let mut skip_from: Option<usize> = None;
    let mut pending_test_attr = false;
    let mut depth = 0usize;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
            continue;
        }
        if let Some(len) = raw_string_len(rest) {
            i += len;
            out.push_str("\"\"");
            continue;
        }
        if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            i += (j + 1).min(rest.len());
            out.push_str("\"\"");
            continue;
        }
        if rest.starts_with('\'') {
            // A char literal ('x', '\n', '\'', '{') or a lifetime ('a).
            let len = if let Some(escaped) = rest.strip_prefix("'\\") {
                // The escaped character, then up to the closing quote.
                escaped
                    .get(1..)
                    .and_then(|tail| tail.find('\''))
                    .map_or(1, |e| e + 4)
            } else if rest.chars().nth(2) == Some('\'') {
                rest.chars().take(3).map(char::len_utf8).sum()
            } else {
                1
            };
            i += len;
            out.push(' ');
            continue;
        }
        if skip_from.is_none() && rest.starts_with("#[cfg(test)]") {
            pending_test_attr = true;
            i += "#[cfg(test)]".len();
            continue;
        }
        let c = rest.chars().next().unwrap();
        match c {
            '{' => {
                if pending_test_attr {
                    skip_from = Some(depth);
                    pending_test_attr = false;
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if skip_from == Some(depth) {
                    skip_from = None;
                    i += 1;
                    continue;
                }
            }
            ';' if pending_test_attr && skip_from.is_none() => {
                // `#[cfg(test)] use ...;` or `#[cfg(test)] mod tests;`
                pending_test_attr = false;
                i += 1;
                continue;
            }
            _ => {}
        }
        if skip_from.is_none() && !pending_test_attr {
            out.push(c);
        }
        i += c.len_utf8();
    }
    out
}

/// The length of a raw string literal (`r"..."`, `r#"..."#`, `br#"..."#`) at the start of `s`.
fn raw_string_len(s: &str) -> Option<usize> {
    let after_b = s.strip_prefix('b').unwrap_or(s);
    let after_r = after_b.strip_prefix('r')?;
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    let body = after_r[hashes..].strip_prefix('"')?;
    let end = format!("\"{}", "#".repeat(hashes));
    let close = body.find(&end)?;
    Some(s.len() - body.len() + close + end.len())
}

/// Whether `code` reads `.<field>.value` (whitespace, including line breaks, allowed between).
fn reads(code: &str, field: &str) -> bool {
    let needle = format!(".{field}");
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(&needle).any(|(at, _)| {
        let after = &code[at + needle.len()..];
        if after.chars().next().is_some_and(is_ident) {
            return false;
        }
        let after = after.trim_start();
        after
            .strip_prefix(".value")
            .is_some_and(|tail| !tail.chars().next().is_some_and(is_ident))
    })
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = manifest_dir();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.push(root.join("../ecs-config/src/lib.rs"));
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read source");
            (path, production_code(&text))
        })
        .collect()
}

#[test]
fn every_variable_marked_as_acting_is_read_and_no_other_is() {
    let sources = sources();
    assert!(sources.len() > 20, "found too few agent sources");
    let mut wrong = Vec::new();
    for v in VARS {
        let readers: Vec<String> = sources
            .iter()
            .filter(|(_, code)| reads(code, v.field))
            .map(|(path, _)| path.display().to_string())
            .collect();
        match (v.acts.is_read(), readers.is_empty()) {
            (true, true) => wrong.push(format!(
                "{} is marked {:?}, but no agent code reads `.{}.value`: make it act, or mark it \
                 Acts::No(\"why\") so the README says it is recorded only",
                v.name, v.acts, v.field
            )),
            (false, false) => wrong.push(format!(
                "{} is marked {:?}, but {} read `.{}.value`: if it acts now, mark it Acts::Yes \
                 (or Partly) and regenerate the README table",
                v.name,
                v.acts,
                readers.join(", "),
                v.field
            )),
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn test_code_and_comments_do_not_count() {
    let code = production_code(
        "fn run(c: &Config) { let _ = c.cluster.value; } // c.checkpoint.value\n\
         /* c.external.value */ const S: &str = \"c.datadir.value\";\n\
         const R: &str = r#\"c.logfile.value\"#; fn f<'a>(x: &'a str) -> char { '{' }\n\
         fn g() -> [char; 2] { ['\\'', '\\n'] } fn h(c: &Config) { let _ = c.image_pull_behavior.value; }\n\
         #[cfg(test)]\nmod tests { fn t(c: &Config) { let _ = c.docker_host.value; } }\n\
         fn after(c: &Config) { let _ = c\n    .loglevel\n    .value; }",
    );
    assert!(reads(&code, "cluster"));
    assert!(reads(&code, "loglevel"), "{code}");
    assert!(reads(&code, "image_pull_behavior"), "{code}");
    for field in [
        "checkpoint",
        "external",
        "datadir",
        "logfile",
        "docker_host",
    ] {
        assert!(!reads(&code, field), "{field} counted in {code}");
    }
    assert!(!reads("c.cluster_name.value", "cluster"));
    assert!(!reads("c.cluster.values", "cluster"));
}
