//! Comparing the local warehouse with a source's truth, value by value, in a canonical form that
//! depends only on the column's declared type (so the truth is written from the API's records and the
//! warehouse's typed storage, never from the connector's own transforms).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value as Json;

use crate::debug::warehouse::{
    LocalWarehouse, TableName, WarehouseOptions, DEFAULT_DESTINATION_SCHEMA,
};
use crate::sdk::table::read;
use crate::sdk::{ColumnType, Schema};

/// One expected row: the compared columns and their values as the source holds them (any spelling a
/// reader accepts: numbers or numeric strings, any timestamp form, epoch seconds for instants).
pub type ExpectedRow = BTreeMap<String, Json>;

/// What the source holds now: the live rows of each compared table.
pub type Truth = BTreeMap<String, Vec<ExpectedRow>>;

/// How the warehouse differs from the truth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// `(table, key)` the source has and the warehouse does not (live).
    pub lost: Vec<(String, String)>,
    /// `(table, key)` live in the warehouse but not in the source.
    pub extra: Vec<(String, String)>,
    /// `(table, key, column, warehouse value, source value)` that differ.
    pub differing: Vec<(String, String, String, String, String)>,
    /// Rows compared.
    pub compared: u64,
}

impl Diff {
    /// Whether the warehouse equals the truth.
    pub fn is_empty(&self) -> bool {
        self.lost.is_empty() && self.extra.is_empty() && self.differing.is_empty()
    }
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows compared: {} lost, {} extra, {} values differing",
            self.compared,
            self.lost.len(),
            self.extra.len(),
            self.differing.len()
        )?;
        for (table, key) in self.lost.iter().take(5) {
            write!(f, "\n  lost {table} {key}")?;
        }
        for (table, key) in self.extra.iter().take(5) {
            write!(f, "\n  extra {table} {key}")?;
        }
        for (table, key, column, got, want) in self.differing.iter().take(5) {
            write!(
                f,
                "\n  {table} {key} {column}: warehouse {got}, source {want}"
            )?;
        }
        Ok(())
    }
}

/// Compares the live rows of the warehouse in `files` with `truth`, by primary key (from `schema`).
pub fn compare(files: &Path, schema: &Schema, truth: &Truth) -> Result<Diff, String> {
    let warehouse = LocalWarehouse::open(files, WarehouseOptions::default())
        .map_err(|e| format!("cannot open the warehouse: {e}"))?;
    let naming = warehouse.naming();
    let mut diff = Diff::default();
    for (table, expected) in truth {
        let def = schema
            .table(None, table)
            .ok_or_else(|| format!("the truth names table '{table}', which the schema lacks"))?;
        let keys: Vec<&str> = def.primary_key().collect();
        // Declared columns by their destination name: the truth may name a column as the API does
        // (`activistCodeId`) or as declared (`activist_code_id`); both land as one destination column.
        let types: BTreeMap<String, ColumnType> = def
            .columns
            .iter()
            .map(|c| (naming.column(&c.name), c.ty))
            .collect();
        let type_of = |c: &str| {
            types
                .get(&naming.column(c))
                .copied()
                .unwrap_or(ColumnType::String)
        };
        let name = TableName::new(DEFAULT_DESTINATION_SCHEMA, naming.table(table));
        let rows = if expected.is_empty() && !warehouse.tables().iter().any(|t| t.name == name) {
            Vec::new()
        } else {
            warehouse
                .rows(&name)
                .map_err(|e| format!("cannot read {table}: {e}"))?
        };
        let column = |c: &str| naming.column(c);
        let key_of = |row: &BTreeMap<String, Json>, warehouse_side: bool| -> String {
            keys.iter()
                .map(|k| {
                    let value = if warehouse_side {
                        row.get(&column(k))
                    } else {
                        row.get(*k).or_else(|| {
                            row.iter()
                                .find(|(c, _)| column(c) == column(k))
                                .map(|(_, v)| v)
                        })
                    };
                    canon(type_of(k), value.unwrap_or(&Json::Null))
                })
                .collect::<Vec<_>>()
                .join("|")
        };
        let live: BTreeMap<String, &BTreeMap<String, Json>> = rows
            .iter()
            .filter(|r| !is_true(r.get("_fivetran_deleted")))
            .map(|r| (key_of(r, true), r))
            .collect();
        let mut wanted = BTreeMap::new();
        for row in expected {
            wanted.insert(key_of(row, false), row);
        }
        for (key, want) in &wanted {
            let Some(got) = live.get(key) else {
                diff.lost.push((table.clone(), key.clone()));
                continue;
            };
            diff.compared += 1;
            for (c, value) in want.iter() {
                let ty = type_of(c);
                let got_value = got.get(&column(c)).unwrap_or(&Json::Null);
                let (a, b) = (canon(ty, got_value), canon(ty, value));
                if !same(ty, &a, &b) {
                    diff.differing
                        .push((table.clone(), key.clone(), c.clone(), a, b));
                }
            }
        }
        for key in live.keys() {
            if !wanted.contains_key(key) {
                diff.extra.push((table.clone(), key.clone()));
            }
        }
    }
    Ok(diff)
}

