//! Architecture tidy test (issue 9): every source file opens with a `//!` role line, and the
//! imports between source files and between top-level modules form no cycle and only go
//! down the layers that ARCHITECTURE.md describes (section "Layers").
//!
//! Imports are read from the source text, comments and string literals skipped: `use
//! crate::…` (grouped and multi-line groups included), `crate::x::y` paths anywhere in the
//! code, and `super::` paths, each resolved to the file it names (a name `lib.rs` re-exports,
//! such as `crate::Model`, to the file it comes from). `mod` declarations do not count, nor
//! do paths relative to the current module (a parent's `pub use child::Item`). A module is
//! the first path segment under `src/`: `src/X.rs` and `src/X/…` are module X. `lib.rs` and
//! `main.rs` are outside the graph; `src/cli/` is the binary's module, where `bsp_sim::`
//! paths name the library.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The layers, top to bottom. A module may import modules of its own layer (as long as that
/// makes no cycle) and of any layer below it, never one above. Keep in step with the
/// "Layers" section of ARCHITECTURE.md, which explains the order.
const LAYERS: &[(&str, &[&str])] = &[
    ("binary", &["cli"]),
    (
        "commands",
        &["run", "compare", "bench", "gradcheck", "plot", "validate"],
    ),
    ("outputs", &["report", "checkpoint"]),
    ("engines", &["engine"]),
    ("rules", &["learning", "topology", "causal"]),
    (
        "foundations",
        &["config", "trace", "fsutil", "parallel", "distributed"],
    ),
    ("dynamics", &["neuron"]),
    ("base", &["error"]),
    ("leaves", &["data", "progress", "real", "text"]),
];

/// Top-level modules that belong to the binary (declared in `main.rs`), not the library.
const BINARY_MODULES: &[&str] = &["cli"];

// ---------------------------------------------------------------------------------------
// The checks.

#[test]
fn every_file_opens_with_a_role_line() {
    let root = package_root();
    let mut offenders = Vec::new();
    for dir in ["src", "tests"] {
        for path in rs_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap();
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            if !first.trim_start().starts_with("//!") {
                offenders.push(format!("  {}: `{}`", rel(&root, &path), first.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "these files do not open with a `//!` line saying their role (style.md, Docs):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn no_cycle_between_files() {
    let g = Graph::load();
    let edges: Vec<&Import> = g.imports.iter().collect();
    let mut next: BTreeMap<usize, BTreeMap<usize, &Import>> = BTreeMap::new();
    for i in &edges {
        next.entry(i.from).or_default().entry(i.to).or_insert(i);
    }
    let cycles = cycles(g.files.len(), &next);
    let msgs: Vec<String> = cycles
        .iter()
        .map(|(members, cycle)| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let i = next[&w[0]][&w[1]];
                    format!("    {} -> {}", g.at(i), g.files[w[1]].rel)
                })
                .collect();
            let members: Vec<&str> = members.iter().map(|&f| g.files[f].rel.as_str()).collect();
            format!(
                "  files {} import each other in a cycle, e.g.:\n{}",
                members.join(", "),
                steps.join("\n")
            )
        })
        .collect();
    assert!(
        msgs.is_empty(),
        "imports between files must not form a cycle (rule: no cycle between files):\n{}",
        msgs.join("\n")
    );
}

#[test]
fn no_cycle_between_modules() {
    let g = Graph::load();
    let names = g.module_names();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k))
        .collect();
    let mut next: BTreeMap<usize, BTreeMap<usize, &Import>> = BTreeMap::new();
    for i in g.imports.iter() {
        let (a, b) = g.modules(i);
        if a != b {
            next.entry(index[a])
                .or_default()
                .entry(index[b])
                .or_insert(i);
        }
    }
    let msgs: Vec<String> = cycles(names.len(), &next)
        .iter()
        .map(|(members, cycle)| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let i = next[&w[0]][&w[1]];
                    format!("    {} -> {}: {}", names[w[0]], names[w[1]], g.at(i))
                })
                .collect();
            let members: Vec<&str> = members.iter().map(|&m| names[m].as_str()).collect();
            format!(
                "  modules {} import each other in a cycle, e.g.:\n{}",
                members.join(", "),
                steps.join("\n")
            )
        })
        .collect();
    assert!(
        msgs.is_empty(),
        "imports between top-level modules must not form a cycle (rule: no cycle between \
         modules, also within one layer):\n{}",
        msgs.join("\n")
    );
}

