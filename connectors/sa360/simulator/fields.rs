//! The resources and fields the simulator serves, what each field's value is for a row, and how a
//! row becomes the API's JSON (`SearchAds360Row`).
//!
//! JSON follows the proto3 mapping the REST API uses: lowerCamelCase names, int64 as strings,
//! int32/double as numbers, enums as their constant names. A field with explicit presence
//! (`optional` in the v0 protos) is written whenever it has a value, zero included; one without
//! (`string engine_id`, `int64 manager_id`, repeated fields) is left out when it holds its default.
//! Every resource of the row carries its `resourceName`, selected or not.

use serde::Serialize;
use serde_json::{Map, Value};

use super::dataset::{date_of, ClientData, Entity, Kind, Sa360Data, Status};
use super::metrics::Metrics;
use super::records::{self, iso};

/// A resource that can follow `FROM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// `customer`: the queried account itself.
    Customer,
    /// `customer_client`: the queried manager and every account below it.
    CustomerClient,
    /// `campaign`.
    Campaign,
    /// `ad_group`.
    AdGroup,
    /// `ad_group_ad` (ads).
    AdGroupAd,
    /// `ad_group_criterion` (keywords).
    AdGroupCriterion,
    /// `keyword_view` (keyword performance).
    KeywordView,
    /// `conversion_action`.
    ConversionAction,
    /// `bidding_strategy` (portfolio strategies).
    BiddingStrategy,
    /// `label`.
    Label,
}

impl Resource {
    /// Every resource, in a fixed order.
    pub const ALL: [Resource; 10] = [
        Resource::Customer,
        Resource::CustomerClient,
        Resource::Campaign,
        Resource::AdGroup,
        Resource::AdGroupAd,
        Resource::AdGroupCriterion,
        Resource::KeywordView,
        Resource::ConversionAction,
        Resource::BiddingStrategy,
        Resource::Label,
    ];

    /// The query-language name (`ad_group_criterion`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Customer => "customer",
            Resource::CustomerClient => "customer_client",
            Resource::Campaign => "campaign",
            Resource::AdGroup => "ad_group",
            Resource::AdGroupAd => "ad_group_ad",
            Resource::AdGroupCriterion => "ad_group_criterion",
            Resource::KeywordView => "keyword_view",
            Resource::ConversionAction => "conversion_action",
            Resource::BiddingStrategy => "bidding_strategy",
            Resource::Label => "label",
        }
    }

    /// The resource with query-language name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|resource| resource.name() == name)
    }

    /// The JSON key of the resource in a row (`adGroupCriterion`).
    pub fn json_key(self) -> String {
        camel(self.name())
    }

    /// Resources whose fields a query `FROM self` may use (self first).
    pub(crate) fn attributed(self) -> &'static [Resource] {
        use Resource::*;
        match self {
            Customer => &[Customer],
            CustomerClient => &[CustomerClient, Customer],
            Campaign => &[Campaign, Customer],
            AdGroup => &[AdGroup, Campaign, Customer],
            AdGroupAd => &[AdGroupAd, AdGroup, Campaign, Customer],
            AdGroupCriterion => &[AdGroupCriterion, AdGroup, Campaign, Customer],
            KeywordView => &[KeywordView, AdGroupCriterion, AdGroup, Campaign, Customer],
            ConversionAction => &[ConversionAction, Customer],
            BiddingStrategy => &[BiddingStrategy, Customer],
            Label => &[Label, Customer],
        }
    }

    /// Whether metrics and `segments.date` may be selected with it (it is a report).
    pub fn has_metrics(self) -> bool {
        matches!(
            self,
            Resource::Customer
                | Resource::Campaign
                | Resource::AdGroup
                | Resource::AdGroupAd
                | Resource::KeywordView
        )
    }

    /// The entity table its rows come from (`None`: accounts).
    pub(crate) fn kind(self) -> Option<Kind> {
        match self {
            Resource::Customer | Resource::CustomerClient => None,
            Resource::Campaign => Some(Kind::Campaign),
            Resource::AdGroup => Some(Kind::AdGroup),
            Resource::AdGroupAd => Some(Kind::Ad),
            Resource::AdGroupCriterion | Resource::KeywordView => Some(Kind::Keyword),
            Resource::ConversionAction => Some(Kind::ConversionAction),
            Resource::BiddingStrategy => Some(Kind::BiddingStrategy),
            Resource::Label => Some(Kind::Label),
        }
    }
}

/// `snake_case` → `lowerCamelCase`, per dot-separated segment.
pub(crate) fn camel(path: &str) -> String {
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

/// The constants of an enum field.
#[derive(Debug)]
pub(crate) struct EnumDef {
    pub(crate) values: &'static [&'static str],
    /// Whether `values` is the whole enum (otherwise unknown constants are accepted in filters).
    pub(crate) complete: bool,
}

/// A field's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldKind {
    Int64,
    Int32,
    Double,
    Str,
    Bool,
    Enum(&'static EnumDef),
    Date,
    /// A repeated string field.
    StrList,
}

/// A field's value for one row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    Int(i64),
    Double(f64),
    Str(String),
    Bool(bool),
    Enum(&'static str),
    Date(i32),
    List(Vec<String>),
}

impl Typed {
    fn is_default(&self) -> bool {
        match self {
            Typed::Int(n) => *n == 0,
            Typed::Double(x) => *x == 0.0,
            Typed::Str(s) => s.is_empty(),
            Typed::Bool(b) => !b,
            Typed::List(items) => items.is_empty(),
            Typed::Enum(_) | Typed::Date(_) => false,
        }
    }

