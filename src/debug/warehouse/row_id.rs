//! `_fivetran_id`: the stand-in primary key of a table that declares none.
//!
//! Fivetran derives it from the row's values: its local tester hashes every column in name order (SHA-1,
//! base64). The values it hashes are Python's, so its ids cannot be reproduced here byte for byte; what is kept
//! is the contract: the same values give the same id, on every run and machine, whatever order the columns
//! arrive in. Our choice: FNV-1a (128 bits, hex) over the destination column names and the values as stored,
//! each length-prefixed and tagged with its kind, in name order. Null columns are left out, because an upsert
//! stores an absent column as NULL: `{a: 1}` and `{a: 1, b: null}` are the same row and get the same id. An
//! update or delete of such a table therefore finds its row only when it carries every non-null value of it.

use super::values::Cell;

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

struct Fnv1a128(u128);

impl Fnv1a128 {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u128::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    fn write_len_prefixed(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }
}

/// The `_fivetran_id` of a row given as `(column name, value)` pairs, in any order.
pub(crate) fn fivetran_id<'a>(
    columns: impl IntoIterator<Item = (&'a str, &'a Cell<'a>)>,
) -> String {
    let mut present: Vec<(&str, &Cell<'_>)> =
        columns.into_iter().filter(|(_, c)| !c.is_null()).collect();
    present.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut hash = Fnv1a128(FNV_OFFSET);
    for (name, cell) in present {
        hash.write_len_prefixed(name.as_bytes());
        match cell {
            Cell::Null => {}
            Cell::Integer(i) => {
                hash.write(b"i");
                hash.write(&i.to_le_bytes());
            }
            Cell::Real(r) => {
                hash.write(b"r");
                hash.write(&r.to_bits().to_le_bytes());
            }
            Cell::Text(t) => {
                hash.write(b"t");
                hash.write_len_prefixed(t.as_bytes());
            }
            Cell::Blob(b) => {
                hash.write(b"b");
                hash.write_len_prefixed(b);
            }
        }
    }
    format!("{:032x}", hash.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_nulls_do_not_matter_values_and_names_do() {
        let (one, two, null) = (Cell::Integer(1), Cell::Text("x".into()), Cell::Null);
        let id = fivetran_id([("a", &one), ("b", &two)]);
        assert_eq!(id.len(), 32);
        assert_eq!(id, fivetran_id([("b", &two), ("a", &one), ("c", &null)]));
        assert_ne!(id, fivetran_id([("a", &one)]));
        assert_ne!(id, fivetran_id([("a", &one), ("bb", &two)]));
        let text_one = Cell::Text("1".into());
        assert_ne!(id, fivetran_id([("a", &text_one), ("b", &two)]));
    }

    #[test]
    fn is_stable_across_releases() {
        // Pinned (computed independently): a change here changes the ids of rows already in warehouse files.
        assert_eq!(
            fivetran_id([("id", &Cell::Integer(1))]),
            "f4eab617fae069789ab6e794226059c8"
        );
        assert_eq!(
            fivetran_id(std::iter::empty()),
            format!("{FNV_OFFSET:032x}")
        );
    }
}