#[test]
fn imports_go_down_the_layers() {
    let g = Graph::load();
    let mut msgs = Vec::new();
    for m in g.module_names() {
        if layer_of(&m).is_none() {
            msgs.push(format!(
                "  module `{m}` is in no layer: add it to LAYERS in tests/architecture.rs and \
                 to the Layers section of ARCHITECTURE.md"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for i in g.imports.iter() {
        let (a, b) = g.modules(i);
        if let (Some((la, na)), Some((lb, nb))) = (layer_of(a), layer_of(b)) {
            if lb < la && seen.insert((i.from, i.to, i.line)) {
                msgs.push(format!(
                    "  {} imports {}: `{a}` ({na}) must not import `{b}` ({nb}), a higher layer",
                    g.at(i),
                    g.files[i.to].rel
                ));
            }
        }
    }
    assert!(
        msgs.is_empty(),
        "every import must go to the same layer or a lower one (rule: LAYERS in \
         tests/architecture.rs, ARCHITECTURE.md \"Layers\"); move the code down or the caller \
         up:\n{}",
        msgs.join("\n")
    );
}

/// The import reader itself, on a snippet with every form it must understand.
#[test]
fn import_reader_understands_paths() {
    let text = r##"//! role
use crate::config::{Model, trace_section::{A, B as C}, self};
use crate::{
    report::Summary,
    trace,
};
use super::super::fetch::*;
// crate::commented::Out
/* crate::block /* nested */ crate::still::Out */
fn f<'a>(x: &'a str) -> crate::error::Result<()> {
    let s = "crate::in_string::Out";
    let r = r#"crate::raw::Out"#;
    let c = '"';
    let q = '\'';
    crate::run::build_network(model, 1);
    x.len()
}
pub(crate) struct S;
mod tests {
    use super::*;
    use super::super::sibling::Item;
}
"##;
    let module = ["data", "fetch", "deep"].map(String::from).to_vec();
    let found: Vec<(usize, Vec<String>)> = paths(text, Crate::Lib, &module)
        .into_iter()
        .map(|p| (p.line, p.module))
        .collect();
    let want = |line: usize, path: &str| (line, path.split("::").map(String::from).collect());
    assert_eq!(
        found,
        vec![
            want(2, "config::Model"),
            want(2, "config::trace_section::A"),
            want(2, "config::trace_section::B"),
            want(2, "config"),
            want(3, "report::Summary"),
            want(3, "trace"),
            want(7, "data::fetch"),
            want(10, "error::Result"),
            want(15, "run::build_network"),
            want(20, "data::fetch::deep"),
            want(21, "data::fetch::sibling::Item"),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Layers.

/// The layer of `module`: its index (0 at the top) and name.
fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, ms))| ms.contains(&module))
        .map(|(k, (name, _))| (k, *name))
}

// ---------------------------------------------------------------------------------------
// The import graph.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Crate {
    Lib,
    Bin,
}

struct Source {
    /// Path relative to the package root, e.g. `src/trace/spec.rs`.
    rel: String,
    krate: Crate,
    /// Module path within its crate (`["trace", "spec"]`); empty for `lib.rs`, `main.rs`.
    module: Vec<String>,
    text: String,
}

/// One path in `from`'s code that names a file `to` of the graph.
struct Import {
    from: usize,
    to: usize,
    line: usize,
    /// The path as written (a whole `use` group for grouped imports).
    text: String,
}

struct Graph {
    /// Every `.rs` file under `src/` except the crate roots.
    files: Vec<Source>,
    imports: Vec<Import>,
}

impl Graph {
    fn load() -> Graph {
        let root = package_root();
        let mut roots = Vec::new();
        let mut files = Vec::new();
        for path in rs_files(&root.join("src")) {
            let rel = rel(&root, &path);
            let mut module: Vec<String> = rel
                .trim_start_matches("src/")
                .trim_end_matches(".rs")
                .split('/')
                .map(String::from)
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let krate = match module[0].as_str() {
                "main" if module.len() == 1 => {
                    continue;
                }
                "lib" if module.len() == 1 => {
                    roots.push(text);
                    continue;
                }
                m if BINARY_MODULES.contains(&m) => Crate::Bin,
                _ => Crate::Lib,
            };
            files.push(Source {
                rel,
                krate,
                module,
                text,
            });
        }
        let by_module: BTreeMap<(Crate, Vec<String>), usize> = files
            .iter()
            .enumerate()
            .map(|(k, f)| ((f.krate, f.module.clone()), k))
            .collect();
        let reexports = roots.first().map(|t| reexports(t)).unwrap_or_default();
        let mut imports = Vec::new();
        for (from, f) in files.iter().enumerate() {
            for p in paths(&f.text, f.krate, &f.module) {
                if let Some(to) = resolve(&by_module, &reexports, p.krate, &p.module) {
                    if to != from {
                        imports.push(Import {
                            from,
                            to,
                            line: p.line,
                            text: p.text,
                        });
                    }
                }
            }
        }
        Graph { files, imports }
    }

    /// The top-level modules of an import's two ends.
    fn modules(&self, i: &Import) -> (&str, &str) {
        (
            self.files[i.from].module[0].as_str(),
            self.files[i.to].module[0].as_str(),
        )
    }

    fn module_names(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.files.iter().map(|f| &f.module[0]).collect();
        set.into_iter().cloned().collect()
    }

    /// `file:line: path` of an import, for messages.
    fn at(&self, i: &Import) -> String {
        format!("{}:{}: `{}`", self.files[i.from].rel, i.line, i.text)
    }
}

/// The file `logical` (a module path, maybe ending in items) names: the longest prefix that
/// is a file, or, at the library's root, what `lib.rs` re-exports under that name.
fn resolve(
    by_module: &BTreeMap<(Crate, Vec<String>), usize>,
    reexports: &BTreeMap<String, Vec<String>>,
    krate: Crate,
    logical: &[String],
) -> Option<usize> {
    for n in (1..=logical.len()).rev() {
        if let Some(&f) = by_module.get(&(krate, logical[..n].to_vec())) {
            return Some(f);
        }
    }
    let target = reexports
        .get(logical.first()?)
        .filter(|_| krate == Crate::Lib)?;
    let mut full = target.clone();
    full.extend_from_slice(&logical[1..]);
    // A re-export names a module file, so this does not recurse again.
    (1..=full.len())
        .rev()
        .find_map(|n| by_module.get(&(krate, full[..n].to_vec())).copied())
}

/// `pub use a::b::Item;` lines of `lib.rs`: item name to the path it stands for.
fn reexports(lib: &str) -> BTreeMap<String, Vec<String>> {
    let toks = tokens(&code_only(lib));
    let mut out = BTreeMap::new();
    for k in 0..toks.len() {
        if toks[k].text == "use" && (k == 0 || toks[k - 1].text != "::") {
            let mut leaves = Vec::new();
            parse_tree(&toks, k + 1, Vec::new(), &mut leaves);
            for leaf in leaves {
                if let Some(name) = leaf.last() {
                    out.insert(name.clone(), leaf.clone());
                }
            }
        }
    }
    out
}

/// A path found in a file: where, in which crate, and the module path it names.
struct FoundPath {
    line: usize,
    krate: Crate,
    module: Vec<String>,
    text: String,
}

/// Every `crate::`, `super::` (and, in the binary, `bsp_sim::`) path in `text`, one per leaf
/// of a `use` group, with `super` resolved against the file's `module` and the inline `mod`
/// blocks around the path.
fn paths(text: &str, krate: Crate, module: &[String]) -> Vec<FoundPath> {
    let toks = tokens(&code_only(text));
    let mut out = Vec::new();
    // One entry per open brace: the name of an inline `mod name {`, or None.
    let mut braces: Vec<Option<String>> = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let t = toks[k].text.as_str();
        match t {
            "{" => {
                let inline =
                    (k >= 2 && toks[k - 2].text == "mod").then(|| toks[k - 1].text.clone());
                braces.push(inline);
            }
            "}" => {
                braces.pop();
            }
            _ => {}
        }
        let is_root = t == "crate" || t == "super" || (t == "bsp_sim" && krate == Crate::Bin);
        let starts = is_root
            && (k == 0 || toks[k - 1].text != "::")
            && toks.get(k + 1).is_some_and(|n| n.text == "::");
        if !starts {
            k += 1;
            continue;
        }
        let (path_crate, mut base, mut j) = match t {
            "crate" => (krate, Vec::new(), k + 2),
            "bsp_sim" => (Crate::Lib, Vec::new(), k + 2),
            _ => {
                let mut here = module.to_vec();
                here.extend(braces.iter().flatten().cloned());
                (krate, here, k)
            }
        };
        if t == "super" {
            while toks.get(j).is_some_and(|s| s.text == "super")
                && toks.get(j + 1).is_some_and(|s| s.text == "::")
            {
                base.pop();
                j += 2;
            }
        }
        let mut leaves = Vec::new();
        let end = parse_tree(&toks, j, std::mem::take(&mut base), &mut leaves);
        let written = join(&toks[k..end]);
        for leaf in leaves {
            out.push(FoundPath {
                line: toks[k].line,
                krate: path_crate,
                module: leaf,
                text: written.clone(),
            });
        }
        k = end.max(k + 1);
    }
    out
}