    /// Orders two values of one field (numbers across int/double).
    pub(crate) fn compare(&self, other: &Typed) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Typed::Int(a), Typed::Int(b)) => Some(a.cmp(b)),
            (Typed::Double(a), Typed::Double(b)) => a.partial_cmp(b),
            (Typed::Int(a), Typed::Double(b)) => (*a as f64).partial_cmp(b),
            (Typed::Double(a), Typed::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Typed::Str(a), Typed::Str(b)) => Some(a.cmp(b)),
            (Typed::Enum(a), Typed::Enum(b)) => Some(a.cmp(b)),
            // Filter constants are parsed as text.
            (Typed::Enum(a), Typed::Str(b)) => Some((*a).cmp(b.as_str())),
            (Typed::Str(a), Typed::Enum(b)) => Some(a.as_str().cmp(b)),
            (Typed::Date(a), Typed::Date(b)) => Some(a.cmp(b)),
            (Typed::Bool(a), Typed::Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    fn json(&self, kind: FieldKind) -> Value {
        match self {
            Typed::Int(n) => match kind {
                FieldKind::Int32 => Value::from(*n),
                _ => Value::String(n.to_string()),
            },
            Typed::Double(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
            Typed::Str(s) => Value::String(s.clone()),
            Typed::Bool(b) => Value::Bool(*b),
            Typed::Enum(e) => Value::String((*e).to_owned()),
            Typed::Date(day) => Value::String(iso(date_of(*day))),
            Typed::List(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        }
    }
}

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// The queried account (`FROM customer`).
    Customer,
    /// One account of the queried manager's tree (`FROM customer_client`), by index.
    CustomerClient(usize),
    /// An entity of the queried client account.
    Entity(Kind, usize),
}

/// One row being rendered or filtered.
pub(crate) struct Row<'a> {
    pub(crate) data: &'a Sa360Data,
    /// The queried account (index).
    pub(crate) account: usize,
    pub(crate) subject: Subject,
    /// `segments.date`, for rows segmented by date.
    pub(crate) day: Option<i32>,
    /// The row's metrics, when the query uses any.
    pub(crate) metrics: Option<Metrics>,
}

impl<'a> Row<'a> {
    pub(crate) fn cid(&self) -> u64 {
        self.data.accounts[self.account].spec.id
    }

    pub(crate) fn client(&self) -> Option<&'a ClientData> {
        self.data.client_of(self.account)
    }

    /// The entity of `kind` this row is about or belongs to (a keyword's ad group and campaign).
    pub(crate) fn entity(&self, kind: Kind) -> Option<(usize, &'a Entity)> {
        let Subject::Entity(mut at_kind, mut index) = self.subject else {
            return None;
        };
        let client = self.client()?;
        loop {
            let entity = client.table(at_kind).get(index)?;
            if at_kind == kind {
                return Some((index, entity));
            }
            at_kind = match at_kind {
                Kind::Keyword | Kind::Ad => Kind::AdGroup,
                Kind::AdGroup => Kind::Campaign,
                _ => return None,
            };
            index = entity.parent as usize;
        }
    }

    fn seed(&self) -> u64 {
        self.data.seed
    }

    fn id(&self, kind: Kind) -> Option<i64> {
        self.entity(kind).map(|(_, e)| e.id as i64)
    }

    fn status(&self, kind: Kind) -> Option<Typed> {
        self.entity(kind)
            .map(|(_, e)| Typed::Enum(e.status().as_str()))
    }

    fn created(&self, kind: Kind) -> Option<Typed> {
        self.entity(kind)
            .map(|(_, e)| Typed::Str(records::timestamp(self.seed(), e.id, e.created)))
    }

    fn modified(&self, kind: Kind) -> Option<Typed> {
        self.entity(kind)
            .map(|(_, e)| Typed::Str(records::timestamp_micros(self.seed(), e.id, e.modified())))
    }

    /// The `resourceName` of `resource` for this row.
    pub(crate) fn resource_name(&self, resource: Resource) -> Option<String> {
        let cid = self.cid();
        let group_of = |kind: Kind| -> Option<String> {
            let (_, group) = self.entity(Kind::AdGroup)?;
            let (_, child) = self.entity(kind)?;
            Some(format!("{}~{}", group.id, child.id))
        };
        Some(match resource {
            Resource::Customer => format!("customers/{cid}"),
            Resource::CustomerClient => match self.subject {
                Subject::CustomerClient(client) => {
                    format!(
                        "customers/{cid}/customerClients/{}",
                        self.data.accounts[client].spec.id
                    )
                }
                _ => return None,
            },
            Resource::Campaign => format!("customers/{cid}/campaigns/{}", self.id(Kind::Campaign)?),
            Resource::AdGroup => format!("customers/{cid}/adGroups/{}", self.id(Kind::AdGroup)?),
            Resource::AdGroupAd => format!("customers/{cid}/adGroupAds/{}", group_of(Kind::Ad)?),
            Resource::AdGroupCriterion => format!(
                "customers/{cid}/adGroupCriteria/{}",
                group_of(Kind::Keyword)?
            ),
            Resource::KeywordView => {
                format!("customers/{cid}/keywordViews/{}", group_of(Kind::Keyword)?)
            }
            Resource::ConversionAction => {
                format!(
                    "customers/{cid}/conversionActions/{}",
                    self.id(Kind::ConversionAction)?
                )
            }
            Resource::BiddingStrategy => {
                format!(
                    "customers/{cid}/biddingStrategies/{}",
                    self.id(Kind::BiddingStrategy)?
                )
            }
            Resource::Label => format!("customers/{cid}/labels/{}", self.id(Kind::Label)?),
        })
    }

    fn labels(&self, kind: Kind, path: &str) -> Option<Typed> {
        let client = self.client()?;
        let (_, entity) = self.entity(kind)?;
        let cid = self.cid();
        let prefix = match kind {
            Kind::AdGroup => self.id(Kind::AdGroup).map(|id| id.to_string()),
            Kind::Campaign => self.id(Kind::Campaign).map(|id| id.to_string()),
            _ => None,
        }?;
        Some(Typed::List(
            records::labels_of(self.seed(), client, entity)
                .into_iter()
                .map(|label| format!("customers/{cid}/{path}/{prefix}~{label}"))
                .collect(),
        ))
    }

    fn metric(&self, get: fn(&Metrics) -> Typed) -> Option<Typed> {
        self.metrics.as_ref().map(get)
    }

    /// The account a `customer.*` or `customer_client.*` field describes.
    fn customer_client(&self) -> Option<usize> {
        match self.subject {
            Subject::CustomerClient(account) => Some(account),
            _ => None,
        }
    }
}

