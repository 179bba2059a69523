//! Schema declaration: tables, columns, Fivetran data types and primary keys.

use crate::proto;

/// A Fivetran column type (every type a source may declare; NAIVE_TIME is left out on purpose: Fivetran's
/// guide says many destinations do not support it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// BOOLEAN.
    Boolean,
    /// SHORT.
    Short,
    /// INT.
    Int,
    /// LONG.
    Long,
    /// DECIMAL(precision, scale).
    Decimal {
        /// Total digits (at most 38).
        precision: u32,
        /// Digits after the point (at most 37).
        scale: u32,
    },
    /// FLOAT.
    Float,
    /// DOUBLE.
    Double,
    /// NAIVE_DATE.
    NaiveDate,
    /// NAIVE_DATETIME.
    NaiveDateTime,
    /// UTC_DATETIME.
    UtcDateTime,
    /// BINARY.
    Binary,
    /// XML.
    Xml,
    /// STRING.
    String,
    /// JSON.
    Json,
}

impl ColumnType {
    fn to_proto(self) -> (proto::DataType, Option<proto::DataTypeParams>) {
        use proto::DataType as D;
        let ty = match self {
            ColumnType::Boolean => D::Boolean,
            ColumnType::Short => D::Short,
            ColumnType::Int => D::Int,
            ColumnType::Long => D::Long,
            ColumnType::Decimal { precision, scale } => {
                let params = proto::DataTypeParams {
                    params: Some(proto::data_type_params::Params::Decimal(
                        proto::DecimalParams { precision, scale },
                    )),
                };
                return (D::Decimal, Some(params));
            }
            ColumnType::Float => D::Float,
            ColumnType::Double => D::Double,
            ColumnType::NaiveDate => D::NaiveDate,
            ColumnType::NaiveDateTime => D::NaiveDatetime,
            ColumnType::UtcDateTime => D::UtcDatetime,
            ColumnType::Binary => D::Binary,
            ColumnType::Xml => D::Xml,
            ColumnType::String => D::String,
            ColumnType::Json => D::Json,
        };
        (ty, None)
    }
}

/// One declared column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Source column name.
    pub name: String,
    /// Declared type.
    pub ty: ColumnType,
    /// Part of the primary key.
    pub primary_key: bool,
}

/// One declared table: optional schema, name, columns (key columns first is customary, not required).
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// Source schema, `None` for a connector without schemas.
    pub schema: Option<String>,
    /// Table name.
    pub name: String,
    /// Declared columns. Undeclared columns may still be sent; the destination infers their type.
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// A table without a schema.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            schema: None,
            name: name.into(),
            columns: Vec::new(),
        }
    }

    /// Places the table in a source schema.
    pub fn in_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Adds a primary-key column.
    pub fn key(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.push(ColumnDef {
            name: name.into(),
            ty,
            primary_key: true,
        });
        self
    }

    /// Adds a non-key column.
    pub fn column(mut self, name: impl Into<String>, ty: ColumnType) -> Self {
        self.columns.push(ColumnDef {
            name: name.into(),
            ty,
            primary_key: false,
        });
        self
    }

    /// Names of the primary-key columns.
    pub fn primary_key(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter(|c| c.primary_key)
            .map(|c| c.name.as_str())
    }

    fn to_proto(&self) -> proto::Table {
        proto::Table {
            name: self.name.clone(),
            columns: self
                .columns
                .iter()
                .map(|c| {
                    let (ty, params) = c.ty.to_proto();
                    proto::Column {
                        name: c.name.clone(),
                        r#type: ty as i32,
                        primary_key: c.primary_key,
                        params,
                    }
                })
                .collect(),
        }
    }
}

/// Everything a connector declares: its tables, in the order they sync.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// Declared tables.
    pub tables: Vec<TableDef>,
}

impl Schema {
    /// A schema of the given tables.
    pub fn new(tables: Vec<TableDef>) -> Self {
        Self { tables }
    }

    /// The table named `name` in `schema`.
    pub fn table(&self, schema: Option<&str>, name: &str) -> Option<&TableDef> {
        self.tables
            .iter()
            .find(|t| t.name == name && t.schema.as_deref() == schema)
    }

    /// The `SchemaResponse` Fivetran expects: `without_schema` when no table names a schema, else
    /// `with_schema`, unqualified tables going under a schema named `""` (as Fivetran's SDK does).
    /// `selection_not_supported` is `false`: every connector honours table and column selection.
    pub fn to_proto(&self) -> proto::SchemaResponse {
        use proto::schema_response::Response;
        let response = if self.tables.iter().all(|t| t.schema.is_none()) {
            Response::WithoutSchema(proto::TableList {
                tables: self.tables.iter().map(TableDef::to_proto).collect(),
            })
        } else {
            let mut schemas: Vec<proto::Schema> = Vec::new();
            for table in &self.tables {
                let name = table.schema.clone().unwrap_or_default();
                let idx = match schemas.iter().position(|s| s.name == name) {
                    Some(i) => i,
                    None => {
                        schemas.push(proto::Schema {
                            name,
                            tables: Vec::new(),
                        });
                        schemas.len() - 1
                    }
                };
                schemas[idx].tables.push(table.to_proto());
            }
            Response::WithSchema(proto::SchemaList { schemas })
        };
        proto::SchemaResponse {
            response: Some(response),
            selection_not_supported: Some(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::schema_response::Response;

    #[test]
    fn tables_without_schema_become_a_table_list() {
        let schema = Schema::new(vec![TableDef::new("t").key("id", ColumnType::Long).column(
            "amount",
            ColumnType::Decimal {
                precision: 10,
                scale: 2,
            },
        )]);
        let Some(Response::WithoutSchema(list)) = schema.to_proto().response else {
            panic!("expected without_schema");
        };
        let cols = &list.tables[0].columns;
        assert_eq!(cols[0].r#type, proto::DataType::Long as i32);
        assert!(cols[0].primary_key);
        assert_eq!(cols[1].r#type, proto::DataType::Decimal as i32);
        assert!(matches!(
            cols[1].params.as_ref().and_then(|p| p.params),
            Some(proto::data_type_params::Params::Decimal(
                proto::DecimalParams {
                    precision: 10,
                    scale: 2
                }
            ))
        ));
    }

    #[test]
    fn any_schema_makes_a_schema_list_with_unqualified_tables_under_empty_name() {
        let schema = Schema::new(vec![
            TableDef::new("a").in_schema("crm"),
            TableDef::new("b"),
            TableDef::new("c").in_schema("crm"),
        ]);
        let Some(Response::WithSchema(list)) = schema.to_proto().response else {
            panic!("expected with_schema");
        };
        let names: Vec<_> = list
            .schemas
            .iter()
            .map(|s| (s.name.as_str(), s.tables.len()))
            .collect();
        assert_eq!(names, vec![("crm", 2), ("", 1)]);
    }
}
