//! SA360's tables, declared once on the kit, the queries that read them, and the readings of the
//! account hierarchy. No I/O, no clock.
//!
//! Every table but `custom_columns` is one query language resource: its columns are fields of the
//! query (`campaign.network_settings.target_google_search`), read from the row's lowerCamelCase
//! JSON (`campaign.networkSettings.targetGoogleSearch`) into snake_case columns
//! (`network_settings_target_google_search`); the SELECT list and the rows come from the same
//! declaration, so they cannot drift apart.
//!
//! Type conventions: ids are STRING (int64 ids arrive as strings; resource names are the keys);
//! counts and money are LONG, exact (`cost_micros`, `cpc_bid_micros`: micros of the account's
//! currency); ratios and conversions (fractional under attribution) are DOUBLE; `segments.date` is a
//! NAIVE_DATE in the account's time zone (`customers.time_zone`), and so are the `creation_time` /
//! `last_modified_time` NAIVE_DATETIMEs; enums are their constant names; repeated fields (labels,
//! final URLs) are JSON arrays. A field the API leaves out (proto3 omits defaults of fields without
//! presence) is NULL.
//!
//! Keys: `customer_id` (the account the row was read from) and `resource_name`, plus `date` on
//! report tables (every segment a report selects).

use std::sync::LazyLock;

use chrono::NaiveDate;
use serde_json::Value as Json;

use super::config::Report;
use crate::sdk::table::{ColumnSpec, Reader, TableSpec};
use crate::sdk::{Schema, Value};

/// `customers`: each synced client account (`FROM customer`), with its time zone and currency.
pub const CUSTOMERS: &str = "customers";
/// `customer_clients`: the account hierarchy under each manager (`FROM customer_client`).
pub const CUSTOMER_CLIENTS: &str = "customer_clients";
/// `campaigns`.
pub const CAMPAIGNS: &str = "campaigns";
/// `ad_groups`.
pub const AD_GROUPS: &str = "ad_groups";
/// `ads` (`FROM ad_group_ad`).
pub const ADS: &str = "ads";
/// `keywords` (`FROM ad_group_criterion`).
pub const KEYWORDS: &str = "keywords";
/// `conversion_actions`.
pub const CONVERSION_ACTIONS: &str = "conversion_actions";
/// `bidding_strategies` (portfolio strategies).
pub const BIDDING_STRATEGIES: &str = "bidding_strategies";
/// `labels`.
pub const LABELS: &str = "labels";
/// `custom_columns` (`GET customers/{id}/customColumns`).
pub const CUSTOM_COLUMNS: &str = "custom_columns";
/// The key column holding the account a row was read from.
pub const CUSTOMER_ID: &str = "customer_id";

/// `snake_case` → `lowerCamelCase`, per dot-separated segment (the JSON mapping of field names).
pub fn camel(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            '.' => {
                out.push('.');
                upper = false;
            }
            _ if upper => {
                out.push(c.to_ascii_uppercase());
                upper = false;
            }
            _ => out.push(c),
        }
    }
    out
}

/// An inclusive range of dates (`segments.date BETWEEN first AND last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days {
    /// The first date.
    pub first: NaiveDate,
    /// The last date (included).
    pub last: NaiveDate,
}

/// One column of a query table: the query field it reads and its column.
#[derive(Debug, Clone)]
struct Selected {
    field: String,
    column: String,
}

/// A table read by one query of the query language.
#[derive(Debug, Clone)]
pub struct QueryTable {
    /// The table's name.
    pub name: &'static str,
    /// The resource after `FROM`.
    pub resource: &'static str,
    /// A daily report (segmented by `segments.date`), rather than a dimension.
    pub report: Option<Report>,
    selected: Vec<Selected>,
    /// The columns and how they are read.
    pub spec: TableSpec,
}

/// A field's column: the explicit name, or the field without its resource, dots as underscores
/// (`ad_group_ad.ad.final_urls` → `ad_final_urls`; `metrics.cost_micros` → `cost_micros`).
fn column_name(resource: &str, field: &str, explicit: Option<&str>) -> String {
    if let Some(name) = explicit {
        return name.to_owned();
    }
    let own = field
        .strip_prefix(resource)
        .and_then(|rest| rest.strip_prefix('.'))
        .or_else(|| field.strip_prefix("metrics."))
        .unwrap_or(field);
    own.replace('.', "_")
}