/// Reads a use tree (`a::b`, `a::{b, c::{d}}`, `a::*`, `a::{self}`) starting at `k`, adding
/// every leaf's full path to `leaves`; returns the index after it.
fn parse_tree(
    toks: &[Tok],
    mut k: usize,
    mut prefix: Vec<String>,
    leaves: &mut Vec<Vec<String>>,
) -> usize {
    loop {
        match toks.get(k).map(|t| t.text.as_str()) {
            Some("{") => {
                k += 1;
                loop {
                    match toks.get(k).map(|t| t.text.as_str()) {
                        None => return k,
                        Some("}") => return k + 1,
                        Some(",") => k += 1,
                        _ => {
                            k = parse_tree(toks, k, prefix.clone(), leaves);
                            // Skip `as alias`.
                            while toks.get(k).is_some_and(|t| t.text != "," && t.text != "}") {
                                k += 1;
                            }
                        }
                    }
                }
            }
            Some("*") | Some("self") => {
                leaves.push(prefix);
                return k + 1;
            }
            Some(t) if is_ident_start(t.chars().next().unwrap_or(' ')) => {
                prefix.push(t.to_string());
                k += 1;
                if toks.get(k).is_some_and(|t| t.text == "::")
                    && toks.get(k + 1).is_some_and(|t| {
                        t.text == "{"
                            || t.text == "*"
                            || is_ident_start(t.text.chars().next().unwrap_or(' '))
                    })
                {
                    k += 1;
                    continue;
                }
                leaves.push(prefix);
                return k;
            }
            _ => {
                leaves.push(prefix);
                return k;
            }
        }
    }
}

