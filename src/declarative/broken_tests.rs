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
    // 18. A restart past the maximum skip on a stream without a cursor to restart from.
    (
        "path = \"/v1/customers\"\n",
        "path = \"/v1/customers\"\npaginate = { type = \"offset\", skip_param = \"skip\", limit_param = \"take\", limit = 10, skip_error = \"max_skip\" }\n",
        "streams.customers.paginate.max_skip",
        "path = \"/v1/customers\"",
        "needs incremental",
    ),
    // 19. A maximum skip smaller than the page.
    (
        "orders\"\nquery",
        "orders\"\npaginate = { type = \"offset\", skip_param = \"skip\", limit_param = \"take\", limit = 100, max_skip = 50 }\nquery",
        "streams.orders.paginate.max_skip",
        "path = \"/v1/shops/{{config.shop_id}}/orders\"",
        "at least the page size (100)",
    ),
    // 20. A deletes list whose key is not the primary key.
    (
        "[[streams.children]]",
        "[[streams.deletes]]\npath = \"/v1/deleted_orders\"\nkey = { ident = \"object_id\" }\n\n[[streams.children]]",
        "streams.orders.deletes.key",
        "key = { ident",
        "valid choices: id",
    ),
    // 21. Deletes on a stream that re-reads everything anyway.
    (
        "email = \"string\"\n",
        "email = \"string\"\n\n[[streams.deletes]]\npath = \"/v1/deleted_customers\"\n",
        "streams.customers.deletes",
        "path = \"/v1/deleted_customers\"",
        "needs 'incremental'",
    ),
    // 22. A date field whose default is not a date.
    (
        "label = \"Shop\"\nkind = \"text\"",
        "label = \"Shop\"\nkind = \"date\"\ndefault = \"yesterday\"",
        "fields[1].default",
        "name = \"shop_id\"",
        "not a date",
    ),
    // 23. A changes request (a search) that does not send the lower bound.
    (
        "[streams.columns]",
        "[streams.changes]\npath = \"/v1/orders/search\"\nmethod = \"post\"\nbody = { q = \"all\" }\n\n[streams.columns]",
        "streams.orders.changes",
        "path = \"/v1/orders/search\"",
        "must send the lower bound",
    ),
    // 24. A page token in the body of a GET.
    (
        "[streams.columns]",
        "[streams.changes]\npath = \"/v1/orders/search\"\nquery = { since = \"{{since|epoch_ms}}\" }\npaginate = { type = \"token\", param = \"after\", next = \"next\", limit_param = \"limit\", limits = [10], in_body = true }\n\n[streams.columns]",
        "streams.orders.changes.paginate.in_body",
        "path = \"/v1/orders/search\"",
        "needs method = \"post\"",
    ),
    // 25. An API key in the query without the parameter's name.
    (
        "type = \"bearer\"\ntoken = \"{{config.api_key}}\"",
        "type = \"query\"\nvalue = \"{{config.api_key}}\"",
        "auth.param",
        "type = \"query\"",
        "needs 'param'",
    ),
    // 26. A windowed list that never sends the window's upper bound.
    (
        "incremental = { type = \"cursor\", cursor = \"updated_at\", lookback_seconds = 60 }",
        "incremental = { type = \"cursor\", cursor = \"updated_at\", lookback_seconds = 60 }\nwindow = { start = \"2020-01-01\", days = 30 }",
        "streams.orders.window",
        "window = {",
        "put \"{{until|epoch}}\"",
    ),
    // 27. A window start that is not a date.
    (
        "query = { updated_since = \"{{since|epoch}}\" }",
        "query = { updated_since = \"{{since|epoch}}\", updated_before = \"{{until|epoch}}\" }\nwindow = { start = \"last spring\", days = 30 }",
        "streams.orders.window.start",
        "window = {",
        "not a date",
    ),
    // 28. A smallest window longer than the largest.
    (
        "query = { updated_since = \"{{since|epoch}}\" }",
        "query = { updated_since = \"{{since|epoch}}\", updated_before = \"{{until|epoch}}\" }\nwindow = { start = \"2020-01-01\", days = 1, min_seconds = 172800 }",
        "streams.orders.window",
        "window = {",
        "min_seconds <= days * 86400",
    ),
    // 29. A full refresh every zero days.
    (
        "cursor = \"updated_at\", lookback_seconds = 60 }",
        "cursor = \"updated_at\", lookback_seconds = 60, full_refresh_days = 0 }",
        "streams.orders.incremental.full_refresh_days",
        "full_refresh_days = 0",
        "at least 1",
    ),
    // 30. Following pages of an embedded list in a REST stream.
    (
        "parent_columns = { order_id = \"id\" }",
        "parent_columns = { order_id = \"id\" }\nmore = { page_info = \"lines_page\", graphql = { connection = \"data.node.lines\", variables = { id = \"{{parent.id}}\" }, query = \"query($id: ID!, $first: Int!, $after: String) { node(id: $id) { id } }\" } }",
        "streams.orders.children.order_lines.more",
        "more = {",
        "not GraphQL",
    ),
    // 31. A search restarted by key that never filters by it.
    (
        "[streams.columns]",
        "[streams.changes]\npath = \"/v1/orders/search\"\nmethod = \"post\"\nbody = { since = \"{{since|epoch_ms}}\" }\npaginate = { type = \"token\", param = \"after\", next = \"next\", limit_param = \"limit\", limits = [10], in_body = true, cap = 100, restart_key = \"id\" }\n\n[streams.columns]",
        "streams.orders.changes.paginate.restart_key",
        "path = \"/v1/orders/search\"",
        "{{last_key|or:0}}",
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
    check_in(GOOD, n, mistake);
}

