//! A definition broken in many ways, one mistake at a time: each must stop the load with the file,
//! the line of the mistake and its key (and the valid choices where there is a list).

use super::compile::load;

const GOOD: &str = r#"name = "shop"
description = "a shop"
base_url = "https://api.shop.test"

[[fields]]
name = "api_key"
label = "API key"
kind = "password"

[[fields]]
name = "shop_id"
label = "Shop"
kind = "text"

[auth]
type = "bearer"
token = "{{config.api_key}}"
refused = "the api key was refused"

[test]
label = "Connect"
path = "/v1/shops/{{config.shop_id}}"

[defaults]
records = "data"
paginate = { type = "token", param = "after", next = "paging.next", limit_param = "limit", limits = [100, 10] }

[[streams]]
name = "orders"
path = "/v1/shops/{{config.shop_id}}/orders"
query = { updated_since = "{{since|epoch}}" }
primary_key = ["id"]
incremental = { type = "cursor", cursor = "updated_at", lookback_seconds = 60 }
[streams.columns]
id = "id"
total = "long"
updated_at = "timestamp"

[[streams.children]]
name = "order_lines"
embedded = "lines"
parent_columns = { order_id = "id" }
primary_key = ["order_id", "id"]
[streams.children.columns]
id = "id"
sku = "string"

[[streams]]
name = "customers"
path = "/v1/customers"
primary_key = ["id"]
[streams.columns]
id = "id"
email = "string"
"#;

/// (what to replace, with what, the key the error must name, text on the line it must name, a piece
/// of its message).
const MISTAKES: &[(&str, &str, &str, &str, &str)] = &[
    // 1. TOML syntax: an unterminated string.
    (
        "description = \"a shop\"",
        "description = \"a shop",
        "description",
        "description = ",
        "string",
    ),
    // 2. An unknown key (a typo).
    (
        "description = ",
        "descripton = ",
        "descripton",
        "descripton = ",
        "unknown field `descripton`",
    ),
    // 3. An unknown auth type: the valid ones are listed.
    (
        "type = \"bearer\"",
        "type = \"bearr\"",
        "auth.type",
        "type = \"bearr\"",
        "`bearer`",
    ),
    // 4. An unknown column type.
    (
        "total = \"long\"",
        "total = \"lnog\"",
        "streams.orders.columns.total",
        "total = \"lnog\"",
        "valid choices: string, id",
    ),
    // 5. An unknown template name.
    (
        "{{since|epoch}}",
        "{{sinse|epoch}}",
        "streams.orders.query.updated_since",
        "{{sinse|epoch}}",
        "valid choices: config.FIELD",
    ),
    // 6. An unknown template format.
    (
        "{{since|epoch}}",
        "{{since|epok}}",
        "streams.orders.query.updated_since",
        "{{since|epok}}",
        "valid choices: epoch, epoch_ms",
    ),
    // 7. A configuration field the form lacks.
    (
        "/v1/shops/{{config.shop_id}}/orders",
        "/v1/shops/{{config.shop}}/orders",
        "streams.orders.path",
        "{{config.shop}}/orders",
        "valid choices: api_key, shop_id, base_url",
    ),
    // 8. A primary key that is not a column.
    (
        "primary_key = [\"id\"]\nincremental",
        "primary_key = [\"ident\"]\nincremental",
        "streams.orders.primary_key",
        "[\"ident\"]",
        "'ident' is not a column",
    ),
    // 9. Two tables with one name.
    (
        "name = \"customers\"",
        "name = \"orders\"",
        "streams.orders.name",
        "name = \"orders\"\npath = \"/v1/customers\"",
        "declared twice",
    ),
    // 10. A secret in a query.
    (
        "query = { updated_since",
        "query = { key = \"{{config.api_key}}\", updated_since",
        "streams.orders.query.key",
        "query = { key",
        "secret",
    ),
    // 11. A bearer without its token.
    (
        "token = \"{{config.api_key}}\"\n",
        "",
        "auth.token",
        "type = \"bearer\"",
        "needs 'token'",
    ),
    // 12. A cursor no column reads.
    (
        "cursor = \"updated_at\"",
        "cursor = \"modified_at\"",
        "streams.orders.incremental.cursor",
        "cursor = \"modified_at\"",
        "valid choices: id, total, updated_at",
    ),
    // 13. An unknown pager.
    (
        "type = \"token\"",
        "type = \"tokn\"",
        "defaults.paginate.type",
        "type = \"tokn\"",
        "`cursor`",
    ),
    // 14. A parent's field in a top-level stream.
    (
        "path = \"/v1/customers\"",
        "path = \"/v1/customers/{{parent.id}}\"",
        "streams.customers.path",
        "{{parent.id}}",
        "only in a child",
    ),
    // 15. A value of the wrong type.
    (
        "limits = [100, 10]",
        "limits = \"100\"",
        "defaults.paginate",
        "limits = \"100\"",
        "invalid type",
    ),
    // 16. A child with both a request and an embedded list.
    (
        "embedded = \"lines\"",
        "embedded = \"lines\"\npath = \"/v1/lines/{{parent.id}}\"",
        "streams.orders.children.order_lines",
        "name = \"order_lines\"",
        "exactly one of",
    ),
    // 17. Page sizes in the wrong order.
    (
        "limits = [100, 10]",
        "limits = [10, 100]",
        "streams.orders.paginate.limits",
        "path = \"/v1/shops/{{config.shop_id}}/orders\"",
        "largest first",
    ),
];

fn line_of(text: &str, marker: &str) -> usize {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("marker {marker:?} not in the broken text"));
    text[..at].matches('\n').count() + 1
}

#[test]
fn the_good_definition_loads() {
    let def = load("shop.toml", GOOD).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(def.streams.len(), 2);
    assert_eq!(def.streams[0].children[0].table.name(), "order_lines");
}

#[test]
fn every_mistake_names_file_line_and_key() {
    let failures: Vec<String> = MISTAKES
        .iter()
        .enumerate()
        .filter_map(|(n, mistake)| {
            std::panic::catch_unwind(|| check(n, mistake))
                .err()
                .map(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| format!("mistake {}", n + 1))
                })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(n: usize, mistake: &(&str, &str, &str, &str, &str)) {
    let (from, to, key, marker, message) = *mistake;
    {
        assert!(
            GOOD.contains(from),
            "mistake {}: {from:?} not in the good text",
            n + 1
        );
        let broken = GOOD.replacen(from, to, 1);
        let err = load("broken.toml", &broken)
            .map(|_| ())
            .expect_err(&format!("mistake {} loaded", n + 1));
        let text = err.to_string();
        let line = line_of(&broken, marker);
        assert_eq!(err.file, "broken.toml", "mistake {}: {text}", n + 1);
        assert_eq!(
            (err.line, err.key.as_str()),
            (line, key),
            "mistake {}: {text}",
            n + 1
        );
        assert!(
            text.starts_with(&format!("broken.toml:{line}: {key}: ")),
            "mistake {}: {text}",
            n + 1
        );
        assert!(
            text.contains(message),
            "mistake {}: {text} lacks {message:?}",
            n + 1
        );
    }
}
