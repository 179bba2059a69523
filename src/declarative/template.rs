//! Templates: text with `{{ name | format }}` holes, parsed once at load so a sync only fills them in.
//!
//! Names: `config.FIELD` (a form field), `since` and `until` (the bounds of the pass, instants),
//! `parent.PATH` (a field of the parent record, in child streams) and `object.PATH` (a field of a changed
//! object, in `refetch`). Formats turn an instant into text: `epoch` (seconds), `epoch_ms`, `rfc3339`,
//! `date` (`YYYY-MM-DD`); without one an instant is RFC 3339. `last_key` is the largest key a capped
//! search returned before its restart. A hole whose value is absent (an optional field left empty,
//! `since` on a first sync) makes the whole template absent, so a query parameter built from it is
//! left out, unless the hole names a default: `{{last_key|or:0}}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value as Json;

use crate::sdk::table::{read, FieldPath};

/// What a hole names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// A configuration field.
    Config(String),
    /// The lower bound of an incremental pass.
    Since,
    /// The upper bound of the pass.
    Until,
    /// The largest key read before a capped search restarted (`restart_key`).
    LastKey,
    /// A field of the parent record.
    Parent(FieldPath),
    /// A field of a changed object.
    Object(FieldPath),
}

/// How an instant is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// As given (an instant as RFC 3339).
    Plain,
    /// Unix seconds.
    Epoch,
    /// Unix milliseconds.
    EpochMs,
    /// RFC 3339 with `Z`, to the second.
    Rfc3339,
    /// `YYYY-MM-DD`.
    Date,
}

/// The valid format names, for error messages.
pub const FORMATS: &[&str] = &["epoch", "epoch_ms", "rfc3339", "date", "or:DEFAULT"];
/// The valid hole names, for error messages.
pub const NAMES: &[&str] = &[
    "config.FIELD",
    "since",
    "until",
    "last_key",
    "parent.PATH",
    "object.PATH",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(Var, Format, Option<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A template that does not parse: the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Looks up a configuration field (trimmed, `None` when empty).
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The values a template is filled from.
#[derive(Default, Clone, Copy)]
pub struct Scope<'a> {
    /// Looks up a configuration field (trimmed, `None` when empty).
    pub config: Option<Lookup<'a>>,
    /// The pass's lower bound.
    pub since: Option<DateTime<Utc>>,
    /// The pass's upper bound.
    pub until: Option<DateTime<Utc>>,
    /// The largest key before a capped search's restart.
    pub last_key: Option<&'a str>,
    /// The parent record.
    pub parent: Option<&'a Json>,
    /// The changed object.
    pub object: Option<&'a Json>,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the configuration's values.
        f.debug_struct("Scope")
            .field("since", &self.since)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| TemplateError(format!("'{{{{' without '}}}}' in \"{text}\"")))?;
            parts.push(parse_hole(&after[..close])?);
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(TemplateError(format!(
                "'}}}}' without '{{{{' in \"{text}\""
            )));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// The names this template uses.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Hole(var, ..) => Some(var),
            Part::Text(_) => None,
        })
    }

    /// Whether the template is plain text.
    pub fn is_constant(&self) -> bool {
        self.vars().next().is_none()
    }

    /// The filled-in text, or `None` when a hole's value is absent.
    pub fn render(&self, scope: &Scope<'_>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(var, format, default) => {
                    match value(var, *format, scope).or_else(|| default.clone()) {
                        Some(v) => out.push_str(&v),
                        None => return None,
                    }
                }
            }
        }
        Some(out)
    }
}