/// A selectable field.
pub(crate) struct FieldDef {
    /// The query-language name (`ad_group_criterion.keyword.text`).
    pub(crate) name: &'static str,
    pub(crate) kind: FieldKind,
    /// Explicit presence: written even when zero.
    pub(crate) explicit: bool,
    pub(crate) get: fn(&Row<'_>) -> Option<Typed>,
}

impl std::fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// What part of a row a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    Attribute(Resource),
    Metric,
    Segment,
}

impl FieldDef {
    pub(crate) fn category(&self) -> Category {
        let prefix = self.name.split('.').next().unwrap_or_default();
        match prefix {
            "metrics" => Category::Metric,
            "segments" => Category::Segment,
            _ => Category::Attribute(
                Resource::from_name(prefix).expect("catalogue prefixes are resources"),
            ),
        }
    }

    /// The camelCase path (`adGroupCriterion.keyword.matchType`), as in `fieldMask`.
    pub(crate) fn json_path(&self) -> String {
        camel(self.name)
    }

    pub(crate) fn repeated(&self) -> bool {
        matches!(self.kind, FieldKind::StrList)
    }
}

const fn field(
    name: &'static str,
    kind: FieldKind,
    explicit: bool,
    get: fn(&Row<'_>) -> Option<Typed>,
) -> FieldDef {
    FieldDef {
        name,
        kind,
        explicit,
        get,
    }
}

macro_rules! enum_def {
    ($name:ident, $complete:expr, [$($value:literal),* $(,)?]) => {
        static $name: EnumDef = EnumDef { values: &["UNSPECIFIED", "UNKNOWN", $($value),*], complete: $complete };
    };
}

enum_def!(ENTITY_STATUS, true, ["ENABLED", "PAUSED", "REMOVED"]);
enum_def!(TWO_STATE_STATUS, true, ["ENABLED", "REMOVED"]);
enum_def!(
    CONVERSION_ACTION_STATUS,
    true,
    ["ENABLED", "REMOVED", "HIDDEN"]
);
enum_def!(
    CUSTOMER_STATUS,
    true,
    ["ENABLED", "CANCELED", "SUSPENDED", "CLOSED"]
);
enum_def!(
    ACCOUNT_TYPE,
    true,
    [
        "BAIDU",
        "ENGINE_TRACK",
        "FACEBOOK",
        "FACEBOOK_GATEWAY",
        "GOOGLE_ADS",
        "MICROSOFT",
        "SEARCH_ADS_360",
        "YAHOO_JAPAN"
    ]
);
enum_def!(MATCH_TYPE, true, ["EXACT", "PHRASE", "BROAD"]);
enum_def!(
    CRITERION_TYPE,
    false,
    [
        "KEYWORD",
        "PLACEMENT",
        "DEVICE",
        "LOCATION",
        "AGE_RANGE",
        "GENDER",
        "USER_LIST",
        "WEBPAGE",
        "LISTING_GROUP"
    ]
);
enum_def!(
    AD_GROUP_TYPE,
    true,
    [
        "SEARCH_STANDARD",
        "DISPLAY_STANDARD",
        "SHOPPING_PRODUCT_ADS",
        "SHOPPING_SHOWCASE_ADS",
        "HOTEL_ADS",
        "SHOPPING_SMART_ADS",
        "VIDEO_BUMPER",
        "VIDEO_TRUE_VIEW_IN_STREAM",
        "VIDEO_TRUE_VIEW_IN_DISPLAY",
        "VIDEO_NON_SKIPPABLE_IN_STREAM",
        "VIDEO_OUTSTREAM",
        "SEARCH_DYNAMIC_ADS",
        "SHOPPING_COMPARISON_LISTING_ADS",
        "PROMOTED_HOTEL_ADS",
        "VIDEO_RESPONSIVE",
        "VIDEO_EFFICIENT_REACH",
        "SMART_CAMPAIGN_ADS",
        "TRAVEL_ADS"
    ]
);
enum_def!(
    AD_TYPE,
    true,
    [
        "TEXT_AD",
        "EXPANDED_TEXT_AD",
        "CALL_ONLY_AD",
        "EXPANDED_DYNAMIC_SEARCH_AD",
        "HOTEL_AD",
        "SHOPPING_SMART_AD",
        "SHOPPING_PRODUCT_AD",
        "VIDEO_AD",
        "GMAIL_AD",
        "IMAGE_AD",
        "RESPONSIVE_SEARCH_AD",
        "LEGACY_RESPONSIVE_DISPLAY_AD",
        "APP_AD",
        "LEGACY_APP_INSTALL_AD",
        "RESPONSIVE_DISPLAY_AD",
        "LOCAL_AD",
        "HTML5_UPLOAD_AD",
        "DYNAMIC_HTML5_AD",
        "APP_ENGAGEMENT_AD",
        "SHOPPING_COMPARISON_LISTING_AD",
        "VIDEO_BUMPER_AD",
        "VIDEO_NON_SKIPPABLE_IN_STREAM_AD",
        "VIDEO_OUTSTREAM_AD",
        "VIDEO_TRUEVIEW_DISCOVERY_AD",
        "VIDEO_TRUEVIEW_IN_STREAM_AD",
        "VIDEO_RESPONSIVE_AD",
        "SMART_CAMPAIGN_AD",
        "APP_PRE_REGISTRATION_AD",
        "DISCOVERY_MULTI_ASSET_AD",
        "DISCOVERY_CAROUSEL_AD",
        "TRAVEL_AD",
        "DISCOVERY_VIDEO_RESPONSIVE_AD",
        "MULTIMEDIA_AD"
    ]
);
enum_def!(
    BIDDING_STRATEGY_TYPE,
    true,
    [
        "COMMISSION",
        "ENHANCED_CPC",
        "INVALID",
        "MANUAL_CPA",
        "MANUAL_CPC",
        "MANUAL_CPM",
        "MANUAL_CPV",
        "MAXIMIZE_CONVERSIONS",
        "MAXIMIZE_CONVERSION_VALUE",
        "PAGE_ONE_PROMOTED",
        "PERCENT_CPC",
        "TARGET_CPA",
        "TARGET_CPM",
        "TARGET_IMPRESSION_SHARE",
        "TARGET_OUTRANK_SHARE",
        "TARGET_ROAS",
        "TARGET_SPEND"
    ]
);
enum_def!(
    CAMPAIGN_SERVING_STATUS,
    false,
    ["SERVING", "NONE", "ENDED", "PENDING", "SUSPENDED"]
);
enum_def!(
    ADVERTISING_CHANNEL_TYPE,
    false,
    [
        "SEARCH",
        "DISPLAY",
        "SHOPPING",
        "HOTEL",
        "VIDEO",
        "MULTI_CHANNEL",
        "LOCAL",
        "SMART",
        "PERFORMANCE_MAX",
        "LOCAL_SERVICES",
        "DISCOVERY",
        "TRAVEL",
        "SOCIAL"
    ]
);
enum_def!(
    CONVERSION_ACTION_TYPE,
    true,
    [
        "AD_CALL",
        "CLICK_TO_CALL",
        "GOOGLE_PLAY_DOWNLOAD",
        "GOOGLE_PLAY_IN_APP_PURCHASE",
        "UPLOAD_CALLS",
        "UPLOAD_CLICKS",
        "WEBPAGE",
        "WEBSITE_CALL",
        "STORE_SALES_DIRECT_UPLOAD",
        "STORE_SALES",
        "FIREBASE_ANDROID_FIRST_OPEN",
        "FIREBASE_ANDROID_IN_APP_PURCHASE",
        "FIREBASE_ANDROID_CUSTOM",
        "FIREBASE_IOS_FIRST_OPEN",
        "FIREBASE_IOS_IN_APP_PURCHASE",
        "FIREBASE_IOS_CUSTOM",
        "THIRD_PARTY_APP_ANALYTICS_ANDROID_FIRST_OPEN",
        "THIRD_PARTY_APP_ANALYTICS_ANDROID_IN_APP_PURCHASE",
        "THIRD_PARTY_APP_ANALYTICS_ANDROID_CUSTOM",
        "THIRD_PARTY_APP_ANALYTICS_IOS_FIRST_OPEN",
        "THIRD_PARTY_APP_ANALYTICS_IOS_IN_APP_PURCHASE",
        "THIRD_PARTY_APP_ANALYTICS_IOS_CUSTOM",
        "ANDROID_APP_PRE_REGISTRATION",
        "ANDROID_INSTALLS_ALL_OTHER_APPS",
        "FLOODLIGHT_ACTION",
        "FLOODLIGHT_TRANSACTION",
        "GOOGLE_HOSTED",
        "LEAD_FORM_SUBMIT",
        "SALESFORCE",
        "SEARCH_ADS_360",
        "SMART_CAMPAIGN_AD_CLICKS_TO_CALL",
        "SMART_CAMPAIGN_MAP_CLICKS_TO_CALL",
        "SMART_CAMPAIGN_MAP_DIRECTIONS",
        "SMART_CAMPAIGN_TRACKED_CALLS",
        "STORE_VISITS",
        "WEBPAGE_CODELESS",
        "UNIVERSAL_ANALYTICS_GOAL",
        "UNIVERSAL_ANALYTICS_TRANSACTION",
        "GOOGLE_ANALYTICS_4_CUSTOM",
        "GOOGLE_ANALYTICS_4_PURCHASE"
    ]
);
enum_def!(
    CONVERSION_ACTION_CATEGORY,
    true,
    [
        "DEFAULT",
        "PAGE_VIEW",
        "PURCHASE",
        "SIGNUP",
        "LEAD",
        "DOWNLOAD",
        "ADD_TO_CART",
        "BEGIN_CHECKOUT",
        "SUBSCRIBE_PAID",
        "PHONE_CALL_LEAD",
        "IMPORTED_LEAD",
        "SUBMIT_LEAD_FORM",
        "BOOK_APPOINTMENT",
        "REQUEST_QUOTE",
        "GET_DIRECTIONS",
        "OUTBOUND_CLICK",
        "CONTACT",
        "ENGAGEMENT",
        "STORE_VISIT",
        "STORE_SALE",
        "QUALIFIED_LEAD",
        "CONVERTED_LEAD"
    ]
);

use FieldKind::{Bool, Date, Double, Int32, Int64, Str, StrList};

fn int(value: Option<i64>) -> Option<Typed> {
    value.map(Typed::Int)
}

fn text(value: Option<String>) -> Option<Typed> {
    value.map(Typed::Str)
}

/// The account a `customer.*` field describes: the queried one.
fn account_field<T>(row: &Row<'_>, get: impl Fn(usize) -> T) -> Option<T> {
    Some(get(row.account))
}

fn customer_manager(row: &Row<'_>, sub: bool) -> (i64, String) {
    let accounts = &row.data.accounts;
    let (top, sub_manager) = records::managers(accounts, row.account);
    let pick = if sub { sub_manager } else { top };
    pick.map_or((0, String::new()), |position| {
        (
            accounts[position].spec.id as i64,
            accounts[position].spec.descriptive_name.clone(),
        )
    })
}

fn client_level(row: &Row<'_>) -> Option<i64> {
    let client = row.customer_client()?;
    let accounts = &row.data.accounts;
    let mut level = 0;
    let mut at = client;
    while at != row.account {
        at = accounts[at].parent?;
        level += 1;
    }
    Some(level)
}

fn campaign_strategy(row: &Row<'_>) -> Option<usize> {
    let (_, campaign) = row.entity(Kind::Campaign)?;
    records::campaign_strategy(row.seed(), row.client()?, campaign)
}

fn strategy_campaigns(row: &Row<'_>, live_only: bool) -> Option<i64> {
    let (index, _) = row.entity(Kind::BiddingStrategy)?;
    let client = row.client()?;
    let count = client
        .table(Kind::Campaign)
        .iter()
        .filter(|campaign| !live_only || campaign.status() != Status::Removed)
        .filter(|campaign| records::campaign_strategy(row.seed(), client, campaign) == Some(index))
        .count();
    Some(count as i64)
}

fn keyword_info(row: &Row<'_>) -> Option<(String, &'static str)> {
    let (_, keyword) = row.entity(Kind::Keyword)?;
    Some(records::keyword(row.seed(), keyword.id))
}

/// Every field the simulator serves.
pub(crate) static FIELDS: &[FieldDef] = &[
    // customer
    field("customer.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::Customer))
    }),
    field("customer.id", Int64, true, |r| int(Some(r.cid() as i64))),
    field("customer.descriptive_name", Str, true, |r| {
        account_field(r, |a| {
            Typed::Str(r.data.accounts[a].spec.descriptive_name.clone())
        })
    }),
    field("customer.currency_code", Str, true, |r| {
        account_field(r, |a| {
            Typed::Str(r.data.accounts[a].spec.currency_code.clone())
        })
    }),
    field("customer.time_zone", Str, true, |r| {
        account_field(r, |a| Typed::Str(r.data.accounts[a].spec.time_zone.clone()))
    }),
    field("customer.manager", Bool, true, |r| {
        account_field(r, |a| Typed::Bool(r.data.accounts[a].spec.manager))
    }),
    field(
        "customer.status",
        FieldKind::Enum(&CUSTOMER_STATUS),
        false,
        |r| account_field(r, |a| Typed::Enum(r.data.accounts[a].spec.status.as_str())),
    ),
    field(
        "customer.account_type",
        FieldKind::Enum(&ACCOUNT_TYPE),
        false,
        |r| {
            account_field(r, |a| {
                Typed::Enum(if r.data.accounts[a].spec.manager {
                    "SEARCH_ADS_360"
                } else {
                    "GOOGLE_ADS"
                })
            })
        },
    ),
    field("customer.auto_tagging_enabled", Bool, true, |r| {
        account_field(r, |a| Typed::Bool(!r.data.accounts[a].spec.manager))
    }),
    field("customer.creation_time", Str, false, |r| {
        account_field(r, |a| {
            Typed::Str(records::timestamp(
                r.seed(),
                r.cid(),
                r.data.accounts[a].created,
            ))
        })
    }),
    field("customer.last_modified_time", Str, false, |r| {
        account_field(r, |a| {
            Typed::Str(records::timestamp_micros(
                r.seed(),
                r.cid(),
                r.data.accounts[a].created + 1,
            ))
        })
    }),
    field("customer.engine_id", Str, false, |_| {
        Some(Typed::Str(String::new()))
    }),
    field("customer.manager_id", Int64, false, |r| {
        Some(Typed::Int(customer_manager(r, false).0))
    }),
    field("customer.manager_descriptive_name", Str, false, |r| {
        Some(Typed::Str(customer_manager(r, false).1))
    }),
    field("customer.sub_manager_id", Int64, false, |r| {
        Some(Typed::Int(customer_manager(r, true).0))
    }),
    field("customer.sub_manager_descriptive_name", Str, false, |r| {
        Some(Typed::Str(customer_manager(r, true).1))
    }),
    // customer_client
    field("customer_client.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::CustomerClient))
    }),
    field("customer_client.client_customer", Str, true, |r| {
        r.customer_client()
            .map(|c| Typed::Str(format!("customers/{}", r.data.accounts[c].spec.id)))
    }),
    field("customer_client.hidden", Bool, true, |r| {
        r.customer_client().map(|_| Typed::Bool(false))
    }),
    field("customer_client.level", Int64, true, |r| {
        int(client_level(r))
    }),
    field("customer_client.time_zone", Str, true, |r| {
        r.customer_client()
            .map(|c| Typed::Str(r.data.accounts[c].spec.time_zone.clone()))
    }),
    field("customer_client.test_account", Bool, true, |r| {
        r.customer_client().map(|_| Typed::Bool(false))
    }),
    field("customer_client.manager", Bool, true, |r| {
        r.customer_client()
            .map(|c| Typed::Bool(r.data.accounts[c].spec.manager))
    }),
    field("customer_client.descriptive_name", Str, true, |r| {
        r.customer_client()
            .map(|c| Typed::Str(r.data.accounts[c].spec.descriptive_name.clone()))
    }),
    field("customer_client.currency_code", Str, true, |r| {
        r.customer_client()
            .map(|c| Typed::Str(r.data.accounts[c].spec.currency_code.clone()))
    }),
    field("customer_client.id", Int64, true, |r| {
        r.customer_client()
            .map(|c| Typed::Int(r.data.accounts[c].spec.id as i64))
    }),
    field("customer_client.applied_labels", StrList, false, |r| {
        r.customer_client().map(|_| Typed::List(Vec::new()))
    }),
    field(
        "customer_client.status",
        FieldKind::Enum(&CUSTOMER_STATUS),
        false,
        |r| {
            r.customer_client()
                .map(|c| Typed::Enum(r.data.accounts[c].spec.status.as_str()))
        },
    ),
    // campaign
    field("campaign.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::Campaign))
    }),
    field("campaign.id", Int64, true, |r| int(r.id(Kind::Campaign))),
    field("campaign.name", Str, true, |r| {
        r.entity(Kind::Campaign)
            .map(|(i, _)| Typed::Str(records::campaign_name(i)))
    }),
    field(
        "campaign.status",
        FieldKind::Enum(&ENTITY_STATUS),
        false,
        |r| r.status(Kind::Campaign),
    ),
    field(
        "campaign.serving_status",
        FieldKind::Enum(&CAMPAIGN_SERVING_STATUS),
        false,
        |r| {
            r.entity(Kind::Campaign).map(|(_, c)| {
                Typed::Enum(if c.status() == Status::Removed {
                    "ENDED"
                } else {
                    "SERVING"
                })
            })
        },
    ),
    field(
        "campaign.advertising_channel_type",
        FieldKind::Enum(&ADVERTISING_CHANNEL_TYPE),
        false,
        |r| {
            r.entity(Kind::Campaign)
                .map(|(i, _)| Typed::Enum(if i % 10 == 9 { "SHOPPING" } else { "SEARCH" }))
        },
    ),
    field(
        "campaign.bidding_strategy_type",
        FieldKind::Enum(&BIDDING_STRATEGY_TYPE),
        false,
        |r| {
            let (_, campaign) = r.entity(Kind::Campaign)?;
            Some(Typed::Enum(records::campaign_strategy_type(
                r.seed(),
                r.client()?,
                campaign,
            )))
        },
    ),
    field("campaign.bidding_strategy", Str, true, |r| {
        let strategy = campaign_strategy(r)?;
        let id = r.client()?.table(Kind::BiddingStrategy)[strategy].id;
        Some(Typed::Str(format!(
            "customers/{}/biddingStrategies/{id}",
            r.cid()
        )))
    }),
    field("campaign.campaign_budget", Str, true, |r| {
        // Budgets are not simulated as a resource; each campaign names its own.
        let id = r.id(Kind::Campaign)? + 900_000_000_000;
        Some(Typed::Str(format!(
            "customers/{}/campaignBudgets/{id}",
            r.cid()
        )))
    }),
    field("campaign.start_date", Date, true, |r| {
        r.entity(Kind::Campaign)
            .map(|(_, c)| Typed::Date(c.created))
    }),
    field("campaign.end_date", Date, true, |r| {
        // The API's "runs indefinitely" end date.
        let forever = chrono::NaiveDate::from_ymd_opt(2037, 12, 30).map(super::dataset::day_of)?;
        r.entity(Kind::Campaign).map(|_| Typed::Date(forever))
    }),
    field("campaign.engine_id", Str, false, |r| {
        r.entity(Kind::Campaign).map(|_| Typed::Str(String::new()))
    }),
    field("campaign.creation_time", Str, false, |r| {
        r.created(Kind::Campaign)
    }),
    field("campaign.last_modified_time", Str, false, |r| {
        r.modified(Kind::Campaign)
    }),
    field("campaign.labels", StrList, false, |r| {
        r.labels(Kind::Campaign, "campaignLabels")
    }),
    field(
        "campaign.network_settings.target_google_search",
        Bool,
        true,
        |r| r.entity(Kind::Campaign).map(|_| Typed::Bool(true)),
    ),
    field(
        "campaign.network_settings.target_search_network",
        Bool,
        true,
        |r| {
            r.entity(Kind::Campaign)
                .map(|(_, c)| Typed::Bool(c.id % 2 == 0))
        },
    ),
    // ad_group
    field("ad_group.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::AdGroup))
    }),
    field("ad_group.id", Int64, true, |r| int(r.id(Kind::AdGroup))),
    field("ad_group.name", Str, true, |r| {
        r.entity(Kind::AdGroup)
            .map(|(i, _)| Typed::Str(records::ad_group_name(i)))
    }),
    field(
        "ad_group.status",
        FieldKind::Enum(&ENTITY_STATUS),
        false,
        |r| r.status(Kind::AdGroup),
    ),
    field(
        "ad_group.type",
        FieldKind::Enum(&AD_GROUP_TYPE),
        false,
        |r| {
            r.entity(Kind::AdGroup)
                .map(|_| Typed::Enum("SEARCH_STANDARD"))
        },
    ),
    field("ad_group.cpc_bid_micros", Int64, true, |r| {
        r.entity(Kind::AdGroup)
            .map(|(_, g)| Typed::Int(records::bid_micros(r.seed(), g.id)))
    }),
    field("ad_group.engine_id", Str, false, |r| {
        r.entity(Kind::AdGroup).map(|_| Typed::Str(String::new()))
    }),
    field("ad_group.creation_time", Str, false, |r| {
        r.created(Kind::AdGroup)
    }),
    field("ad_group.last_modified_time", Str, false, |r| {
        r.modified(Kind::AdGroup)
    }),
    field("ad_group.labels", StrList, false, |r| {
        r.labels(Kind::AdGroup, "adGroupLabels")
    }),
    // ad_group_ad
    field("ad_group_ad.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::AdGroupAd))
    }),
    field(
        "ad_group_ad.status",
        FieldKind::Enum(&ENTITY_STATUS),
        false,
        |r| r.status(Kind::Ad),
    ),
    field("ad_group_ad.ad.resource_name", Str, true, |r| {
        let id = r.id(Kind::Ad)?;
        Some(Typed::Str(format!("customers/{}/ads/{id}", r.cid())))
    }),
    field("ad_group_ad.ad.id", Int64, true, |r| int(r.id(Kind::Ad))),
    field(
        "ad_group_ad.ad.type",
        FieldKind::Enum(&AD_TYPE),
        false,
        |r| {
            r.entity(Kind::Ad)
                .map(|(_, ad)| Typed::Enum(records::ad_type(r.seed(), ad.id)))
        },
    ),
    field("ad_group_ad.ad.name", Str, true, |_| None),
    field("ad_group_ad.ad.final_urls", StrList, false, |r| {
        r.entity(Kind::Ad).map(|(_, ad)| {
            Typed::List(vec![format!(
                "https://www.example.com/{}",
                records::ad_slug(r.seed(), ad.id)
            )])
        })
    }),
    field("ad_group_ad.ad.display_url", Str, true, |r| {
        r.entity(Kind::Ad).map(|(_, ad)| {
            Typed::Str(format!(
                "www.example.com/{}",
                records::ad_slug(r.seed(), ad.id)
            ))
        })
    }),
    field("ad_group_ad.engine_id", Str, false, |r| {
        r.entity(Kind::Ad).map(|_| Typed::Str(String::new()))
    }),
    field("ad_group_ad.creation_time", Str, false, |r| {
        r.entity(Kind::Ad)
            .map(|(_, ad)| Typed::Str(records::timestamp_micros(r.seed(), ad.id, ad.created)))
    }),
    field("ad_group_ad.last_modified_time", Str, false, |r| {
        r.modified(Kind::Ad)
    }),
    field("ad_group_ad.labels", StrList, false, |r| {
        r.entity(Kind::Ad).map(|_| Typed::List(Vec::new()))
    }),
    // ad_group_criterion
    field("ad_group_criterion.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::AdGroupCriterion))
    }),
    field("ad_group_criterion.criterion_id", Int64, true, |r| {
        int(r.id(Kind::Keyword))
    }),
    field("ad_group_criterion.ad_group", Str, true, |r| {
        text(r.resource_name(Resource::AdGroup))
    }),
    field(
        "ad_group_criterion.status",
        FieldKind::Enum(&ENTITY_STATUS),
        false,
        |r| r.status(Kind::Keyword),
    ),
    field(
        "ad_group_criterion.type",
        FieldKind::Enum(&CRITERION_TYPE),
        false,
        |r| r.entity(Kind::Keyword).map(|_| Typed::Enum("KEYWORD")),
    ),
    field("ad_group_criterion.negative", Bool, true, |r| {
        r.entity(Kind::Keyword).map(|_| Typed::Bool(false))
    }),
    field("ad_group_criterion.keyword.text", Str, true, |r| {
        keyword_info(r).map(|(text, _)| Typed::Str(text))
    }),
    field(
        "ad_group_criterion.keyword.match_type",
        FieldKind::Enum(&MATCH_TYPE),
        false,
        |r| keyword_info(r).map(|(_, match_type)| Typed::Enum(match_type)),
    ),
    field(
        "ad_group_criterion.quality_info.quality_score",
        Int32,
        true,
        |r| {
            let (_, keyword) = r.entity(Kind::Keyword)?;
            int(records::quality_score(r.seed(), keyword.id))
        },
    ),
    field("ad_group_criterion.cpc_bid_micros", Int64, true, |r| {
        r.entity(Kind::Keyword)
            .map(|(_, k)| Typed::Int(records::bid_micros(r.seed(), k.id)))
    }),
    field(
        "ad_group_criterion.effective_cpc_bid_micros",
        Int64,
        true,
        |r| {
            r.entity(Kind::Keyword)
                .map(|(_, k)| Typed::Int(records::bid_micros(r.seed(), k.id)))
        },
    ),
    field("ad_group_criterion.final_urls", StrList, false, |r| {
        r.entity(Kind::Keyword).map(|_| Typed::List(Vec::new()))
    }),
    field("ad_group_criterion.engine_id", Str, false, |r| {
        r.entity(Kind::Keyword).map(|_| Typed::Str(String::new()))
    }),
    field("ad_group_criterion.creation_time", Str, false, |r| {
        r.created(Kind::Keyword)
    }),
    field("ad_group_criterion.last_modified_time", Str, false, |r| {
        r.modified(Kind::Keyword)
    }),
    field("ad_group_criterion.labels", StrList, false, |r| {
        r.entity(Kind::Keyword).map(|_| Typed::List(Vec::new()))
    }),
    // keyword_view
    field("keyword_view.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::KeywordView))
    }),
    // conversion_action
    field("conversion_action.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::ConversionAction))
    }),
    field("conversion_action.id", Int64, true, |r| {
        int(r.id(Kind::ConversionAction))
    }),
    field("conversion_action.name", Str, true, |r| {
        r.entity(Kind::ConversionAction)
            .map(|(i, _)| Typed::Str(records::conversion_action(i).0))
    }),
    field("conversion_action.creation_time", Str, false, |r| {
        r.created(Kind::ConversionAction)
    }),
    field(
        "conversion_action.status",
        FieldKind::Enum(&CONVERSION_ACTION_STATUS),
        false,
        |r| r.status(Kind::ConversionAction),
    ),
    field(
        "conversion_action.type",
        FieldKind::Enum(&CONVERSION_ACTION_TYPE),
        false,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Enum(records::conversion_action(i).1))
        },
    ),
    field(
        "conversion_action.category",
        FieldKind::Enum(&CONVERSION_ACTION_CATEGORY),
        false,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Enum(records::conversion_action(i).2))
        },
    ),
    field("conversion_action.primary_for_goal", Bool, true, |r| {
        r.entity(Kind::ConversionAction)
            .map(|(i, _)| Typed::Bool(i % 3 != 2))
    }),
    field("conversion_action.owner_customer", Str, true, |r| {
        r.entity(Kind::ConversionAction)
            .map(|_| Typed::Str(format!("customers/{}", r.cid())))
    }),
    field(
        "conversion_action.include_in_conversions_metric",
        Bool,
        true,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Bool(i % 3 != 2))
        },
    ),
    field(
        "conversion_action.click_through_lookback_window_days",
        Int64,
        true,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Int(if i == 0 { 90 } else { 30 }))
        },
    ),
    field(
        "conversion_action.value_settings.default_value",
        Double,
        true,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Double(if i == 0 { 0.0 } else { 1.0 }))
        },
    ),
    field(
        "conversion_action.value_settings.default_currency_code",
        Str,
        true,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|_| Typed::Str(r.data.accounts[r.account].spec.currency_code.clone()))
        },
    ),
    field(
        "conversion_action.value_settings.always_use_default_value",
        Bool,
        true,
        |r| {
            r.entity(Kind::ConversionAction)
                .map(|(i, _)| Typed::Bool(i != 0))
        },
    ),
    // bidding_strategy
    field("bidding_strategy.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::BiddingStrategy))
    }),
    field("bidding_strategy.id", Int64, true, |r| {
        int(r.id(Kind::BiddingStrategy))
    }),
    field("bidding_strategy.name", Str, true, |r| {
        r.entity(Kind::BiddingStrategy)
            .map(|(i, _)| Typed::Str(records::bidding_strategy(i).0))
    }),
    field(
        "bidding_strategy.status",
        FieldKind::Enum(&TWO_STATE_STATUS),
        false,
        |r| r.status(Kind::BiddingStrategy),
    ),
    field(
        "bidding_strategy.type",
        FieldKind::Enum(&BIDDING_STRATEGY_TYPE),
        false,
        |r| {
            r.entity(Kind::BiddingStrategy)
                .map(|(i, _)| Typed::Enum(records::bidding_strategy(i).1))
        },
    ),
    field("bidding_strategy.currency_code", Str, false, |r| {
        r.entity(Kind::BiddingStrategy)
            .map(|_| Typed::Str(String::new()))
    }),
    field("bidding_strategy.effective_currency_code", Str, true, |r| {
        r.entity(Kind::BiddingStrategy)
            .map(|_| Typed::Str(r.data.accounts[r.account].spec.currency_code.clone()))
    }),
    field("bidding_strategy.campaign_count", Int64, true, |r| {
        int(strategy_campaigns(r, false))
    }),
    field(
        "bidding_strategy.non_removed_campaign_count",
        Int64,
        true,
        |r| int(strategy_campaigns(r, true)),
    ),
    // label
    field("label.resource_name", Str, true, |r| {
        text(r.resource_name(Resource::Label))
    }),
    field("label.id", Int64, true, |r| int(r.id(Kind::Label))),
    field("label.name", Str, true, |r| {
        r.entity(Kind::Label)
            .map(|(i, _)| Typed::Str(records::label(i).0))
    }),
    field(
        "label.status",
        FieldKind::Enum(&TWO_STATE_STATUS),
        false,
        |r| r.status(Kind::Label),
    ),
    field("label.text_label.background_color", Str, true, |r| {
        r.entity(Kind::Label)
            .map(|(i, _)| Typed::Str(records::label(i).1.to_owned()))
    }),
    field("label.text_label.description", Str, true, |r| {
        r.entity(Kind::Label)
            .map(|(i, _)| Typed::Str(format!("{} entities", records::label(i).0)))
    }),
    // metrics
    field("metrics.impressions", Int64, true, |r| {
        r.metric(|m| Typed::Int(m.impressions))
    }),
    field("metrics.clicks", Int64, true, |r| {
        r.metric(|m| Typed::Int(m.clicks))
    }),
    field("metrics.cost_micros", Int64, true, |r| {
        r.metric(|m| Typed::Int(m.cost_micros))
    }),
    field("metrics.conversions", Double, true, |r| {
        r.metric(|m| Typed::Double(m.conversions))
    }),
    field("metrics.all_conversions", Double, true, |r| {
        r.metric(|m| Typed::Double(m.all_conversions))
    }),
    field("metrics.conversions_value", Double, true, |r| {
        r.metric(|m| Typed::Double(m.conversions_value))
    }),
    field("metrics.all_conversions_value", Double, true, |r| {
        r.metric(|m| Typed::Double(m.all_conversions_value))
    }),
    field("metrics.ctr", Double, true, |r| {
        r.metric(|m| Typed::Double(m.ctr()))
    }),
    field("metrics.average_cpc", Double, true, |r| {
        r.metric(|m| Typed::Double(m.average_cpc()))
    }),
    field("metrics.cost_per_conversion", Double, true, |r| {
        r.metric(|m| Typed::Double(m.cost_per_conversion()))
    }),
    // segments
    field("segments.date", Date, true, |r| r.day.map(Typed::Date)),
];