fn check_in(good: &str, n: usize, mistake: &(&str, &str, &str, &str, &str)) {
    let (from, to, key, marker, message) = *mistake;
    {
        assert!(
            good.contains(from),
            "mistake {}: {from:?} not in the good text",
            n + 1
        );
        let broken = good.replacen(from, to, 1);
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

/// A GraphQL definition: a Relay connection per configured repository.
const GOOD_GRAPHQL: &str = r#"name = "hub"
description = "a graphql api"
base_url = "https://api.hub.test"

[[fields]]
name = "token"
label = "Token"
kind = "password"

[[fields]]
name = "repos"
label = "Repositories"
kind = "text"

[auth]
type = "bearer"
token = "{{config.token}}"
refused = "the token was refused"

[http]
rate_limit = { requests = 100, per_seconds = 60 }
error_in_body = { path = "errors", code = "type", rate_limited_codes = ["RATE_LIMITED"] }
points = { remaining = "data.rateLimit.remaining", reset_at = "data.rateLimit.resetAt" }

[test]
label = "Connect"
path = "/rate_limit"

[[streams]]
name = "issues"
path = "/graphql"
primary_key = ["id"]
incremental = { type = "cursor", cursor = "updatedAt", lookback_seconds = 60 }
[streams.graphql]
connection = "data.repository.issues"
for_each = { field = "repos", variables = ["owner", "name"] }
variables = { since = "{{since}}" }
limits = [50, 10]
query = """
query($owner: String!, $name: String!, $first: Int!, $after: String, $since: DateTime) {
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, filterBy: {since: $since}) {
      pageInfo { hasNextPage endCursor }
      nodes { id updatedAt }
    }
  }
}"""
[streams.columns]
id = "string"
updatedAt = "timestamp"
"#;

/// GraphQL mistakes, as [`MISTAKES`].
const GRAPHQL_MISTAKES: &[(&str, &str, &str, &str, &str)] = &[
    // 1. A syntax error inside the document: the document's own line, in the file.
    (
        "nodes { id updatedAt }",
        "nodes { id: }",
        "streams.issues.graphql.query",
        "nodes { id: }",
        "not a GraphQL document",
    ),
    // 2. A variable the operation does not declare.
    (
        "variables = { since",
        "variables = { sinse",
        "streams.issues.graphql.variables.sinse",
        "variables = {",
        "declares no '$sinse'; valid choices: owner, name, first, after, since",
    ),
    // 3. A connection without `$after`.
    (
        ", $after: String",
        "",
        "streams.issues.graphql.query",
        "query = \"\"\"",
        "pages through '$after'",
    ),
    // 4. Both a connection and a single record.
    (
        "connection = ",
        "record = \"data.repository\"\nconnection = ",
        "streams.issues.graphql",
        "query = \"\"\"",
        "exactly one of 'connection'",
    ),
    // 5. `for_each` over a field that does not exist.
    (
        "field = \"repos\"",
        "field = \"repo\"",
        "streams.issues.graphql.for_each.field",
        "for_each =",
        "'repo' is not a form field; valid choices: token, repos, base_url",
    ),
    // 6. `for_each` over a secret.
    (
        "field = \"repos\"",
        "field = \"token\"",
        "streams.issues.graphql.for_each.field",
        "for_each =",
        "must be a text field",
    ),
    // 7. A required variable nothing fills.
    (
        "variables = [\"owner\", \"name\"]",
        "variables = [\"owner\"]",
        "streams.issues.graphql.variables",
        "query = \"\"\"",
        "requires '$name' and nothing fills it",
    ),
    // 8. Page sizes smallest first.
    (
        "limits = [50, 10]",
        "limits = [10, 50]",
        "streams.issues.graphql.limits",
        "limits =",
        "largest first",
    ),
    // 9. A REST pager on a GraphQL stream.
    (
        "primary_key = [\"id\"]\nincremental",
        "primary_key = [\"id\"]\npaginate = { type = \"none\" }\nincremental",
        "streams.issues.graphql",
        "query = \"\"\"",
        "remove the stream's 'paginate'",
    ),
    // 10. A secret in the variables.
    (
        "since = \"{{since}}\"",
        "since = \"{{config.token}}\"",
        "streams.issues.graphql.variables.since",
        "variables = {",
        "is a secret",
    ),
    // 11. A cursor stream whose variables send no lower bound.
    (
        "variables = { since = \"{{since}}\" }",
        "variables = {}",
        "streams.issues.incremental",
        "incremental =",
        "must send the lower bound",
    ),
    // 12. Error codes without the field that holds them.
    (
        "code = \"type\", ",
        "",
        "http.error_in_body.code",
        "error_in_body =",
        "codes need 'code'",
    ),
    // 13. A points budget without the rate budget it pauses.
    (
        "rate_limit = { requests = 100, per_seconds = 60 }\n",
        "",
        "http.points",
        "points =",
        "needs 'rate_limit'",
    ),
    // 14. An unknown key in the graphql table.
    (
        "limits = [50, 10]",
        "limit = [50, 10]",
        "streams[0].graphql.limit",
        "limit = [",
        "unknown field `limit`",
    ),
];

#[test]
fn the_good_graphql_definition_loads() {
    let def = load("hub.toml", GOOD_GRAPHQL).unwrap_or_else(|e| panic!("{e}"));
    assert!(def.streams[0]
        .graphql
        .as_ref()
        .is_some_and(|g| g.uses_since()));
}

#[test]
fn every_graphql_mistake_names_file_line_and_key() {
    let failures: Vec<String> = GRAPHQL_MISTAKES
        .iter()
        .enumerate()
        .filter_map(|(n, mistake)| {
            std::panic::catch_unwind(|| check_in(GOOD_GRAPHQL, n, mistake))
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
