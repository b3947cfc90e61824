//! Module import cycles in a crate's source tree, for a CI test that keeps the crates acyclic.
//!
//! A module is a file (`foo.rs`, `foo/mod.rs`, `foo/bar.rs`; `lib.rs` is the crate root). File A
//! depends on module B when A's code names a path that resolves to B: `crate::b::..`,
//! `super::..`, `self::..`, a bare `b::..` where `b` is a child module of A, and the same inside
//! nested `use` groups (`use crate::{a::{b, c}, d}`). A path resolves to the longest prefix of it
//! that is a module file, so `crate::engine::task::TaskActor` is `engine::task` and
//! `crate::engine::EngineHandle` is `engine`.
//!
//! [`cycles_in`] applies two rules to that graph, one folder at a time (the source root included):
//! the folder's entries (a file `x.rs`, or a folder `x/` taken as a whole with everything inside
//! it) must not depend on each other in a cycle. Edges to and from the folder's own `mod.rs` (or
//! `lib.rs` at the root) are ignored: a parent declaring and re-exporting its children is not a
//! tangle. At the root this is "no cycle between top-level modules"; inside `engine/` it is "no
//! cycle between `engine/task.rs`, `engine/deps.rs`, ...".
//!
//! The scanner is a small lexer, not a parser: it drops comments (doc comments included), string,
//! byte-string, raw-string and character literals, and follows inline `mod name { .. }` blocks so
//! that `super::` inside `mod tests { .. }` means the file's own module. It does not expand macros
//! nor follow `#[path]` attributes; `main.rs` and `bin/` (other crates) are skipped.
//!
//! [`scan`] reads the files (the only I/O); everything else is pure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// One source file: its module path (`["engine", "task"]`; empty for the crate root) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The module the file is, as path segments under `crate`.
    pub module: Vec<String>,
    /// Where it was read from, relative to the source directory (for messages).
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Why one module depends on another: the first place seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// The file, relative to the source directory.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// The path as written, e.g. `crate::images::pull`.
    pub written: String,
}

/// A cycle between sibling modules: `modules[0]` depends on `modules[1]`, ..., the last on the
/// first; `evidence[i]` shows the edge from `modules[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle {
    /// Full module names (`engine`, `engine::task`), in cycle order, starting with the smallest.
    pub modules: Vec<String>,
    /// One place that makes each edge.
    pub evidence: Vec<Evidence>,
}

impl fmt::Display for Cycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = self.modules.clone();
        names.extend(self.modules.first().cloned());
        writeln!(f, "{}", names.join(" -> "))?;
        for (i, e) in self.evidence.iter().enumerate() {
            let to = &self.modules[(i + 1) % self.modules.len()];
            writeln!(
                f,
                "    {} -> {to}: {}:{} `{}`",
                self.modules[i], e.path, e.line, e.written
            )?;
        }
        Ok(())
    }
}

/// The cycles in the crate whose sources are under `src_dir` (the folder holding `lib.rs`);
/// empty when it is acyclic.
pub fn cycles(src_dir: &Path) -> std::io::Result<Vec<Cycle>> {
    Ok(cycles_in(&scan(src_dir)?))
}

/// The module names of each cycle in [`cycles`], e.g. `[["engine", "images"]]`.
pub fn cycle_names(src_dir: &Path) -> std::io::Result<Vec<Vec<String>>> {
    Ok(cycles(src_dir)?.into_iter().map(|c| c.modules).collect())
}

