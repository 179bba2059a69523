//! Tests of the SA360 simulator: the data model directly, the API over real HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::dataset::{day_of, ChangeKind};
use super::errors::FAILURE_TYPE;
use super::*;
use crate::simulator::test_client::client;
use crate::simulator::{Fault, FaultRule};

const MCC: u64 = 9_100_000_001;
const EUROPE: u64 = 9_100_000_002;
const US: u64 = 4_100_000_001;
const UK: u64 = 4_100_000_002;
const DE: u64 = 4_100_000_003;
const LEGACY: u64 = 4_100_000_004;
const SOLO: u64 = 5_200_000_001;

/// A plain HTTP client holding an access token.
struct Api {
    http: reqwest::Client,
    base: String,
    token_url: String,
    credentials: Credentials,
    token: String,
}

/// What a call answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    request_id: Option<String>,
    text: String,
    json: Value,
}

impl Answer {
    fn error_code(&self) -> (String, String) {
        let error = &self.json["error"]["details"][0]["errors"][0]["errorCode"];
        let (family, code) = error
            .as_object()
            .and_then(|o| o.iter().next())
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .unwrap_or_default();
        (family, code)
    }
}

impl Api {
    async fn new(sim: &Sa360Simulator) -> Self {
        let mut api = Self {
            http: client(),
            base: sim.base_url(),
            token_url: sim.token_url(),
            credentials: sim.config().credentials.clone(),
            token: String::new(),
        };
        api.refresh().await;
        api
    }

    async fn token_call(&self, form: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(&self.token_url)
            .form(form)
            .send()
            .await
            .unwrap();
        answer(response).await
    }

    async fn refresh(&mut self) {
        let c = self.credentials.clone();
        let answer = self
            .token_call(&[
                ("grant_type", "refresh_token"),
                ("client_id", &c.client_id),
                ("client_secret", &c.client_secret),
                ("refresh_token", &c.refresh_token),
            ])
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        self.token = answer.json["access_token"].as_str().unwrap().to_owned();
    }

