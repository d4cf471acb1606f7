//! Overrides of single fields of a model file (`--set learning.lr=0.01`, the Python
//! package's `overrides={...}`): applied to the parsed file's value tree and read back
//! by the same YAML deserialiser as the file, so an unknown field or a wrong type is
//! refused as it would be in the file, with a message naming the override.
//!
//! The file is parsed first on its own (its errors keep their line and column). Its
//! [`ModelFile`] becomes a JSON value tree (every `f32` widens to an `f64` exactly), each
//! override replaces one node (creating missing sections on the way), and the tree is
//! written out as YAML with each node on its own line: block mappings, every other value
//! in flow (JSON) form, an override's value as its own text so that `0.01` is read into an
//! `f32` exactly as the file would read it. An error of the deserialiser falls on a line,
//! whose field path names the override responsible.

use serde_json::{Map, Value};

use super::ModelFile;
use crate::error::ConfigError;

/// One override: a dotted field path of the model file and a YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// The field path, e.g. `learning.lr` or `async.delay`.
    pub path: String,
    /// The value as YAML text, e.g. `0.01`, `async` or `{kind: fixed, value: 0.5}`.
    pub value: String,
    /// How messages name it, e.g. `--set learning.lr=0.01`.
    pub label: String,
}

impl Override {
    /// An override from a `PATH=VALUE` argument (`--set`); messages name it as
    /// `--set PATH=VALUE`.
    pub fn from_arg(arg: &str) -> Result<Override, ConfigError> {
        let label = format!("--set {arg}");
        let bad = |detail: &str| ConfigError::Override {
            path: "command line".into(),
            arg: label.clone(),
            detail: detail.to_string(),
        };
        let (path, value) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected PATH=VALUE, e.g. --set learning.lr=0.01"))?;
        let o = Override {
            path: path.trim().to_string(),
            value: value.to_string(),
            label: label.clone(),
        };
        o.segments().map_err(|d| bad(&d))?;
        Ok(o)
    }

    /// An override of `path` with the YAML text `value`; messages name it as
    /// `override PATH=VALUE`.
    pub fn new(path: &str, value: &str) -> Override {
        Override {
            path: path.trim().to_string(),
            value: value.to_string(),
            label: format!("override {}={value}", path.trim()),
        }
    }

    /// The path's field names; an empty one is refused.
    fn segments(&self) -> Result<Vec<String>, String> {
        let parts: Vec<String> = self.path.split('.').map(|s| s.trim().to_string()).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!(
                "`{}` is not a field path: give dotted field names, e.g. learning.lr or async.delay",
                self.path
            ));
        }
        Ok(parts)
    }
}

