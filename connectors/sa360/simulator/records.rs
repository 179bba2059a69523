//! Attributes of entities, derived from `hash(seed, id)` when rendered: names, keyword texts and
//! match types, bids, URLs, bidding setups, label assignments, timestamps.

use chrono::NaiveDate;

use crate::simulator::rng::{self, tag, SeededRng};

use super::dataset::{date_of, AccountNode, ClientData, Entity, Kind, Status};

const THEMES: [&str; 12] = [
    "Brand",
    "Running Shoes",
    "Hiking Boots",
    "Sandals",
    "Sneakers",
    "Outlet",
    "Kids",
    "Trail",
    "Accessories",
    "Socks",
    "Winter Sale",
    "Competitors",
];
const FLAVOURS: [&str; 4] = ["Search", "Exact", "Broad", "Remarketing"];
const PRODUCTS: [&str; 15] = [
    "trail running shoes",
    "waterproof hiking boots",
    "leather sandals",
    "white sneakers",
    "kids school shoes",
    "running socks",
    "insoles",
    "slip on shoes",
    "wide fit shoes",
    "vegan boots",
    "winter boots",
    "gym trainers",
    "walking shoes",
    "flip flops",
    "shoe cleaner",
];
const MODIFIERS: [&str; 10] = [
    "",
    "men",
    "women",
    "sale",
    "cheap",
    "best",
    "near me",
    "online",
    "uk",
    "free delivery",
];
const CONVERSIONS: [(&str, &str, &str); 6] = [
    ("Purchase", "FLOODLIGHT_TRANSACTION", "PURCHASE"),
    ("Newsletter sign-up", "FLOODLIGHT_ACTION", "SIGNUP"),
    ("Store locator lead", "FLOODLIGHT_ACTION", "LEAD"),
    ("Add to cart", "FLOODLIGHT_ACTION", "ADD_TO_CART"),
    ("Begin checkout", "FLOODLIGHT_ACTION", "BEGIN_CHECKOUT"),
    ("Product page view", "FLOODLIGHT_ACTION", "PAGE_VIEW"),
];
const STRATEGIES: [(&str, &str); 5] = [
    ("Target ROAS 400%", "TARGET_ROAS"),
    ("Target CPA 25", "TARGET_CPA"),
    ("Maximize conversions", "MAXIMIZE_CONVERSIONS"),
    ("Maximize clicks", "TARGET_SPEND"),
    ("Maximize conversion value", "MAXIMIZE_CONVERSION_VALUE"),
];
const LABELS: [(&str, &str); 6] = [
    ("Brand", "#1A73E8"),
    ("Seasonal", "#E37400"),
    ("Test", "#9334E6"),
    ("Top performers", "#188038"),
    ("Q4 Promo", "#D93025"),
    ("Do not touch", "#5F6368"),
];

/// A unique, readable name for the `index`-th entity of a kind: a base name, with a number once
/// the base names run out.
fn numbered(base: String, index: usize, pool: usize) -> String {
    if index < pool {
        base
    } else {
        format!("{base} {}", index / pool + 1)
    }
}

/// `campaign.name`.
pub(crate) fn campaign_name(index: usize) -> String {
    let pool = THEMES.len() * FLAVOURS.len();
    let base = format!(
        "{} - {}",
        THEMES[index % THEMES.len()],
        FLAVOURS[(index / THEMES.len()) % FLAVOURS.len()]
    );
    numbered(base, index, pool)
}

/// `ad_group.name`.
pub(crate) fn ad_group_name(index: usize) -> String {
    let pool = PRODUCTS.len() * 3;
    let product = PRODUCTS[index % PRODUCTS.len()];
    let suffix = ["Exact", "Phrase", "Broad"][(index / PRODUCTS.len()) % 3];
    numbered(format!("{} - {suffix}", title(product)), index, pool)
}

