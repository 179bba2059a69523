//! Rendering records as the Virtuous API writes them (shapes follow the examples in
//! `docs/apis.md` §1; the short `Query` shapes are trimmed versions of the Full ones).
//!
//! Identity fields (names, contact type, gift amount, designations) come from
//! `hash(seed, entity, index)` and never change; editable fields (address, tags, custom field
//! values, notes, receipt date) also mix in the record's edit version, so an `advance` that
//! edits a record visibly changes it.

use chrono::{DateTime, Days, Utc};
use serde::Serialize;

use crate::simulator::rng::{self, tag, SeededRng};

use super::dataset::{iso_day, us_day, utc_ms, Entity, RecordView, VirtuousData};

/// Which representation an endpoint returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `/Query`: the short form.
    Short,
    /// `/Query/FullContact`, `/Query/FullGift`, and the only form of projects and campaigns.
    Full,
}

const FIRST_NAMES: &[&str] = &[
    "Ava", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Keiko",
    "Liam", "Maya", "Noah", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tess", "Uma", "Victor",
    "Wen", "Yusuf", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Anders", "Bolli", "Castro", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "O'Brien", "Patel", "Quispe", "Rossi",
    "Schmidt", "Tanaka", "Usman", "Varga", "Wayne", "Xu", "Young",
];
const ORG_WORDS: &[&str] = &[
    "Harbor",
    "Summit",
    "Cedar",
    "Lantern",
    "Meridian",
    "Riverside",
    "Beacon",
    "Northwind",
];
const ORG_KINDS: &[&str] = &["Church", "Foundation", "Partners", "Trust", "Collective"];
const STREETS: &[&str] = &[
    "Elm St",
    "Oak Ave",
    "Maple Dr",
    "Pine Rd",
    "Lake Blvd",
    "Hill Ln",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Springfield", "IL", "62701"),
    ("Austin", "TX", "73301"),
    ("Denver", "CO", "80202"),
    ("Portland", "OR", "97201"),
    ("Columbus", "OH", "43004"),
    ("Raleigh", "NC", "27601"),
];
const TAGS: &[&str] = &[
    "Donor",
    "Volunteer",
    "Board",
    "Major Donor",
    "Lapsed",
    "Prayer Partner",
];
const GIFT_TYPES: &[&str] = &["Cash", "Check", "Credit", "EFT", "Stock", "NonCash"];
const SOURCES: &[&str] = &["iDonate", "Stripe", "Manual", "Import", "PayPal"];
const PROJECT_WORDS: &[&str] = &[
    "Clean Water",
    "Scholarships",
    "Food Bank",
    "Youth Camp",
    "Relief Fund",
    "Library",
];
const CAMPAIGN_WORDS: &[&str] = &[
    "Spring Appeal",
    "Giving Tuesday",
    "Year End",
    "Gala",
    "Capital",
];

/// A rendered record, serialized straight to the page's JSON (no `Value` tree in between: building
/// and dropping one per record was most of the simulator's CPU, which the in-process `debug` run and
/// the benchmarks pay beside the connector).
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Rendered {
    Contact(Box<Contact>),
    Gift(Box<Gift>),
    Project(Project),
    Campaign(Campaign),
}

impl Rendered {
    /// The record as a JSON tree, for the oracle's comparisons (what the API serves, parsed).
    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a rendered record has string keys and finite numbers")
    }
}

/// Renders record `view` in `shape`.
pub(crate) fn render(data: &VirtuousData, view: &RecordView, shape: Shape) -> Rendered {
    match view.entity {
        Entity::Contact => Rendered::Contact(Box::new(contact(data, view, shape))),
        Entity::Gift => Rendered::Gift(Box::new(gift(data, view, shape))),
        Entity::Project => Rendered::Project(project(data, view)),
        Entity::Campaign => Rendered::Campaign(campaign(data, view)),
    }
}

/// Always `[]` in the simulated organisation.
type Empty = [(); 0];

/// A contact's unchanging identity, shared by the contact and the gifts pointing at it.
struct ContactIdentity {
    contact_type: &'static str,
    name: String,
    people: Vec<(u64, &'static str, &'static str)>,
}