/// A node of the tree written out for the deserialiser: a JSON value, or an override's
/// own text.
enum Leaf<'a> {
    Json(&'a Value),
    Text(&'a str),
}

/// Applies `overrides` in order to `file` and reads the result back as a [`ModelFile`];
/// `source` names the model file in messages.
pub(super) fn apply(
    file: &ModelFile,
    overrides: &[Override],
    source: &str,
) -> Result<ModelFile, ConfigError> {
    let mut tree = serde_json::to_value(file).map_err(|e| ConfigError::Override {
        path: source.into(),
        arg: "the model file".into(),
        detail: format!("cannot be re-read with overrides: {e}"),
    })?;
    // Paths whose node is written as the override's own text (a later override inside
    // one of them turns it back into a value).
    let mut raw: Vec<(Vec<String>, usize)> = Vec::new();
    for (k, o) in overrides.iter().enumerate() {
        let fail = |detail: String| ConfigError::Override {
            path: source.into(),
            arg: o.label.clone(),
            detail,
        };
        let segments = o.segments().map_err(&fail)?;
        let value: Value = if o.value.trim().is_empty() {
            Value::Null
        } else {
            serde_saphyr::from_str(&o.value).map_err(|e| {
                fail(format!(
                    "the value is not YAML: {}",
                    plain_message(&e).unwrap_or_else(|| e.to_string())
                ))
            })?
        };
        set(&mut tree, &segments, value.clone()).map_err(&fail)?;
        raw.retain(|(p, _)| !(p.starts_with(&segments) || segments.starts_with(p)));
        let single_line = !o.value.contains('\n');
        if single_line && !value.is_string() && !value.is_null() {
            raw.push((segments, k));
        }
    }

    let mut out = Writer::default();
    out.node(&tree, &mut Vec::new(), &raw, overrides, 0);
    serde_saphyr::from_str::<ModelFile>(&out.text).map_err(|e| {
        // The line of the error carries the field path; the override whose path shares
        // the most of it is the one that made the file invalid.
        let at = e
            .location()
            .map(|l| l.line() as usize)
            .and_then(|l| out.paths.get(l.wrapping_sub(1)))
            .cloned()
            .unwrap_or_default();
        let culprit = overrides
            .iter()
            .enumerate()
            .max_by_key(|(k, o)| {
                let segs = o.segments().unwrap_or_default();
                (common_prefix(&segs, &at), *k)
            })
            .map(|(_, o)| o.label.clone())
            .unwrap_or_default();
        let field = if at.is_empty() {
            String::new()
        } else {
            format!("field `{}`: ", at.join("."))
        };
        ConfigError::Override {
            path: source.into(),
            arg: culprit,
            detail: format!(
                "{field}{}",
                plain_message(&e).unwrap_or_else(|| e.to_string())
            ),
        }
    })
}

/// The deserialiser's message without its location, which points into the written-out
/// tree rather than into anything the user wrote.
fn plain_message(e: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::MessageFormatter;
    let m = serde_saphyr::DefaultMessageFormatter
        .format_message(e.without_snippet())
        .into_owned();
    Some(m).filter(|m| !m.is_empty())
}

fn common_prefix(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Sets the node at `path`, creating mappings for missing or null sections on the way.
fn set(tree: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let mut node = tree;
    for (i, key) in path.iter().enumerate() {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(format!(
                "`{}` is a single value, not a section: set it whole, e.g. --set {}=...",
                path[..i].join("."),
                path[..i].join(".")
            ));
        };
        node = map.entry(key.clone()).or_insert(Value::Null);
    }
    *node = value;
    Ok(())
}

/// The tree as YAML text, and the field path of every line.
#[derive(Default)]
struct Writer {
    text: String,
    paths: Vec<Vec<String>>,
}

impl Writer {
    fn line(&mut self, indent: usize, text: &str, path: &[String]) {
        self.text.push_str(&"  ".repeat(indent));
        self.text.push_str(text);
        self.text.push('\n');
        self.paths.push(path.to_vec());
    }

    /// Writes a mapping's entries in block form; any other node is a leaf.
    fn node(
        &mut self,
        value: &Value,
        path: &mut Vec<String>,
        raw: &[(Vec<String>, usize)],
        overrides: &[Override],
        indent: usize,
    ) {
        let Value::Object(map) = value else { return };
        for (key, child) in map {
            path.push(key.clone());
            let key_text = serde_json::to_string(key).unwrap_or_default();
            let leaf = match raw.iter().find(|(p, _)| p == path) {
                Some((_, k)) => Some(Leaf::Text(overrides[*k].value.trim())),
                None if matches!(child, Value::Object(m) if !m.is_empty()) => None,
                None => Some(Leaf::Json(child)),
            };
            match leaf {
                Some(Leaf::Text(t)) => self.line(indent, &format!("{key_text}: {t}"), path),
                Some(Leaf::Json(v)) => self.line(indent, &format!("{key_text}: {v}"), path),
                None => {
                    self.line(indent, &format!("{key_text}:"), path);
                    self.node(child, path, raw, overrides, indent + 1);
                }
            }
            path.pop();
        }
    }
}
