//! The direct reader behind [`JsonDoc::parse`](super::JsonDoc::parse): one pass over the text,
//! making the same [`Builder`] calls in the same order as the serde visitor does, so the document is
//! the same arena byte for byte. Profiles put serde_json's `deserialize_any` and its visitor at a third
//! of a JSON connector's CPU; this reader does the same work in far fewer instructions.
//!
//! It only ever answers for text it is sure of. Anything it does not handle itself (a syntax error, a
//! lone surrogate, nesting deeper than [`MAX_DEPTH`], a number it would have to round) makes it
//! return `None`, and the caller parses the text again with serde_json, which then decides and words
//! any error. So what is accepted and refused, and every message, stays serde_json's.

use super::arena::{Builder, Entry, Node, NO_KEY, SHARED_DEPTH};

/// Deeper than this goes to serde_json, whose recursion limit (128) decides.
const MAX_DEPTH: usize = 100;

/// Powers of ten exactly representable as `f64`, as serde_json's own table holds them.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Reads `text` (one JSON value, whitespace around it) into `builder`, returning the root node;
/// `None` when serde_json must decide (the builder is then in an unspecified state).
pub(super) fn read(builder: &mut Builder, text: &str) -> Option<u32> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        pos: 0,
        unescaped: String::new(),
    };
    let root = reader.value(builder)?;
    reader.skip_whitespace();
    (reader.pos == reader.bytes.len()).then_some(root)
}

struct Reader<'t> {
    bytes: &'t [u8],
    text: &'t str,
    pos: usize,
    /// The current string with its escapes resolved, when it has any.
    unescaped: String,
}