/// The tokens as one line: `crate::a::{b, c}`.
fn join(toks: &[Tok]) -> String {
    let mut s = String::new();
    for t in toks {
        if t.text == "}" && s.ends_with(", ") {
            s.truncate(s.len() - 2);
        }
        s.push_str(&t.text);
        if t.text == "," {
            s.push(' ');
        }
    }
    s
}

// ---------------------------------------------------------------------------------------
// A small Rust lexer: enough to find paths outside comments and literals.

struct Tok {
    text: String,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `text` with comments and the contents of string and character literals blanked out;
/// newlines are kept so that lines still count.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, from: &[char]| {
        for &ch in from {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        let after_ident = i > 0 && is_ident(c[i - 1]);
        if ch == '/' && next == Some('/') {
            let end = (i..c.len()).find(|&j| c[j] == '\n').unwrap_or(c.len());
            blank(&mut out, &c[i..end]);
            i = end;
        } else if ch == '/' && next == Some('*') {
            let (mut j, mut depth) = (i, 0usize);
            while j < c.len() {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            let j = j.min(c.len());
            blank(&mut out, &c[i..j]);
            i = j;
        } else if let Some(end) = raw_string_end(&c, i).filter(|_| !after_ident) {
            blank(&mut out, &c[i..end]);
            i = end;
        } else if ch == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            let j = (j + 1).min(c.len());
            blank(&mut out, &c[i..j]);
            i = j;
        } else if ch == '\'' && next == Some('\\') {
            let mut j = i + 3;
            while j < c.len() && c[j] != '\'' {
                j += 1;
            }
            let j = (j + 1).min(c.len());
            blank(&mut out, &c[i..j]);
            i = j;
        } else if ch == '\'' && c.get(i + 2) == Some(&'\'') {
            blank(&mut out, &c[i..i + 3]);
            i += 3;
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`) starts at `i`, the index after it.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = c[j..].iter().take_while(|&&ch| ch == '#').count();
    j += hashes;
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"'
            && c[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&h| h == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

fn tokens(code: &str) -> Vec<Tok> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if is_ident(ch) {
            let start = i;
            while i < c.len() && is_ident(c[i]) {
                i += 1;
            }
            let mut text: String = c[start..i].iter().collect();
            // A raw identifier `r#name` is the identifier `name`.
            if text == "r"
                && c.get(i) == Some(&'#')
                && c.get(i + 1).is_some_and(|&n| is_ident_start(n))
            {
                let s = i + 1;
                i = s;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
                text = c[s..i].iter().collect();
            }
            out.push(Tok { text, line });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Tok {
                text: "::".into(),
                line,
            });
            i += 2;
        } else {
            out.push(Tok {
                text: ch.to_string(),
                line,
            });
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Graph helpers.

/// Every strongly connected component with more than one node: its nodes, and one cycle
/// through it (its nodes in order, the first repeated at the end).
fn cycles<T>(
    n: usize,
    next: &BTreeMap<usize, BTreeMap<usize, T>>,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let adj: Vec<Vec<usize>> = (0..n)
        .map(|v| {
            next.get(&v)
                .map_or(Vec::new(), |m| m.keys().copied().collect())
        })
        .collect();
    // Tarjan's algorithm (recursive: the graphs are a few dozen nodes).
    struct State<'g> {
        adj: &'g [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(v: usize, s: &mut State<'_>) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in s.adj[v].iter() {
            match s.index[w] {
                None => {
                    visit(w, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(comp);
        }
    }
    let mut s = State {
        adj: &adj,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(v, &mut s);
        }
    }
    let mut out = Vec::new();
    for comp in s.components.iter().filter(|c| c.len() > 1) {
        let members: BTreeSet<usize> = comp.iter().copied().collect();
        let start = *members.iter().next().unwrap();
        // Shortest way back to `start` inside the component.
        let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([start]);
        'search: while let Some(v) = queue.pop_front() {
            for &w in adj[v].iter().filter(|w| members.contains(w)) {
                if w == start {
                    let mut path = vec![start, v];
                    let mut u = v;
                    while u != start {
                        u = prev[&u];
                        path.push(u);
                    }
                    path.reverse();
                    out.push((members.iter().copied().collect(), path));
                    break 'search;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(w) {
                    e.insert(v);
                    queue.push_back(w);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Files.

fn package_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Every `.rs` file under `dir`, sorted.
fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