/// A column read from `field`, named from it unless `name` says otherwise.
type Field = (&'static str, Option<&'static str>, Reader);

impl QueryTable {
    fn new(
        name: &'static str,
        resource: &'static str,
        report: Option<Report>,
        fields: &[Field],
    ) -> Self {
        let key = format!("{resource}.resource_name");
        let mut spec = TableSpec::new(name)
            .column(ColumnSpec::key(CUSTOMER_ID, Reader::Id).given())
            .column(ColumnSpec::key("resource_name", Reader::Text).from(&camel(&key)));
        let mut selected = vec![Selected {
            field: key,
            column: "resource_name".into(),
        }];
        if report.is_some() {
            spec = spec.column(ColumnSpec::key("date", Reader::Date).from("segments.date"));
            selected.push(Selected {
                field: "segments.date".into(),
                column: "date".into(),
            });
        }
        let metrics = report.map_or(&[][..], |_| METRICS);
        for &(field, explicit, reader) in fields.iter().chain(metrics) {
            let column = column_name(resource, field, explicit);
            spec = spec.column(ColumnSpec::new(column.clone(), reader).from(&camel(field)));
            selected.push(Selected {
                field: field.to_owned(),
                column,
            });
        }
        Self {
            name,
            resource,
            report,
            selected,
            spec,
        }
    }

    /// The query reading the columns `wanted` keeps (keys are always read), over `days` for a
    /// report.
    pub fn query(&self, wanted: impl Fn(&str) -> bool, days: Option<Days>) -> String {
        let fields: Vec<&str> = self
            .selected
            .iter()
            .filter(|s| matches!(s.column.as_str(), "resource_name" | "date") || wanted(&s.column))
            .map(|s| s.field.as_str())
            .collect();
        let mut query = format!("SELECT {} FROM {}", fields.join(", "), self.resource);
        if let (Some(_), Some(days)) = (self.report, days) {
            query.push_str(&format!(
                " WHERE segments.date BETWEEN '{}' AND '{}'",
                days.first.format("%Y-%m-%d"),
                days.last.format("%Y-%m-%d")
            ));
        }
        query
    }

    /// The query fields this table reads, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> + '_ {
        self.selected.iter().map(|s| s.field.as_str())
    }
}

/// The metrics every report reads.
const METRICS: &[Field] = &[
    ("metrics.impressions", None, Reader::Long),
    ("metrics.clicks", None, Reader::Long),
    ("metrics.cost_micros", None, Reader::Long),
    ("metrics.conversions", None, Reader::Double),
    ("metrics.all_conversions", None, Reader::Double),
    ("metrics.conversions_value", None, Reader::Double),
    ("metrics.all_conversions_value", None, Reader::Double),
    ("metrics.ctr", None, Reader::Double),
    ("metrics.average_cpc", None, Reader::Double),
    ("metrics.cost_per_conversion", None, Reader::Double),
];

const CAMPAIGN_ID: Field = ("campaign.id", Some("campaign_id"), Reader::Id);
const AD_GROUP_ID: Field = ("ad_group.id", Some("ad_group_id"), Reader::Id);