fn parse_hole(inner: &str) -> Result<Part, TemplateError> {
    let (name, format) = match inner.split_once('|') {
        Some((name, format)) => (name.trim(), Some(format.trim())),
        None => (inner.trim(), None),
    };
    let mut default = None;
    let format = match format {
        None => Format::Plain,
        Some(other) if other.starts_with("or:") => {
            default = Some(other["or:".len()..].to_owned());
            Format::Plain
        }
        Some("epoch") => Format::Epoch,
        Some("epoch_ms") => Format::EpochMs,
        Some("rfc3339") => Format::Rfc3339,
        Some("date") => Format::Date,
        Some(other) => {
            return Err(TemplateError(format!(
                "unknown format '{other}'; valid choices: {}",
                FORMATS.join(", ")
            )))
        }
    };
    let var = match name.split_once('.') {
        _ if name == "since" => Var::Since,
        _ if name == "until" => Var::Until,
        _ if name == "last_key" => Var::LastKey,
        Some(("config", field)) if !field.is_empty() => Var::Config(field.to_owned()),
        Some(("parent", path)) if !path.is_empty() => Var::Parent(FieldPath::parse(path)),
        Some(("object", path)) if !path.is_empty() => Var::Object(FieldPath::parse(path)),
        _ => {
            return Err(TemplateError(format!(
                "unknown name '{name}'; valid choices: {}",
                NAMES.join(", ")
            )))
        }
    };
    Ok(Part::Hole(var, format, default))
}

fn value(var: &Var, format: Format, scope: &Scope<'_>) -> Option<String> {
    let text = match var {
        Var::Since => return scope.since.map(|t| instant(t, format)),
        Var::Until => return scope.until.map(|t| instant(t, format)),
        Var::LastKey => scope.last_key?.to_owned(),
        Var::Config(field) => (scope.config?)(field)?,
        Var::Parent(path) => scalar(path.get(scope.parent?)?)?,
        Var::Object(path) => scalar(path.get(scope.object?)?)?,
    };
    if format == Format::Plain {
        return Some(text);
    }
    // A date field (`start_date`) written as an instant.
    read::parse_utc(&text).map(|t| instant(t, format))
}

fn scalar(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn instant(t: DateTime<Utc>, format: Format) -> String {
    match format {
        Format::Epoch => t.timestamp().to_string(),
        Format::EpochMs => t.timestamp_millis().to_string(),
        Format::Date => t.format("%Y-%m-%d").to_string(),
        Format::Plain | Format::Rfc3339 => t.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn holes_fill_in_and_absent_values_drop_the_template() {
        let since = "2024-05-06T07:08:09Z".parse().unwrap();
        let config = |f: &str| (f == "start_date").then(|| "2024-01-02".to_owned());
        let parent = json!({"id": "in_1", "n": 4});
        let scope = Scope {
            config: Some(&config),
            since: Some(since),
            parent: Some(&parent),
            ..Scope::default()
        };
        let t = Template::parse("/v1/invoices/{{parent.id}}/lines").unwrap();
        assert_eq!(t.render(&scope).unwrap(), "/v1/invoices/in_1/lines");
        let t = Template::parse("{{ since | epoch }}").unwrap();
        assert_eq!(t.render(&scope).unwrap(), "1714979289");
        let t = Template::parse("{{since|epoch_ms}}").unwrap();
        assert_eq!(t.render(&scope).unwrap(), "1714979289000");
        let t = Template::parse("{{config.start_date|epoch}}").unwrap();
        assert_eq!(t.render(&scope).unwrap(), "1704153600");
        assert_eq!(Template::parse("{{until}}").unwrap().render(&scope), None);
        assert_eq!(
            Template::parse("{{config.missing}}")
                .unwrap()
                .render(&scope),
            None
        );
        assert!(Template::parse("x").unwrap().is_constant());
    }

    #[test]
    fn mistakes_name_the_valid_choices() {
        let err = Template::parse("{{since|epok}}").unwrap_err().0;
        assert!(err.contains("'epok'") && err.contains("epoch_ms"), "{err}");
        let err = Template::parse("{{sinse}}").unwrap_err().0;
        assert!(
            err.contains("'sinse'") && err.contains("config.FIELD"),
            "{err}"
        );
        assert!(Template::parse("{{since").is_err());
        assert!(Template::parse("since}}").is_err());
    }
}
