//! Rendering contacts and lists as OnGage writes them (`docs/apis.md` §2): contact JSON for
//! the `result` endpoint and truth, CSV rows for the `export` endpoint.

use chrono::DateTime;
use serde_json::{json, Value};

use crate::simulator::rng::{tag, SeededRng};

use super::config::ExportDates;
use super::dataset::{ContactView, ListTable, OngageData};

const FIRST: &[&str] = &[
    "John", "Maria", "Aiko", "Lars", "Fatima", "Pedro", "Chen", "Olga", "Kwame", "Nina", "Ravi",
    "Sofia", "Tomas", "Leila", "Marek", "Hana",
];
const LAST: &[&str] = &[
    "Doe", "Silva", "Sato", "Berg", "Khan", "Costa", "Wang", "Petrova", "Mensah", "Novak", "Iyer",
    "Rossi", "Horvat", "Haddad", "Kim", "Meyer",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "example.net",
    "proton.me",
];
const COUNTRIES: &[&str] = &["US", "GB", "DE", "BR", "IN", "JP", "FR", "IL", "CA", "AU"];
const LANGUAGES: &[&str] = &["en", "de", "pt", "ja", "fr", "he"];
const SYSTEMS: &[&str] = &["Windows", "macOS", "iOS", "Android", "Linux"];

/// The CSV export's columns, in order.
pub(crate) const CSV_COLUMNS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "gender",
    "country",
    "address",
    "phone",
    "language",
    "ip",
    "os",
    "product_id",
    "ocx_status",
    "ocx_created_date",
    "ocx_unsubscribe_date",
    "ocx_resubscribe_date",
    "ocx_bounce_date",
    "ocx_complaint_date",
    "ocx_import_id",
];

/// A contact's profile fields (never changed by `advance`).
pub(crate) struct Profile {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) first_name: &'static str,
    pub(crate) last_name: &'static str,
    pub(crate) gender: Option<&'static str>,
    pub(crate) country: &'static str,
    pub(crate) address: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) language: Option<&'static str>,
    pub(crate) ip: Option<String>,
    pub(crate) os: Option<&'static str>,
    pub(crate) product_id: u64,
    pub(crate) import_id: Option<u64>,
}

pub(crate) fn profile(data: &OngageData, table: &ListTable, view: &ContactView) -> Profile {
    let mut r = SeededRng::new(data.seed(), &[tag(b"profile"), view.list_id, view.index]);
    let first_name = *r.pick(FIRST);
    let last_name = *r.pick(LAST);
    let email = format!(
        "{}.{}.{}@{}",
        first_name.to_lowercase(),
        last_name.to_lowercase(),
        view.index,
        r.pick(DOMAINS)
    );
    Profile {
        id: data.contact_id(table, view.index, view.created),
        email,
        first_name,
        last_name,
        gender: r.chance(0.7).then(|| *r.pick(&["male", "female"])),
        country: r.pick::<&str>(COUNTRIES),
        address: r
            .chance(0.4)
            .then(|| format!("{} Main Street", r.between(1, 999))),
        phone: r
            .chance(0.3)
            .then(|| format!("+1555{:07}", r.below(10_000_000))),
        language: r.chance(0.5).then(|| *r.pick(LANGUAGES)),
        ip: r.chance(0.6).then(|| {
            format!(
                "{}.{}.{}.{}",
                r.between(1, 223),
                r.below(256),
                r.below(256),
                r.between(1, 254)
            )
        }),
        os: r.chance(0.5).then(|| *r.pick(SYSTEMS)),
        product_id: 100_000 + r.below(900_000),
        import_id: r.chance(0.25).then(|| 7_000 + r.below(50)),
    }
}