/// The dimension tables read by query, in sync order.
pub static DIMENSIONS: LazyLock<Vec<QueryTable>> = LazyLock::new(|| {
    use Reader::{Bool, Date, DateTime, Double, Id, Int, Json, Long, Text};
    vec![
        QueryTable::new(
            CUSTOMERS,
            "customer",
            None,
            &[
                ("customer.descriptive_name", None, Text),
                ("customer.currency_code", None, Text),
                ("customer.time_zone", None, Text),
                ("customer.manager", None, Bool),
                ("customer.status", None, Text),
                ("customer.account_type", None, Text),
                ("customer.auto_tagging_enabled", None, Bool),
                ("customer.creation_time", None, DateTime),
                ("customer.last_modified_time", None, DateTime),
                ("customer.engine_id", None, Text),
                ("customer.manager_id", None, Id),
                ("customer.manager_descriptive_name", None, Text),
                ("customer.sub_manager_id", None, Id),
                ("customer.sub_manager_descriptive_name", None, Text),
            ],
        ),
        QueryTable::new(
            CAMPAIGNS,
            "campaign",
            None,
            &[
                ("campaign.id", None, Id),
                ("campaign.name", None, Text),
                ("campaign.status", None, Text),
                ("campaign.serving_status", None, Text),
                ("campaign.advertising_channel_type", None, Text),
                ("campaign.bidding_strategy_type", None, Text),
                ("campaign.bidding_strategy", None, Text),
                ("campaign.campaign_budget", None, Text),
                ("campaign.start_date", None, Date),
                ("campaign.end_date", None, Date),
                ("campaign.network_settings.target_google_search", None, Bool),
                (
                    "campaign.network_settings.target_search_network",
                    None,
                    Bool,
                ),
                ("campaign.engine_id", None, Text),
                ("campaign.labels", None, Json),
                ("campaign.creation_time", None, DateTime),
                ("campaign.last_modified_time", None, DateTime),
            ],
        ),
        QueryTable::new(
            AD_GROUPS,
            "ad_group",
            None,
            &[
                ("ad_group.id", None, Id),
                CAMPAIGN_ID,
                ("ad_group.name", None, Text),
                ("ad_group.status", None, Text),
                ("ad_group.type", None, Text),
                ("ad_group.cpc_bid_micros", None, Long),
                ("ad_group.engine_id", None, Text),
                ("ad_group.labels", None, Json),
                ("ad_group.creation_time", None, DateTime),
                ("ad_group.last_modified_time", None, DateTime),
            ],
        ),
        QueryTable::new(
            ADS,
            "ad_group_ad",
            None,
            &[
                ("ad_group_ad.ad.id", None, Id),
                AD_GROUP_ID,
                CAMPAIGN_ID,
                ("ad_group_ad.ad.resource_name", None, Text),
                ("ad_group_ad.status", None, Text),
                ("ad_group_ad.ad.type", None, Text),
                ("ad_group_ad.ad.name", None, Text),
                ("ad_group_ad.ad.final_urls", None, Json),
                ("ad_group_ad.ad.display_url", None, Text),
                ("ad_group_ad.engine_id", None, Text),
                ("ad_group_ad.labels", None, Json),
                ("ad_group_ad.creation_time", None, DateTime),
                ("ad_group_ad.last_modified_time", None, DateTime),
            ],
        ),
        QueryTable::new(
            KEYWORDS,
            "ad_group_criterion",
            None,
            &[
                ("ad_group_criterion.criterion_id", None, Id),
                AD_GROUP_ID,
                CAMPAIGN_ID,
                ("ad_group_criterion.ad_group", None, Text),
                ("ad_group_criterion.status", None, Text),
                ("ad_group_criterion.type", None, Text),
                ("ad_group_criterion.negative", None, Bool),
                ("ad_group_criterion.keyword.text", None, Text),
                ("ad_group_criterion.keyword.match_type", None, Text),
                (
                    "ad_group_criterion.quality_info.quality_score",
                    Some("quality_score"),
                    Int,
                ),
                ("ad_group_criterion.cpc_bid_micros", None, Long),
                ("ad_group_criterion.effective_cpc_bid_micros", None, Long),
                ("ad_group_criterion.final_urls", None, Json),
                ("ad_group_criterion.engine_id", None, Text),
                ("ad_group_criterion.labels", None, Json),
                ("ad_group_criterion.creation_time", None, DateTime),
                ("ad_group_criterion.last_modified_time", None, DateTime),
            ],
        ),
        QueryTable::new(
            CONVERSION_ACTIONS,
            "conversion_action",
            None,
            &[
                ("conversion_action.id", None, Id),
                ("conversion_action.name", None, Text),
                ("conversion_action.status", None, Text),
                ("conversion_action.type", None, Text),
                ("conversion_action.category", None, Text),
                ("conversion_action.primary_for_goal", None, Bool),
                ("conversion_action.owner_customer", None, Text),
                (
                    "conversion_action.include_in_conversions_metric",
                    None,
                    Bool,
                ),
                (
                    "conversion_action.click_through_lookback_window_days",
                    None,
                    Long,
                ),
                (
                    "conversion_action.value_settings.default_value",
                    None,
                    Double,
                ),
                (
                    "conversion_action.value_settings.default_currency_code",
                    None,
                    Text,
                ),
                (
                    "conversion_action.value_settings.always_use_default_value",
                    None,
                    Bool,
                ),
                ("conversion_action.creation_time", None, DateTime),
            ],
        ),
        QueryTable::new(
            BIDDING_STRATEGIES,
            "bidding_strategy",
            None,
            &[
                ("bidding_strategy.id", None, Id),
                ("bidding_strategy.name", None, Text),
                ("bidding_strategy.status", None, Text),
                ("bidding_strategy.type", None, Text),
                ("bidding_strategy.currency_code", None, Text),
                ("bidding_strategy.effective_currency_code", None, Text),
                ("bidding_strategy.campaign_count", None, Long),
                ("bidding_strategy.non_removed_campaign_count", None, Long),
            ],
        ),
        QueryTable::new(
            LABELS,
            "label",
            None,
            &[
                ("label.id", None, Id),
                ("label.name", None, Text),
                ("label.status", None, Text),
                ("label.text_label.background_color", None, Text),
                ("label.text_label.description", None, Text),
            ],
        ),
    ]
});

