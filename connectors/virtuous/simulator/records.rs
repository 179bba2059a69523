//! Rendering records as the Virtuous API writes them (shapes follow the examples in
//! `docs/apis.md` §1; the short `Query` shapes are trimmed versions of the Full ones).
//!
//! Identity fields (names, contact type, gift amount, designations) come from
//! `hash(seed, entity, index)` and never change; editable fields (address, tags, custom field
//! values, notes, receipt date) also mix in the record's edit version, so an `advance` that
//! edits a record visibly changes it.

use chrono::Days;
use serde_json::{json, Value};

use crate::simulator::rng::{self, tag, SeededRng};

use super::dataset::{utc_ms, Entity, RecordView, VirtuousData};

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

/// Renders record `view` in `shape`.
pub(crate) fn render(data: &VirtuousData, view: &RecordView, shape: Shape) -> Value {
    match view.entity {
        Entity::Contact => contact(data, view, shape),
        Entity::Gift => gift(data, view, shape),
        Entity::Project => project(data, view),
        Entity::Campaign => campaign(data, view),
    }
}

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

fn address(mutable: &mut SeededRng, contact_id: u64) -> Value {
    let (city, state, postal) = *mutable.pick(CITIES);
    json!({
        "id": contact_id * 2,
        "label": "Home",
        "address1": format!("{} {}", mutable.between(1, 9999), mutable.pick(STREETS)),
        "address2": null,
        "city": city,
        "state": state,
        "postal": postal,
        "country": "US",
        "isPrimary": true,
    })
}

fn contact(data: &VirtuousData, view: &RecordView, shape: Shape) -> Value {
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
    let created = view.style.format(view.created_ms);
    let modified = view.style.format(view.modified_ms);
    let address = address(&mut mutable, view.id);
    if shape == Shape::Short {
        return json!({
            "id": view.id,
            "contactType": identity.contact_type,
            "name": identity.name,
            "isPrivate": false,
            "isArchived": view.archived,
            "email": primary_email,
            "phone": phone,
            "address": address,
            "contactViewUrl": format!("/api/Contact/{}", view.id),
            "createDateTimeUtc": created,
            "modifiedDateTimeUtc": modified,
        });
    }
    let individuals: Vec<Value> = identity
        .people
        .iter()
        .enumerate()
        .map(|(position, (id, first, last))| {
            let mut methods = vec![json!({
                "id": id * 4,
                "type": if identity.contact_type == "Household" { "Home Email" } else { "Work Email" },
                "value": email(first, last, *id),
                "isOptedIn": mutable.chance(0.8),
                "isPrimary": true,
                "canBePrimary": true,
            })];
            if mutable.chance(0.5) {
                methods.push(json!({
                    "id": id * 4 + 1,
                    "type": "Mobile Phone",
                    "value": format!("555-{:04}", mutable.below(10_000)),
                    "isOptedIn": false,
                    "isPrimary": false,
                    "canBePrimary": true,
                }));
            }
            json!({
                "id": id,
                "contactId": view.id,
                "prefix": null,
                "firstName": first,
                "middleName": null,
                "lastName": last,
                "suffix": null,
                "isPrimary": position == 0,
                "isSecondary": position == 1,
                "isDeceased": false,
                "contactMethods": methods,
            })
        })
        .collect();
    let tags: Vec<&str> = TAGS
        .iter()
        .copied()
        .filter(|_| mutable.chance(0.3))
        .collect();
    let mut references = Vec::new();
    let mut identity_rng = SeededRng::new(
        data.seed(),
        &[Entity::Contact.tag(), tag(b"reference"), view.index],
    );
    if identity_rng.chance(0.3) {
        references.push(
            json!({"source": "Stripe", "id": format!("cus_{:014x}", identity_rng.next_u64() >> 8)}),
        );
    }
    json!({
        "id": view.id,
        "contactType": identity.contact_type,
        "isPrivate": false,
        "name": identity.name,
        "informalName": first,
        "isArchived": view.archived,
        "mergedIntoContactId": null,
        "address": address,
        "contactIndividuals": individuals,
        "contactReferences": references,
        "tags": tags,
        "organizationGroups": [],
        "customFields": [
            {"name": "Preferred Contact", "value": mutable.pick(&["Email", "Phone", "Mail"]), "displayName": "Preferred Contact"},
            {"name": "Newsletter", "value": if mutable.chance(0.5) { "Yes" } else { "No" }, "displayName": null},
        ],
        "customCollections": [],
        "contactGiftsUrl": format!("/api/Gift/ByContact/{}", view.id),
        "createDateTimeUtc": created,
        "modifiedDateTimeUtc": modified,
    })
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

fn gift(data: &VirtuousData, view: &RecordView, shape: Shape) -> Value {
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
            (json!(id), json!(identity.name), json!(identity.people[0].0))
        }
        None => (Value::Null, Value::Null, Value::Null),
    };
    let gift_day = utc_ms(facts.gift_date_ms);
    let gift_date = gift_day.format("%Y-%m-%dT00:00:00").to_string();
    let source = *r.pick(SOURCES);
    let batch = format!("{source} {}", gift_day.format("%Y-%m-%d"));
    let transaction_id = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        r.next_u64() >> 32,
        r.below(0x10000),
        r.below(0x10000),
        r.below(0x10000),
        r.next_u64() >> 16
    );
    let amount = facts.amount_cents as f64 / 100.0;
    let receipt_day = gift_day + chrono::TimeDelta::days(mutable.between(0, 10) as i64);
    let base = json!({
        "id": view.id,
        "transactionSource": source,
        "transactionId": transaction_id,
        "contactId": contact_id,
        "contactName": contact_name,
        "giftType": r.pick(GIFT_TYPES),
        "giftDate": gift_date,
        "amount": amount,
        "currencyCode": "USD",
        "batch": batch,
        "createDateTimeUtc": view.style.format(view.created_ms),
        "modifiedDateTimeUtc": view.style.format(view.modified_ms),
        "giftUrl": format!("/api/Gift/{}", view.id),
    });
    if shape == Shape::Short {
        return base;
    }
    let projects = data.initial(Entity::Project);
    let designation_count = if projects == 0 { 0 } else { 1 + r.below(2) };
    let mut remaining = facts.amount_cents;
    let designations: Vec<Value> = (0..designation_count)
        .map(|position| {
            let project_index = r.below(projects);
            let share = if position + 1 == designation_count {
                remaining
            } else {
                remaining / 2
            };
            remaining -= share;
            let (name, code) = project_identity(data, project_index);
            json!({
                "id": 900_000 + view.index * 2 + position,
                "projectId": data.id(Entity::Project, project_index),
                "project": name,
                "projectCode": code,
                "amountDesignated": share as f64 / 100.0,
            })
        })
        .collect();
    let Value::Object(mut full) = base else {
        unreachable!("built as an object")
    };
    let extra = json!({
        "giftDateFormatted": gift_day.format("%m/%d/%Y").to_string(),
        "amountFormatted": money(facts.amount_cents),
        "exchangeRate": 1.0,
        "segmentId": null,
        "receiptDate": receipt_day.format("%Y-%m-%dT00:00:00").to_string(),
        "contactIndividualId": individual_id,
        "notes": if mutable.chance(0.3) { json!(format!("Note v{}", view.version)) } else { Value::Null },
        "giftDesignations": designations,
        "giftPremiums": [],
        "pledgePayments": [],
        "recurringGiftPayments": [],
        "isPrivate": false,
        "isTaxDeductible": r.chance(0.95),
        "customFields": [{"dataType": "Text", "name": "Appeal Code", "value": format!("AP{:03}", mutable.below(1000)), "displayName": null}],
    });
    if let Value::Object(extra) = extra {
        full.extend(extra);
    }
    Value::Object(full)
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