/// The contact as JSON (dates as Unix seconds or null), as the API's contact objects look.
pub(crate) fn contact_json(data: &OngageData, table: &ListTable, view: &ContactView) -> Value {
    let p = profile(data, table, view);
    let s = &view.state;
    json!({
        "id": p.id,
        "email": p.email,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "gender": p.gender,
        "country": p.country,
        "address": p.address,
        "phone": p.phone,
        "language": p.language,
        "ip": p.ip,
        "os": p.os,
        "product_id": p.product_id,
        "ocx_status": s.status.as_str(),
        "ocx_created_date": view.created,
        "ocx_unsubscribe_date": s.unsubscribe,
        "ocx_resubscribe_date": s.resubscribe,
        "ocx_bounce_date": s.bounce,
        "ocx_complaint_date": s.complaint,
        "ocx_import_id": p.import_id,
    })
}

/// One CSV row in [`CSV_COLUMNS`] order; dates per `dates` (empty when unset).
pub(crate) fn csv_row(
    data: &OngageData,
    table: &ListTable,
    view: &ContactView,
    dates: ExportDates,
) -> Vec<String> {
    let p = profile(data, table, view);
    let s = &view.state;
    let date = |field: u64, value: Option<i64>| -> String {
        let Some(seconds) = value else {
            return String::new();
        };
        let as_text = match dates {
            ExportDates::Unix => false,
            ExportDates::DateTime => true,
            ExportDates::Mixed => crate::simulator::rng::hash(
                data.seed(),
                &[tag(b"date-style"), view.list_id, view.index, field],
            )
            .is_multiple_of(2),
        };
        if as_text {
            DateTime::from_timestamp(seconds, 0)
                .map(|time| time.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        } else {
            seconds.to_string()
        }
    };
    let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
    vec![
        p.id,
        p.email,
        p.first_name.to_owned(),
        p.last_name.to_owned(),
        text(p.gender),
        p.country.to_owned(),
        p.address.unwrap_or_default(),
        p.phone.unwrap_or_default(),
        text(p.language),
        p.ip.unwrap_or_default(),
        text(p.os),
        p.product_id.to_string(),
        s.status.as_str().to_owned(),
        date(1, Some(view.created)),
        date(2, s.unsubscribe),
        date(3, s.resubscribe),
        date(4, s.bounce),
        date(5, s.complaint),
        p.import_id.map(|id| id.to_string()).unwrap_or_default(),
    ]
}

/// Status counts of a list, for its list record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ListCounts {
    pub(crate) total: u64,
    pub(crate) active: u64,
    pub(crate) unsubscribed: u64,
    pub(crate) bounced: u64,
    pub(crate) complaint: u64,
}

/// Counts every contact's status (a full scan: cache the result per generation).
pub(crate) fn list_counts(data: &OngageData, table: &ListTable) -> ListCounts {
    use super::dataset::Status;
    let mut counts = ListCounts {
        total: table.count(),
        ..ListCounts::default()
    };
    for index in 0..table.count() {
        match data.view(table, index).state.status {
            Status::Active => counts.active += 1,
            Status::Unsubscribed => counts.unsubscribed += 1,
            Status::Bounced => counts.bounced += 1,
            Status::Complaint => counts.complaint += 1,
        }
    }
    counts
}

/// The list record of `GET /api/lists`.
pub(crate) fn list_json(
    data: &OngageData,
    table: &ListTable,
    counts: ListCounts,
    account_id: u64,
) -> Value {
    let spec = &table.spec;
    let created = spec.first_contact.timestamp() - 30 * 86_400;
    json!({
        "id": spec.id,
        "account_id": account_id,
        "name": spec.name,
        "type": "sending",
        "description": format!("{} (simulated)", spec.name),
        "last_count": counts.total,
        "last_active_count": counts.active,
        "unsubscribes": counts.unsubscribed,
        "complaints": counts.complaint,
        "bounces": counts.bounced,
        "archive": false,
        "scope": "private",
        "default": data.lists.first().is_some_and(|first| first.id == spec.id),
        "created": created,
        "modified": data.data_now().max(created),
        "deleted": null,
    })
}
