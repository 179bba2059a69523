//! pgoutput protocol 1 messages (PostgreSQL's "Logical Replication Message Formats"), decoded from the
//! `XLogData` payloads of the replication stream. Values stay in their text form; [`super::types`]
//! reads them.

use bytes::{Buf, Bytes};

use super::replication::Lsn;

/// One column value in a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// A TOASTed value that did not change (an update leaves it out).
    Unchanged,
    /// The value's text.
    Text(Bytes),
}

/// A column of a relation as the stream describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationColumn {
    /// Part of the replica identity (the key).
    pub key: bool,
    /// Name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub typmod: i32,
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A transaction begins.
    Begin,
    /// A transaction committed; resuming at `end` replays nothing of it.
    Commit {
        /// The end of the commit record.
        end: Lsn,
    },
    /// A table's layout (sent before its first change, and again after it changes).
    Relation {
        /// The relation OID.
        id: u32,
        /// Schema.
        schema: String,
        /// Table.
        name: String,
        /// Columns in order.
        columns: Vec<RelationColumn>,
    },
    /// A new row.
    Insert {
        /// Relation.
        id: u32,
        /// Values.
        new: Vec<Datum>,
    },
    /// A changed row; `old` is its old key (or whole old row, with `REPLICA IDENTITY FULL`) when the
    /// key changed or the identity is full.
    Update {
        /// Relation.
        id: u32,
        /// Old key or row.
        old: Option<Vec<Datum>>,
        /// New values (`Unchanged` for untouched TOASTed ones).
        new: Vec<Datum>,
    },
    /// A deleted row: its key (or whole row with `REPLICA IDENTITY FULL`).
    Delete {
        /// Relation.
        id: u32,
        /// Old key or row.
        old: Vec<Datum>,
    },
    /// Tables truncated.
    Truncate {
        /// Relations.
        ids: Vec<u32>,
    },
    /// Anything else (origin, type, logical message): nothing to apply.
    Other,
}

/// A message that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("pgoutput message '{tag}' does not decode: {reason}")]
pub struct DecodeError {
    /// The message tag.
    pub tag: char,
    /// What was wrong.
    pub reason: &'static str,
}

struct Reader {
    data: Bytes,
    tag: char,
}

impl Reader {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.data.remaining() < n {
            Err(self.err("message too short"))
        } else {
            Ok(())
        }
    }
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            tag: self.tag,
            reason,
        }
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.data.get_u8())
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.data.get_i16())
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.data.get_i32())
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.data.get_u64())
    }
    fn cstr(&mut self) -> Result<String, DecodeError> {
        let end = self
            .data
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| self.err("unterminated string"))?;
        let text = String::from_utf8_lossy(&self.data[..end]).into_owned();
        self.data.advance(end + 1);
        Ok(text)
    }
    fn tuple(&mut self) -> Result<Vec<Datum>, DecodeError> {
        let n = self.i16()?;
        let mut values = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n {
            values.push(match self.u8()? {
                b'n' => Datum::Null,
                b'u' => Datum::Unchanged,
                b't' | b'b' => {
                    let len = self.i32()?;
                    if len < 0 {
                        return Err(self.err("negative value length"));
                    }
                    self.need(len as usize)?;
                    Datum::Text(self.data.split_to(len as usize))
                }
                _ => return Err(self.err("unknown value kind")),
            });
        }
        Ok(values)
    }
}