/// Reads every `.rs` file under `src_dir` (but `main.rs` and `bin/` at the top, which are other
/// crates), sorted by path.
pub fn scan(src_dir: &Path) -> std::io::Result<Vec<SourceFile>> {
    let mut paths = Vec::new();
    collect(src_dir, src_dir, &mut paths)?;
    paths.sort();
    let mut files = Vec::new();
    for rel in paths {
        let Some(module) = module_of(&rel) else {
            continue;
        };
        let text = std::fs::read_to_string(src_dir.join(&rel))?;
        files.push(SourceFile {
            module,
            path: rel.to_string_lossy().replace('\\', "/"),
            text,
        });
    }
    Ok(files)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if path.is_dir() {
            if rel != Path::new("bin") {
                collect(root, &path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") && rel != Path::new("main.rs") {
            out.push(rel);
        }
    }
    Ok(())
}

/// `engine/task.rs` -> `["engine", "task"]`, `engine/mod.rs` -> `["engine"]`, `lib.rs` -> `[]`.
fn module_of(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?;
    if !(stem == "mod" || (parts.is_empty() && stem == "lib")) {
        parts.push(stem.to_string());
    }
    Some(parts)
}

/// The dependency edges between module files: `from -> to -> first evidence`.
pub type Edges = BTreeMap<Vec<String>, BTreeMap<Vec<String>, Evidence>>;

/// Every module-to-module edge of `files` (self edges left out).
pub fn edges(files: &[SourceFile]) -> Edges {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let mut edges = Edges::new();
    for file in files {
        for (path, line, written) in references(file, &modules) {
            let Some(target) = resolve(&path, &modules) else {
                continue;
            };
            if target == file.module {
                continue;
            }
            edges
                .entry(file.module.clone())
                .or_default()
                .entry(target)
                .or_insert_with(|| Evidence {
                    path: file.path.clone(),
                    line,
                    written,
                });
        }
    }
    edges
}

/// The module of an absolute path: its longest prefix that is a module file.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

/// The cycles of [`edges`] under the two rules of the module header: per folder, between its
/// entries, ignoring the folder's own `mod.rs`.
pub fn cycles_in(files: &[SourceFile]) -> Vec<Cycle> {
    let edges = edges(files);
    // Every folder: the parents of all modules (the root included).
    let folders: BTreeSet<Vec<String>> = files
        .iter()
        .flat_map(|f| (0..f.module.len()).map(|n| f.module[..n].to_vec()))
        .collect();
    let mut found = Vec::new();
    for folder in &folders {
        let depth = folder.len();
        let inside = |m: &Vec<String>| m.len() > depth && m.starts_with(folder);
        // Entry-level graph with one evidence per edge.
        let mut graph: BTreeMap<String, BTreeMap<String, Evidence>> = BTreeMap::new();
        for (from, tos) in &edges {
            if !inside(from) {
                continue;
            }
            for (to, evidence) in tos {
                if !inside(to) || from[depth] == to[depth] {
                    continue;
                }
                graph
                    .entry(from[depth].clone())
                    .or_default()
                    .entry(to[depth].clone())
                    .or_insert_with(|| evidence.clone());
            }
        }
        let name = |entry: &str| {
            let mut parts = folder.clone();
            parts.push(entry.to_string());
            parts.join("::")
        };
        // Per tangle (strongly connected set), the shortest cycle through each of its modules,
        // so one run names every edge to cut rather than one cycle at a time.
        let mut seen = BTreeSet::new();
        for component in strongly_connected(&graph) {
            for start in &component {
                let cycle = rotate_to_smallest(cycle_through(&graph, &component, start));
                if !seen.insert(cycle.clone()) {
                    continue;
                }
                let evidence = cycle
                    .iter()
                    .enumerate()
                    .map(|(i, from)| graph[from][&cycle[(i + 1) % cycle.len()]].clone())
                    .collect();
                found.push(Cycle {
                    modules: cycle.iter().map(|m| name(m)).collect(),
                    evidence,
                });
            }
        }
    }
    found
}

/// The same cycle, starting at its smallest module.
fn rotate_to_smallest(mut cycle: Vec<String>) -> Vec<String> {
    if let Some(at) = cycle
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.cmp(b.1))
        .map(|(i, _)| i)
    {
        cycle.rotate_left(at);
    }
    cycle
}

