//! `COPY ... TO STDOUT` text format: one row per line, fields separated by tabs, `\N` for NULL and
//! backslash escapes inside fields. Decoded here into the same text forms pgoutput sends.

use std::borrow::Cow;

/// Splits one row (without its newline) into fields: `None` is NULL. Fields without a backslash are
/// borrowed.
pub fn fields<'a>(line: &'a [u8], out: &mut Vec<Option<Cow<'a, str>>>) -> Result<(), CopyError> {
    out.clear();
    for raw in line.split(|&b| b == b'\t') {
        if raw == b"\\N" {
            out.push(None);
        } else if raw.contains(&b'\\') {
            out.push(Some(Cow::Owned(unescape(raw)?)));
        } else {
            let text = std::str::from_utf8(raw).map_err(|_| CopyError::NotUtf8)?;
            out.push(Some(Cow::Borrowed(text)));
        }
    }
    Ok(())
}

/// A COPY line that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CopyError {
    /// The server's encoding is not UTF-8 (the connector asks for `client_encoding=UTF8`).
    #[error("a COPY field is not UTF-8")]
    NotUtf8,
    /// A backslash at the end of a field.
    #[error("a COPY field ends in a lone backslash")]
    LoneBackslash,
}

fn unescape(raw: &[u8]) -> Result<String, CopyError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let next = *raw.get(i + 1).ok_or(CopyError::LoneBackslash)?;
        i += 2;
        match next {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(next - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(value as u8);
            }
            b'x' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            i += 1;
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    out.push(b'x');
                } else {
                    out.push(value as u8);
                }
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).map_err(|_| CopyError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_unescapes_and_keeps_nulls_apart_from_text() {
        let mut out = Vec::new();
        fields(b"1\t\\N\ta\\tb\\\\c\\nd\t\t\\\\N", &mut out).unwrap();
        let got: Vec<Option<&str>> = out.iter().map(|f| f.as_deref()).collect();
        assert_eq!(
            got,
            vec![Some("1"), None, Some("a\tb\\c\nd"), Some(""), Some("\\N")]
        );
        fields(b"\\101\\x42\\q", &mut out).unwrap();
        assert_eq!(out[0].as_deref(), Some("ABq"));
        assert_eq!(fields(b"a\\", &mut out), Err(CopyError::LoneBackslash));
    }
}