/// Whether a byte ends the plain run of a string: a quote, a backslash or a control character.
const fn stops_string(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

impl<'t> Reader<'t> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next_token(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn value(&mut self, builder: &mut Builder) -> Option<u32> {
        match self.next_token()? {
            b'{' => self.object(builder),
            b'[' => self.array(builder),
            b'"' => {
                let text = self.string()?;
                let span = builder.span(text);
                Some(builder.push(Node::Str(span)))
            }
            b'n' => self.literal(b"ull", Node::Null, builder),
            b't' => self.literal(b"rue", Node::Bool(true), builder),
            b'f' => self.literal(b"alse", Node::Bool(false), builder),
            b'-' | b'0'..=b'9' => {
                self.pos -= 1;
                let node = self.number()?;
                Some(builder.push(node))
            }
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8], node: Node, builder: &mut Builder) -> Option<u32> {
        let end = self.pos + rest.len();
        (self.bytes.get(self.pos..end)? == rest).then(|| {
            self.pos = end;
            builder.push(node)
        })
    }

    fn object(&mut self, builder: &mut Builder) -> Option<u32> {
        let mark = builder.scratch.len();
        let depth = builder.depth;
        if depth >= MAX_DEPTH {
            return None;
        }
        let mut like = None;
        builder.depth += 1;
        let mut token = self.next_token()?;
        let mut index = 0;
        if token != b'}' {
            loop {
                if token != b'"' {
                    return None;
                }
                let text = self.string()?;
                let key = builder.key(depth, index, &mut like, text);
                if self.next_token()? != b':' {
                    return None;
                }
                let node = self.value(builder)?;
                builder.scratch.push(Entry { key, node });
                index += 1;
                match self.next_token()? {
                    b',' => token = self.next_token()?,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        builder.depth -= 1;
        if depth <= SHARED_DEPTH {
            builder.remember(depth, mark, like);
        }
        let (start, len) = builder.close(mark);
        Some(builder.push(Node::Object { start, len }))
    }

    fn array(&mut self, builder: &mut Builder) -> Option<u32> {
        let mark = builder.scratch.len();
        if builder.depth >= MAX_DEPTH {
            return None;
        }
        builder.depth += 1;
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                let node = self.value(builder)?;
                builder.scratch.push(Entry { key: NO_KEY, node });
                match self.next_token()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        builder.depth -= 1;
        let (start, len) = builder.close(mark);
        Some(builder.push(Node::Array { start, len }))
    }

    /// The string whose opening quote was just read, unescaped; the reader is left past its closing
    /// quote. The returned text borrows either the input or `self.unescaped`.
    fn string(&mut self) -> Option<&str> {
        let start = self.pos;
        let end = self.plain_run(start);
        match self.bytes.get(end)? {
            b'"' => {
                self.pos = end + 1;
                // Both ends sit next to an ASCII quote, so they are character boundaries.
                Some(&self.text[start..end])
            }
            b'\\' => {
                self.unescaped.clear();
                self.unescaped.push_str(&self.text[start..end]);
                self.pos = end;
                self.escaped()?;
                Some(&self.unescaped)
            }
            _ => None, // a control character: serde_json refuses it
        }
    }

    /// Where the run of plain string bytes from `from` ends: eight bytes at a time, then bytewise.
    fn plain_run(&self, from: usize) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let mut at = from;
        while let Some(chunk) = self.bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            let quote = word ^ (ONES * u64::from(b'"'));
            let backslash = word ^ (ONES * u64::from(b'\\'));
            // A byte is zero (or, for the last test, below 0x20) iff its high bit ends up set; bytes
            // at or above 0x80 are excluded by `!word`.
            let special = ((quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash)
                | (word.wrapping_sub(ONES * 0x20) & !word))
                & HIGHS;
            if special != 0 {
                // The lowest flag is exact (a borrow only disturbs the bytes above it).
                return at + (special.trailing_zeros() / 8) as usize;
            }
            at += 8;
        }
        while let Some(&b) = self.bytes.get(at) {
            if stops_string(b) {
                break;
            }
            at += 1;
        }
        at
    }

    /// Resolves the rest of a string with escapes into `self.unescaped`, from the backslash at `pos`.
    fn escaped(&mut self) -> Option<()> {
        loop {
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    let escape = *self.bytes.get(self.pos + 1)?;
                    self.pos += 2;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    self.unescaped.push(c);
                }
                _ => {
                    let start = self.pos;
                    let end = self.plain_run(start);
                    if end == start {
                        return None; // a control character
                    }
                    self.unescaped.push_str(&self.text[start..end]);
                    self.pos = end;
                }
            }
        }
    }

    /// The character of a `\u` escape whose four hex digits start at `pos`: a code point outside the
    /// surrogates, or a leading surrogate followed by `\u` and a trailing one. Lone surrogates go to
    /// serde_json.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2)? != b"\\u" {
                    return None;
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            _ => char::from_u32(first),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.pos..self.pos + 4)?;
        let mut value = 0;
        for &d in digits {
            value = value * 16 + char::from(d).to_digit(16)?;
        }
        self.pos += 4;
        Some(value)
    }

    /// A number starting at `pos`, as serde_json's `Value` holds it. Integers that fit and plain
    /// decimals of at most 15 significant digits are read here, with serde_json's arithmetic; every
    /// other number is handed to serde_json on its own.
    fn number(&mut self) -> Option<Node> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let mut significand: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            significand = significand
                .wrapping_mul(10)
                .wrapping_add(u64::from(d - b'0'));
            self.pos += 1;
        }
        let int_digits = self.pos - int_start;
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return None; // no digits, or a leading zero: serde_json's error
        }
        let mut frac_digits = 0;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let frac_start = self.pos;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                significand = significand
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(d - b'0'));
                self.pos += 1;
            }
            frac_digits = self.pos - frac_start;
            if frac_digits == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            let exp_start = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == exp_start {
                return None;
            }
            return self.number_by_serde(start);
        }
        if frac_digits > 0 {
            // Fewer than 16 digits: the significand is exact in an f64 and the power of ten is in
            // the table, which is the division serde_json makes for such a decimal.
            if int_digits + frac_digits > 15 {
                return self.number_by_serde(start);
            }
            let f = significand as f64 / POW10[frac_digits];
            return Some(Node::Float(if negative { -f } else { f }));
        }
        if int_digits > 19 {
            return self.number_by_serde(start); // may not fit a u64
        }
        match (negative, significand) {
            (false, n) => Some(Node::PosInt(n)),
            // serde_json reads `-0` as a float, and past i64::MIN as one too.
            (true, n @ 1..=0x8000_0000_0000_0000) => Some(Node::NegInt((n as i64).wrapping_neg())),
            _ => self.number_by_serde(start),
        }
    }

    /// The number `text[start..pos]` read by serde_json (large integers, exponents, long decimals).
    fn number_by_serde(&self, start: usize) -> Option<Node> {
        match serde_json::from_str(&self.text[start..self.pos]).ok()? {
            serde_json::Value::Number(n) => Some(if let Some(u) = n.as_u64() {
                Node::PosInt(u)
            } else if let Some(i) = n.as_i64() {
                Node::NegInt(i)
            } else {
                Node::Float(n.as_f64()?)
            }),
            // What serde_json's `Value` turns a number it cannot hold into.
            serde_json::Value::Null => Some(Node::Null),
            _ => None,
        }
    }
}