fn title(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ad_group_criterion.keyword.text` and `.match_type`.
pub(crate) fn keyword(seed: u64, id: u64) -> (String, &'static str) {
    let mut rng = SeededRng::new(seed, &[tag(b"keyword-text"), id]);
    let product = rng.pick(&PRODUCTS);
    let modifier = rng.pick(&MODIFIERS);
    let text = if modifier.is_empty() {
        (*product).to_owned()
    } else if rng.chance(0.5) {
        format!("{modifier} {product}")
    } else {
        format!("{product} {modifier}")
    };
    let match_type = match rng.below(20) {
        0..=7 => "EXACT",
        8..=14 => "PHRASE",
        _ => "BROAD",
    };
    (text, match_type)
}

/// A bid in micros between 0.10 and 3.00, whole cents.
pub(crate) fn bid_micros(seed: u64, id: u64) -> i64 {
    (10 + rng::hash(seed, &[tag(b"bid"), id]) % 290) as i64 * 10_000
}

/// `quality_info.quality_score` (absent for some keywords, as when Google lacks data).
pub(crate) fn quality_score(seed: u64, id: u64) -> Option<i64> {
    let draw = rng::hash(seed, &[tag(b"quality"), id]);
    (!draw.is_multiple_of(10)).then_some(1 + (draw >> 8) as i64 % 10)
}

/// `ad_group_ad.ad.type`.
pub(crate) fn ad_type(seed: u64, id: u64) -> &'static str {
    if rng::hash(seed, &[tag(b"ad-type"), id]).is_multiple_of(5) {
        "EXPANDED_TEXT_AD"
    } else {
        "RESPONSIVE_SEARCH_AD"
    }
}

/// The landing-page slug of an ad (`final_urls`, `display_url`).
pub(crate) fn ad_slug(seed: u64, id: u64) -> String {
    let product =
        PRODUCTS[(rng::hash(seed, &[tag(b"ad-url"), id]) % PRODUCTS.len() as u64) as usize];
    product.replace(' ', "-")
}

/// `conversion_action.name`, `.type`, `.category` of the `index`-th conversion action.
pub(crate) fn conversion_action(index: usize) -> (String, &'static str, &'static str) {
    let (name, kind, category) = CONVERSIONS[index % CONVERSIONS.len()];
    (
        numbered(name.to_owned(), index, CONVERSIONS.len()),
        kind,
        category,
    )
}

/// `bidding_strategy.name` and `.type` of the `index`-th strategy.
pub(crate) fn bidding_strategy(index: usize) -> (String, &'static str) {
    let (name, kind) = STRATEGIES[index % STRATEGIES.len()];
    (numbered(name.to_owned(), index, STRATEGIES.len()), kind)
}

/// `label.name` and `text_label.background_color` of the `index`-th label.
pub(crate) fn label(index: usize) -> (String, &'static str) {
    let (name, color) = LABELS[index % LABELS.len()];
    (numbered(name.to_owned(), index, LABELS.len()), color)
}

/// The two kinds of custom column: `(name, description, value type, render type)`.
pub(crate) fn custom_column(index: usize) -> (String, &'static str, &'static str, &'static str) {
    let (name, description, value_type, render) = if index.is_multiple_of(2) {
        (
            "Profit",
            "Conversion value minus cost, in micros",
            "INT64",
            "MONEY",
        )
    } else {
        (
            "ROAS",
            "Conversion value per unit of cost",
            "DOUBLE",
            "NUMBER",
        )
    };
    (
        numbered(name.to_owned(), index, 2),
        description,
        value_type,
        render,
    )
}

/// The portfolio strategy (index) a campaign uses, if any: a third of campaigns do.
pub(crate) fn campaign_strategy(
    seed: u64,
    client: &ClientData,
    campaign: &Entity,
) -> Option<usize> {
    let strategies = client.table(Kind::BiddingStrategy).len();
    let draw = rng::hash(seed, &[tag(b"campaign-strategy"), campaign.id]);
    (strategies > 0 && draw.is_multiple_of(3)).then(|| ((draw >> 8) % strategies as u64) as usize)
}

/// `campaign.bidding_strategy_type`: the portfolio's type, or a standard strategy.
pub(crate) fn campaign_strategy_type(
    seed: u64,
    client: &ClientData,
    campaign: &Entity,
) -> &'static str {
    match campaign_strategy(seed, client, campaign) {
        Some(index) => bidding_strategy(index).1,
        None if rng::hash(seed, &[tag(b"manual"), campaign.id]).is_multiple_of(2) => "MANUAL_CPC",
        None => "ENHANCED_CPC",
    }
}

/// Ids of the labels attached to an entity (about one label in four).
pub(crate) fn labels_of(seed: u64, client: &ClientData, entity: &Entity) -> Vec<u64> {
    client
        .table(Kind::Label)
        .iter()
        .filter(|label| label.status() != Status::Removed)
        .filter(|label| rng::hash(seed, &[tag(b"labelled"), entity.id, label.id]).is_multiple_of(4))
        .map(|label| label.id)
        .collect()
}

/// `yyyy-MM-dd HH:mm:ss` on `day`, at a time of day drawn from `id`.
pub(crate) fn timestamp(seed: u64, id: u64, day: i32) -> String {
    let seconds = rng::hash(seed, &[tag(b"time-of-day"), id, day as u64]) % 86_400;
    format!(
        "{} {:02}:{:02}:{:02}",
        iso(date_of(day)),
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// `yyyy-MM-dd HH:mm:ss.ssssss` on `day`.
pub(crate) fn timestamp_micros(seed: u64, id: u64, day: i32) -> String {
    let micros = rng::hash(seed, &[tag(b"micros"), id, day as u64]) % 1_000_000;
    format!("{}.{micros:06}", timestamp(seed, id, day))
}

/// `YYYY-MM-DD`.
pub(crate) fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// The SA360 manager above a client (the top of its tree) and the sub-manager (the manager right
/// above it, when that is not the top): `customer.manager_id`, `customer.sub_manager_id`.
pub(crate) fn managers(accounts: &[AccountNode], account: usize) -> (Option<usize>, Option<usize>) {
    let mut chain = Vec::new();
    let mut at = accounts[account].parent;
    while let Some(position) = at {
        chain.push(position);
        at = accounts[position].parent;
    }
    let top = chain.last().copied();
    let sub = chain.first().copied().filter(|first| Some(*first) != top);
    (top, sub)
}