/// The field named `name`, if the simulator serves it.
pub(crate) fn lookup(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|field| field.name == name)
}

/// Fields of `resource`'s own object (attributes only), in catalogue order.
pub(crate) fn fields_of(resource: Resource) -> impl Iterator<Item = &'static FieldDef> {
    FIELDS
        .iter()
        .filter(move |field| field.category() == Category::Attribute(resource))
}

/// Inserts `value` at the dotted camelCase `path` of `object`.
pub(crate) fn insert_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.split('.').peekable();
    let mut at = object;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_owned(), value);
            return;
        }
        let entry = at
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        at = entry.as_object_mut().expect("just made an object");
    }
}

/// Writes `field`'s value for `row` into `object`, following proto3 presence rules.
pub(crate) fn render_field(object: &mut Map<String, Value>, row: &Row<'_>, field: &FieldDef) {
    let Some(value) = (field.get)(row) else {
        return;
    };
    if !field.explicit && value.is_default() {
        return;
    }
    insert_path(object, &field.json_path(), value.json(field.kind));
}

/// A row's resource objects with their `resourceName`s (for `resources`), before fields are added.
pub(crate) fn row_skeleton(row: &Row<'_>, resources: &[Resource]) -> Map<String, Value> {
    let mut object = Map::new();
    for resource in resources {
        if let Some(name) = row.resource_name(*resource) {
            insert_path(
                &mut object,
                &format!("{}.resourceName", resource.json_key()),
                Value::String(name),
            );
        }
    }
    object
}
