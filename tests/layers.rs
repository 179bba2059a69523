//! The import structure of the library, checked from the source text: no module of `src/` or
//! `connectors/` (simulators included) depends on itself through others, and the layers of `src/`
//! depend on each other in one direction only.
//!
//! How it reads the code: every `use crate::…`/`use super::…` tree and every inline `crate::…`/`super::…`
//! path outside comments and test modules is resolved to the module file that defines the item,
//! following `pub use` re-exports (so `crate::sdk::Emitter` is an edge to `src/sdk/emitter.rs`, not to
//! `src/sdk/mod.rs`). A module declaring its children (`mod x;`) or re-exporting their items is not an
//! edge; a child using an item its parent defines is. Run it alone with
//! `cargo test --test layers`; a failure prints every cycle with the names that tie it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One module: its path (`crate::sdk::emitter`), its file, and what it re-exports (item → module path).
#[derive(Debug, Default)]
struct Module {
    file: PathBuf,
    reexports: BTreeMap<String, Vec<String>>,
    references: Vec<Vec<String>>,
}

/// The code of a file without comments, string literals and test modules.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // The test module after it (inline or out of line) is not the library's structure.
            if let Some(next) = lines.peek() {
                if next.trim_start().starts_with("mod ") && next.trim_end().ends_with('{') {
                    let mut depth = 0i32;
                    for l in lines.by_ref() {
                        depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                        if depth <= 0 {
                            break;
                        }
                    }
                } else {
                    lines.next();
                }
            }
            continue;
        }
        let mut kept = String::new();
        let mut chars = line.chars().peekable();
        let mut in_string = false;
        while let Some(c) = chars.next() {
            if in_string {
                if c == '\\' {
                    chars.next();
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            if c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' {
                in_string = true;
                continue;
            }
            kept.push(c);
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Expands a `use` tree (`super::{a, b::{c, d}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let mut tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    for token in ["::", "{", "}", ","] {
        tree = tree
            .replace(&format!(" {token}"), token)
            .replace(&format!("{token} "), token);
    }
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(&tree).trim().to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// `use` statements (possibly spanning lines) and their visibility.
fn use_statements(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let starts_item = before.chars().last().is_none_or(|c| c.is_whitespace());
        let public = before.trim_end().ends_with("pub") || before.trim_end().ends_with(')');
        let after = &rest[at + 4..];
        let Some(end) = after.find(';') else { break };
        if starts_item {
            out.push((public, after[..end].to_owned()));
        }
        rest = &after[end..];
    }
    out
}

/// Inline paths such as `crate::sync::Page` or `super::models::rows` (not in `use`).
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let boundary = rest[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if boundary {
                out.push(tail[..len].trim_end_matches(':').to_owned());
            }
            rest = &tail[len..];
        }
    }
    out
}

fn module_path_of(root: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(root).ok()?;
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    match parts.first().map(String::as_str) {
        Some("src") => {
            parts.remove(0);
        }
        Some("connectors") => {}
        _ => return None,
    }
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    if parts.first().is_some_and(|p| p == "main") {
        return None;
    }
    let last = parts.last().map(String::as_str).unwrap_or("");
    if last == "tests" || last.ends_with("_tests") || last == "test_client" {
        return None;
    }
    let mut path = vec!["crate".to_owned()];
    path.extend(parts);
    Some(path)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `path` as seen from `module`, made absolute; a path not starting with `crate`, `super` or `self` is
/// taken relative to `module` (a child module; external crates resolve to no module and are dropped).
fn absolute(module: &[String], path: &str) -> Vec<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            vec!["crate".to_owned()]
        }
        Some(&"super") | Some(&"self") => module.to_vec(),
        Some(first) if first.chars().next().is_some_and(char::is_lowercase) => module.to_vec(),
        _ => return Vec::new(),
    };
    while let Some(&first) = segments.first() {
        match first {
            "super" => {
                base.pop();
                segments.remove(0);
            }
            "self" => {
                segments.remove(0);
            }
            _ => break,
        }
    }
    base.extend(segments.into_iter().map(str::to_owned));
    base
}

struct Tree {
    modules: BTreeMap<Vec<String>, Module>,
}

impl Tree {
    fn read(root: &Path) -> Self {
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        rust_files(&root.join("connectors"), &mut files);
        let mut modules = BTreeMap::new();
        for file in files {
            let Some(path) = module_path_of(root, &file) else {
                continue;
            };
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            let mut module = Module {
                file: file.strip_prefix(root).unwrap().to_owned(),
                ..Module::default()
            };
            for (public, tree) in use_statements(&code) {
                for used in expand(&tree) {
                    let mut abs = absolute(&path, &used);
                    if abs.last().is_some_and(|s| s == "self") {
                        abs.pop();
                    }
                    if abs.is_empty() {
                        continue;
                    }
                    // A re-export is the module's table of contents, not a dependency of its own:
                    // the edge goes from whoever uses the item to the file that defines it.
                    if public {
                        if let Some(item) = abs.last() {
                            module.reexports.insert(item.clone(), abs.clone());
                        }
                    } else {
                        module.references.push(abs);
                    }
                }
            }
            for inline in inline_paths(&code) {
                let abs = absolute(&path, &inline);
                if !abs.is_empty() {
                    module.references.push(abs);
                }
            }
            modules.insert(path, module);
        }
        Self { modules }
    }

    /// The module defining what `path` names, following re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<Vec<String>> {
        let prefix = (2..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| self.modules.contains_key(p))?;
        if depth < 8 && path.len() > prefix.len() {
            let item = &path[prefix.len()];
            if let Some(target) = self.modules[&prefix].reexports.get(item) {
                if target.as_slice() != path {
                    let mut next = target.clone();
                    next.extend_from_slice(&path[prefix.len() + 1..]);
                    if let Some(found) = self.resolve(&next, depth + 1) {
                        return Some(found);
                    }
                }
            }
        }
        Some(prefix)
    }

    /// Whether `path` names something of this crate (not an external crate seen as a child module).
    fn known(&self, path: &[String]) -> bool {
        path.len() > 1
            && self
                .modules
                .keys()
                .any(|m| m.len() > 1 && path.starts_with(&m[..2]))
    }

    /// Edges between module files, with the names behind each.
    fn edges(&self) -> BTreeMap<(Vec<String>, Vec<String>), BTreeSet<String>> {
        let mut edges: BTreeMap<(Vec<String>, Vec<String>), BTreeSet<String>> = BTreeMap::new();
        for (from, module) in &self.modules {
            for reference in &module.references {
                if !self.known(reference) {
                    continue;
                }
                let Some(to) = self.resolve(reference, 0) else {
                    continue;
                };
                // A module's own items, the crate root, and naming a module (its items are what
                // count) are not dependencies.
                if &to == from || to.len() == 1 || &to == reference {
                    continue;
                }
                let name = reference.last().cloned().unwrap_or_default();
                edges.entry((from.clone(), to)).or_default().insert(name);
            }
        }
        edges
    }
}

/// Strongly connected components of more than one node (Tarjan).
fn cycles<N: Ord + Clone>(nodes: &[N], edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct State<N> {
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on_stack: BTreeSet<N>,
        next: usize,
        out: Vec<Vec<N>>,
    }
    fn visit<N: Ord + Clone>(n: &N, edges: &BTreeMap<N, BTreeSet<N>>, s: &mut State<N>) {
        s.index.insert(n.clone(), s.next);
        s.low.insert(n.clone(), s.next);
        s.next += 1;
        s.stack.push(n.clone());
        s.on_stack.insert(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            if !s.index.contains_key(m) {
                visit(m, edges, s);
                let low = s.low[m].min(s.low[n]);
                s.low.insert(n.clone(), low);
            } else if s.on_stack.contains(m) {
                let low = s.index[m].min(s.low[n]);
                s.low.insert(n.clone(), low);
            }
        }
        if s.low[n] == s.index[n] {
            let mut component = Vec::new();
            while let Some(m) = s.stack.pop() {
                s.on_stack.remove(&m);
                let done = &m == n;
                component.push(m);
                if done {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for n in nodes {
        if !state.index.contains_key(n) {
            visit(n, edges, &mut state);
        }
    }
    state.out
}

fn tree() -> Tree {
    Tree::read(Path::new(env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let tree = tree();
    let names = tree.edges();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (from, to) in names.keys() {
        graph.entry(from.clone()).or_default().insert(to.clone());
    }
    let nodes: Vec<Vec<String>> = tree.modules.keys().cloned().collect();
    let found = cycles(&nodes, &graph);
    let mut report = String::new();
    for cycle in &found {
        report.push_str("\ncycle:");
        for from in cycle {
            for to in cycle {
                if let Some(why) = names.get(&(from.clone(), to.clone())) {
                    report.push_str(&format!(
                        "\n  {} -> {}: {}",
                        tree.modules[from].file.display(),
                        tree.modules[to].file.display(),
                        why.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    assert!(found.is_empty(), "{} import cycles:{report}", found.len());
    assert!(
        tree.modules.len() > 50,
        "the tree was not read: {} modules",
        tree.modules.len()
    );
}

#[test]
fn the_layers_of_src_depend_in_one_direction() {
    let tree = tree();
    let layer = |path: &[String]| path.get(1).cloned().unwrap_or_default();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut why: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for ((from, to), names) in tree.edges() {
        let (a, b) = (layer(&from), layer(&to));
        if a != b {
            graph.entry(a.clone()).or_default().insert(b.clone());
            why.entry((a, b)).or_default().extend(names);
        }
    }
    let nodes: Vec<String> = graph.keys().cloned().collect();
    let found = cycles(&nodes, &graph);
    let report: Vec<String> = found
        .iter()
        .map(|cycle| {
            let mut text = format!("layers {cycle:?}:");
            for ((a, b), names) in &why {
                if cycle.contains(a) && cycle.contains(b) {
                    text.push_str(&format!(
                        "\n  {a} -> {b}: {}",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
            text
        })
        .collect();
    assert!(found.is_empty(), "{}", report.join("\n"));
    // The SDK is the bottom layer: it depends on no other layer but the generated protocol.
    let sdk: Vec<&String> = graph
        .get("sdk")
        .into_iter()
        .flatten()
        .filter(|l| *l != "proto")
        .collect();
    assert!(sdk.is_empty(), "the sdk depends on {sdk:?}");
}

#[test]
fn the_reader_resolves_reexports_and_use_trees() {
    assert_eq!(
        expand("super::{api, models::{self, Entity}, config::Config as C}"),
        [
            "super::api",
            "super::models::self",
            "super::models::Entity",
            "super::config::Config"
        ]
    );
    let module = vec![
        "crate".to_owned(),
        "connectors".to_owned(),
        "ongage".to_owned(),
        "sync".to_owned(),
    ];
    assert_eq!(
        absolute(&module, "super::config::Settings").join("::"),
        "crate::connectors::ongage::config::Settings"
    );
    let tree = tree();
    let emitter = tree
        .resolve(&["crate", "sdk", "Emitter"].map(str::to_owned), 0)
        .unwrap();
    assert_eq!(emitter.join("::"), "crate::sdk::emitter");
    assert!(code_of("let a = \"crate::x\"; // crate::y\n").trim() == "let a = ;");
}
