//! [`JsonDoc`]: a parsed JSON text in one flat arena, and its views [`JsonRef`] and [`Record`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;
use serde_json::{Number, Value};

use super::arena::{Builder, Entry, Node, Span, NO_KEY, SHARED_DEPTH};
use super::{JsonView, Kind};

/// A JSON text that does not parse (serde_json's message, with line and column).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocError(String);

/// A parsed JSON text: every string in one buffer, every value in one node list, every object and
/// array member in one entry list. It does not keep the bytes it was parsed from. In the records of
/// a page, a key equal to the one at the same place in a recent record shares its text, so a page's
/// thousand records of one shape store their keys once, and their [`KeyLayout`]s are equal.
#[derive(Debug, Clone)]
pub struct JsonDoc {
    text: String,
    nodes: Vec<Node>,
    entries: Vec<Entry>,
    root: u32,
    /// Tells documents apart for [`KeyLayout`]s (clones share it: their spans are the same).
    id: u64,
}

impl PartialEq for JsonDoc {
    fn eq(&self, other: &Self) -> bool {
        (&self.text, &self.nodes, &self.entries, self.root)
            == (&other.text, &other.nodes, &other.entries, other.root)
    }
}

fn next_doc_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The keys of one object, in document order, as spans of its document: objects of the same
/// document with equal layouts have the same keys in the same order, compared without reading the
/// keys' text. See [`JsonView::key_layout`](super::JsonView::key_layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    doc: u64,
    keys: Vec<Span>,
}

impl JsonDoc {
    /// Parses `bytes` as one JSON value (whitespace around it allowed), with serde_json's grammar,
    /// number rules and nesting limit, so it accepts and refuses exactly what `serde_json::from_slice`
    /// does.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocError> {
        // Unescaped strings never outgrow the text, so `text` never reallocates (capacity that is
        // never written costs no memory); a value takes at least two bytes of text, most far more.
        // Validating the whole text once costs a fraction of what the slice reader spends validating
        // every string on its own; text that is not UTF-8 goes through the slice reader all the same,
        // for its error (which names the line and column).
        // The direct reader handles what APIs send; what it leaves (errors above all) serde_json
        // reads again from the start, so its grammar and messages stay the rule.
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let mut builder = Builder::with_capacity(bytes.len(), bytes.len() / 12);
                match super::direct::read(&mut builder, text) {
                    Some(root) => builder.finish(root).map_err(DocError),
                    None => Self::parse_by_serde(text),
                }
            }
            Err(_) => Self::parse_from(serde_json::Deserializer::from_slice(bytes), bytes.len()),
        }
    }

    /// [`JsonDoc::parse`] through serde_json's deserializer alone.
    fn parse_by_serde(text: &str) -> Result<Self, DocError> {
        Self::parse_from(serde_json::Deserializer::from_str(text), text.len())
    }

    fn parse_from<'de, R: serde_json::de::Read<'de>>(
        mut de: serde_json::Deserializer<R>,
        len: usize,
    ) -> Result<Self, DocError> {
        let builder = Builder::with_capacity(len, len / 12);
        builder
            .build(&mut de)
            .and_then(|doc| de.end().map(|()| doc))
            .map_err(|e| DocError(e.to_string()))?
            .map_err(DocError)
    }

    /// An object whose values are all strings, members in the order given (repeated keys kept, the
    /// last one read, as everywhere): a CSV row keyed by its header, in one arena instead of a map of
    /// owned strings.
    pub fn string_object<'s>(
        fields: impl Iterator<Item = (&'s str, &'s str)> + Clone,
    ) -> Result<Self, DocError> {
        let (count, text_len) = fields.clone().fold((0usize, 0usize), |(n, len), (k, v)| {
            (n + 1, len + k.len() + v.len())
        });
        if text_len > u32::MAX as usize || count >= u32::MAX as usize {
            return Err(DocError("the row is larger than 4 GiB".to_owned()));
        }
        let mut builder = Builder::with_capacity(text_len, count + 1);
        for (key, value) in fields {
            let key = builder.span(key);
            let value = builder.span(value);
            let node = builder.push(Node::Str(value));
            builder.entries.push(Entry { key, node });
        }
        let root = builder.push(Node::Object {
            start: 0,
            len: count as u32,
        });
        Ok(Self {
            text: builder.text,
            nodes: builder.nodes,
            entries: builder.entries,
            root,
            id: next_doc_id(),
        })
    }

    /// The document of a lone `null` (an empty response body).
    pub fn null() -> Self {
        Self {
            text: String::new(),
            nodes: vec![Node::Null],
            entries: Vec::new(),
            root: 0,
            id: next_doc_id(),
        }
    }

    /// The top-level value.
    pub fn root(&self) -> JsonRef<'_> {
        JsonRef {
            doc: self,
            node: self.root,
        }
    }

    /// Bytes held: what a page costs while its records are in flight.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    fn str(&self, span: Span) -> &str {
        &self.text[span.at as usize..(span.at + span.len) as usize]
    }
}

