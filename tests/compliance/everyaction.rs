//! EveryAction under the compliance suite: the simulator's list records and export records (the
//! current version of every live one) as the rows the connector's tables must hold, named as the API
//! names them.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{ExpectedRow, Sim, Subject, Truth};
use fivetran_source::connectors::everyaction::simulator::{
    EveryActionConfig, EveryActionSimulator, ListEndpoint, Mode, Resource,
};
use fivetran_source::http::Tuning;
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The EveryAction connector and its simulator (the MyCampaign database).
pub struct EveryActionSubject;

impl Subject for EveryActionSubject {
    fn name(&self) -> &'static str {
        "everyaction"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::everyaction::EveryAction::with_tuning(Tuning::fast()))
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let config = EveryActionConfig {
                seed,
                ..EveryActionConfig::small()
            };
            let sim = EveryActionSimulator::start(config)
                .await
                .expect("the everyaction simulator starts");
            Box::new(EveryActionSim(sim)) as Box<dyn Sim>
        })
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/v4/apiKeyProfiles",
            "/v4/activistCodes",
            "/v4/events",
            "/v4/savedLists",
            "/v4/changedEntityExportJobs",
            "/changed-entity-exports/",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some((
            "activist_codes",
            vec!["/v4/events", "/v4/savedLists", "changedEntityExportJobs"],
        ))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("check the application name and api key")
    }
}

struct EveryActionSim(EveryActionSimulator);

/// The list tables: table, endpoint, `$expand`, key, compared fields (API names).
const LISTS: &[(&str, ListEndpoint, &str, &str, &[&str])] = &[
    (
        "activist_codes",
        ListEndpoint::ActivistCodes,
        "",
        "activistCodeId",
        &["name", "status", "type"],
    ),
    (
        "survey_questions",
        ListEndpoint::SurveyQuestions,
        "",
        "surveyQuestionId",
        &["name", "status"],
    ),
    (
        "events",
        ListEndpoint::Events,
        "shifts,locations",
        "eventId",
        &["name", "isActive", "startDate"],
    ),
    (
        "event_types",
        ListEndpoint::EventTypes,
        "",
        "eventTypeId",
        &["name"],
    ),
    (
        "codes",
        ListEndpoint::Codes,
        "supportedEntities",
        "codeId",
        &["name", "codePath"],
    ),
    (
        "saved_lists",
        ListEndpoint::SavedLists,
        "",
        "savedListId",
        &["name", "listCount"],
    ),
    (
        "users",
        ListEndpoint::Users,
        "",
        "userId",
        &["firstName", "lastName"],
    ),
    (
        "custom_fields",
        ListEndpoint::CustomFields,
        "",
        "customFieldId",
        &["customFieldName"],
    ),
];

/// The export tables: table, resource, compared columns (API names; custom fields are added).
const EXPORTS: &[(&str, Resource, &[&str])] = &[
    (
        "contacts",
        Resource::Contacts,
        &["FirstName", "LastName", "Email", "DateChanged"],
    ),
    (
        "contributions",
        Resource::Contributions,
        &["VanID", "DateReceived", "DateChanged"],
    ),
    (
        "contacts_activist_codes",
        Resource::ContactsActivistCodes,
        &["VanID", "ActivistCodeID"],
    ),
    (
        "contacts_survey_responses",
        Resource::ContactsSurveyResponses,
        &["VanID", "SurveyResponseID"],
    ),
];

impl Sim for EveryActionSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("application_name", self.0.application_name().to_owned()),
            ("api_key", self.0.config().api_key.clone()),
            ("database_mode", "MyCampaign/EveryAction (1)".to_owned()),
            ("base_url", self.0.api_url()),
            ("advanced", "true".to_owned()),
            ("job_poll_seconds", "0.002".to_owned()),
            ("job_timeout_seconds", "10".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert(
            "api_key".into(),
            "00000000-0000-0000-0000-000000000000".into(),
        );
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let truth = self.0.truth();
        let mode = Mode::MyCampaign;
        let mut out = Truth::new();
        for (table, endpoint, expand, key, fields) in LISTS {
            let rows = truth
                .list(mode, *endpoint, expand)
                .iter()
                .map(|item| {
                    std::iter::once(*key)
                        .chain(fields.iter().copied())
                        .map(|f| (f.to_owned(), item[f].clone()))
                        .collect::<ExpectedRow>()
                })
                .collect();
            out.insert((*table).to_owned(), rows);
        }
        for (table, resource, fields) in EXPORTS {
            let key = resource.key_column();
            let mut columns: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
            columns.extend(
                truth
                    .export_columns(mode, *resource)
                    .into_iter()
                    .filter(|c| c.starts_with("CF")),
            );
            let rows = truth
                .export(mode, *resource)
                .filter(|r| r.active)
                .map(|r| {
                    let mut row: ExpectedRow = columns
                        .iter()
                        .map(|c| {
                            // A CSV export writes NULL as an empty field.
                            let value = r
                                .fields
                                .get(c)
                                .filter(|v| !v.is_empty())
                                .map_or(Value::Null, |v| json!(v));
                            (c.clone(), value)
                        })
                        .collect();
                    row.insert(key.to_owned(), json!(r.key));
                    row
                })
                .collect();
            out.insert((*table).to_owned(), rows);
        }
        out
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
