//! Reading JSON records without building `serde_json::Value` trees.
//!
//! A page of a thousand records parsed into `Value`s costs an allocation for every key, every string and
//! every object, a B-tree per object, and as much again to free them: most of a connector's CPU. A
//! [`JsonDoc`] instead parses the page once into one flat arena over the response bytes: strings
//! without escapes are spans of those bytes, objects are runs of entries, and a page costs a handful of
//! allocations. [`Record`] is one record of a document (shared by `Arc`, so a page's records travel
//! through pagers and channels independently).
//!
//! [`JsonView`] is what table specs and readers read: implemented for `&serde_json::Value` and for
//! [`JsonRef`], with identical answers (a property test in `doc.rs` checks it over random documents),
//! so one reader implementation serves both.

mod arena;
mod direct;
mod doc;
mod split;

pub use doc::{DocError, JsonDoc, JsonRef, KeyLayout, Record};
pub use split::{Piece, SplitError, Splitter};

use serde_json::{Number, Value};

/// What a JSON value is, as a [`JsonView`] sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it (so both views agree on every number).
    Number(Number),
    /// A string, unescaped.
    Str(&'a str),
    /// An array.
    Array,
    /// An object.
    Object,
}

/// A read-only view of a JSON value: enough for paths, readers and issue reports.
///
/// Both implementations answer alike for the same JSON text: objects with a repeated key keep the last
/// value (as `serde_json::Map` does), [`JsonView::entries`] and [`JsonView::to_json_string`] order keys
/// as `serde_json::Map` does (sorted), and numbers are `serde_json::Number`s.
pub trait JsonView<'a>: Copy + Sized + 'a {
    /// What the value is.
    fn kind(self) -> Kind<'a>;
    /// The value of `key`, if this is an object that has it.
    fn get(self, key: &str) -> Option<Self>;
    /// Item `index`, if this is an array that long.
    fn index(self, index: usize) -> Option<Self>;
    /// An array's items in order (nothing for anything else).
    fn items(self) -> impl Iterator<Item = Self> + 'a;
    /// An object's entries in key order, each key once (nothing for anything else).
    fn entries(self) -> Vec<(&'a str, Self)>;
    /// The value as compact JSON text, exactly as `serde_json::to_string` writes the equivalent `Value`.
    fn to_json_string(self) -> String;
    /// The equivalent `serde_json::Value`.
    fn to_value(self) -> Value;

    /// How many members this object has in document order, repeated keys included, when the view
    /// can reach them by position ([`JsonView::member`]); `None` otherwise (then callers use
    /// [`JsonView::get`] and [`JsonView::entries`]).
    fn member_count(self) -> Option<usize> {
        None
    }
    /// Member `index` of an object in document order, as its key and value, when
    /// [`JsonView::member_count`] answers.
    fn member(self, index: usize) -> Option<(&'a str, Self)> {
        let _ = index;
        None
    }
    /// Puts this object's keys into `layout` in a form [`JsonView::has_key_layout`] compares
    /// cheaply, reusing its allocation, when the view has one (objects of a [`JsonDoc`]); `None`
    /// otherwise.
    fn key_layout(self, layout: &mut Option<KeyLayout>) {
        *layout = None;
    }
    /// Whether this object's keys are exactly those of `layout`, in the same order. `false` means
    /// "not known to be": compare the keys themselves.
    fn has_key_layout(self, layout: &KeyLayout) -> bool {
        let _ = layout;
        false
    }

    /// Whether this is `null`.
    fn is_null(self) -> bool {
        matches!(self.kind(), Kind::Null)
    }
    /// The string, if this is one.
    fn as_str(self) -> Option<&'a str> {
        match self.kind() {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The number, if this is one.
    fn as_number(self) -> Option<Number> {
        match self.kind() {
            Kind::Number(n) => Some(n),
            _ => None,
        }
    }
    /// The number as `u64`, if it is a non-negative integer.
    fn as_u64(self) -> Option<u64> {
        self.as_number()?.as_u64()
    }
    /// The boolean, if this is one.
    fn as_bool(self) -> Option<bool> {
        match self.kind() {
            Kind::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl<'a> JsonView<'a> for &'a Value {
    fn kind(self) -> Kind<'a> {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.clone()),
            Value::String(s) => Kind::Str(s),
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }
    fn get(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }
    fn index(self, index: usize) -> Option<Self> {
        self.as_array()?.get(index)
    }
    fn items(self) -> impl Iterator<Item = Self> + 'a {
        self.as_array().into_iter().flatten()
    }
    fn entries(self) -> Vec<(&'a str, Self)> {
        self.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.as_str(), v)).collect())
            .unwrap_or_default()
    }
    fn to_json_string(self) -> String {
        self.to_string()
    }
    fn to_value(self) -> Value {
        self.clone()
    }
}
