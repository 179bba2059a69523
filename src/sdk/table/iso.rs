//! A fast path for the timestamp spellings APIs send nearly always: `YYYY-MM-DD`, then optionally `T` or
//! a space, `HH:MM` or `HH:MM:SS` with 1–9 fractional digits, then optionally `Z` or `±HH:MM`/`±HHMM`.
//!
//! chrono's format-string parsers were the largest single cost of reading a record (they interpret the
//! format on every call). This reads those shapes byte by byte and answers `None` for anything else, so
//! the callers in `read.rs` fall back to the general parsers: for every text it accepts, it gives what
//! they give (a property test in `read.rs` checks it), and it never refuses what they would accept.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// A timestamp text split into its wall-clock date-time and its offset from UTC in seconds (`None` when
/// the text has no zone). A bare date is midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Iso {
    pub wall: NaiveDateTime,
    pub offset_seconds: Option<i32>,
}

fn digits<const N: usize>(bytes: &[u8], at: usize) -> Option<u32> {
    let part = bytes.get(at..at + N)?;
    part.iter().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// The text read as one of the common shapes, or `None` (the caller then uses the general parser).
pub(super) fn parse(text: &str) -> Option<Iso> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        digits::<4>(b, 0)? as i32,
        digits::<2>(b, 5)?,
        digits::<2>(b, 8)?,
    )?;
    if b.len() == 10 {
        return Some(Iso {
            wall: date.and_time(NaiveTime::MIN),
            offset_seconds: None,
        });
    }
    if !matches!(b[10], b'T' | b' ') || b.get(13) != Some(&b':') {
        return None;
    }
    let (hour, minute) = (digits::<2>(b, 11)?, digits::<2>(b, 14)?);
    let mut at = 16;
    let (mut second, mut nanos) = (0, 0);
    let with_seconds = b.get(at) == Some(&b':');
    if with_seconds {
        second = digits::<2>(b, at + 1)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            let start = at + 1;
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            let count = end - start;
            if !(1..=9).contains(&count) {
                return None;
            }
            nanos = b[start..end]
                .iter()
                .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
                * 10u32.pow(9 - count as u32);
            at = end;
        }
    }
    // Leap seconds and out-of-range fields go to the general parser, which knows their rules.
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second.min(59), nanos)
        .filter(|_| second < 60)?;
    let offset_seconds = match &b[at..] {
        [] => None,
        [b'Z'] => Some(0),
        // Without seconds only `Z` is read the same way by every caller's general path.
        _ if !with_seconds => return None,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [_, _, b':', _, _] => (digits::<2>(rest, 0)?, digits::<2>(rest, 3)?),
                [_, _, _, _] => (digits::<2>(rest, 0)?, digits::<2>(rest, 2)?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let seconds = (h * 3600 + m * 60) as i32;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => return None,
    };
    Some(Iso {
        wall: date.and_time(time),
        offset_seconds,
    })
}