/// The strongly connected components of more than one node (Tarjan), each sorted.
fn strongly_connected<V>(graph: &BTreeMap<String, BTreeMap<String, V>>) -> Vec<BTreeSet<String>> {
    struct State<'g, V> {
        graph: &'g BTreeMap<String, BTreeMap<String, V>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'g, V>(s: &mut State<'g, V>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|t| t.keys()) {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out.sort();
    s.out
}

/// A shortest cycle through `start` inside `component` (breadth first).
fn cycle_through<V>(
    graph: &BTreeMap<String, BTreeMap<String, V>>,
    component: &BTreeSet<String>,
    start: &String,
) -> Vec<String> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.as_str()]);
    while let Some(v) = queue.pop_front() {
        for w in graph.get(v).into_iter().flat_map(|t| t.keys()) {
            if !component.contains(w) {
                continue;
            }
            if w == start {
                let mut cycle = vec![v.to_string()];
                let mut at = v;
                while at != start {
                    at = parent[at];
                    cycle.push(at.to_string());
                }
                cycle.reverse();
                return cycle;
            }
            if !parent.contains_key(w.as_str()) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    component.iter().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Lexing and path extraction.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Open(char),
    Close(char),
    Punct(char),
    /// A literal or lifetime: never part of a path.
    Other,
}

/// The tokens of `text` with their 1-based lines: comments and literals dropped (a literal
/// becomes [`Tok::Other`]).
fn lex(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if at(i + 1) == '/' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            '"' => {
                i = skip_string(&chars, i + 1, &mut line);
                out.push((Tok::Other, start_line));
            }
            '\'' => {
                // A character literal ('x', '\n', '\u{..}') or a lifetime ('a, 'static).
                if at(i + 1) == '\\' {
                    i += 3;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == '\'' {
                    i += 3;
                } else {
                    i += 1;
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                }
                out.push((Tok::Other, start_line));
            }
            c if is_ident_start(c) || c.is_ascii_digit() => {
                // Raw strings and byte/C strings first: r"..", r#".."#, b"..", br"..", b'x', c"..".
                let prefix_end = {
                    let mut j = i;
                    while j < chars.len() && matches!(chars[j], 'r' | 'b' | 'c') && j - i < 2 {
                        j += 1;
                    }
                    j
                };
                let prefix: String = chars[i..prefix_end].iter().collect();
                if matches!(prefix.as_str(), "r" | "br" | "cr")
                    && (at(prefix_end) == '"' || at(prefix_end) == '#')
                    && raw_string_start(&chars, prefix_end)
                {
                    i = skip_raw_string(&chars, prefix_end, &mut line);
                    out.push((Tok::Other, start_line));
                    continue;
                }
                if matches!(prefix.as_str(), "b" | "c") && at(prefix_end) == '"' {
                    i = skip_string(&chars, prefix_end + 1, &mut line);
                    out.push((Tok::Other, start_line));
                    continue;
                }
                if prefix == "b" && at(prefix_end) == '\'' {
                    i = prefix_end + 1;
                    if at(i) == '\\' {
                        i += 1;
                    }
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                    out.push((Tok::Other, start_line));
                    continue;
                }
                // r#ident is the identifier `ident`.
                if prefix == "r" && at(i + 1) == '#' && is_ident_start(at(i + 2)) {
                    i += 2;
                }
                let begin = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word: String = chars[begin..i].iter().collect();
                if word.starts_with(|c: char| c.is_ascii_digit()) {
                    out.push((Tok::Other, start_line));
                } else {
                    out.push((Tok::Ident(word), start_line));
                }
            }
            ':' if at(i + 1) == ':' => {
                out.push((Tok::PathSep, start_line));
                i += 2;
            }
            '{' | '(' | '[' => {
                out.push((Tok::Open(c), start_line));
                i += 1;
            }
            '}' | ')' | ']' => {
                out.push((Tok::Close(c), start_line));
                i += 1;
            }
            _ => {
                out.push((Tok::Punct(c), start_line));
                i += 1;
            }
        }
    }
    out
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Past the closing quote of a string whose body starts at `i`.
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 2;
            }
            '"' => return i + 1,
            '\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// Whether `#*"` starts at `i`.
fn raw_string_start(chars: &[char], mut i: usize) -> bool {
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    chars.get(i) == Some(&'"')
}