/// `customer_clients`: the hierarchy read from a manager (its `customer_id`), itself included.
pub static CUSTOMER_CLIENTS_TABLE: LazyLock<QueryTable> = LazyLock::new(|| {
    use Reader::{Bool, Id, Json, Long, Text};
    QueryTable::new(
        CUSTOMER_CLIENTS,
        "customer_client",
        None,
        &[
            ("customer_client.id", None, Id),
            ("customer_client.client_customer", None, Text),
            ("customer_client.descriptive_name", None, Text),
            ("customer_client.manager", None, Bool),
            ("customer_client.level", None, Long),
            ("customer_client.status", None, Text),
            ("customer_client.time_zone", None, Text),
            ("customer_client.currency_code", None, Text),
            ("customer_client.hidden", None, Bool),
            ("customer_client.test_account", None, Bool),
            ("customer_client.applied_labels", None, Json),
        ],
    )
});

/// The daily report tables, in sync order.
pub static REPORTS: LazyLock<Vec<QueryTable>> = LazyLock::new(|| {
    use Reader::Id;
    let criterion = ("ad_group_criterion.criterion_id", Some("criterion_id"), Id);
    let ad = ("ad_group_ad.ad.id", Some("ad_id"), Id);
    vec![
        QueryTable::new("customer_stats", "customer", Some(Report::Customer), &[]),
        QueryTable::new(
            "campaign_stats",
            "campaign",
            Some(Report::Campaign),
            &[CAMPAIGN_ID],
        ),
        QueryTable::new(
            "ad_group_stats",
            "ad_group",
            Some(Report::AdGroup),
            &[AD_GROUP_ID, CAMPAIGN_ID],
        ),
        QueryTable::new(
            "keyword_stats",
            "keyword_view",
            Some(Report::Keyword),
            &[criterion, AD_GROUP_ID, CAMPAIGN_ID],
        ),
        QueryTable::new(
            "ad_stats",
            "ad_group_ad",
            Some(Report::Ad),
            &[ad, AD_GROUP_ID, CAMPAIGN_ID],
        ),
    ]
});

/// The table of `report`.
pub fn report_table(report: Report) -> &'static QueryTable {
    REPORTS
        .iter()
        .find(|t| t.report == Some(report))
        .expect("every report has a table")
}

/// `custom_columns`, read from the REST listing (not a query).
pub static CUSTOM_COLUMNS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CUSTOM_COLUMNS)
        .column(ColumnSpec::key(CUSTOMER_ID, Reader::Id).given())
        .column(ColumnSpec::key("resource_name", Reader::Text).from("resourceName"))
        .column(ColumnSpec::new("id", Reader::Id))
        .column(ColumnSpec::new("name", Reader::Text))
        .column(ColumnSpec::new("description", Reader::Text))
        .column(ColumnSpec::new("value_type", Reader::Text).from("valueType"))
        .column(ColumnSpec::new("render_type", Reader::Text).from("renderType"))
        .column(ColumnSpec::new("references_metrics", Reader::Bool).from("referencesMetrics"))
        .column(ColumnSpec::new("queryable", Reader::Bool))
        .column(
            ColumnSpec::new("referenced_system_columns", Reader::Json)
                .from("referencedSystemColumns"),
        )
});