fn is_true(value: Option<&Json>) -> bool {
    matches!(value, Some(Json::Bool(true))) || value.and_then(Json::as_i64) == Some(1)
}

/// A value in the canonical text of its declared type: what both sides are compared as.
pub fn canon(ty: ColumnType, value: &Json) -> String {
    if value.is_null()
        || value
            .as_str()
            .is_some_and(|s| s.trim().is_empty() && ty != ColumnType::String)
    {
        return "null".into();
    }
    let shown = || match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    match ty {
        ColumnType::Boolean => read::boolean(value).map_or_else(shown, |b| b.to_string()),
        ColumnType::Short | ColumnType::Int | ColumnType::Long => {
            read::integer(value).map_or_else(shown, |i| i.to_string())
        }
        ColumnType::Decimal { .. } => decimal(value).unwrap_or_else(shown),
        ColumnType::Float | ColumnType::Double => {
            read::number(value).map_or_else(shown, |n| format!("{n:e}"))
        }
        ColumnType::UtcDateTime => {
            let at = match value {
                Json::Number(_) => {
                    read::integer(value).and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                }
                Json::String(s) => read::parse_utc(s),
                _ => None,
            };
            at.map_or_else(shown, |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            })
        }
        ColumnType::NaiveDate => value
            .as_str()
            .and_then(read::parse_date)
            .map_or_else(shown, |d| d.to_string()),
        ColumnType::NaiveDateTime => value
            .as_str()
            .and_then(read::parse_naive_datetime)
            .map_or_else(shown, |d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()),
        ColumnType::Json => match value {
            Json::String(s) => {
                serde_json::from_str::<Json>(s).map_or_else(|_| s.clone(), |v| v.to_string())
            }
            other => other.to_string(),
        },
        ColumnType::String | ColumnType::Xml | ColumnType::Binary => shown(),
    }
}

/// Plain decimal text without insignificant zeros.
fn decimal(value: &Json) -> Option<String> {
    let text = match value {
        Json::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| read::number(value).map(|f| f.to_string()))?,
        Json::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches('-');
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    };
    Some(if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    })
}

/// Floats compare within a relative tolerance (a FLOAT column keeps 24 bits); everything else exactly.
fn same(ty: ColumnType, a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match ty {
        ColumnType::Float | ColumnType::Double => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1e-12),
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_sides_reach_one_canonical_text_per_type() {
        assert_eq!(
            canon(ColumnType::Boolean, &json!(1)),
            canon(ColumnType::Boolean, &json!(true))
        );
        assert_eq!(
            canon(ColumnType::Long, &json!("42")),
            canon(ColumnType::Long, &json!(42))
        );
        let money = ColumnType::Decimal {
            precision: 18,
            scale: 2,
        };
        assert_eq!(
            canon(money, &json!("5000.00")),
            canon(money, &json!(5000.0))
        );
        assert_eq!(canon(money, &json!("-0.50")), "-0.5");
        let utc = ColumnType::UtcDateTime;
        assert_eq!(
            canon(utc, &json!("2023-01-23T23:41:41.123Z")),
            canon(utc, &json!("2023-01-24T01:41:41.123+02:00"))
        );
        assert_eq!(
            canon(utc, &json!(1_521_365_285)),
            canon(utc, &json!("2018-03-18 09:28:05"))
        );
        assert_eq!(
            canon(ColumnType::NaiveDate, &json!("2022-12-11T00:00:00")),
            "2022-12-11"
        );
        assert_eq!(
            canon(ColumnType::Json, &json!(r#"{"b":1,"a":2}"#)),
            canon(ColumnType::Json, &json!({"a":2,"b":1}))
        );
        assert!(same(
            ColumnType::Float,
            &canon(ColumnType::Float, &json!(0.1f32 as f64)),
            &canon(ColumnType::Float, &json!(0.1))
        ));
        assert_eq!(canon(ColumnType::String, &json!("")), "");
        assert_eq!(canon(ColumnType::Long, &json!("")), "null");
    }
}