/// Past a raw string whose `#*"` starts at `i`.
fn skip_raw_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return i + 1 + hashes;
        }
        if chars[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// Every absolute path `file` names that may be a module, with its line and how it was written.
fn references(
    file: &SourceFile,
    modules: &BTreeSet<Vec<String>>,
) -> Vec<(Vec<String>, usize, String)> {
    let toks = lex(&file.text);
    let mut out = Vec::new();
    // The module the tokens are in: the file's, plus inline `mod name {` blocks, each with the
    // brace depth it closes at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let current: Vec<String> = file
            .module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        match &toks[i].0 {
            Tok::Open('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Close('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some((Tok::Ident(name), _)), Some((Tok::Open('{'), _))) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                } else {
                    i += 1;
                }
            }
            Tok::Ident(w) if w == "use" => {
                let end = statement_end(&toks, i + 1);
                let mut paths = Vec::new();
                use_tree(&toks[i + 1..end], Vec::new(), &mut paths);
                let line = toks[i].1;
                for written in paths {
                    if let Some(abs) = absolute(&written, &current, modules) {
                        out.push((abs, line, written.join("::")));
                    }
                }
                i = end;
            }
            Tok::Ident(w) => {
                let after_sep = i > 0 && toks[i - 1].0 == Tok::PathSep;
                let is_path = toks.get(i + 1).is_some_and(|t| t.0 == Tok::PathSep);
                if after_sep || !is_path {
                    i += 1;
                    continue;
                }
                let mut segments = vec![w.clone()];
                let mut j = i + 1;
                while toks.get(j).is_some_and(|t| t.0 == Tok::PathSep) {
                    match toks.get(j + 1) {
                        Some((Tok::Ident(s), _)) => {
                            segments.push(s.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if let Some(abs) = absolute(&segments, &current, modules) {
                    out.push((abs, toks[i].1, segments.join("::")));
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

/// Where the `use` statement whose tree starts at `from` ends (its `;`, outside groups).
fn statement_end(toks: &[(Tok, usize)], from: usize) -> usize {
    let mut depth = 0usize;
    let mut i = from;
    while i < toks.len() {
        match toks[i].0 {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
            }
            Tok::Punct(';') if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// The paths of a `use` tree (as written, groups expanded; `self` in a group names the prefix).
fn use_tree(toks: &[(Tok, usize)], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].0 {
            Tok::Ident(w) if w == "as" => break,
            Tok::Ident(w) if w == "self" && !path.is_empty() => i += 1,
            Tok::Ident(w) => {
                path.push(w.clone());
                i += 1;
            }
            Tok::PathSep => {
                if path.is_empty() {
                    // `use ::std::..`: an extern crate.
                    return;
                }
                i += 1;
            }
            Tok::Open('{') => {
                let close = matching(toks, i);
                for item in split_top(&toks[i + 1..close]) {
                    use_tree(item, path.clone(), out);
                }
                return;
            }
            _ => i += 1,
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The index of the bracket closing the one at `open`.
fn matching(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The comma-separated items of a group's inside.
fn split_top(toks: &[(Tok, usize)]) -> Vec<&[(Tok, usize)]> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, (t, _)) in toks.iter().enumerate() {
        match t {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => depth = depth.saturating_sub(1),
            Tok::Punct(',') if depth == 0 => {
                items.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&toks[start..]);
    items
}

/// `written` as an absolute path from the crate root, when it starts at `crate` (`$crate` in a
/// macro too), `super` or `self`, or at a child module of `current`. Other paths (extern crates,
/// std, local types) give `None`.
fn absolute(
    written: &[String],
    current: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let first = written.first()?;
    let mut base: Vec<String>;
    let mut rest = &written[1..];
    match first.as_str() {
        "crate" => base = Vec::new(),
        "self" => base = current.to_vec(),
        "super" => {
            base = current.to_vec();
            base.pop()?;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {
            // A bare path: a child module of the current one (`task::TaskActor` in
            // `engine/mod.rs`). Inline modules are not files, so only file children count.
            let mut child = current.to_vec();
            child.push(first.clone());
            if !modules.contains(&child) {
                return None;
            }
            base = child;
        }
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Writes `files` (path, text) under a fresh directory and returns it.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn names(files: &[(&str, &str)]) -> Vec<Vec<String>> {
        let dir = tree(files);
        cycle_names(dir.path()).unwrap()
    }

    fn owned(cycles: &[&[&str]]) -> Vec<Vec<String>> {
        cycles
            .iter()
            .map(|c| c.iter().map(|s| (*s).to_string()).collect())
            .collect()
    }

    #[test]
    fn finds_a_cycle_between_top_level_modules() {
        let found = names(&[
            ("lib.rs", "pub mod a;\npub mod b;\n"),
            ("a.rs", "use crate::b::Thing;\n"),
            ("b/mod.rs", "pub mod inner;\n"),
            ("b/inner.rs", "pub fn f() { crate::a::g(); }\n"),
        ]);
        assert_eq!(found, owned(&[&["a", "b"]]));
    }

    #[test]
    fn finds_a_longer_cycle_and_says_where() {
        let dir = tree(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "fn f() -> crate::b::B { todo!() }"),
            ("b.rs", "use crate::c;"),
            ("c.rs", "\n\nuse crate::a::f;"),
        ]);
        let found = cycles(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].modules, ["a", "b", "c"]);
        assert_eq!(found[0].evidence[2].path, "c.rs");
        assert_eq!(found[0].evidence[2].line, 3);
        assert_eq!(found[0].evidence[2].written, "crate::a::f");
        let text = found[0].to_string();
        assert!(text.starts_with("a -> b -> c -> a\n"), "{text}");
    }

    #[test]
    fn accepts_a_layered_tree_with_parent_child_edges() {
        let found = names(&[
            (
                "lib.rs",
                "pub mod engine;\npub mod state;\npub use engine::Engine;\n",
            ),
            (
                "state.rs",
                "pub struct Store;\n#[cfg(test)]\nmod tests { use super::*; }\n",
            ),
            (
                "engine/mod.rs",
                "pub mod task;\nuse crate::state::Store;\nuse task::Actor;\npub struct Engine;\n",
            ),
            (
                "engine/task.rs",
                "use super::Engine;\nuse crate::state::Store;\npub struct Actor;\n",
            ),
            ("main.rs", "use crate::cycle::ignored;"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn finds_a_cycle_hidden_in_nested_use_groups() {
        let found = names(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::{c, b::{self as bee, inner::{x, y}}};\n"),
            ("b/mod.rs", "pub mod inner;"),
            ("b/inner.rs", "use super::super::a;"),
            ("c.rs", ""),
        ]);
        assert_eq!(found, owned(&[&["a", "b"]]));
    }

    #[test]
    fn finds_a_cycle_between_sibling_files_but_not_with_their_mod_rs() {
        let found = names(&[
            ("lib.rs", "mod engine;"),
            (
                "engine/mod.rs",
                "mod task; mod deps; use task::A; use deps::B; pub struct Shared;",
            ),
            ("engine/task.rs", "use super::{Shared, deps::B};"),
            (
                "engine/deps.rs",
                "fn f() { super::task::go(); let _ = super::Shared; }",
            ),
        ]);
        assert_eq!(found, owned(&[&["engine::deps", "engine::task"]]));
    }

    #[test]
    fn ignores_paths_in_comments_and_literals() {
        let found = names(&[
            ("lib.rs", "mod a; mod b;"),
            (
                "a.rs",
                "//! Uses [`crate::b::Thing`] in docs only.\n\
                 /// See crate::b::x.\n\
                 /* block crate::b::y /* nested crate::b::z */ still comment crate::b */\n\
                 const S: &str = \"crate::b::s\";\n\
                 const R: &str = r#\"crate::b::raw \" still\"#;\n\
                 const C: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n\
                 const B: &[u8] = b\"crate::b\";\n\
                 const Q: char = '\\''; const T: &str = \"crate::b::after_quote\";\n",
            ),
            ("b.rs", "use crate::a::S;"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn super_inside_an_inline_module_is_the_file_itself() {
        let found = names(&[
            ("lib.rs", "mod a; mod b;"),
            ("b.rs", "use crate::a::x;"),
            (
                "a.rs",
                "pub fn x() {}\nmod tests {\n    use super::x;\n    mod deeper { use super::super::x; }\n}\nfn after() { crate::a::x(); }\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
        // While `self::..` at the top of a file in a folder names its siblings through the parent.
        let found = names(&[
            ("lib.rs", "mod p;"),
            ("p/mod.rs", "mod a; mod b;"),
            ("p/a.rs", "fn f() { super::b::g(); }"),
            ("p/b.rs", "mod inner { fn h() { crate::p::a::f(); } }"),
        ]);
        assert_eq!(found, owned(&[&["p::a", "p::b"]]));
    }

    #[test]
    fn module_paths_of_files() {
        assert_eq!(module_of(Path::new("lib.rs")), Some(vec![]));
        assert_eq!(
            module_of(Path::new("engine/mod.rs")),
            Some(vec!["engine".to_string()])
        );
        assert_eq!(
            module_of(Path::new("engine/task.rs")),
            Some(vec!["engine".to_string(), "task".to_string()])
        );
        assert_eq!(module_of(Path::new("notes.txt")), None);
    }
}
