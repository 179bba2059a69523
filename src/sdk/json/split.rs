//! Finding the values of a streamed JSON text without parsing them: the elements of a top-level array,
//! or the values of a newline-delimited (or merely concatenated) file.
//!
//! Parsing a stream through serde_json's `io::Read` adapter costs far more than parsing the same bytes
//! as a slice: every byte goes through the reader, and the slice reader's fast string scanning is
//! lost. For SA360's `searchStream` the reader took 44 % of a sync's instructions; split and parsed as
//! slices, the sync takes 46 % fewer (callgrind, `connector_throughput sa360` smoke run). A [`Splitter`] only tracks what it must to find
//! where each value ends (strings, their escapes, nesting depth, the array's commas), so each value can
//! be parsed as one slice by whatever reads it, which also checks everything the splitter does not.

use thiserror::Error;

/// One value found by a [`Splitter`]: its bytes and where it sits in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    /// The value's position among the values of the text, from 0.
    pub index: u64,
    /// The offset of its first byte in the text.
    pub offset: u64,
    /// Its bytes, exactly as they are in the text (no surrounding whitespace).
    pub bytes: &'a [u8],
}

/// Why a text is not a JSON array or sequence of values, as far as a [`Splitter`] can tell.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    /// A byte where the array's structure allows none of its kind.
    #[error("expected {expected} at byte {offset}, found {found:?}")]
    Unexpected {
        /// What the structure allows there.
        expected: &'static str,
        /// The offending byte's offset in the text.
        offset: u64,
        /// The byte, as a character (`\u{fffd}` when it is not ASCII).
        found: char,
    },
    /// The text ended inside a value.
    #[error("the text ends inside value {index} (which starts at byte {offset})")]
    EndsInsideValue {
        /// The value's position, from 0.
        index: u64,
        /// Its first byte's offset.
        offset: u64,
    },
    /// The text ended before the array's closing `]`.
    #[error("the text ends before the array is closed, after {values} values")]
    ArrayNotClosed {
        /// How many values the array had until then.
        values: u64,
    },
    /// A value longer than the splitter holds.
    #[error("value {index} (which starts at byte {offset}) is over {limit} bytes")]
    TooLong {
        /// The value's position, from 0.
        index: u64,
        /// Its first byte's offset.
        offset: u64,
        /// The longest value the splitter holds.
        limit: usize,
    },
}

/// Where the text's structure is between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Nothing but whitespace yet: `[` makes an array, anything else starts a sequence.
    Start,
    /// Just after `[`: a value or `]`.
    FirstOrClose,
    /// After `,`: a value.
    Value,
    /// After an array's value: `,` or `]`.
    CommaOrClose,
    /// After the array's `]`: only whitespace.
    End,
    /// Between the values of a sequence: a value.
    Sequence,
}

/// How far a value that is being read has got.
#[derive(Debug, Clone, Copy)]
struct Open {
    index: u64,
    offset: u64,
    /// Unclosed `{` and `[` inside it.
    depth: u32,
    in_string: bool,
    /// The last byte was the backslash of an escape inside a string.
    escaped: bool,
    /// A number, `true`, `false` or `null`: it ends before the first byte that cannot be part of it.
    literal: bool,
}

impl Open {
    /// Reads on through `bytes`; `Some(n)` when the value ends after (a literal: before) `bytes[n - 1]`.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        if self.literal {
            return bytes.iter().position(|&b| ends_literal(b));
        }
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                let k = memchr::memchr2(b'"', b'\\', &bytes[i..])?;
                i += k;
                if bytes[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(i + 1); // a string value
                    }
                }
                i += 1;
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                // A mismatched bracket still ends the value here; its parser reports it.
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}

fn ends_literal(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\n' | b'\r' | b',' | b']' | b'}' | b'[' | b'{' | b'"' | b':'
    )
}