/// The connector's tables for the chosen reports: the hierarchy, the dimensions, custom columns,
/// then the reports.
pub fn schema(reports: &[Report]) -> Schema {
    let mut tables = vec![CUSTOMER_CLIENTS_TABLE.spec.def()];
    tables.extend(DIMENSIONS.iter().map(|t| t.spec.def()));
    tables.push(CUSTOM_COLUMNS_SPEC.def());
    tables.extend(
        reports
            .iter()
            .map(|report| report_table(*report).spec.def()),
    );
    Schema::new(tables)
}

/// The value a `customer_id` column is given.
pub fn customer_key(customer_id: &str) -> [(&'static str, Value); 1] {
    [(CUSTOMER_ID, Value::String(customer_id.to_owned()))]
}

/// The customer id of a resource name (`customers/1234567890` or `customers/1234567890/...`).
pub fn customer_of(resource_name: &str) -> Option<&str> {
    let id = resource_name.strip_prefix("customers/")?;
    let id = id.split('/').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// What the sync needs to know about one account of a manager's hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientInfo {
    /// The customer id.
    pub id: String,
    /// `customer_client.descriptive_name`.
    pub name: String,
    /// Whether it is a manager (which has no campaigns or metrics).
    pub manager: bool,
    /// `customer_client.status` (`ENABLED`, `CANCELED`, ...).
    pub status: String,
}

impl ClientInfo {
    /// A client account whose data can be read (managers have none; canceled, suspended and
    /// closed accounts refuse queries).
    pub fn syncable(&self) -> bool {
        !self.manager && self.status == "ENABLED"
    }
}

/// Reads a `customer_client` row (`{"customerClient": {...}}`); `None` without an id.
pub fn client_info(row: &Json) -> Option<ClientInfo> {
    let client = &row["customerClient"];
    let id = match &client["id"] {
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => customer_of(client["clientCustomer"].as_str()?)?.to_owned(),
    };
    Some(ClientInfo {
        id,
        name: client["descriptiveName"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        manager: client["manager"].as_bool().unwrap_or(false),
        status: client["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
    })
}

/// The customer ids of `listAccessibleCustomers` (`{"resourceNames": ["customers/1", ...]}`).
pub fn accessible_ids(body: &Json) -> Vec<String> {
    body["resourceNames"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| customer_of(n.as_str()?))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::table::Issues;
    use crate::sdk::ColumnType;
    use serde_json::json;

    #[test]
    fn field_names_map_to_camel_case_paths_and_snake_case_columns() {
        assert_eq!(
            camel("ad_group_criterion.keyword.match_type"),
            "adGroupCriterion.keyword.matchType"
        );
        assert_eq!(
            column_name(
                "campaign",
                "campaign.network_settings.target_google_search",
                None
            ),
            "network_settings_target_google_search"
        );
        assert_eq!(
            column_name("ad_group_ad", "ad_group_ad.ad.final_urls", None),
            "ad_final_urls"
        );
        assert_eq!(
            column_name("keyword_view", "metrics.cost_micros", None),
            "cost_micros"
        );
    }

    #[test]
    fn a_report_query_selects_every_kept_column_over_its_days() {
        let keywords = report_table(Report::Keyword);
        let days = Days {
            first: NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
            last: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
        };
        let all = keywords.query(|_| true, Some(days));
        assert!(all.starts_with(
            "SELECT keyword_view.resource_name, segments.date, ad_group_criterion.criterion_id, ad_group.id, campaign.id, metrics.impressions,"
        ), "{all}");
        assert!(all.ends_with(
            "FROM keyword_view WHERE segments.date BETWEEN '2024-06-01' AND '2024-06-30'"
        ));
        let keys_and_clicks = keywords.query(|c| c == "clicks", Some(days));
        assert_eq!(
            keys_and_clicks,
            "SELECT keyword_view.resource_name, segments.date, metrics.clicks FROM keyword_view WHERE segments.date BETWEEN '2024-06-01' AND '2024-06-30'"
        );
        let def = keywords.spec.def();
        assert_eq!(
            def.primary_key().collect::<Vec<_>>(),
            ["customer_id", "resource_name", "date"]
        );
        let cost = def
            .columns
            .iter()
            .find(|c| c.name == "cost_micros")
            .unwrap();
        assert_eq!(cost.ty, ColumnType::Long);
    }

    #[test]
    fn a_report_row_keeps_int64_strings_exact_and_nested_fields_flat() {
        let row = json!({
            "keywordView": {"resourceName": "customers/1/keywordViews/2~3"},
            "adGroupCriterion": {"resourceName": "customers/1/adGroupCriteria/2~3", "criterionId": "3"},
            "adGroup": {"resourceName": "customers/1/adGroups/2", "id": "2"},
            "campaign": {"resourceName": "customers/1/campaigns/9", "id": "9"},
            "metrics": {"impressions": "9007199254740993", "clicks": "4", "costMicros": "1061083620",
                        "conversions": 1.5, "ctr": 0.25},
            "segments": {"date": "2024-06-01"}
        });
        let mut issues = Issues::default();
        let got = report_table(Report::Keyword)
            .spec
            .row(&row, &customer_key("1"), &mut issues)
            .unwrap();
        assert!(issues.is_empty());
        assert_eq!(
            got.get("resource_name"),
            Some(&Value::String("customers/1/keywordViews/2~3".into()))
        );
        assert_eq!(
            got.get("date"),
            Some(&Value::NaiveDate(
                NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
            ))
        );
        assert_eq!(
            got.get("impressions"),
            Some(&Value::Long(9_007_199_254_740_993))
        );
        assert_eq!(got.get("cost_micros"), Some(&Value::Long(1_061_083_620)));
        assert_eq!(got.get("conversions"), Some(&Value::Double(1.5)));
        assert_eq!(got.get("criterion_id"), Some(&Value::String("3".into())));
        assert_eq!(got.get("customer_id"), Some(&Value::String("1".into())));
        assert_eq!(got.get("all_conversions"), Some(&Value::Null), "absent");
    }

    #[test]
    fn dimension_rows_read_nested_enums_lists_and_local_times() {
        let campaigns = DIMENSIONS.iter().find(|t| t.name == CAMPAIGNS).unwrap();
        let row = json!({"campaign": {
            "resourceName": "customers/1/campaigns/9", "id": "9", "status": "REMOVED",
            "networkSettings": {"targetGoogleSearch": true},
            "labels": ["customers/1/campaignLabels/9~4"],
            "startDate": "2024-01-02", "creationTime": "2023-04-02 10:11:12",
            "lastModifiedTime": "2024-05-06 07:08:09.123456"
        }});
        let mut issues = Issues::default();
        let got = campaigns
            .spec
            .row(&row, &customer_key("1"), &mut issues)
            .unwrap();
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(got.get("status"), Some(&Value::String("REMOVED".into())));
        assert_eq!(
            got.get("network_settings_target_google_search"),
            Some(&Value::Bool(true))
        );
        assert_eq!(
            got.get("labels"),
            Some(&Value::Json(r#"["customers/1/campaignLabels/9~4"]"#.into()))
        );
        assert!(matches!(
            got.get("creation_time"),
            Some(Value::NaiveDateTime(_))
        ));
        assert!(matches!(
            got.get("last_modified_time"),
            Some(Value::NaiveDateTime(_))
        ));
        assert_eq!(got.get("engine_id"), Some(&Value::Null));
        assert!(campaigns.query(|_| true, None).ends_with(" FROM campaign"));
    }

    #[test]
    fn every_table_has_a_unique_name_and_the_schema_follows_the_reports() {
        let all = schema(&Report::ALL);
        let mut names: Vec<&str> = all.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), 15);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 15);
        let two = schema(&[Report::Campaign, Report::Keyword]);
        assert!(two.tables.iter().any(|t| t.name == "keyword_stats"));
        assert!(!two.tables.iter().any(|t| t.name == "ad_stats"));
    }

    #[test]
    fn the_hierarchy_and_accessible_customers_are_read() {
        let row = json!({"customerClient": {"resourceName": "customers/9/customerClients/4",
            "clientCustomer": "customers/4", "id": "4", "descriptiveName": "Shoes",
            "status": "CANCELED"}});
        let info = client_info(&row).unwrap();
        assert_eq!((info.id.as_str(), info.manager), ("4", false));
        assert!(!info.syncable());
        assert_eq!(
            accessible_ids(&json!({"resourceNames": ["customers/91", "bogus"]})),
            ["91"]
        );
        assert_eq!(customer_of("customers/12/campaigns/3"), Some("12"));
    }
}