fn contact_identity(data: &VirtuousData, index: u64) -> ContactIdentity {
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Contact.tag(), tag(b"identity"), index],
    );
    let individual_base = 700_000 + index * 3;
    let last = *r.pick(LAST_NAMES);
    match r.below(10) {
        0..=6 => {
            let first = *r.pick(FIRST_NAMES);
            let mut people = vec![(individual_base, first, last)];
            let name = if r.chance(0.4) {
                let partner = *r.pick(FIRST_NAMES);
                people.push((individual_base + 1, partner, last));
                format!("{last}, {first} and {partner}")
            } else {
                format!("{last}, {first}")
            };
            ContactIdentity {
                contact_type: "Household",
                name,
                people,
            }
        }
        kind => {
            let name = format!("{} {}", r.pick(ORG_WORDS), r.pick(ORG_KINDS));
            ContactIdentity {
                contact_type: if kind == 9 {
                    "Foundation"
                } else {
                    "Organization"
                },
                name,
                people: vec![(individual_base, *r.pick(FIRST_NAMES), last)],
            }
        }
    }
}

fn email(first: &str, last: &str, individual_id: u64) -> String {
    let last: String = last.chars().filter(char::is_ascii_alphabetic).collect();
    format!(
        "{}.{}{}@example.org",
        first.to_lowercase(),
        last.to_lowercase(),
        individual_id % 1000
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    id: u64,
    label: &'static str,
    address1: String,
    address2: Option<String>,
    city: &'static str,
    state: &'static str,
    postal: &'static str,
    country: &'static str,
    is_primary: bool,
}

fn address(mutable: &mut SeededRng, contact_id: u64) -> Address {
    let (city, state, postal) = *mutable.pick(CITIES);
    let number = mutable.between(1, 9999);
    let street = mutable.pick(STREETS);
    Address {
        id: contact_id * 2,
        label: "Home",
        address1: format!("{number} {street}"),
        address2: None,
        city,
        state,
        postal,
        country: "US",
        is_primary: true,
    }
}

/// A contact: the short `/Query` form, and with `full` the `FullContact` one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Contact {
    id: u64,
    contact_type: &'static str,
    name: String,
    is_private: bool,
    is_archived: bool,
    address: Address,
    create_date_time_utc: String,
    modified_date_time_utc: String,
    #[serde(flatten)]
    shape: ContactShape,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContactShape {
    Short(ShortContact),
    Full(FullContact),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShortContact {
    email: String,
    phone: String,
    contact_view_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullContact {
    informal_name: &'static str,
    merged_into_contact_id: Option<u64>,
    contact_individuals: Vec<Individual>,
    contact_references: Vec<Reference>,
    tags: Vec<&'static str>,
    organization_groups: Empty,
    custom_fields: [CustomField; 2],
    custom_collections: Empty,
    contact_gifts_url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Individual {
    id: u64,
    contact_id: u64,
    prefix: Option<String>,
    first_name: &'static str,
    middle_name: Option<String>,
    last_name: &'static str,
    suffix: Option<String>,
    is_primary: bool,
    is_secondary: bool,
    is_deceased: bool,
    contact_methods: Vec<ContactMethod>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactMethod {
    id: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
    is_opted_in: bool,
    is_primary: bool,
    can_be_primary: bool,
}

#[derive(Serialize)]
struct Reference {
    source: &'static str,
    id: String,
}

/// A custom field value; gifts' carry a `dataType`, contacts' do not.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CustomField {
    #[serde(skip_serializing_if = "Option::is_none")]
    data_type: Option<&'static str>,
    name: &'static str,
    value: String,
    display_name: Option<&'static str>,
}

fn contact(data: &VirtuousData, view: &RecordView, shape: Shape) -> Contact {
    let identity = contact_identity(data, view.index);
    let mut mutable = SeededRng::new(
        data.seed(),
        &[
            Entity::Contact.tag(),
            tag(b"editable"),
            view.index,
            u64::from(view.version),
        ],
    );
    let (primary_id, first, last) = identity.people[0];
    let primary_email = email(first, last, primary_id);
    let phone = format!("555-{:04}", mutable.below(10_000));
    let address = address(&mut mutable, view.id);
    let shape = match shape {
        Shape::Short => ContactShape::Short(ShortContact {
            email: primary_email,
            phone,
            contact_view_url: format!("/api/Contact/{}", view.id),
        }),
        Shape::Full => ContactShape::Full(full_contact(data, view, &identity, &mut mutable)),
    };
    Contact {
        id: view.id,
        contact_type: identity.contact_type,
        name: identity.name,
        is_private: false,
        is_archived: view.archived,
        address,
        create_date_time_utc: view.style.format(view.created_ms),
        modified_date_time_utc: view.style.format(view.modified_ms),
        shape,
    }
}

/// The `FullContact` fields; draws from `mutable` after the address, as the short form does.
fn full_contact(
    data: &VirtuousData,
    view: &RecordView,
    identity: &ContactIdentity,
    mutable: &mut SeededRng,
) -> FullContact {
    let contact_individuals = identity
        .people
        .iter()
        .enumerate()
        .map(|(position, &(id, first, last))| {
            let mut contact_methods = vec![ContactMethod {
                id: id * 4,
                kind: if identity.contact_type == "Household" {
                    "Home Email"
                } else {
                    "Work Email"
                },
                value: email(first, last, id),
                is_opted_in: mutable.chance(0.8),
                is_primary: true,
                can_be_primary: true,
            }];
            if mutable.chance(0.5) {
                contact_methods.push(ContactMethod {
                    id: id * 4 + 1,
                    kind: "Mobile Phone",
                    value: format!("555-{:04}", mutable.below(10_000)),
                    is_opted_in: false,
                    is_primary: false,
                    can_be_primary: true,
                });
            }
            Individual {
                id,
                contact_id: view.id,
                prefix: None,
                first_name: first,
                middle_name: None,
                last_name: last,
                suffix: None,
                is_primary: position == 0,
                is_secondary: position == 1,
                is_deceased: false,
                contact_methods,
            }
        })
        .collect();
    let tags = TAGS
        .iter()
        .copied()
        .filter(|_| mutable.chance(0.3))
        .collect();
    let mut contact_references = Vec::new();
    let mut identity_rng = SeededRng::new(
        data.seed(),
        &[Entity::Contact.tag(), tag(b"reference"), view.index],
    );
    if identity_rng.chance(0.3) {
        contact_references.push(Reference {
            source: "Stripe",
            id: format!("cus_{:014x}", identity_rng.next_u64() >> 8),
        });
    }
    let preferred = *mutable.pick(&["Email", "Phone", "Mail"]);
    let newsletter = if mutable.chance(0.5) { "Yes" } else { "No" };
    FullContact {
        informal_name: identity.people[0].1,
        merged_into_contact_id: None,
        contact_individuals,
        contact_references,
        tags,
        organization_groups: [],
        custom_fields: [
            CustomField {
                data_type: None,
                name: "Preferred Contact",
                value: preferred.to_owned(),
                display_name: Some("Preferred Contact"),
            },
            CustomField {
                data_type: None,
                name: "Newsletter",
                value: newsletter.to_owned(),
                display_name: None,
            },
        ],
        custom_collections: [],
        contact_gifts_url: format!("/api/Gift/ByContact/{}", view.id),
    }
}

/// `$5,000.00` from cents.
fn money(cents: u64) -> String {
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (position, digit) in dollars.chars().enumerate() {
        if position > 0 && (dollars.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// The facts about a gift the query planner filters and sorts on.
pub(crate) struct GiftFacts {
    pub(crate) contact_index: Option<u64>,
    pub(crate) amount_cents: u64,
    /// Midnight UTC of the gift date, in ms.
    pub(crate) gift_date_ms: i64,
}

pub(crate) fn gift_facts(data: &VirtuousData, view: &RecordView) -> GiftFacts {
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Gift.tag(), tag(b"facts"), view.index],
    );
    // Only initial contacts: the link must not depend on how many generations have run.
    let contacts = data.initial(Entity::Contact);
    let contact_index = (contacts > 0).then(|| r.below(contacts));
    let amount_cents = match r.below(10) {
        0..=5 => r.between(5, 100) * 500,
        6..=8 => r.between(100, 1000) * 100,
        _ => r.between(10, 500) * 1000 + r.below(100),
    };
    let created_day = utc_ms(view.created_ms).date_naive();
    let gift_day = created_day
        .checked_sub_days(Days::new(r.below(4)))
        .unwrap_or(created_day);
    let gift_date_ms = gift_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_millis();
    GiftFacts {
        contact_index,
        amount_cents,
        gift_date_ms,
    }
}

/// A gift: the short `/Query` form, and with `full` the `FullGift` one.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Gift {
    id: u64,
    transaction_source: &'static str,
    transaction_id: String,
    contact_id: Option<u64>,
    contact_name: Option<String>,
    gift_type: &'static str,
    gift_date: String,
    amount: f64,
    currency_code: &'static str,
    batch: String,
    create_date_time_utc: String,
    modified_date_time_utc: String,
    gift_url: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    full: Option<FullGift>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FullGift {
    gift_date_formatted: String,
    amount_formatted: String,
    exchange_rate: f64,
    segment_id: Option<u64>,
    receipt_date: String,
    contact_individual_id: Option<u64>,
    notes: Option<String>,
    gift_designations: Vec<Designation>,
    gift_premiums: Empty,
    pledge_payments: Empty,
    recurring_gift_payments: Empty,
    is_private: bool,
    is_tax_deductible: bool,
    custom_fields: [CustomField; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Designation {
    id: u64,
    project_id: u64,
    project: String,
    project_code: String,
    amount_designated: f64,
}

fn gift(data: &VirtuousData, view: &RecordView, shape: Shape) -> Gift {
    let facts = gift_facts(data, view);
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Gift.tag(), tag(b"identity"), view.index],
    );
    let mut mutable = SeededRng::new(
        data.seed(),
        &[
            Entity::Gift.tag(),
            tag(b"editable"),
            view.index,
            u64::from(view.version),
        ],
    );
    let (contact_id, contact_name, individual_id) = match facts.contact_index {
        Some(index) => {
            let identity = contact_identity(data, index);
            let id = data.id(Entity::Contact, index);
            (Some(id), Some(identity.name), Some(identity.people[0].0))
        }
        None => (None, None, None),
    };
    let gift_day = utc_ms(facts.gift_date_ms);
    let source = *r.pick(SOURCES);
    let transaction_id = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        r.next_u64() >> 32,
        r.below(0x10000),
        r.below(0x10000),
        r.below(0x10000),
        r.next_u64() >> 16
    );
    let receipt_day = gift_day + chrono::TimeDelta::days(mutable.between(0, 10) as i64);
    let gift_type = *r.pick(GIFT_TYPES);
    let full = (shape == Shape::Full).then(|| {
        full_gift(
            data,
            view,
            &facts,
            individual_id,
            receipt_day,
            &mut r,
            &mut mutable,
        )
    });
    Gift {
        id: view.id,
        transaction_source: source,
        transaction_id,
        contact_id,
        contact_name,
        gift_type,
        gift_date: format!("{}T00:00:00", iso_day(gift_day)),
        amount: facts.amount_cents as f64 / 100.0,
        currency_code: "USD",
        batch: format!("{source} {}", iso_day(gift_day)),
        create_date_time_utc: view.style.format(view.created_ms),
        modified_date_time_utc: view.style.format(view.modified_ms),
        gift_url: format!("/api/Gift/{}", view.id),
        full,
    }
}

/// The `FullGift` fields; draws from `r` and `mutable` after the short form's fields.
fn full_gift(
    data: &VirtuousData,
    view: &RecordView,
    facts: &GiftFacts,
    contact_individual_id: Option<u64>,
    receipt_day: DateTime<Utc>,
    r: &mut SeededRng,
    mutable: &mut SeededRng,
) -> FullGift {
    let projects = data.initial(Entity::Project);
    let designation_count = if projects == 0 { 0 } else { 1 + r.below(2) };
    let mut remaining = facts.amount_cents;
    let gift_designations = (0..designation_count)
        .map(|position| {
            let project_index = r.below(projects);
            let share = if position + 1 == designation_count {
                remaining
            } else {
                remaining / 2
            };
            remaining -= share;
            let (project, project_code) = project_identity(data, project_index);
            Designation {
                id: 900_000 + view.index * 2 + position,
                project_id: data.id(Entity::Project, project_index),
                project,
                project_code,
                amount_designated: share as f64 / 100.0,
            }
        })
        .collect();
    let gift_day = utc_ms(facts.gift_date_ms);
    let notes = mutable
        .chance(0.3)
        .then(|| format!("Note v{}", view.version));
    let is_tax_deductible = r.chance(0.95);
    let appeal = format!("AP{:03}", mutable.below(1000));
    FullGift {
        gift_date_formatted: us_day(gift_day),
        amount_formatted: money(facts.amount_cents),
        exchange_rate: 1.0,
        segment_id: None,
        receipt_date: format!("{}T00:00:00", iso_day(receipt_day)),
        contact_individual_id,
        notes,
        gift_designations,
        gift_premiums: [],
        pledge_payments: [],
        recurring_gift_payments: [],
        is_private: false,
        is_tax_deductible,
        custom_fields: [CustomField {
            data_type: Some("Text"),
            name: "Appeal Code",
            value: appeal,
            display_name: None,
        }],
    }
}

fn project_identity(data: &VirtuousData, index: u64) -> (String, String) {
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Project.tag(), tag(b"identity"), index],
    );
    let name = format!("{} {}", r.pick(PROJECT_WORDS), index + 1);
    let code = format!(
        "P{:05X}",
        rng::hash(data.seed(), &[tag(b"project-code"), index]) % 0xFFFFF
    );
    (name, code)
}

/// A project (one form only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Project {
    id: u64,
    name: String,
    project_code: String,
    #[serde(rename = "type")]
    kind: &'static str,
    description: String,
    is_active: bool,
    is_public: bool,
    is_tax_deductible: bool,
    online_display_name: String,
    external_accounting_code: String,
    create_date_time_utc: String,
    modified_date_time_utc: String,
}

fn project(data: &VirtuousData, view: &RecordView) -> Project {
    let (name, project_code) = project_identity(data, view.index);
    let mut mutable = SeededRng::new(
        data.seed(),
        &[
            Entity::Project.tag(),
            tag(b"editable"),
            view.index,
            u64::from(view.version),
        ],
    );
    Project {
        id: view.id,
        description: format!("{name} (revision {})", view.version),
        online_display_name: name.clone(),
        name,
        project_code,
        kind: "Fund",
        is_active: mutable.chance(0.9),
        is_public: true,
        is_tax_deductible: true,
        external_accounting_code: format!("4{:03}", view.index % 1000),
        create_date_time_utc: view.style.format(view.created_ms),
        modified_date_time_utc: view.style.format(view.modified_ms),
    }
}

/// A campaign (one form only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Campaign {
    campaign_id: u64,
    name: String,
    description: String,
    is_active: bool,
    start_date: String,
    end_date: String,
    create_date_time_utc: String,
    modified_date_time_utc: String,
}

fn campaign(data: &VirtuousData, view: &RecordView) -> Campaign {
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Campaign.tag(), tag(b"identity"), view.index],
    );
    let created = utc_ms(view.created_ms);
    let name = format!("{} {}", r.pick(CAMPAIGN_WORDS), created.format("%Y"));
    Campaign {
        campaign_id: view.id,
        description: format!("{name} (revision {})", view.version),
        name,
        is_active: view.version.is_multiple_of(2),
        start_date: created.format("%Y-%m-%dT00:00:00").to_string(),
        end_date: (created + chrono::TimeDelta::days(60))
            .format("%Y-%m-%dT00:00:00")
            .to_string(),
        create_date_time_utc: view.style.format(view.created_ms),
        modified_date_time_utc: view.style.format(view.modified_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(500_000), "$5,000.00");
        assert_eq!(money(123_456_789), "$1,234,567.89");
        assert_eq!(money(5), "$0.05");
    }
}