/// Splits a JSON text fed in chunks into its values: the elements of a top-level array (`[` first),
/// or else each value of a sequence (newline-delimited JSON, or values merely one after another).
///
/// The splitter checks the array's structure (commas, the closing bracket, nothing after it) and
/// finds where each value ends; it does not check the values themselves, so each must be parsed by
/// whoever takes it. A value within one chunk is handed over as a slice of it, one that spans chunks
/// is gathered into a buffer of at most `limit` bytes.
#[derive(Debug)]
pub struct Splitter {
    expect: Expect,
    open: Option<Open>,
    /// The open value's bytes from earlier chunks.
    gathered: Vec<u8>,
    /// Bytes of the text before the current chunk.
    consumed: u64,
    values: u64,
    limit: usize,
}

impl Splitter {
    /// A splitter for one text, holding values of up to `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            expect: Expect::Start,
            open: None,
            gathered: Vec::new(),
            consumed: 0,
            values: 0,
            limit,
        }
    }

    /// Reads the next chunk of the text, handing each value that ends in it to `take` in order. `take`
    /// returns `Ok(false)` to stop: then this returns `Ok(false)` and the splitter must not be fed
    /// again. A structural error is returned (converted into `E`) after every value before it.
    pub fn feed<E: From<SplitError>>(
        &mut self,
        chunk: &[u8],
        take: &mut impl FnMut(Piece<'_>) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let mut i = 0;
        while i < chunk.len() {
            if let Some(open) = &mut self.open {
                let start = if self.gathered.is_empty() {
                    (open.offset - self.consumed) as usize
                } else {
                    i
                };
                let Some(n) = open.scan(&chunk[i..]) else {
                    if self.gathered.len() + (chunk.len() - start) > self.limit {
                        return Err(self.too_long().into());
                    }
                    self.gathered.extend_from_slice(&chunk[start..]);
                    break;
                };
                let end = i + n;
                let (index, offset) = (open.index, open.offset);
                self.open = None;
                self.expect = self.after_value();
                let go_on = if self.gathered.is_empty() {
                    if end - start > self.limit {
                        return Err(self.too_long_at(index, offset).into());
                    }
                    take(Piece {
                        index,
                        offset,
                        bytes: &chunk[start..end],
                    })?
                } else {
                    if self.gathered.len() + (end - start) > self.limit {
                        return Err(self.too_long_at(index, offset).into());
                    }
                    self.gathered.extend_from_slice(&chunk[start..end]);
                    let go_on = take(Piece {
                        index,
                        offset,
                        bytes: &self.gathered,
                    })?;
                    self.gathered.clear();
                    go_on
                };
                if !go_on {
                    return Ok(false);
                }
                i = end;
                continue;
            }
            let b = chunk[i];
            if b.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let at = self.consumed + i as u64;
            match (self.expect, b) {
                (Expect::Start, b'[') => self.expect = Expect::FirstOrClose,
                (Expect::FirstOrClose | Expect::CommaOrClose, b']') => self.expect = Expect::End,
                (Expect::CommaOrClose, b',') => self.expect = Expect::Value,
                (Expect::CommaOrClose, _) => return Err(unexpected("`,` or `]`", at, b).into()),
                (Expect::End, _) => return Err(unexpected("nothing after the array", at, b).into()),
                (_, b',' | b']' | b'}' | b':') => return Err(unexpected("a value", at, b).into()),
                (Expect::Start, _) => {
                    self.expect = Expect::Sequence;
                    self.begin(at, b);
                    continue; // the value's first byte is scanned as part of it
                }
                (Expect::FirstOrClose | Expect::Value | Expect::Sequence, _) => {
                    self.begin(at, b);
                    continue;
                }
            }
            i += 1;
        }
        self.consumed += chunk.len() as u64;
        Ok(true)
    }

    /// Ends the text: hands over a number or literal it ends with, and fails if it ends inside a
    /// value or before its array is closed.
    pub fn finish<E: From<SplitError>>(
        mut self,
        take: &mut impl FnMut(Piece<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        if let Some(open) = self.open.take() {
            if !open.literal {
                return Err(SplitError::EndsInsideValue {
                    index: open.index,
                    offset: open.offset,
                }
                .into());
            }
            take(Piece {
                index: open.index,
                offset: open.offset,
                bytes: &self.gathered,
            })?;
            self.expect = self.after_value();
        }
        match self.expect {
            Expect::FirstOrClose | Expect::Value | Expect::CommaOrClose => {
                Err(SplitError::ArrayNotClosed {
                    values: self.values,
                }
                .into())
            }
            Expect::Start | Expect::End | Expect::Sequence => Ok(()),
        }
    }

    fn begin(&mut self, offset: u64, first: u8) {
        self.open = Some(Open {
            index: self.values,
            offset,
            depth: 0,
            in_string: false,
            escaped: false,
            literal: !matches!(first, b'{' | b'[' | b'"'),
        });
        self.values += 1;
    }

    fn after_value(&self) -> Expect {
        match self.expect {
            Expect::Sequence => Expect::Sequence,
            _ => Expect::CommaOrClose,
        }
    }

    fn too_long(&self) -> SplitError {
        let open = self.open.expect("a value is open");
        self.too_long_at(open.index, open.offset)
    }

    fn too_long_at(&self, index: u64, offset: u64) -> SplitError {
        SplitError::TooLong {
            index,
            offset,
            limit: self.limit,
        }
    }
}

fn unexpected(expected: &'static str, offset: u64, found: u8) -> SplitError {
    SplitError::Unexpected {
        expected,
        offset,
        found: if found.is_ascii() {
            found as char
        } else {
            char::REPLACEMENT_CHARACTER
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// The values `text` splits into when fed in chunks of `size` bytes, parsed, or the first error
    /// (a split error or a value that does not parse) after them.
    fn split(text: &[u8], size: usize) -> (Vec<Value>, Option<String>) {
        let mut values = Vec::new();
        let mut expected_index = 0;
        let mut take = |piece: Piece<'_>| -> Result<bool, String> {
            assert_eq!(piece.index, expected_index);
            expected_index += 1;
            assert_eq!(
                &text[piece.offset as usize..][..piece.bytes.len()],
                piece.bytes
            );
            values.push(serde_json::from_slice(piece.bytes).map_err(|e| e.to_string())?);
            Ok(true)
        };
        let mut splitter = Splitter::new(1 << 20);
        for chunk in text.chunks(size.max(1)) {
            if let Err(e) = splitter.feed(chunk, &mut take) {
                return (values, Some(e));
            }
        }
        let end = splitter.finish(&mut take).err();
        (values, end)
    }

    impl From<SplitError> for String {
        fn from(e: SplitError) -> Self {
            e.to_string()
        }
    }

    #[test]
    fn an_array_splits_into_its_elements_however_it_is_chunked() {
        let text = br#" [ {"id":1,"s":"a\"]}\\"}, [1,[2]], "x,]", 7, -1.5e3 , true,null,{} ] "#;
        for size in [1, 2, 3, 7, 1000] {
            let (values, error) = split(text, size);
            assert_eq!(error, None, "chunks of {size}");
            assert_eq!(
                values,
                serde_json::from_slice::<Vec<Value>>(text).unwrap(),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn a_sequence_splits_into_its_values() {
        let text = b"{\"id\":1}\n{\"id\":2}{\"id\":3}\n\n 7 \"text\"[1] 8";
        for size in [1, 4, 100] {
            let (values, error) = split(text, size);
            assert_eq!(error, None);
            let expected: Vec<Value> = serde_json::Deserializer::from_slice(text)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(values, expected);
        }
    }

    #[test]
    fn structural_errors_name_what_was_expected_and_where() {
        let cases: [(&[u8], usize, &str); 8] = [
            (b"[1 2]", 1, "expected `,` or `]` at byte 3, found '2'"),
            (b"[1,]", 1, "expected a value at byte 3, found ']'"),
            (b"[,1]", 0, "expected a value at byte 1, found ','"),
            (
                b"[1] x",
                1,
                "expected nothing after the array at byte 4, found 'x'",
            ),
            (
                b"[{\"id\":1},{\"id\"",
                1,
                "the text ends inside value 1 (which starts at byte 10)",
            ),
            (
                b"[{\"id\":1}",
                1,
                "the text ends before the array is closed, after 1 values",
            ),
            (
                b"[",
                0,
                "the text ends before the array is closed, after 0 values",
            ),
            (b"{\"a\":1}}", 1, "expected a value at byte 7, found '}'"),
        ];
        for (text, values, message) in cases {
            for size in [1, 100] {
                let (got, error) = split(text, size);
                assert_eq!(got.len(), values, "{:?}", String::from_utf8_lossy(text));
                assert_eq!(error.as_deref(), Some(message));
            }
        }
    }

    #[test]
    fn nothing_but_whitespace_is_no_values() {
        assert_eq!(split(b"", 1), (vec![], None));
        assert_eq!(split(b" \n\t ", 1), (vec![], None));
        assert_eq!(split(b" [ ] ", 1), (vec![], None));
    }

    #[test]
    fn a_value_over_the_limit_fails_within_one_chunk_or_across_chunks() {
        for size in [2, 100] {
            let mut splitter = Splitter::new(8);
            let mut taken = Vec::new();
            let mut take = |p: Piece<'_>| -> Result<bool, String> {
                taken.push(p.bytes.to_vec());
                Ok(true)
            };
            let text = b"[\"short\", \"a longer one\"]";
            let error = text
                .chunks(size)
                .find_map(|c| splitter.feed(c, &mut take).err());
            assert_eq!(taken, vec![b"\"short\"".to_vec()], "chunks of {size}");
            assert_eq!(
                error.as_deref(),
                Some("value 1 (which starts at byte 10) is over 8 bytes")
            );
        }
    }

    #[test]
    fn taking_stops_when_asked() {
        let mut splitter = Splitter::new(100);
        let mut seen = 0;
        let mut take = |_: Piece<'_>| -> Result<bool, String> {
            seen += 1;
            Ok(seen < 2)
        };
        assert_eq!(splitter.feed(b"[1,2,3,4]", &mut take), Ok(false));
        assert_eq!(seen, 2);
    }

    proptest! {
        /// Any array of values, compact or pretty, in chunks of any size, splits into exactly the
        /// elements serde_json reads from it.
        #[test]
        fn a_random_array_splits_into_the_elements_serde_reads(
            values in proptest::collection::vec(super::super::doc::tests::any_json(), 0..8),
            pretty in any::<bool>(),
            size in 1usize..40,
        ) {
            let text = if pretty { serde_json::to_vec_pretty(&values) } else { serde_json::to_vec(&values) }.unwrap();
            let (got, error) = split(&text, size);
            prop_assert_eq!(error, None);
            prop_assert_eq!(got.len(), values.len());
            // compared with what serde_json reads back: it does not round-trip every float exactly
            prop_assert_eq!(got, serde_json::from_slice::<Vec<Value>>(&text).unwrap());
        }

        /// Cut anywhere or with a byte changed, a text fails to split and parse exactly when
        /// serde_json fails to read it as an array, and every element before the failure is the one
        /// serde_json reads.
        #[test]
        fn a_damaged_array_fails_where_serde_fails(
            values in proptest::collection::vec(super::super::doc::tests::any_json(), 1..6),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b','), Just(b']'), Just(b'}'), Just(b'"'), Just(b'\\'), Just(b' '), Just(b'1'), Just(b'[')],
            cut in any::<bool>(),
            size in 1usize..40,
        ) {
            let mut text = serde_json::to_vec(&values).unwrap();
            let i = at.index(text.len());
            if cut { text.truncate(i) } else { text[i] = byte }
            // an empty download is no values (serde_json would call it an error)
            prop_assume!(!text.iter().all(u8::is_ascii_whitespace));
            let (got, error) = split(&text, size);
            match serde_json::from_slice::<Vec<Value>>(&text) {
                Ok(expected) => {
                    prop_assert_eq!(error, None);
                    prop_assert_eq!(got, expected);
                }
                Err(_) => prop_assert!(error.is_some(), "split {:?} into {:?}", String::from_utf8_lossy(&text), got),
            }
        }
    }
}