/// Decodes one pgoutput message.
pub fn decode(data: Bytes) -> Result<Decoded, DecodeError> {
    let Some(&tag) = data.first() else {
        return Err(DecodeError {
            tag: '?',
            reason: "empty message",
        });
    };
    let mut r = Reader {
        data: data.slice(1..),
        tag: tag as char,
    };
    Ok(match tag {
        b'B' => Decoded::Begin,
        b'C' => {
            r.u8()?;
            r.u64()?; // the commit's own LSN
            Decoded::Commit { end: Lsn(r.u64()?) }
        }
        b'R' => {
            let id = r.i32()? as u32;
            let schema = r.cstr()?;
            let name = r.cstr()?;
            r.u8()?; // replica identity setting
            let n = r.i16()?;
            let mut columns = Vec::with_capacity(n.max(0) as usize);
            for _ in 0..n {
                let flags = r.u8()?;
                columns.push(RelationColumn {
                    key: flags & 1 == 1,
                    name: r.cstr()?,
                    type_oid: r.i32()? as u32,
                    typmod: r.i32()?,
                });
            }
            Decoded::Relation {
                id,
                schema,
                name,
                columns,
            }
        }
        b'I' => {
            let id = r.i32()? as u32;
            if r.u8()? != b'N' {
                return Err(r.err("insert without a new tuple"));
            }
            Decoded::Insert {
                id,
                new: r.tuple()?,
            }
        }
        b'U' => {
            let id = r.i32()? as u32;
            let mut kind = r.u8()?;
            let mut old = None;
            if kind == b'K' || kind == b'O' {
                old = Some(r.tuple()?);
                kind = r.u8()?;
            }
            if kind != b'N' {
                return Err(r.err("update without a new tuple"));
            }
            Decoded::Update {
                id,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let id = r.i32()? as u32;
            let kind = r.u8()?;
            if kind != b'K' && kind != b'O' {
                return Err(r.err("delete without an old tuple"));
            }
            Decoded::Delete {
                id,
                old: r.tuple()?,
            }
        }
        b'T' => {
            let n = r.i32()?;
            r.u8()?; // CASCADE / RESTART IDENTITY
            let mut ids = Vec::with_capacity(n.clamp(0, 1024) as usize);
            for _ in 0..n {
                ids.push(r.i32()? as u32);
            }
            Decoded::Truncate { ids }
        }
        _ => Decoded::Other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn tuple(buf: &mut Vec<u8>, values: &[Option<&str>]) {
        buf.put_i16(values.len() as i16);
        for v in values {
            match v {
                None => buf.put_u8(b'n'),
                Some("\u{0}") => buf.put_u8(b'u'),
                Some(t) => {
                    buf.put_u8(b't');
                    buf.put_i32(t.len() as i32);
                    buf.put_slice(t.as_bytes());
                }
            }
        }
    }

    #[test]
    fn decodes_relations_changes_and_commits() {
        let mut m = vec![b'R'];
        m.put_i32(77);
        m.put_slice(b"public\0items\0");
        m.put_u8(b'd');
        m.put_i16(2);
        m.put_u8(1);
        m.put_slice(b"id\0");
        m.put_i32(23);
        m.put_i32(-1);
        m.put_u8(0);
        m.put_slice(b"body\0");
        m.put_i32(25);
        m.put_i32(-1);
        let Decoded::Relation {
            id, name, columns, ..
        } = decode(m.into()).unwrap()
        else {
            panic!()
        };
        assert_eq!((id, name.as_str(), columns.len()), (77, "items", 2));
        assert!(columns[0].key && !columns[1].key);

        let mut m = vec![b'U'];
        m.put_i32(77);
        m.put_u8(b'N');
        tuple(&mut m, &[Some("1"), Some("\u{0}")]);
        assert_eq!(
            decode(m.into()).unwrap(),
            Decoded::Update {
                id: 77,
                old: None,
                new: vec![Datum::Text("1".into()), Datum::Unchanged]
            }
        );

        let mut m = vec![b'D'];
        m.put_i32(77);
        m.put_u8(b'K');
        tuple(&mut m, &[Some("1"), None]);
        assert!(matches!(
            decode(m.into()).unwrap(),
            Decoded::Delete { id: 77, .. }
        ));

        let mut m = vec![b'C', 0];
        m.put_u64(10);
        m.put_u64(0x1_0000_0020);
        m.put_u64(0);
        assert_eq!(
            decode(m.into()).unwrap(),
            Decoded::Commit {
                end: Lsn(0x1_0000_0020)
            }
        );
        let mut m = vec![b'I'];
        m.put_i32(77);
        m.put_u8(b'N');
        m.put_i16(1);
        m.put_u8(b't');
        m.put_i32(10);
        assert!(decode(m.into()).is_err());
    }
}