    async fn get(&self, path: &str, login: Option<u64>) -> Answer {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(login) = login {
            request = request.header("login-customer-id", login.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    async fn post(&self, customer: u64, method: &str, login: Option<u64>, body: &Value) -> Answer {
        let url = format!(
            "{}/v0/customers/{customer}/searchAds360:{method}",
            self.base
        );
        let mut request = self.http.post(url).bearer_auth(&self.token).json(body);
        if let Some(login) = login {
            request = request.header("login-customer-id", login.to_string());
        }
        answer(request.send().await.unwrap()).await
    }

    async fn search(&self, customer: u64, login: Option<u64>, body: Value) -> Answer {
        self.post(customer, "search", login, &body).await
    }

    async fn stream(&self, customer: u64, login: Option<u64>, body: Value) -> Answer {
        self.post(customer, "searchStream", login, &body).await
    }

    /// Every row of a query, page by page with the given page sizes (cycled).
    async fn all_pages(
        &self,
        customer: u64,
        login: Option<u64>,
        query: &str,
        sizes: &[u64],
    ) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut token: Option<String> = None;
        for turn in 0.. {
            let mut body = json!({"query": query, "pageSize": sizes[turn % sizes.len()]});
            if let Some(token) = &token {
                body["pageToken"] = json!(token);
            }
            let page = self.search(customer, login, body).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            let results = page.json["results"].as_array().cloned().unwrap_or_default();
            assert!(results.len() as u64 <= sizes[turn % sizes.len()]);
            rows.extend(results);
            match page.json["nextPageToken"].as_str() {
                Some(next) => token = Some(next.to_owned()),
                None => break,
            }
        }
        rows
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let request_id = response
        .headers()
        .get("request-id")
        .map(|value| value.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        request_id,
        text,
        json,
    }
}

/// Whether a JSON int64 (a string) is `id`.
fn is_id(value: &Value, id: u64) -> bool {
    value.as_str().and_then(|text| text.parse().ok()) == Some(id)
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn iso(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

async fn small() -> (Sa360Simulator, Api) {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let api = Api::new(&sim).await;
    (sim, api)
}

fn days_back(sim: &Sa360Simulator, back: i64) -> NaiveDate {
    sim.data().today() - chrono::Duration::days(back)
}

#[test]
fn advance_only_appends_and_keeps_history_consistent() {
    let config = Sa360Config::small();
    let mut data = Sa360Data::new(&config);
    let before = data.clone();
    let changes = data.advance();
    assert!(changes.iter().any(|c| c.change == ChangeKind::Added));
    assert!(changes
        .iter()
        .any(|c| matches!(c.change, ChangeKind::StatusChanged { .. })));
    for (old, new) in before.clients.iter().zip(&data.clients) {
        for (kind, table) in &old.tables {
            let now = new.table(*kind);
            assert!(now.len() >= table.len());
            for (a, b) in table.iter().zip(now) {
                assert_eq!((a.id, a.parent, a.created), (b.id, b.parent, b.created));
                assert_eq!(&b.history[..a.history.len()], &a.history[..]);
                assert!(b.history.windows(2).all(|w| w[0].0 <= w[1].0));
                assert!(b.history.iter().all(|(day, _)| *day >= b.created));
            }
        }
        // Children are never older than their parents.
        for group in new.table(Kind::AdGroup) {
            assert!(group.created >= new.table(Kind::Campaign)[group.parent as usize].created);
        }
        for keyword in new.table(Kind::Keyword) {
            assert!(keyword.created >= new.table(Kind::AdGroup)[keyword.parent as usize].created);
        }
    }
    assert_eq!(data.today(), before.today().succ_opt().unwrap());
    let mut again = Sa360Data::new(&config);
    assert_eq!(again.advance(), changes, "advance is deterministic");
}

#[tokio::test]
async fn token_refresh_expiry_and_bad_credentials() {
    let (sim, mut api) = small().await;
    assert_eq!(sim.token_refreshes(), 1);
    let listed = api.get("/v0/customers:listAccessibleCustomers", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.json,
        json!({"resourceNames": ["customers/9100000001", "customers/5200000001"]})
    );
    assert!(listed.request_id.is_some());

    let c = sim.config().credentials.clone();
    let good = api
        .token_call(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ])
        .await;
    assert_eq!(good.json["expires_in"], 3599);
    assert_eq!(good.json["token_type"], "Bearer");
    assert_eq!(
        good.json["scope"],
        "https://www.googleapis.com/auth/doubleclicksearch"
    );
    assert!(good.json["access_token"]
        .as_str()
        .unwrap()
        .starts_with("ya29."));

    let bad_grant = api
        .token_call(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", "1//wrong"),
        ])
        .await;
    assert_eq!(bad_grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_grant.json["error"], "invalid_grant");
    assert!(bad_grant.json["error_description"].is_string());
    let bad_client = api
        .token_call(&[
            ("grant_type", "refresh_token"),
            ("client_id", "someone-else"),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ])
        .await;
    assert_eq!(bad_client.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad_client.json["error"], "invalid_client");
    let bad_grant_type = api.token_call(&[("grant_type", "password")]).await;
    assert_eq!(bad_grant_type.json["error"], "unsupported_grant_type");
    assert_eq!(
        sim.token_refreshes(),
        2,
        "refused refreshes are not counted"
    );

    // Expiry on the simulated clock.
    sim.control().clock().advance(Duration::from_secs(3598));
    assert_eq!(
        api.get("/v0/customers:listAccessibleCustomers", None)
            .await
            .status,
        StatusCode::OK
    );
    sim.control().clock().advance(Duration::from_secs(1));
    let expired = api.get("/v0/customers:listAccessibleCustomers", None).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(expired.json["error"]["details"][0]["@type"], FAILURE_TYPE);
    assert_eq!(
        expired.error_code(),
        ("authenticationError".into(), "OAUTH_TOKEN_EXPIRED".into())
    );
    assert_eq!(
        expired.json["error"]["details"][0]["requestId"].as_str(),
        expired.request_id.as_deref()
    );
    api.refresh().await;
    assert_eq!(
        api.get("/v0/customers:listAccessibleCustomers", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(sim.token_refreshes(), 3);

    // No credential at all: the front end refuses, without an API failure.
    let bare = answer(
        client()
            .get(format!("{}/v0/customers:listAccessibleCustomers", api.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert!(bare.json["error"]["details"].is_null());
    api.token = "ya29.forged".into();
    let forged = api.get("/v0/customers:listAccessibleCustomers", None).await;
    assert_eq!(forged.error_code().1, "OAUTH_TOKEN_INVALID");

    // An early expiry (revocation) for tests of a mid-sync refresh.
    api.refresh().await;
    sim.expire_access_tokens();
    assert_eq!(
        api.get("/v0/customers:listAccessibleCustomers", None)
            .await
            .error_code()
            .1,
        "OAUTH_TOKEN_EXPIRED"
    );
}

#[tokio::test]
async fn login_customer_id_is_required_under_a_manager() {
    let (_sim, api) = small().await;
    let query = json!({"query": "SELECT customer.id, customer.descriptive_name FROM customer"});
    let code = |a: &Answer| (a.status, a.error_code().1);

    let direct = api.search(US, None, query.clone()).await;
    assert_eq!(
        code(&direct),
        (StatusCode::FORBIDDEN, "USER_PERMISSION_DENIED".into())
    );
    assert_eq!(direct.json["error"]["status"], "PERMISSION_DENIED");
    assert!(direct.json["error"]["details"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("login-customer-id"));
    let through = api.search(US, Some(MCC), query.clone()).await;
    assert_eq!(through.status, StatusCode::OK, "{}", through.text);
    assert_eq!(through.json["results"][0]["customer"]["id"], US.to_string());
    assert_eq!(
        api.search(UK, Some(MCC), query.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.search(UK, Some(EUROPE), query.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.search(EUROPE, Some(EUROPE), query.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.search(MCC, None, query.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.search(SOLO, None, query.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        code(&api.search(US, Some(EUROPE), query.clone()).await),
        (
            StatusCode::FORBIDDEN,
            "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION".into()
        )
    );
    assert_eq!(
        code(&api.search(UK, Some(US), query.clone()).await),
        (
            StatusCode::FORBIDDEN,
            "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION".into()
        )
    );
    assert_eq!(
        code(&api.search(US, Some(1_234_567_890), query.clone()).await),
        (StatusCode::FORBIDDEN, "USER_PERMISSION_DENIED".into())
    );
    assert_eq!(
        code(&api.search(LEGACY, Some(MCC), query.clone()).await),
        (StatusCode::FORBIDDEN, "CUSTOMER_NOT_ENABLED".into())
    );
    let hyphens = client()
        .post(format!(
            "{}/v0/customers/{US}/searchAds360:search",
            api.base
        ))
        .bearer_auth(&api.token)
        .header("login-customer-id", "910-000-0001")
        .json(&query)
        .send()
        .await
        .unwrap();
    let hyphens = answer(hyphens).await;
    assert_eq!(
        code(&hyphens),
        (StatusCode::BAD_REQUEST, "INVALID_LOGIN_CUSTOMER_ID".into())
    );
    assert_eq!(hyphens.error_code().0, "headerError");
    let bad_path = client()
        .post(format!(
            "{}/v0/customers/410-000-0001/searchAds360:search",
            api.base
        ))
        .bearer_auth(&api.token)
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(&answer(bad_path).await),
        (StatusCode::BAD_REQUEST, "INVALID_CUSTOMER_ID".into())
    );
}

#[tokio::test]
async fn customer_client_lists_the_hierarchy() {
    let (sim, api) = small().await;
    let query = "SELECT customer_client.client_customer, customer_client.level, customer_client.manager, \
                 customer_client.descriptive_name, customer_client.time_zone, customer_client.currency_code, \
                 customer_client.status, customer_client.id, customer.id FROM customer_client";
    let top = api.search(MCC, None, json!({"query": query})).await;
    assert_eq!(top.status, StatusCode::OK, "{}", top.text);
    let rows = top.json["results"].as_array().unwrap();
    let got: BTreeMap<u64, (i64, bool, String)> = rows
        .iter()
        .map(|row| {
            let c = &row["customerClient"];
            assert_eq!(row["customer"]["id"], MCC.to_string());
            assert_eq!(
                c["resourceName"],
                format!(
                    "customers/{MCC}/customerClients/{}",
                    c["id"].as_str().unwrap()
                )
            );
            assert_eq!(
                c["clientCustomer"],
                format!("customers/{}", c["id"].as_str().unwrap())
            );
            (
                c["id"].as_str().unwrap().parse().unwrap(),
                (
                    c["level"].as_str().unwrap().parse().unwrap(),
                    c["manager"].as_bool().unwrap(),
                    c["status"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    let truth = sim.data().accounts();
    let expected: BTreeMap<u64, (i64, bool, String)> = truth
        .iter()
        .filter(|a| a.customer_id != SOLO)
        .map(|a| {
            (
                a.customer_id,
                (i64::from(a.depth), a.manager, a.status.as_str().to_owned()),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got[&LEGACY].2, "CANCELED");
    let legacy = rows
        .iter()
        .find(|r| is_id(&r["customerClient"]["id"], LEGACY))
        .unwrap();
    assert_eq!(legacy["customerClient"]["timeZone"], "America/Chicago");
    assert_eq!(legacy["customerClient"]["currencyCode"], "USD");

    let below = api.search(EUROPE, Some(MCC), json!({"query": query})).await;
    let levels: BTreeMap<String, String> = below.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let c = &r["customerClient"];
            (
                c["id"].as_str().unwrap().to_owned(),
                c["level"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        BTreeMap::from([
            (EUROPE.to_string(), "0".to_owned()),
            (UK.to_string(), "1".to_owned()),
            (DE.to_string(), "1".to_owned())
        ])
    );
}

#[tokio::test]
async fn bad_queries_get_query_errors_in_the_status_shape() {
    let (sim, api) = small().await;
    let cases = [
        ("SELECT campaign.nonexistent FROM campaign", "UNRECOGNIZED_FIELD"),
        ("SELECT campaign.id FROM campaign_thing", "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE"),
        ("SELECT campaign.id", "EXPECTED_FROM"),
        ("SELECT ad_group.id FROM campaign", "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE"),
        ("SELECT label.id, metrics.clicks FROM label", "PROHIBITED_METRIC_IN_SELECT_OR_WHERE_CLAUSE"),
        ("SELECT campaign.id, segments.date FROM campaign", "EXPECTED_FILTERS_ON_DATE_RANGE"),
        (
            "SELECT campaign.id, segments.date FROM campaign WHERE segments.date >= '2024-12-01'",
            "EXPECTED_FILTERS_ON_DATE_RANGE",
        ),
        (
            "SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2024-13-01' AND '2024-12-31'",
            "INVALID_VALUE_WITH_BETWEEN_OPERATOR",
        ),
        ("SELECT campaign.id FROM campaign WHERE segments.date = '12/01/2024'", "INVALID_DATE_FORMAT"),
        (
            "SELECT campaign.id FROM campaign WHERE segments.date BETWEEN '2024-12-31' AND '2024-12-01'",
            "DATE_RANGE_TOO_NARROW",
        ),
        ("SELECT campaign.id FROM campaign WHERE segments.date DURING LAST_YEAR", "INVALID_VALUE_WITH_DURING_OPERATOR"),
        ("SELECT campaign.id FROM campaign WHERE campaign.status = RUNNING", "BAD_ENUM_CONSTANT"),
        ("SELECT campaign.id FROM campaign WHERE campaign.name = Brand", "INVALID_STRING_VALUE"),
        ("SELECT campaign.id FROM campaign WHERE campaign.id = 'abc'", "BAD_NUMBER"),
        ("SELECT campaign.id FROM campaign WHERE campaign.name DURING LAST_7_DAYS", "OPERATOR_FIELD_MISMATCH"),
        ("SELECT campaign.id FROM campaign WHERE campaign.labels = 'x'", "PROHIBITED_FIELD_IN_WHERE_CLAUSE"),
        ("SELECT campaign.id FROM campaign ORDER BY campaign.labels", "PROHIBITED_FIELD_IN_ORDER_BY_CLAUSE"),
        ("SELECT campaign.id FROM campaign LIMIT 0", "LIMIT_VALUE_TOO_LOW"),
        ("select campaign.id from campaign where campaign.status in ()", "PROHIBITED_EMPTY_LIST_IN_CONDITION"),
    ];
    for (query, code) in cases {
        let answer = api.search(US, Some(MCC), json!({"query": query})).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert_eq!(answer.json["error"]["code"], 400);
        assert_eq!(answer.json["error"]["status"], "INVALID_ARGUMENT");
        let detail = &answer.json["error"]["details"][0];
        assert_eq!(detail["@type"], FAILURE_TYPE, "{query}");
        assert_eq!(detail["requestId"].as_str(), answer.request_id.as_deref());
        assert_eq!(
            answer.error_code(),
            ("queryError".to_owned(), code.to_owned()),
            "{query}"
        );
        assert!(detail["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let unknown = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.nonexistent FROM campaign"}),
        )
        .await;
    assert_eq!(
        unknown.json["error"]["details"][0]["errors"][0]["trigger"],
        json!({"stringValue": "campaign.nonexistent"})
    );
    let manager = api
        .search(
            MCC,
            None,
            json!({"query": "SELECT customer.id, metrics.clicks FROM customer"}),
        )
        .await;
    assert_eq!(manager.error_code().1, "REQUESTED_METRICS_FOR_MANAGER");
    // A body that is not the request message is refused by the front end, without API details.
    let typo = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign", "pagesize": 5}),
        )
        .await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(typo.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Unknown name \"pagesize\""));
    assert!(typo.json["error"]["details"].is_null());
    // snake_case request names are accepted (proto3 JSON).
    let snake = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign", "page_size": 1}),
        )
        .await;
    assert_eq!(snake.json["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.search(US, Some(MCC), json!({})).await.error_code().1,
        "REQUIRED_FIELD_MISSING"
    );
    // Query errors in searchStream come as a one-element array.
    let streamed = api
        .stream(
            US,
            Some(MCC),
            json!({"query": "SELECT nope.nope FROM campaign"}),
        )
        .await;
    assert_eq!(streamed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        streamed.json[0]["error"]["details"][0]["errors"][0]["errorCode"]["queryError"],
        "UNRECOGNIZED_FIELD"
    );
    assert_eq!(sim.queries(), 1, "only the valid query cost quota");
}

#[tokio::test]
async fn rows_are_camel_case_with_int64_strings_resource_names_and_a_field_mask() {
    let (sim, api) = small().await;
    let day = days_back(&sim, 5);
    let query = format!(
        "SELECT campaign.id, campaign.name, ad_group.id, ad_group_criterion.criterion_id, \
         ad_group_criterion.keyword.text, ad_group_criterion.keyword.match_type, ad_group_criterion.quality_info.quality_score, \
         metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, metrics.ctr, segments.date \
         FROM keyword_view WHERE segments.date = '{}'",
        iso(day)
    );
    let page = api.search(US, Some(MCC), json!({"query": query})).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(
        page.json["fieldMask"],
        "campaign.id,campaign.name,adGroup.id,adGroupCriterion.criterionId,adGroupCriterion.keyword.text,\
         adGroupCriterion.keyword.matchType,adGroupCriterion.qualityInfo.qualityScore,metrics.impressions,\
         metrics.clicks,metrics.costMicros,metrics.conversions,metrics.ctr,segments.date"
    );
    assert!(page.json.get("nextPageToken").is_none());
    assert!(page.json.get("totalResultsCount").is_none());
    let rows = page.json["results"].as_array().unwrap();
    let truth: Vec<ReportRowTruth> = sim
        .data()
        .report(US, Resource::KeywordView, day, day)
        .collect();
    assert_eq!(rows.len(), truth.len());
    for (row, expected) in rows.iter().zip(&truth) {
        let group = row["adGroup"]["id"].as_str().unwrap();
        let criterion = row["adGroupCriterion"]["criterionId"].as_str().unwrap();
        assert_eq!(row["keywordView"]["resourceName"], expected.resource_name);
        assert_eq!(
            expected.resource_name,
            format!("customers/{US}/keywordViews/{group}~{criterion}")
        );
        assert_eq!(
            row["adGroupCriterion"]["resourceName"],
            format!("customers/{US}/adGroupCriteria/{group}~{criterion}")
        );
        assert_eq!(
            row["adGroup"]["resourceName"],
            format!("customers/{US}/adGroups/{group}")
        );
        assert_eq!(
            row["campaign"]["resourceName"],
            format!(
                "customers/{US}/campaigns/{}",
                row["campaign"]["id"].as_str().unwrap()
            )
        );
        assert_eq!(row["segments"]["date"], iso(day));
        let m = &row["metrics"];
        assert_eq!(m["impressions"], expected.metrics.impressions.to_string());
        assert_eq!(m["clicks"], expected.metrics.clicks.to_string());
        assert_eq!(m["costMicros"], expected.metrics.cost_micros.to_string());
        assert_eq!(
            m["conversions"].as_f64(),
            Some(expected.metrics.conversions)
        );
        assert!(m["ctr"].is_number());
        assert!(["EXACT", "PHRASE", "BROAD"].contains(
            &row["adGroupCriterion"]["keyword"]["matchType"]
                .as_str()
                .unwrap()
        ));
        assert!(row["adGroupCriterion"].get("criterion_id").is_none());
    }
    assert!(truth.iter().any(|r| r.metrics.clicks > 0));

    // Fields without explicit presence are left out at their default; optional ones are not.
    let campaigns = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.engine_id, campaign.labels, campaign.start_date FROM campaign"}))
        .await;
    let first = &campaigns.json["results"][0]["campaign"];
    assert!(first.get("engineId").is_none());
    assert!(first["startDate"].as_str().unwrap().len() == 10);
    let zero = api
        .search(US, Some(MCC), json!({"query": format!("SELECT metrics.clicks FROM campaign WHERE segments.date = '{}' AND campaign.status = REMOVED", iso(day))}))
        .await;
    for row in zero.json["results"].as_array().into_iter().flatten() {
        assert!(
            row["metrics"]["clicks"].is_string(),
            "optional metrics are written even when 0"
        );
    }

    // An empty result set: no `results` at all (proto3 JSON), the field mask still.
    let empty = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.id FROM campaign WHERE campaign.id = 1", "returnTotalResultsCount": true}))
        .await;
    assert_eq!(empty.json, json!({"fieldMask": "campaign.id"}));
    // A manager holds no campaigns.
    let none = api
        .search(
            MCC,
            None,
            json!({"query": "SELECT campaign.id FROM campaign"}),
        )
        .await;
    assert_eq!(none.json, json!({"fieldMask": "campaign.id"}));

    // Dimension truth is what the API serves.
    let dimension = sim.data().dimension(US, Resource::AdGroupCriterion);
    let names: Vec<&str> = fields::fields_of(Resource::AdGroupCriterion)
        .map(|f| f.name)
        .collect();
    let all = api
        .all_pages(
            US,
            Some(MCC),
            &format!("SELECT {} FROM ad_group_criterion", names.join(", ")),
            &[10_000],
        )
        .await;
    let served: Vec<Value> = all
        .iter()
        .map(|row| row["adGroupCriterion"].clone())
        .collect();
    assert_eq!(
        served,
        dimension.iter().map(|e| e.json.clone()).collect::<Vec<_>>()
    );
    let statuses: BTreeSet<String> = [US, UK, DE, LEGACY, SOLO]
        .iter()
        .flat_map(|id| sim.data().dimension(*id, Resource::AdGroupCriterion))
        .map(|e| e.json["status"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["ENABLED".into(), "PAUSED".into(), "REMOVED".into()])
    );
    assert!(dimension.iter().all(|e| e
        .resource_name
        .starts_with(&format!("customers/{US}/adGroupCriteria/"))));
}

#[tokio::test]
async fn where_between_during_in_order_by_and_limit() {
    let (sim, api) = small().await;
    let today = sim.data().today();
    let from = today - chrono::Duration::days(9);
    let to = today - chrono::Duration::days(3);
    let rows = |answer: &Answer| {
        answer.json["results"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };

    let between = api
        .search(US, Some(MCC), json!({"query": format!(
            "SELECT ad_group.id, metrics.clicks, segments.date FROM ad_group WHERE segments.date BETWEEN '{}' AND '{}'",
            iso(from), iso(to))}))
        .await;
    let got = rows(&between);
    let truth: Vec<ReportRowTruth> = sim.data().report(US, Resource::AdGroup, from, to).collect();
    assert_eq!(got.len(), truth.len());
    assert!(got.iter().all(|r| {
        let d = date(r["segments"]["date"].as_str().unwrap());
        (from..=to).contains(&d)
    }));

    let during = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.id, segments.date FROM campaign WHERE segments.date DURING LAST_7_DAYS"}))
        .await;
    let dates: BTreeSet<String> = rows(&during)
        .iter()
        .map(|r| r["segments"]["date"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = (1..=7)
        .map(|back| iso(today - chrono::Duration::days(back)))
        .collect();
    assert_eq!(dates, expected);

    let enabled = api
        .search(US, Some(MCC), json!({"query": "SELECT ad_group_criterion.status FROM ad_group_criterion WHERE ad_group_criterion.status IN (ENABLED, 'PAUSED')"}))
        .await;
    let all = sim.data().dimension(US, Resource::AdGroupCriterion);
    let live = all.iter().filter(|e| e.json["status"] != "REMOVED").count();
    assert_eq!(rows(&enabled).len(), live);
    let not_removed = api
        .search(US, Some(MCC), json!({"query": "SELECT ad_group_criterion.status FROM ad_group_criterion WHERE ad_group_criterion.status != 'REMOVED'"}))
        .await;
    assert_eq!(rows(&not_removed).len(), live);
    let one_id = all[3].json["criterionId"].as_str().unwrap().to_owned();
    let by_id = api
        .search(US, Some(MCC), json!({"query": format!("SELECT ad_group_criterion.keyword.text FROM ad_group_criterion WHERE ad_group_criterion.criterion_id = {one_id}")}))
        .await;
    assert_eq!(rows(&by_id).len(), 1);
    let like = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.name FROM campaign WHERE campaign.name LIKE '%Running%'"}))
        .await;
    assert!(rows(&like)
        .iter()
        .all(|r| r["campaign"]["name"].as_str().unwrap().contains("Running")));
    assert!(!rows(&like).is_empty());

    let ordered = api
        .search(US, Some(MCC), json!({"query": format!(
            "SELECT keyword_view.resource_name, metrics.clicks, segments.date FROM keyword_view \
             WHERE segments.date BETWEEN '{}' AND '{}' AND metrics.clicks > 0 ORDER BY metrics.clicks DESC, segments.date LIMIT 5",
            iso(from), iso(to)), "returnTotalResultsCount": true}))
        .await;
    let top = rows(&ordered);
    assert_eq!(top.len(), 5);
    let clicks: Vec<i64> = top
        .iter()
        .map(|r| r["metrics"]["clicks"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(clicks.windows(2).all(|w| w[0] >= w[1]), "{clicks:?}");
    let truth: Vec<ReportRowTruth> = sim
        .data()
        .report(US, Resource::KeywordView, from, to)
        .collect();
    let with_clicks = truth.iter().filter(|r| r.metrics.clicks > 0).count();
    assert_eq!(
        ordered.json["totalResultsCount"],
        with_clicks.to_string(),
        "the count ignores LIMIT"
    );
    assert_eq!(
        clicks[0],
        truth.iter().map(|r| r.metrics.clicks).max().unwrap()
    );
    assert!(
        ordered.json.get("nextPageToken").is_none(),
        "LIMIT ends the result set"
    );

    // Unsegmented metrics sum the range.
    let summed = api
        .search(US, Some(MCC), json!({"query": format!(
            "SELECT campaign.id, metrics.impressions FROM campaign WHERE segments.date BETWEEN '{}' AND '{}'", iso(from), iso(to))}))
        .await;
    let daily: Vec<ReportRowTruth> = sim
        .data()
        .report(US, Resource::Campaign, from, to)
        .collect();
    for row in rows(&summed) {
        let name = row["campaign"]["resourceName"].as_str().unwrap();
        let total: i64 = daily
            .iter()
            .filter(|r| r.resource_name == name)
            .map(|r| r.metrics.impressions)
            .sum();
        assert_eq!(row["metrics"]["impressions"], total.to_string());
    }
}

#[tokio::test]
async fn paging_with_changing_sizes_reaches_every_row_once_and_tokens_are_bound() {
    let (sim, api) = small().await;
    let today = sim.data().today();
    let from = today - chrono::Duration::days(12);
    let query = format!(
        "SELECT keyword_view.resource_name, metrics.clicks, segments.date FROM keyword_view WHERE segments.date BETWEEN '{}' AND '{}'",
        iso(from),
        iso(today)
    );
    let truth: Vec<(String, String)> = sim
        .data()
        .report(US, Resource::KeywordView, from, today)
        .map(|r| (r.resource_name, iso(r.date)))
        .collect();
    assert!(truth.len() > 100);
    let rows = api.all_pages(US, Some(MCC), &query, &[7, 13, 1, 50]).await;
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["keywordView"]["resourceName"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["segments"]["date"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, truth, "every row exactly once, in order");
    assert_eq!(sim.queries(), 1, "pages of one query count once");

    let first = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "pageSize": 10, "returnTotalResultsCount": true}),
        )
        .await;
    assert_eq!(first.json["totalResultsCount"], truth.len().to_string());
    let token = first.json["nextPageToken"].as_str().unwrap().to_owned();
    let other = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign", "pageToken": token}),
        )
        .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert_eq!(other.json["error"]["details"][0]["@type"], FAILURE_TYPE);
    assert_eq!(
        other.error_code(),
        ("requestError".into(), "INVALID_PAGE_TOKEN".into())
    );
    let elsewhere = api
        .search(UK, Some(MCC), json!({"query": query, "pageToken": token}))
        .await;
    assert_eq!(elsewhere.error_code().1, "INVALID_PAGE_TOKEN");
    let forged = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "pageToken": "CAESBggBEAEYAQ"}),
        )
        .await;
    assert_eq!(forged.error_code().1, "INVALID_PAGE_TOKEN");
    let validate = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "pageToken": token, "validateOnly": true}),
        )
        .await;
    assert_eq!(
        validate.error_code().1,
        "VALIDATE_ONLY_REQUEST_HAS_PAGE_TOKEN"
    );
    let second = api.search(US, Some(MCC), json!({"query": query, "pageToken": token, "pageSize": 10, "returnTotalResultsCount": true})).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        second.json["results"][0]["keywordView"]["resourceName"],
        truth[10].0
    );
    assert_eq!(second.json["totalResultsCount"], truth.len().to_string());

    // Pages keep the result set they started with, whatever `advance` does meanwhile.
    let third_token = second.json["nextPageToken"].as_str().unwrap().to_owned();
    let now = sim.control().clock().now();
    sim.advance(1);
    sim.control().clock().set(now);
    let cached = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "pageToken": third_token, "pageSize": 10}),
        )
        .await;
    assert_eq!(cached.status, StatusCode::OK, "{}", cached.text);
    assert_eq!(
        cached.json["results"][0]["keywordView"]["resourceName"],
        truth[20].0
    );
    assert_eq!(cached.json["results"][0]["segments"]["date"], truth[20].1);
}

#[tokio::test]
async fn page_tokens_expire_after_their_ttl() {
    let mut config = Sa360Config::small();
    config.limits.page_token_ttl_seconds = Some(600);
    let sim = Sa360Simulator::start(config).await.unwrap();
    let api = Api::new(&sim).await;
    let query = "SELECT ad_group_criterion.criterion_id FROM ad_group_criterion";
    let first = api
        .search(US, Some(MCC), json!({"query": query, "pageSize": 2}))
        .await;
    let token = first.json["nextPageToken"].as_str().unwrap().to_owned();
    sim.control().clock().advance(Duration::from_secs(600));
    let late = api
        .search(US, Some(MCC), json!({"query": query, "pageToken": token}))
        .await;
    assert_eq!(
        late.error_code(),
        ("requestError".into(), "EXPIRED_PAGE_TOKEN".into())
    );
}

#[tokio::test]
async fn search_stream_returns_the_rows_of_search_in_batches() {
    let (sim, api) = small().await;
    let today = sim.data().today();
    let query = format!(
        "SELECT ad_group_ad.ad.id, ad_group_ad.status, metrics.impressions, metrics.cost_micros, segments.date FROM ad_group_ad \
         WHERE segments.date BETWEEN '{}' AND '{}'",
        iso(today - chrono::Duration::days(6)),
        iso(today)
    );
    let searched = api.all_pages(US, Some(MCC), &query, &[10_000]).await;
    let response = client()
        .post(format!(
            "{}/v0/customers/{US}/searchAds360:searchStream",
            api.base
        ))
        .bearer_auth(&api.token)
        .header("login-customer-id", MCC.to_string())
        .json(&json!({"query": query, "batchSize": 17}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("content-length").is_none(),
        "the body is streamed"
    );
    let request_id = response.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let batches: Value = response.json().await.unwrap();
    let batches = batches.as_array().unwrap();
    assert!(batches.len() > 2);
    let mut streamed = Vec::new();
    for batch in batches {
        assert_eq!(batch["requestId"], request_id);
        assert_eq!(
            batch["fieldMask"],
            "adGroupAd.ad.id,adGroupAd.status,metrics.impressions,metrics.costMicros,segments.date"
        );
        let results = batch["results"].as_array().unwrap();
        assert!(results.len() <= 17);
        streamed.extend(results.iter().cloned());
    }
    assert_eq!(streamed, searched);
    assert_eq!(sim.streams(), 1);

    // A failure mid-stream: an element holding `error`, then the array ends.
    sim.fail_next_stream(2);
    let failed = api
        .stream(US, Some(MCC), json!({"query": query, "batchSize": 17}))
        .await;
    assert_eq!(failed.status, StatusCode::OK);
    let elements = failed.json.as_array().unwrap();
    assert_eq!(elements.len(), 3);
    assert!(elements[1]["results"].is_array());
    assert_eq!(elements[2]["error"]["status"], "INTERNAL");
    assert_eq!(
        elements[2]["error"]["details"][0]["errors"][0]["errorCode"]["internalError"],
        "INTERNAL_ERROR"
    );

    // Summary rows come by themselves after the results.
    let summed = api
        .stream(
            US,
            Some(MCC),
            json!({"query": query, "summaryRowSetting": "SUMMARY_ROW_WITH_RESULTS"}),
        )
        .await;
    let elements = summed.json.as_array().unwrap();
    let last = elements.last().unwrap();
    assert!(last.get("results").is_none());
    let impressions: i64 = searched
        .iter()
        .map(|r| {
            r["metrics"]["impressions"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        last["summaryRow"]["metrics"]["impressions"],
        impressions.to_string()
    );
    let only = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "summaryRowSetting": "SUMMARY_ROW_ONLY"}),
        )
        .await;
    assert!(only.json.get("results").is_none());
    assert_eq!(
        only.json["summaryRow"]["metrics"]["impressions"],
        impressions.to_string()
    );
    let no_metrics = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.id FROM campaign", "summaryRowSetting": "SUMMARY_ROW_ONLY"}))
        .await;
    assert_eq!(
        no_metrics.error_code().1,
        "CANNOT_RETURN_SUMMARY_ROW_FOR_REQUEST_WITHOUT_METRICS"
    );
}

#[tokio::test]
async fn oversized_responses_get_a_bare_429_and_a_smaller_window_succeeds() {
    let mut config = Sa360Config::small();
    config.limits.max_response_bytes = Some(20_000);
    let sim = Sa360Simulator::start(config).await.unwrap();
    let api = Api::new(&sim).await;
    let today = sim.data().today();
    let window = |days: i64| {
        format!(
            "SELECT ad_group_criterion.keyword.text, metrics.impressions, metrics.clicks, segments.date FROM keyword_view \
             WHERE segments.date BETWEEN '{}' AND '{}'",
            iso(today - chrono::Duration::days(days - 1)),
            iso(today)
        )
    };
    let big = api
        .search(US, Some(MCC), json!({"query": window(30)}))
        .await;
    assert_eq!(
        big.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        &big.text[..big.text.len().min(300)]
    );
    assert_eq!(big.json["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(
        big.json["error"]["details"].is_null(),
        "no SearchAds360Failure"
    );
    assert!(big.request_id.is_some());
    let small_window = api.search(US, Some(MCC), json!({"query": window(1)})).await;
    assert_eq!(small_window.status, StatusCode::OK, "{}", small_window.text);

    // A smaller page works too; streaming works as is: the server shrinks batches to fit.
    let paged = api.all_pages(US, Some(MCC), &window(30), &[40]).await;
    let streamed = api
        .stream(US, Some(MCC), json!({"query": window(30)}))
        .await;
    assert_eq!(
        streamed.status,
        StatusCode::OK,
        "{}",
        &streamed.text[..streamed.text.len().min(300)]
    );
    let batches = streamed.json.as_array().unwrap();
    assert!(batches.len() > 1);
    for batch in batches {
        assert!(serde_json::to_vec(batch).unwrap().len() <= 20_000);
    }
    let rows: Vec<Value> = batches
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap().clone())
        .collect();
    assert_eq!(rows, paged);
}

#[tokio::test]
async fn result_sets_over_the_row_limit_get_a_size_limit_error() {
    let mut config = Sa360Config::small();
    config.limits.max_result_rows = Some(50);
    let sim = Sa360Simulator::start(config).await.unwrap();
    let api = Api::new(&sim).await;
    let today = iso(sim.data().today());
    let query = format!("SELECT keyword_view.resource_name, segments.date FROM keyword_view WHERE segments.date BETWEEN '2024-12-01' AND '{today}'");
    let refused = api.search(US, Some(MCC), json!({"query": query})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.error_code(),
        (
            "sizeLimitError".into(),
            "RESPONSE_SIZE_LIMIT_EXCEEDED".into()
        )
    );
    let limited = api
        .search(US, Some(MCC), json!({"query": format!("{query} LIMIT 50")}))
        .await;
    assert_eq!(limited.status, StatusCode::OK);
}

#[tokio::test]
async fn query_quota_429_counts_queries_not_pages() {
    let (sim, api) = small().await;
    sim.set_query_quota(Some(3), None);
    let query = "SELECT ad_group_criterion.criterion_id FROM ad_group_criterion";
    let first = api
        .search(US, Some(MCC), json!({"query": query, "pageSize": 2}))
        .await;
    assert_eq!(
        api.search(US, Some(MCC), json!({"query": query}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        api.stream(US, Some(MCC), json!({"query": query}))
            .await
            .status,
        StatusCode::OK
    );
    let refused = api.search(US, Some(MCC), json!({"query": query})).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.json["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        refused.error_code(),
        ("quotaError".into(), "RESOURCE_EXHAUSTED".into())
    );
    let details = &refused.json["error"]["details"][0]["errors"][0]["details"]["quotaErrorDetails"];
    assert_eq!(details["rateScope"], "DEVELOPER");
    assert!(details["retryDelay"].as_str().unwrap().ends_with('s'));
    // A page of an admitted query is not a new query.
    let token = first.json["nextPageToken"].as_str().unwrap();
    let next = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "pageSize": 2, "pageToken": token}),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(sim.queries(), 3);
    sim.control().clock().advance(Duration::from_secs(60));
    assert_eq!(
        api.search(US, Some(MCC), json!({"query": query}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scripted_faults_answer_with_this_apis_bodies() {
    let (sim, api) = small().await;
    sim.control()
        .faults()
        .add(FaultRule::on_path(":search", Fault::ServerError { status: 500 }).times(1));
    sim.control().faults().add(
        FaultRule::on_path(
            ":search",
            Fault::TooManyRequests {
                retry_after_seconds: 7,
            },
        )
        .times(1),
    );
    let query = json!({"query": "SELECT campaign.id FROM campaign"});
    let failed = api.search(US, Some(MCC), query.clone()).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.json["error"]["status"], "INTERNAL");
    assert_eq!(
        failed.error_code(),
        ("internalError".into(), "INTERNAL_ERROR".into())
    );
    assert!(failed.request_id.is_some());
    let limited = api.search(US, Some(MCC), query.clone()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error_code().1, "RESOURCE_EXHAUSTED");
    assert_eq!(
        limited.json["error"]["details"][0]["errors"][0]["details"]["quotaErrorDetails"]
            ["retryDelay"],
        "7s"
    );
    assert_eq!(
        api.search(US, Some(MCC), query).await.status,
        StatusCode::OK
    );
    let missing = api.get("/v0/nothing/here", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.request_id.is_some());
    let log = sim.control().log().matching(":search");
    assert_eq!(log[0].header("authorization"), Some("Bearer ***"));
    assert_eq!(log[0].header("login-customer-id"), Some("9100000001"));
}

#[tokio::test]
async fn custom_columns_are_listed_and_queryable() {
    let (sim, api) = small().await;
    let listed = api
        .get(&format!("/v0/customers/{US}/customColumns"), Some(MCC))
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let columns = listed.json["customColumns"].as_array().unwrap();
    assert_eq!(columns.len(), 2);
    let truth: Vec<Value> = sim
        .data()
        .custom_columns(US)
        .into_iter()
        .map(|column| column.json)
        .collect();
    assert_eq!(columns, &truth, "the truth is what the endpoint serves");
    assert!(sim.data().custom_columns(MCC).is_empty());
    let profit = columns.iter().find(|c| c["valueType"] == "INT64").unwrap();
    let id = profit["id"].as_str().unwrap();
    assert_eq!(
        profit["resourceName"],
        format!("customers/{US}/customColumns/{id}")
    );
    let one = api
        .get(&format!("/v0/customers/{US}/customColumns/{id}"), Some(MCC))
        .await;
    assert_eq!(&one.json, profit);
    assert_eq!(
        api.get(&format!("/v0/customers/{MCC}/customColumns"), None)
            .await
            .json,
        json!({})
    );
    assert_eq!(
        api.get(&format!("/v0/customers/{US}/customColumns"), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let day = iso(days_back(&sim, 4));
    let rows = api
        .search(US, Some(MCC), json!({"query": format!(
            "SELECT campaign.id, metrics.cost_micros, metrics.conversions_value, custom_columns.id[{id}] FROM campaign WHERE segments.date = '{day}'")}))
        .await;
    assert_eq!(rows.status, StatusCode::OK, "{}", rows.text);
    assert_eq!(rows.json["customColumnHeaders"][0]["id"], id);
    for row in rows.json["results"].as_array().unwrap() {
        let cost: i64 = row["metrics"]["costMicros"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let value = row["metrics"]["conversionsValue"].as_f64().unwrap();
        let expected = (value * 1e6).round() as i64 - cost;
        assert_eq!(row["customColumns"][0]["int64Value"], expected.to_string());
    }
    let missing = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id, custom_columns.id[1] FROM campaign"}),
        )
        .await;
    assert_eq!(
        missing.error_code(),
        ("customColumnError".into(), "CUSTOM_COLUMN_NOT_FOUND".into())
    );
}

#[tokio::test]
async fn validate_only_checks_without_running() {
    let (_sim, api) = small().await;
    let ok = api
        .search(US, Some(MCC), json!({"query": "SELECT campaign.id, campaign.name FROM campaign", "validateOnly": true}))
        .await;
    assert_eq!(ok.json, json!({"fieldMask": "campaign.id,campaign.name"}));
    let bad = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.idd FROM campaign", "validateOnly": true}),
        )
        .await;
    assert_eq!(bad.error_code().1, "UNRECOGNIZED_FIELD");
}

#[tokio::test]
async fn advance_restates_only_recent_days_and_changes_entities() {
    let (sim, mut api) = small().await;
    let window = sim.config().restatement_days as i64;
    let today = sim.data().today();
    let from = today - chrono::Duration::days(10);
    let query = format!(
        "SELECT keyword_view.resource_name, metrics.impressions, metrics.clicks, metrics.cost_micros, metrics.conversions, \
         metrics.conversions_value, segments.date FROM keyword_view WHERE segments.date BETWEEN '{}' AND '{}'",
        iso(from),
        iso(today + chrono::Duration::days(1))
    );
    let key = |row: &Value| {
        (
            row["keywordView"]["resourceName"]
                .as_str()
                .unwrap()
                .to_owned(),
            date(row["segments"]["date"].as_str().unwrap()),
        )
    };
    let before: BTreeMap<_, _> = api
        .all_pages(US, Some(MCC), &query, &[10_000])
        .await
        .iter()
        .map(|row| (key(row), row["metrics"].clone()))
        .collect();
    let summary = sim.advance(1);
    assert_eq!(summary.generation, 1);
    api.refresh().await; // the day `advance` moved the clock outlived the token
    let after: BTreeMap<_, _> = api
        .all_pages(US, Some(MCC), &query, &[10_000])
        .await
        .iter()
        .map(|row| (key(row), row["metrics"].clone()))
        .collect();
    let mut restated = 0;
    for ((name, day), metrics) in &before {
        let age = (today - *day).num_days();
        match after.get(&(name.clone(), *day)) {
            Some(now) if age >= window => assert_eq!(now, metrics, "{name} {day} is final"),
            Some(now) => restated += usize::from(now != metrics),
            None => panic!("row {name} {day} disappeared"),
        }
    }
    assert!(restated > 0, "recent days are restated");
    let new_day = today + chrono::Duration::days(1);
    assert!(
        after.keys().any(|(_, day)| *day == new_day),
        "a new day of data"
    );
    assert!(!before.keys().any(|(_, day)| *day == new_day));
    // New and changed entities are served.
    let added: BTreeSet<u64> = summary
        .changes
        .iter()
        .filter(|c| c.customer_id == US && c.kind == Kind::Keyword && c.change == ChangeKind::Added)
        .map(|c| c.id)
        .collect();
    assert!(!added.is_empty());
    let keywords = sim.data().dimension(US, Resource::AdGroupCriterion);
    let ids: BTreeSet<u64> = keywords
        .iter()
        .map(|k| k.json["criterionId"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(added.is_subset(&ids));
    let mut latest = BTreeMap::new();
    for change in summary
        .changes
        .iter()
        .filter(|c| c.customer_id == US && c.kind == Kind::Keyword)
    {
        if let ChangeKind::StatusChanged { to, .. } = change.change {
            latest.insert(change.id, to);
        }
    }
    for (id, to) in latest {
        let keyword = keywords
            .iter()
            .find(|k| is_id(&k.json["criterionId"], id))
            .unwrap();
        assert_eq!(keyword.json["status"], to.as_str());
    }
}

#[tokio::test]
async fn same_seed_gives_byte_identical_responses() {
    async fn run() -> Vec<String> {
        let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
        let api = Api::new(&sim).await;
        let mut bodies = vec![api.token.clone()];
        let query = "SELECT campaign.name, ad_group.name, ad_group_criterion.keyword.text, metrics.clicks, \
                     metrics.conversions, segments.date FROM keyword_view WHERE segments.date DURING LAST_14_DAYS";
        let first = api
            .search(
                US,
                Some(MCC),
                json!({"query": query, "pageSize": 25, "returnTotalResultsCount": true}),
            )
            .await;
        bodies.push(first.text.clone());
        let token = first.json["nextPageToken"].as_str().unwrap();
        bodies.push(
            api.search(
                US,
                Some(MCC),
                json!({"query": query, "pageSize": 40, "pageToken": token}),
            )
            .await
            .text,
        );
        bodies.push(
            api.stream(UK, Some(MCC), json!({"query": query, "batchSize": 30}))
                .await
                .text,
        );
        bodies.push(
            api.search(
                US,
                Some(MCC),
                json!({"query": "SELECT nope.x FROM campaign"}),
            )
            .await
            .text,
        );
        sim.advance(2);
        bodies.push(
            api.search(DE, Some(EUROPE), json!({"query": query}))
                .await
                .text,
        );
        bodies
    }
    let (a, b) = (run().await, run().await);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    let mut other = Sa360Config::small();
    other.seed += 1;
    let sim = Sa360Simulator::start(other).await.unwrap();
    let api = Api::new(&sim).await;
    assert_ne!(api.token, a[0]);
}

#[tokio::test]
async fn years_of_thousands_of_keywords_answer_a_one_day_query_quickly() {
    let mut config = Sa360Config::small();
    config.entities.campaigns_per_client = 10;
    config.entities.ad_groups_per_campaign = 20;
    config.entities.keywords_per_ad_group = 30;
    config.data_start = date("2022-01-01");
    config.limits.max_response_bytes = None;
    let started = Instant::now();
    let sim = Sa360Simulator::start(config).await.unwrap();
    let data = sim.data();
    let keywords = data.clients[0].table(Kind::Keyword).len();
    assert_eq!(keywords, 6_000);
    let days = (day_of(data.today()) - day_of(data.data_start())) as usize;
    assert!(days > 1_000);
    // Memory holds entities only: no per-row storage for millions of keyword-days.
    assert!(data.entity_count() < 5 * 8_000, "{}", data.entity_count());
    let api = Api::new(&sim).await;
    let day = iso(data.today() - chrono::Duration::days(400));
    let query = format!(
        "SELECT ad_group_criterion.keyword.text, metrics.impressions, metrics.clicks, metrics.cost_micros, segments.date \
         FROM keyword_view WHERE segments.date = '{day}'"
    );
    let answered = Instant::now();
    let page = api
        .search(
            US,
            Some(MCC),
            json!({"query": query, "returnTotalResultsCount": true}),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let rows = page.json["results"].as_array().unwrap().len();
    let expected = data
        .report(US, Resource::KeywordView, date(&day), date(&day))
        .count();
    assert_eq!(rows, expected);
    assert_eq!(page.json["totalResultsCount"], expected.to_string());
    assert!(rows > 3_000);
    assert!(
        answered.elapsed() < Duration::from_secs(20),
        "{:?}",
        answered.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(40));
}

#[test]
fn config_round_trips_through_json_and_rejects_contradictions() {
    for config in [Sa360Config::default(), Sa360Config::small()] {
        let text = serde_json::to_string(&config).unwrap();
        let back: Sa360Config = serde_json::from_str(&text).unwrap();
        assert_eq!(back, config);
        config.validate().unwrap();
    }
    let mut orphan = Sa360Config::small();
    orphan.accounts[2].parent = Some(42);
    assert!(orphan.validate().is_err());
    let mut client_parent = Sa360Config::small();
    client_parent.accounts[3].parent = Some(US);
    assert!(client_parent.validate().is_err());
    let mut stranger = Sa360Config::small();
    stranger.accessible_customers.push(7);
    assert!(stranger.validate().is_err());
}

#[tokio::test]
async fn control_endpoints_advance_describe_and_empty_pages() {
    let (sim, api) = small().await;
    let advanced = crate::simulator::test_client::advance_over_http(&api.base, 1).await;
    let http = client();
    assert_eq!(advanced["generation"], 1);
    assert!(!advanced["changes"].as_array().unwrap().is_empty());
    let info: Value = http
        .get(format!("{}/__sim/info", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["simulator"], "sa360");
    assert_eq!(info["today"], iso(sim.data().today()));
    assert_eq!(sim.data().generation(), 1);

    let mut api = api;
    api.refresh().await;
    sim.control()
        .faults()
        .add(FaultRule::on_path(":search", Fault::EmptyPage).times(1));
    let emptied = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign"}),
        )
        .await;
    assert_eq!(emptied.status, StatusCode::OK);
    assert_eq!(emptied.json, json!({"fieldMask": "campaign.id"}));
    let negative = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign", "pageSize": -1}),
        )
        .await;
    assert_eq!(
        negative.error_code(),
        ("requestError".into(), "INVALID_PAGE_SIZE".into())
    );
    let clamped = api
        .search(
            US,
            Some(MCC),
            json!({"query": "SELECT campaign.id FROM campaign", "pageSize": "50000"}),
        )
        .await;
    assert_eq!(clamped.status, StatusCode::OK, "{}", clamped.text);
}
