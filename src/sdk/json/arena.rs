//! The arena a [`super::JsonDoc`] is made of (strings in one buffer, values in one node list, members
//! in one entry list) and the [`Builder`] that fills it. Both readers, serde_json's visitor in
//! `doc.rs` and the direct reader in `direct.rs`, build through it, so their documents are the same.

/// A run of a document's text: one string or key, unescaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) at: u32,
    pub(super) len: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    // A number as its three payloads rather than serde_json's `Number` (whose own tag makes a node
    // 24 bytes instead of 16): nodes are most of a page's memory in flight.
    PosInt(u64),
    NegInt(i64),
    /// Always finite (`Number::from_f64` accepted it).
    Float(f64),
    Str(Span),
    /// `entries[start..start + len]`, keys unused.
    Array {
        start: u32,
        len: u32,
    },
    /// `entries[start..start + len]`, in document order (repeated keys included).
    Object {
        start: u32,
        len: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) key: Span,
    pub(super) node: u32,
}

pub(super) const NO_KEY: Span = Span { at: 0, len: 0 };

/// How many recent objects' keys the builder remembers per depth (a record's children of different
/// kinds sit at the same depth).
const REMEMBERED: usize = 8;

/// Keys are shared only between objects this shallow: the records of a page (`[{..}, ..]` or
/// `{"results": [{..}, ..]}`), whose layouts table specs compare. Deeper objects are small, and
/// remembering them costs more than it saves.
pub(super) const SHARED_DEPTH: usize = 2;

/// Builds a document's arena; fed by the serde visitor in `doc.rs` or by [`super::direct`], which
/// make the same calls in the same order.
pub(super) struct Builder {
    pub(super) text: String,
    pub(super) nodes: Vec<Node>,
    pub(super) entries: Vec<Entry>,
    /// Members of the containers being parsed, innermost last; moved to `entries` as each closes, so
    /// every container's members are contiguous.
    pub(super) scratch: Vec<Entry>,
    /// Per depth, the keys of the objects closed there most recently, most recent first.
    recent: Vec<Vec<Vec<Span>>>,
    /// Containers open around the value being read.
    pub(super) depth: usize,
}

impl Builder {
    pub(super) fn with_capacity(text: usize, nodes: usize) -> Self {
        Self {
            text: String::with_capacity(text),
            nodes: Vec::with_capacity(nodes),
            entries: Vec::with_capacity(nodes),
            scratch: Vec::new(),
            recent: Vec::new(),
            depth: 0,
        }
    }

    pub(super) fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    pub(super) fn span(&mut self, s: &str) -> Span {
        let at = self.text.len() as u32;
        self.text.push_str(s);
        Span {
            at,
            len: s.len() as u32,
        }
    }

    /// The span of key `index` of an object at `depth`: that of the recent object `like` (chosen by
    /// the first key) if it has the same key there, else `key` stored anew.
    pub(super) fn key(
        &mut self,
        depth: usize,
        index: usize,
        like: &mut Option<usize>,
        key: &str,
    ) -> Span {
        if depth > SHARED_DEPTH {
            return self.span(key);
        }
        let same = |text: &str, span: Span| {
            span.len as usize == key.len()
                && text.as_bytes()[span.at as usize..][..key.len()] == *key.as_bytes()
        };
        let recent = self.recent.get(depth).map_or(&[][..], Vec::as_slice);
        if index == 0 {
            *like = recent
                .iter()
                .position(|keys| keys.first().is_some_and(|&k| same(&self.text, k)));
        }
        if let Some(&span) = like.and_then(|j| recent.get(j)?.get(index)) {
            if same(&self.text, span) {
                return span;
            }
        }
        self.span(key)
    }

    /// Remembers the keys of the object just read at `depth` (members `scratch[mark..]`), as the
    /// recent object `like` it was read against, or as a new one.
    pub(super) fn remember(&mut self, depth: usize, mark: usize, like: Option<usize>) {
        if self.recent.len() <= depth {
            self.recent.resize_with(depth + 1, Vec::new);
        }
        let recent = &mut self.recent[depth];
        let mut keys = match like {
            Some(j) if j < recent.len() => recent.remove(j),
            _ if recent.len() >= REMEMBERED => recent.pop().unwrap_or_default(),
            _ => Vec::new(),
        };
        keys.clear();
        keys.extend(self.scratch[mark..].iter().map(|e| e.key));
        recent.insert(0, keys);
    }

    pub(super) fn close(&mut self, mark: usize) -> (u32, u32) {
        let start = self.entries.len() as u32;
        let len = (self.scratch.len() - mark) as u32;
        self.entries.extend(self.scratch.drain(mark..));
        (start, len)
    }
}