/// One value inside a [`JsonDoc`]: a cheap, copyable view.
#[derive(Clone, Copy)]
pub struct JsonRef<'a> {
    doc: &'a JsonDoc,
    node: u32,
}

impl fmt::Debug for JsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json_string())
    }
}

impl<'a> JsonRef<'a> {
    fn node(self) -> &'a Node {
        &self.doc.nodes[self.node as usize]
    }

    fn at(self, node: u32) -> Self {
        Self {
            doc: self.doc,
            node,
        }
    }

    fn members(self) -> &'a [Entry] {
        match *self.node() {
            Node::Array { start, len } | Node::Object { start, len } => {
                &self.doc.entries[start as usize..(start + len) as usize]
            }
            _ => &[],
        }
    }

    /// This value as a [`Record`] of its own, sharing `doc` (which must be the document this view is of).
    pub fn to_record(self, doc: &Arc<JsonDoc>) -> Record {
        debug_assert!(std::ptr::eq(self.doc, &**doc), "a view of another document");
        Record {
            doc: Arc::clone(doc),
            node: self.node,
        }
    }
}

impl<'a> JsonView<'a> for JsonRef<'a> {
    fn kind(self) -> Kind<'a> {
        match self.node() {
            Node::Null => Kind::Null,
            Node::Bool(b) => Kind::Bool(*b),
            Node::PosInt(n) => Kind::Number(Number::from(*n)),
            Node::NegInt(n) => Kind::Number(Number::from(*n)),
            Node::Float(n) => Number::from_f64(*n).map_or(Kind::Null, Kind::Number),
            Node::Str(span) => Kind::Str(self.doc.str(*span)),
            Node::Array { .. } => Kind::Array,
            Node::Object { .. } => Kind::Object,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        if !matches!(self.node(), Node::Object { .. }) {
            return None;
        }
        // The last of repeated keys wins, as in serde_json's map. Lengths first: most keys differ there.
        let (text, wanted) = (self.doc.text.as_bytes(), key.as_bytes());
        self.members()
            .iter()
            .rev()
            .find(|e| {
                e.key.len as usize == wanted.len()
                    && &text[e.key.at as usize..(e.key.at + e.key.len) as usize] == wanted
            })
            .map(|e| self.at(e.node))
    }

    fn index(self, index: usize) -> Option<Self> {
        if !matches!(self.node(), Node::Array { .. }) {
            return None;
        }
        self.members().get(index).map(|e| self.at(e.node))
    }

    fn items(self) -> impl Iterator<Item = Self> + 'a {
        let members = match self.node() {
            Node::Array { .. } => self.members(),
            _ => &[],
        };
        members.iter().map(move |e| self.at(e.node))
    }

    fn entries(self) -> Vec<(&'a str, Self)> {
        if !matches!(self.node(), Node::Object { .. }) {
            return Vec::new();
        }
        let mut entries: Vec<(&'a str, usize, Self)> = self
            .members()
            .iter()
            .enumerate()
            .map(|(i, e)| (self.doc.str(e.key), i, self.at(e.node)))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        let mut out: Vec<(&'a str, Self)> = Vec::with_capacity(entries.len());
        for (key, _, value) in entries {
            match out.last_mut() {
                Some(last) if last.0 == key => last.1 = value,
                _ => out.push((key, value)),
            }
        }
        out
    }

    fn to_json_string(self) -> String {
        // Empty lists are most of what APIs send in JSON columns; skip the serializer for them.
        match self.node() {
            Node::Array { len: 0, .. } => "[]".to_owned(),
            Node::Object { len: 0, .. } => "{}".to_owned(),
            _ => serde_json::to_string(&self).unwrap_or_default(),
        }
    }

    fn member_count(self) -> Option<usize> {
        matches!(self.node(), Node::Object { .. }).then(|| self.members().len())
    }

    fn member(self, index: usize) -> Option<(&'a str, Self)> {
        let Node::Object { start, len } = *self.node() else {
            return None;
        };
        if index >= len as usize {
            return None;
        }
        let entry = self.doc.entries[start as usize + index];
        Some((self.doc.str(entry.key), self.at(entry.node)))
    }

    fn key_layout(self, layout: &mut Option<KeyLayout>) {
        if !matches!(self.node(), Node::Object { .. }) {
            *layout = None;
            return;
        }
        // Records that are documents of their own (CSV rows) take a layout each: no allocation.
        let layout = layout.get_or_insert_with(|| KeyLayout {
            doc: 0,
            keys: Vec::new(),
        });
        layout.doc = self.doc.id;
        layout.keys.clear();
        layout.keys.extend(self.members().iter().map(|e| e.key));
    }

    fn has_key_layout(self, layout: &KeyLayout) -> bool {
        let members = self.members();
        layout.doc == self.doc.id
            && matches!(self.node(), Node::Object { .. })
            && members.len() == layout.keys.len()
            && members.iter().zip(&layout.keys).all(|(e, k)| e.key == *k)
    }

    fn to_value(self) -> Value {
        match self.kind() {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(b),
            Kind::Number(n) => Value::Number(n),
            Kind::Str(s) => Value::String(s.to_owned()),
            Kind::Array => Value::Array(self.items().map(JsonView::to_value).collect()),
            Kind::Object => Value::Object(
                self.entries()
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl Serialize for JsonRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.kind() {
            Kind::Null => s.serialize_unit(),
            Kind::Bool(b) => s.serialize_bool(b),
            Kind::Number(n) => n.serialize(s),
            Kind::Str(text) => s.serialize_str(text),
            Kind::Array => {
                let mut seq = s.serialize_seq(Some(self.members().len()))?;
                for item in self.items() {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Kind::Object => {
                let entries = self.entries();
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, &value)?;
                }
                map.end()
            }
        }
    }
}

/// One value of a shared [`JsonDoc`] (usually one record of a page), owned: it can be sent, kept and
/// cloned (an `Arc` count) independently of the page's other records. The document is freed with its
/// last record.
#[derive(Clone)]
pub struct Record {
    doc: Arc<JsonDoc>,
    node: u32,
}

impl Record {
    /// The whole of `doc` as a record.
    pub fn whole(doc: JsonDoc) -> Self {
        let node = doc.root;
        Self {
            doc: Arc::new(doc),
            node,
        }
    }

    /// `value` as a record of its own document (tests, and records built rather than fetched).
    pub fn from_value(value: &Value) -> Self {
        let text = serde_json::to_vec(value).unwrap_or_default();
        Self::whole(JsonDoc::parse(&text).unwrap_or_else(|_| JsonDoc::null()))
    }

    /// A view of the record.
    pub fn view(&self) -> JsonRef<'_> {
        JsonRef {
            doc: &self.doc,
            node: self.node,
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.view().to_value() == other.view().to_value()
    }
}

/// Turning a filled arena into a document: here, because it is the document's type.
impl Builder {
    /// Reads one value from `d` into a document; the inner `Err` is a document past the 4 GiB that
    /// spans address.
    fn build<'de, D: serde::Deserializer<'de>>(
        mut self,
        d: D,
    ) -> Result<Result<JsonDoc, String>, D::Error> {
        let root = NodeSeed(&mut self).deserialize(d)?;
        Ok(self.finish(root))
    }

    /// The document whose top-level value is node `root`; `Err` past the 4 GiB that spans address.
    pub(super) fn finish(self, root: u32) -> Result<JsonDoc, String> {
        if self.text.len() > u32::MAX as usize || self.nodes.len() > u32::MAX as usize {
            return Err("the json text is larger than 4 GiB".to_owned());
        }
        Ok(JsonDoc {
            text: self.text,
            nodes: self.nodes,
            entries: self.entries,
            root,
            id: next_doc_id(),
        })
    }
}

struct NodeSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = u32;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any json value")
    }
    fn visit_unit<E>(self) -> Result<u32, E> {
        Ok(self.0.push(Node::Null))
    }
    fn visit_none<E>(self) -> Result<u32, E> {
        Ok(self.0.push(Node::Null))
    }
    fn visit_bool<E>(self, v: bool) -> Result<u32, E> {
        Ok(self.0.push(Node::Bool(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<u32, E> {
        Ok(self.0.push(Node::PosInt(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<u32, E> {
        // serde_json hands non-negative integers to visit_u64; keep its `Number` representation.
        Ok(self.0.push(if v < 0 {
            Node::NegInt(v)
        } else {
            Node::PosInt(v as u64)
        }))
    }
    fn visit_f64<E>(self, v: f64) -> Result<u32, E> {
        // serde_json's Value turns what it cannot hold into null; so does this.
        Ok(self.0.push(if v.is_finite() {
            Node::Float(v)
        } else {
            Node::Null
        }))
    }
    fn visit_str<E>(self, v: &str) -> Result<u32, E> {
        let span = self.0.span(v);
        Ok(self.0.push(Node::Str(span)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u32, A::Error> {
        let mark = self.0.scratch.len();
        self.0.depth += 1;
        while let Some(node) = seq.next_element_seed(NodeSeed(&mut *self.0))? {
            self.0.scratch.push(Entry { key: NO_KEY, node });
        }
        self.0.depth -= 1;
        let (start, len) = self.0.close(mark);
        Ok(self.0.push(Node::Array { start, len }))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let mark = self.0.scratch.len();
        let depth = self.0.depth;
        let mut like = None;
        self.0.depth += 1;
        let mut index = 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            builder: &mut *self.0,
            depth,
            index,
            like: &mut like,
        })? {
            let node = map.next_value_seed(NodeSeed(&mut *self.0))?;
            self.0.scratch.push(Entry { key, node });
            index += 1;
        }
        self.0.depth -= 1;
        if depth <= SHARED_DEPTH {
            self.0.remember(depth, mark, like);
        }
        let (start, len) = self.0.close(mark);
        Ok(self.0.push(Node::Object { start, len }))
    }
}

struct KeySeed<'b> {
    builder: &'b mut Builder,
    depth: usize,
    index: usize,
    like: &'b mut Option<usize>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Span;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Span, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Span;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<Span, E> {
        Ok(self.builder.key(self.depth, self.index, self.like, v))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc(text: &str) -> JsonDoc {
        JsonDoc::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_node_is_sixteen_bytes() {
        // Two thirds of what an inline `Number` made it: nodes are most of a page's memory in flight.
        assert_eq!(std::mem::size_of::<Node>(), 16);
        assert_eq!(std::mem::size_of::<Entry>(), 12);
    }

    #[test]
    fn paths_strings_numbers_and_escapes_read_as_in_serde_json() {
        let d =
            doc(r#" {"a": {"b": [1, -2, 2.5, "x\"y\u00e9"]}, "t": true, "n": null, "a2": []} "#);
        let root = d.root();
        let b = root.get("a").and_then(|a| a.get("b")).unwrap();
        assert_eq!(b.index(0).and_then(JsonView::as_u64), Some(1));
        assert_eq!(b.index(1).unwrap().as_number(), Some(Number::from(-2)));
        assert_eq!(b.index(3).and_then(JsonView::as_str), Some("x\"yé"));
        assert_eq!(root.get("t").and_then(JsonView::as_bool), Some(true));
        assert!(root.get("n").unwrap().is_null());
        assert!(root.get("missing").is_none());
        assert_eq!(b.items().count(), 4);
        assert_eq!(root.index(0).map(|_| ()), None, "an object has no items");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_keys_serialize_sorted() {
        let d = doc(r#"{"z": 1, "a": 2, "z": 3}"#);
        assert_eq!(d.root().get("z").and_then(JsonView::as_u64), Some(3));
        assert_eq!(d.root().to_json_string(), r#"{"a":2,"z":3}"#);
        let v: Value = serde_json::from_str(r#"{"z": 1, "a": 2, "z": 3}"#).unwrap();
        assert_eq!(d.root().to_json_string(), v.to_string());
    }

    #[test]
    fn what_serde_json_refuses_is_refused() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "nul",
            "1 2",
            "\"\\x\"",
            "[1e999]",
        ] {
            let ours = JsonDoc::parse(bad.as_bytes()).is_err();
            let theirs = serde_json::from_str::<Value>(bad).is_err();
            assert_eq!(ours, theirs, "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(JsonDoc::parse(deep.as_bytes()).is_err(), "nesting limit");
        // Text that is not UTF-8, in a string or outside one: refused with serde_json's own message.
        for bad in [&b"[\"a\xff\"]"[..], b"{\"\xc3\": 1}", b"[1, \xe2]"] {
            let ours = JsonDoc::parse(bad).expect_err("not utf-8");
            let theirs = serde_json::from_slice::<Value>(bad).expect_err("not utf-8");
            assert_eq!(ours.to_string(), theirs.to_string());
        }
    }

    #[test]
    fn records_of_one_shape_store_their_keys_once_and_share_a_layout() {
        let d = doc(
            r#"[{"id": 1, "name": "a", "kids": [{"k": 1}]}, {"id": 2, "name": "b", "kids": [{"k": 2}]},
                {"name": "c", "id": 3}, {"id": 4, "name": "d", "kids": []}]"#,
        );
        // Once for the records of the first order, once for the record of another order.
        assert_eq!(d.text.matches("name").count(), 2, "{:?}", d.text);
        // `k` sits deeper than records, where keys are stored where they occur.
        assert_eq!(
            d.text.matches('k').count(),
            3,
            "kids once, k twice: {:?}",
            d.text
        );
        let records: Vec<JsonRef<'_>> = d.root().items().collect();
        let mut layout = None;
        records[0].key_layout(&mut layout);
        let layout = layout.unwrap();
        assert!(records[1].has_key_layout(&layout));
        assert!(records[3].has_key_layout(&layout));
        assert!(!records[2].has_key_layout(&layout), "another order");
        let other = doc(r#"{"id": 1, "name": "a", "kids": []}"#);
        assert!(!other.root().has_key_layout(&layout), "another document");
        assert_eq!(
            records[2].to_value(),
            serde_json::json!({"name": "c", "id": 3})
        );
    }

    #[test]
    fn records_share_their_page() {
        let page = Arc::new(doc(r#"{"list": [{"id": 1}, {"id": 2}]}"#));
        let records: Vec<Record> = page
            .root()
            .get("list")
            .unwrap()
            .items()
            .map(|r| r.to_record(&page))
            .collect();
        drop(page);
        assert_eq!(
            records[1].view().get("id").and_then(JsonView::as_u64),
            Some(2)
        );
        assert_eq!(records[0], Record::from_value(&json!({"id": 1})));
    }

    pub(crate) fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-z0-9 é\"\\\\/\\n\\t\u{1}\u{8}\u{c}\r\u{1f}\u{7f}-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-e]{1,3}", inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A string object reads as the JSON object of the same members (the last of repeated keys
        /// wins, keys in map order), which is what a CSV row was as a `serde_json::Map`.
        #[test]
        fn a_string_object_reads_as_the_equivalent_map(
            fields in proptest::collection::vec(("[a-d]{0,2}", "[a-z é\"\\\\]{0,5}"), 0..12)
        ) {
            let doc = JsonDoc::string_object(fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let expected = Value::Object(map);
            prop_assert_eq!(doc.root().to_value(), expected.clone());
            prop_assert_eq!(doc.root().to_json_string(), expected.to_string());
            for (key, _) in &fields {
                prop_assert_eq!(doc.root().get(key).and_then(|v| v.as_str()), expected[key.as_str()].as_str());
            }
        }

        /// Every view answers as the equivalent `serde_json::Value` does, and the text round-trips.
        #[test]
        fn a_doc_reads_exactly_as_a_value(value in any_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
            let parsed: Value = serde_json::from_str(&text).unwrap();
            let d = JsonDoc::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(d.root().to_value(), parsed.clone());
            prop_assert_eq!(d.root().to_json_string(), parsed.to_string());
            fn walk<'a>(a: JsonRef<'a>, b: &'a Value) -> Result<(), TestCaseError> {
                prop_assert_eq!(a.kind(), b.kind());
                prop_assert_eq!(a.to_json_string(), b.to_json_string());
                for ((ka, va), (kb, vb)) in a.entries().into_iter().zip(b.entries()) {
                    prop_assert_eq!(ka, kb);
                    prop_assert_eq!(a.get(ka).map(|v| v.to_json_string()), b.get(kb).map(|v| v.to_json_string()));
                    walk(va, vb)?;
                }
                prop_assert_eq!(a.items().count(), b.items().count());
                for (i, (ia, ib)) in a.items().zip(b.items()).enumerate() {
                    prop_assert_eq!(a.index(i).map(|v| v.to_json_string()), b.index(i).map(|v| v.to_json_string()));
                    walk(ia, ib)?;
                }
                Ok(())
            }
            walk(d.root(), &parsed)?;
        }
    }

    mod direct_reader {
        //! The direct reader against serde_json (here, beside `JsonDoc`, so `direct.rs` stays a leaf).
        use super::super::super::direct::read;
        use super::*;

        /// What the direct reader made of `text`, if it answered itself.
        fn direct(text: &str) -> Option<JsonDoc> {
            let mut builder = Builder::with_capacity(text.len(), text.len() / 12);
            let root = read(&mut builder, text)?;
            builder.finish(root).ok()
        }

        /// `JsonDoc::parse` (direct reader first) and serde_json alone agree: the same arena, or the
        /// same error message.
        fn agrees(text: &str) -> Result<(), TestCaseError> {
            let ours = JsonDoc::parse(text.as_bytes());
            let theirs = JsonDoc::parse_by_serde(text);
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => prop_assert!(a == b, "{text:?}"),
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string(), "{:?}", text),
                _ => prop_assert!(false, "{text:?}: {ours:?} vs {theirs:?}"),
            }
            if let Some(doc) = direct(text) {
                prop_assert!(theirs.is_ok_and(|t| t == doc), "{text:?}");
            }
            Ok(())
        }

        /// `text` with every non-ASCII character and every `/` written as a `\u` escape (surrogate pairs
        /// above the BMP), as some APIs send them.
        fn escape_non_ascii(text: &str) -> String {
            let mut out = String::new();
            for c in text.chars() {
                if c.is_ascii() && c != '/' {
                    out.push(c);
                } else {
                    for unit in c.encode_utf16(&mut [0; 2]) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    }
                }
            }
            out
        }

        #[test]
        fn what_apis_send_is_read_directly() {
            for text in [
                r#"{"list": [{"id": 1, "amount": 12.5, "note": "a \"b\" \u00e9\ud83d\ude00", "ok": true}]}"#,
                "[-1, 0, -9223372036854775808, 18446744073709551615, 0.1, -0.0, 123456789012.345]",
                " [ ] ",
                "\"\"",
            ] {
                let doc = direct(text).unwrap_or_else(|| panic!("{text:?} went to serde_json"));
                assert!(doc == JsonDoc::parse_by_serde(text).unwrap(), "{text:?}");
            }
        }

        #[test]
        fn what_it_does_not_handle_serde_json_decides() {
            for text in [
                "",
                "   ",
                "{",
                "[1,]",
                "{\"a\":1,}",
                "{\"a\" 1}",
                "{1: 2}",
                "nul",
                "tru",
                "1 2",
                "01",
                "-",
                "1.",
                "1e",
                ".5",
                "[1e999]",
                "[-1e999]",
                "[1e-999]",
                "[18446744073709551616]",
                "[-9223372036854775809]",
                "[1.0000000000000002, 9007199254740993.0, 1.7976931348623157e308]",
                "\"\\x\"",
                "\"\\ud800\"",
                "\"\\udc00\"",
                "\"\\ud800\\u0041\"",
                "\"\\u12\"",
                "\"a\tb\"",
                "\"unterminated",
                "[\"a\" \"b\"]",
                "{\"a\":1}}",
            ] {
                agrees(text).unwrap();
            }
            let deep = "[".repeat(200) + &"]".repeat(200);
            agrees(&deep).unwrap();
            let just_deep_enough = "[".repeat(127) + &"]".repeat(127);
            agrees(&just_deep_enough).unwrap();
            assert!(direct(&deep).is_none());
        }

        proptest! {
            /// Any document, compact, pretty or with its non-ASCII text escaped, is read directly into the
            /// arena serde_json builds.
            #[test]
            fn any_document_reads_as_by_serde(value in any_json(), form in 0..3u8) {
                let text = match form {
                    0 => serde_json::to_string(&value).unwrap(),
                    1 => serde_json::to_string_pretty(&value).unwrap(),
                    _ => escape_non_ascii(&serde_json::to_string(&value).unwrap()),
                };
                prop_assert!(direct(&text).is_some(), "{:?} went to serde_json", text);
                agrees(&text)?;
            }

            /// Numbers of every shape read as serde_json reads them, or fail as it fails.
            #[test]
            fn any_number_reads_as_by_serde(
                number in "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"
            ) {
                agrees(&format!("[{number}]"))?;
                agrees(&number)?;
            }

            /// A document with one byte dropped, replaced or inserted reads as serde_json reads it, or
            /// fails with its message.
            #[test]
            fn damaged_documents_agree(value in any_json(), at in any::<prop::sample::Index>(), byte in prop::sample::select(b"{}[]\",:\\ 0-.eu\tnx".to_vec()), how in 0..3u8) {
                let mut bytes = serde_json::to_vec(&value).unwrap();
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => { bytes.remove(i); }
                    1 if i < bytes.len() => bytes[i] = byte,
                    _ => bytes.insert(i, byte),
                }
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    agrees(text)?;
                }
            }
        }
    }
}