fn project(data: &VirtuousData, view: &RecordView) -> Value {
    let (name, code) = project_identity(data, view.index);
    let mut mutable = SeededRng::new(
        data.seed(),
        &[
            Entity::Project.tag(),
            tag(b"editable"),
            view.index,
            u64::from(view.version),
        ],
    );
    json!({
        "id": view.id,
        "name": name,
        "projectCode": code,
        "type": "Fund",
        "description": format!("{name} (revision {})", view.version),
        "isActive": mutable.chance(0.9),
        "isPublic": true,
        "isTaxDeductible": true,
        "onlineDisplayName": name,
        "externalAccountingCode": format!("4{:03}", view.index % 1000),
        "createDateTimeUtc": view.style.format(view.created_ms),
        "modifiedDateTimeUtc": view.style.format(view.modified_ms),
    })
}

fn campaign(data: &VirtuousData, view: &RecordView) -> Value {
    let mut r = SeededRng::new(
        data.seed(),
        &[Entity::Campaign.tag(), tag(b"identity"), view.index],
    );
    let created = utc_ms(view.created_ms);
    let name = format!("{} {}", r.pick(CAMPAIGN_WORDS), created.format("%Y"));
    json!({
        "campaignId": view.id,
        "name": name,
        "description": format!("{name} (revision {})", view.version),
        "isActive": view.version.is_multiple_of(2),
        "startDate": created.format("%Y-%m-%dT00:00:00").to_string(),
        "endDate": (created + chrono::TimeDelta::days(60)).format("%Y-%m-%dT00:00:00").to_string(),
        "createDateTimeUtc": view.style.format(view.created_ms),
        "modifiedDateTimeUtc": view.style.format(view.modified_ms),
    })
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
